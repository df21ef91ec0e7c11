use super::*;
use madsim::rand::{random, thread_rng, Rng};
use madsim::time::Instant;
use serde::{Deserialize, Serialize};
use serde_with::{serde_as, DisplayFromStr};
use spin::Mutex;
use super::keyspace::Keyspace;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Debug)]
pub struct EtcdService {
    timeout_rate: f32,
    /// The maximum size of any request.
    max_request_bytes: usize,
    inner: Arc<Mutex<ServiceInner>>,
    /// Set once the crash dump is written (faultline patch, PATCHED.md change 14): from
    /// then on the store answers nothing, as a process that has died.
    dumped: std::sync::atomic::AtomicBool,
}

impl EtcdService {
    pub fn new(timeout_rate: f32, data: Option<String>) -> Self {
        let inner = Arc::new(Mutex::new(
            data.map_or_else(ServiceInner::default, |data| {
                // faultline patch: the dump is JSON (upstream: TOML, ~20x slower to write).
                let mut inner: ServiceInner =
                    serde_json::from_str(&data).expect("failed to deserialize dump");
                // faultline patch: a restarted etcd refreshes every lease it recovers to its
                // full TTL plus an election timeout when it becomes primary
                // (`lessor.Promote(ElectionTimeout)`), so a restart never expires a lease
                // early. Upstream kept each lease's remaining seconds and ticked at once,
                // which could expire a lease renewed a few hundred ms before the crash.
                let now = Instant::now();
                for lease in inner.lease.values_mut() {
                    lease.refresh(now, ELECTION_TIMEOUT);
                }
                inner
            }),
        ));
        // faultline patch: etcd's lessor run loop (`lessor.runLoop`): every 500 ms it revokes
        // the leases whose expiry has passed. Upstream ticked once a second and counted
        // each lease down in whole seconds, so a lease could vanish up to 1 s before its
        // TTL ran out. The loop's phase is where a real etcd started, i.e. arbitrary: it is
        // drawn from the seed.
        let weak = Arc::downgrade(&inner);
        let phase = Duration::from_millis(thread_rng().gen_range(0..REVOKE_INTERVAL.as_millis() as u64));
        madsim::task::spawn(async move {
            madsim::time::sleep(phase).await;
            while let Some(inner) = weak.upgrade() {
                inner.lock().revoke_expired(Instant::now());
                drop(inner);
                madsim::time::sleep(REVOKE_INTERVAL).await;
            }
        });
        EtcdService {
            timeout_rate,
            max_request_bytes: 0x18_0000, // 1.5 MiB
            inner,
            dumped: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub async fn put(&self, key: Key, value: Value, options: PutOptions) -> Result<PutResponse> {
        self.assert_request_size(key.len() + value.len())?;
        self.timeout().await?;
        let rsp = self.inner.lock().put(key, value, options)?;
        Ok(rsp)
    }

    pub async fn get(&self, key: Key, options: GetOptions) -> Result<GetResponse> {
        self.assert_request_size(key.len())?;
        self.timeout().await?;
        let rsp = self.inner.lock().get(key, options);
        check_response_size(&rsp)?;
        Ok(rsp)
    }

    pub async fn delete(&self, key: Key, options: DeleteOptions) -> Result<DeleteResponse> {
        self.assert_request_size(key.len())?;
        self.timeout().await?;
        let rsp = self.inner.lock().delete(key, options);
        Ok(rsp)
    }

    pub async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.assert_request_size(txn.size())?;
        check_no_duplicate_keys(&txn)?;
        self.timeout().await?;
        let rsp = self.inner.lock().txn(txn);
        Ok(rsp)
    }

    pub async fn lease_grant(&self, ttl: i64, id: i64) -> Result<LeaseGrantResponse> {
        self.timeout().await?;
        let rsp = self.inner.lock().lease_grant(ttl, id);
        Ok(rsp)
    }

    pub async fn lease_revoke(&self, id: i64) -> Result<LeaseRevokeResponse> {
        self.timeout().await?;
        let rsp = self.inner.lock().lease_revoke(id)?;
        Ok(rsp)
    }

    pub async fn lease_keep_alive(&self, id: i64) -> Result<LeaseKeepAliveResponse> {
        self.timeout().await?;
        // faultline patch: a lease past its expiry but not yet revoked is not renewed; the
        // renewal waits for the revocation and then fails (`lessor.Renew`: "renew request
        // must wait for the deletion to complete"). Upstream could not be in that state.
        loop {
            match self.inner.lock().lease_keep_alive(id, Instant::now()) {
                Renewal::Renewed(rsp) => return Ok(rsp),
                Renewal::NotFound => return Err(lease_not_found()),
                Renewal::Expired => {}
            }
            madsim::time::sleep(RENEW_WAIT_POLL).await;
        }
    }

    pub async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLiveResponse> {
        self.timeout().await?;
        let rsp = self.inner.lock().lease_time_to_live(id, keys)?;
        Ok(rsp)
    }

    pub async fn lease_leases(&self) -> Result<LeaseLeasesResponse> {
        self.timeout().await?;
        let rsp = self.inner.lock().lease_leases();
        Ok(rsp)
    }

    pub async fn campaign(&self, name: Key, value: Value, lease: i64) -> Result<CampaignResponse> {
        self.assert_request_size(name.len() + value.len())?;
        self.timeout().await?;
        let (key, mut rx) = match self.inner.lock().campaign(&name, &value, lease)? {
            Ok(resp) => return Ok(resp),
            Err(e) => e,
        };
        loop {
            rx.recv().await.expect("sender should not drop");
            let leader = self.inner.lock().leader(name.clone());
            let Some(kv) = leader.kv else {
                return Err(session_expired());
            };
            if kv.key == key {
                return Ok(CampaignResponse {
                    header: Some(leader.header),
                    leader: Some(LeaderKey {
                        name,
                        key,
                        rev: kv.modify_revision,
                        lease: kv.lease,
                    }),
                });
            }
        }
    }

    pub async fn proclaim(&self, leader: LeaderKey, value: Value) -> Result<ProclaimResponse> {
        self.assert_request_size(leader.size() + value.len())?;
        self.timeout().await?;
        self.inner.lock().proclaim(leader, value)
    }

    pub async fn leader(&self, name: Key) -> Result<LeaderResponse> {
        self.assert_request_size(name.len())?;
        self.timeout().await?;
        Ok(self.inner.lock().leader(name))
    }

    // A sync version of leader, for use in observe.
    pub fn _leader(&self, name: Key) -> LeaderResponse {
        self.inner.lock().leader(name)
    }

    pub async fn observe(&self, name: Key) -> Result<(LeaderResponse, mpsc::Receiver<Event>)> {
        self.assert_request_size(name.len())?;
        self.timeout().await?;
        self.inner.lock().observe(name)
    }

    pub async fn resign(&self, leader: LeaderKey) -> Result<ResignResponse> {
        self.assert_request_size(leader.size())?;
        self.timeout().await?;
        self.inner.lock().resign(leader)
    }

    pub async fn status(&self) -> Result<StatusResponse> {
        self.timeout().await?;
        self.inner.lock().status()
    }

    /// The store's state for its crash (faultline patch, PATCHED.md change 14): its last
    /// act. A request it had already received (in flight when the crash cut its links, or
    /// held by the request delay) may still be applied, but is never answered, so nothing
    /// missing from the dump is acknowledged: etcd answers a write only once it is durable.
    pub async fn dump(&self) -> Result<String> {
        let inner = &*self.inner.lock();
        self.dumped.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(serde_json::to_string(inner).expect("failed to serialize dump"))
    }

    /// Returns when the store may answer: never once it has dumped its state for a crash.
    pub async fn answerable(&self) {
        if self.dumped.load(std::sync::atomic::Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
    }

    async fn timeout(&self) -> Result<()> {
        if thread_rng().gen_bool(self.timeout_rate as f64) {
            let t = thread_rng().gen_range(Duration::from_secs(5)..Duration::from_secs(15));
            madsim::time::sleep(t).await;
            tracing::warn!(?t, "etcdserver: request timed out");
            return Err(Error::GRpcStatus(tonic::Status::new(
                tonic::Code::Unavailable,
                "etcdserver: request timed out",
            )));
        }
        Ok(())
    }

    fn assert_request_size(&self, size: usize) -> Result<()> {
        if size > self.max_request_bytes {
            return Err(Error::GRpcStatus(tonic::Status::new(
                tonic::Code::InvalidArgument,
                "etcdserver: request is too large",
            )));
        }
        Ok(())
    }
}

#[serde_as]
#[derive(Debug, Default, Serialize, Deserialize)]
struct ServiceInner {
    revision: i64,
    kv: Keyspace<Stored>,
    #[serde_as(as = "HashMap<DisplayFromStr, _>")]
    lease: HashMap<LeaseId, Lease>,
    #[serde(skip)]
    watcher: EventBus,
}

/// A stored value: its bytes without a vector's spare capacity field (16 bytes, not 24, in
/// each of the map's slots; faultline patch, change 12). The dump writes it as `Bytes` does.
#[derive(Debug, Clone)]
struct Packed(Box<[u8]>);

impl From<Value> for Packed {
    fn from(value: Value) -> Self {
        Packed(Vec::from(value).into_boxed_slice())
    }
}

impl Serialize for Packed {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        Bytes::from(self.0.to_vec()).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Packed {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        Bytes::deserialize(deserializer).map(Packed::from)
    }
}

/// A key's record as the store keeps it: a [`KeyValue`] without its key, which the map
/// already holds (faultline patch, PATCHED.md change 12). Upstream kept the key twice, in
/// the map and in the record: with a million tasks' records, ~120 MB.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    value: Packed,
    lease: i64,
    create_revision: i64,
    modify_revision: i64,
}

impl Stored {
    /// The record as a reply or a watcher sees it.
    fn with_key(&self, key: &[u8]) -> KeyValue {
        self.clone().into_kv(key.to_vec().into())
    }

    fn into_kv(self, key: Key) -> KeyValue {
        KeyValue {
            key,
            value: self.value.0.into_vec().into(),
            lease: self.lease,
            create_revision: self.create_revision,
            modify_revision: self.modify_revision,
        }
    }
}

#[derive(Debug, Default)]
struct EventBus {
    list: Vec<(EventPattern, mpsc::Sender<Event>)>,
}

#[derive(Debug)]
enum EventPattern {
    Prefix(Key),
}

impl EventPattern {
    fn is_match(&self, event: &Event) -> bool {
        match event {
            Event::Put(kv) | Event::Delete(kv) => self.matches_key(&kv.key),
        }
    }

    fn matches_key(&self, key: &[u8]) -> bool {
        match self {
            Self::Prefix(prefix) => key.starts_with(prefix),
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Put(KeyValue),
    Delete(KeyValue),
}

impl EventBus {
    /// Subscribe a watcher.
    fn subscribe(&mut self, pattern: EventPattern, tx: mpsc::Sender<Event>) {
        tracing::trace!(?pattern, "subscribe");
        self.list.push((pattern, tx));
    }

    /// Whether a put of `key` matches any subscriber (faultline patch, change 11).
    fn watches(&self, key: &[u8]) -> bool {
        self.list.iter().any(|(pattern, _)| pattern.matches_key(key))
    }

    /// Publish an event.
    fn publish(&mut self, event: Event) {
        tracing::trace!(?event, "new event");
        self.list.retain(|(pattern, tx)| {
            if pattern.is_match(&event) {
                // faultline patch: a full channel is a slow subscriber, not a gone one.
                // Upstream dropped the sender here, so a campaign that had 4 election
                // events queued panicked with "sender should not drop". A campaign only
                // needs a wake-up to re-read the leader, which the queued events give.
                !matches!(tx.try_send(event.clone()), Err(mpsc::error::TrySendError::Closed(_)))
            } else {
                true
            }
        });
    }
}

type LeaseId = i64;
type Key = Bytes;
type Value = Bytes;

/// etcd's default election timeout (`--election-timeout` 1000 ms): what a newly promoted
/// lessor adds to every lease it recovers.
const ELECTION_TIMEOUT: Duration = Duration::from_millis(1000);

/// The shortest lease etcd grants, s: 1.5 election timeouts rounded up to whole seconds
/// (`minTTL := (3*ElectionTicks)/2 * heartbeat` in etcdserver; 10 ticks x 100 ms by
/// default). A shorter request is granted this TTL.
const MIN_LEASE_TTL_S: i64 = 2;

/// How often the lessor looks for expired leases (`lessor.runLoop`).
const REVOKE_INTERVAL: Duration = Duration::from_millis(500);

/// How many expired leases one pass revokes (`leaseRevokeRate / 2`).
const REVOKE_LIMIT: usize = 500;

/// How often a renewal of an expired lease looks again for its revocation.
const RENEW_WAIT_POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Serialize, Deserialize)]
struct Lease {
    /// The granted TTL, s (at least [`MIN_LEASE_TTL_S`]).
    ttl: i64,
    /// When the lease expires (`Lease.expiry`): the last grant or renewal plus the TTL. A
    /// dump does not keep it: a restarted store refreshes every lease (see `new`).
    #[serde(skip, default = "Instant::now")]
    expiry: Instant,
    keys: HashSet<Key>,
}

impl Lease {
    fn new(ttl: i64, now: Instant) -> Self {
        Lease {
            ttl,
            expiry: now + Duration::from_secs(ttl as u64),
            keys: HashSet::new(),
        }
    }

    /// `Lease.refresh(extend)`: expires `extend` + TTL from now.
    fn refresh(&mut self, now: Instant, extend: Duration) {
        self.expiry = now + extend + Duration::from_secs(self.ttl as u64);
    }

    fn expired(&self, now: Instant) -> bool {
        now >= self.expiry
    }
}

/// What a keep-alive found.
enum Renewal {
    Renewed(LeaseKeepAliveResponse),
    NotFound,
    /// Past its expiry, waiting for the lessor to revoke it.
    Expired,
}

impl ServiceInner {
    fn header(&self) -> ResponseHeader {
        ResponseHeader {
            revision: self.revision,
        }
    }

    fn put(&mut self, key: Key, value: Value, options: PutOptions) -> Result<PutResponse> {
        tracing::trace!(
            ?key,
            ?value,
            lease = if options.lease == 0 {
                None
            } else {
                Some(options.lease)
            },
            "put"
        );
        // faultline patch (PATCHED.md, changes 11, 13 and 15): the previous value is copied
        // only when the caller asked for it, and the new one only when a watcher matches it;
        // the key is found by its hash (change 15). Upstream copied both values on every put
        // and searched a B-tree twice. Same results, in the same order.
        if options.lease != 0 && !self.lease.contains_key(&options.lease) {
            return Err(lease_not_found());
        }
        let prev = self.kv.get(&key);
        let prev_lease_and_creation = prev.map(|v| (v.lease, v.create_revision));
        let prev_value = if options.prev_kv { prev.map(|v| v.with_key(&key)) } else { None };
        // add key to the new lease
        if options.lease != 0 {
            let lease = self.lease.get_mut(&options.lease).expect("checked above");
            lease.keys.insert(key.clone());
        }
        // remove key from the old lease
        if let Some((prev_lease, _)) = prev_lease_and_creation {
            if prev_lease != 0 {
                let lease = self.lease.get_mut(&prev_lease).expect("no lease");
                lease.keys.remove(&key);
            }
        }
        // update main key-value
        self.revision += 1;
        let kv = Stored {
            value: value.into(),
            lease: options.lease,
            create_revision: prev_lease_and_creation.map_or(self.revision, |(_, created)| created),
            modify_revision: self.revision,
        };
        let event = self.watcher.watches(&key).then(|| Event::Put(kv.with_key(&key)));
        self.kv.insert(&key, kv);
        if let Some(event) = event {
            self.watcher.publish(event);
        }

        Ok(PutResponse {
            header: self.header(),
            prev_kv: if options.prev_kv { prev_value } else { None },
        })
    }

    fn get(&mut self, key: Key, options: GetOptions) -> GetResponse {
        tracing::trace!(?key, ?options, "get");
        if options.revision > 0 {
            todo!("get with revision");
        }
        let mut kvs: Vec<KeyValue> = if let Some(end) = options.range_end {
            let end: Key = end.into();
            if end <= key {
                Vec::new()
            } else {
                self.kv.range(&key, &end).map(|(k, v)| v.with_key(k)).collect()
            }
        } else if options.prefix {
            self.get_prefix_range(key).map(|(k, v)| v.with_key(k)).collect()
        } else {
            self.kv.get(&key).map(|v| v.with_key(&key)).into_iter().collect()
        };
        let count = kvs.len() as i64;
        let more = options.limit > 0 && count > options.limit;
        if more {
            kvs.truncate(options.limit as usize);
        }
        GetResponse {
            header: self.header(),
            kvs,
            more,
            count,
        }
    }

    fn get_prefix_range(&self, key: Key) -> impl Iterator<Item = (&[u8], &Stored)> + '_ {
        let mut end = key.clone();
        *end.last_mut().unwrap() += 1;
        self.kv.range(&key, &end)
    }

    fn delete(&mut self, key: Key, _options: DeleteOptions) -> DeleteResponse {
        tracing::trace!(?key, "delete");
        let prev_kv = self.kv.remove(&key);
        let deleted = prev_kv.is_some() as i64;
        if let Some(kv) = prev_kv {
            self.revision += 1;
            // remove key from the lease
            if kv.lease != 0 {
                let lease = self.lease.get_mut(&kv.lease).expect("no lease");
                lease.keys.remove(&key);
            }
            self.watcher.publish(Event::Delete(kv.into_kv(key)));
        }
        DeleteResponse {
            header: self.header(),
            deleted,
        }
    }

    fn txn(&mut self, txn: Txn) -> TxnResponse {
        tracing::trace!(%txn, "transaction");
        let succeeded = txn.compare.iter().all(|cmp| {
            let value = self.kv.get(&cmp.key).map(|v| &*v.value.0);
            let expected = cmp.value.as_slice();
            match cmp.op {
                CompareOp::Equal => value == Some(expected),
                CompareOp::Greater => matches!(value, Some(v) if v > expected),
                CompareOp::Less => matches!(value, Some(v) if v < expected),
                CompareOp::NotEqual => value != Some(expected),
            }
        });

        let revision = self.revision;
        let mut op_responses = vec![];
        for op in if succeeded { txn.success } else { txn.failure } {
            let response = match op {
                TxnOp::Get { key, options } => TxnOpResponse::Get(self.get(key, options)),
                TxnOp::Put {
                    key,
                    value,
                    options,
                } => TxnOpResponse::Put(self.put(key, value, options).expect("put failed in txn")),
                TxnOp::Delete { key, options } => TxnOpResponse::Delete(self.delete(key, options)),
                TxnOp::Txn { txn } => TxnOpResponse::Txn(self.txn(txn)),
            };
            op_responses.push(response);
        }
        self.revision = revision + 1;

        TxnResponse {
            header: self.header(),
            succeeded,
            op_responses,
        }
    }

    fn lease_grant(&mut self, ttl: i64, mut id: i64) -> LeaseGrantResponse {
        tracing::trace!(ttl, id, "lease_grant");
        // choose an ID if == 0
        if id == 0 {
            while self.lease.contains_key(&id) || id == 0 {
                id = random::<i64>().abs();
            }
        }
        // faultline patch: the minimum TTL, and no new revision (a lease is not a key;
        // upstream bumped the revision on grants and keep-alives).
        let ttl = ttl.max(MIN_LEASE_TTL_S);
        let old = self.lease.insert(id, Lease::new(ttl, Instant::now()));
        assert!(old.is_none(), "lease ID already exists");
        LeaseGrantResponse {
            header: self.header(),
            id,
            ttl,
        }
    }

    fn lease_revoke(&mut self, id: i64) -> Result<LeaseRevokeResponse> {
        tracing::trace!(id, "lease_revoke");
        self.remove_lease(id).ok_or_else(lease_not_found)?;
        Ok(LeaseRevokeResponse {
            header: self.header(),
        })
    }

    /// Removes a lease and deletes its keys in key order, in one new revision if it had any
    /// (etcd's `lessor.Revoke`: one delete txn, keys sorted).
    fn remove_lease(&mut self, id: i64) -> Option<()> {
        let lease = self.lease.remove(&id)?;
        if lease.keys.is_empty() {
            return Some(());
        }
        self.revision += 1;
        let mut keys: Vec<_> = lease.keys.into_iter().collect();
        keys.sort();
        for key in keys {
            tracing::trace!(?key, "delete");
            let kv = self.kv.remove(&key).expect("no key");
            self.watcher.publish(Event::Delete(kv.into_kv(key)));
        }
        Some(())
    }

    fn lease_keep_alive(&mut self, id: i64, now: Instant) -> Renewal {
        tracing::trace!(id, "lease_keep_alive");
        let Some(lease) = self.lease.get_mut(&id) else {
            return Renewal::NotFound;
        };
        if lease.expired(now) {
            return Renewal::Expired;
        }
        lease.refresh(now, Duration::ZERO);
        let ttl = lease.ttl;
        Renewal::Renewed(LeaseKeepAliveResponse {
            header: self.header(),
            id,
            ttl,
        })
    }

    fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLiveResponse> {
        let lease = self.lease.get(&id).ok_or_else(lease_not_found)?;
        Ok(LeaseTimeToLiveResponse {
            header: self.header(),
            id,
            // etcd truncates the remaining time to whole seconds.
            ttl: lease.expiry.saturating_duration_since(Instant::now()).as_secs() as i64,
            granted_ttl: lease.ttl,
            keys: if keys {
                lease.keys.iter().map(|k| k.to_vec()).collect()
            } else {
                vec![]
            },
        })
    }

    fn lease_leases(&self) -> LeaseLeasesResponse {
        LeaseLeasesResponse {
            header: self.header(),
            leases: self.lease.keys().map(|&id| LeaseStatus { id }).collect(),
        }
    }

    /// Revokes up to [`REVOKE_LIMIT`] leases past their expiry, earliest first, deleting their
    /// keys (`lessor.revokeExpiredLeases`, then the revoke the server proposes for each).
    fn revoke_expired(&mut self, now: Instant) {
        let mut expired: Vec<(Instant, LeaseId)> = self
            .lease
            .iter()
            .filter(|(_, lease)| lease.expired(now))
            .map(|(id, lease)| (lease.expiry, *id))
            .collect();
        expired.sort_unstable();
        for (_, id) in expired.into_iter().take(REVOKE_LIMIT) {
            tracing::trace!(id, "lease expired");
            self.remove_lease(id);
        }
    }

    fn campaign(
        &mut self,
        name: &Key,
        value: &Value,
        lease: i64,
    ) -> Result<std::result::Result<CampaignResponse, (Bytes, mpsc::Receiver<Event>)>> {
        tracing::trace!(?name, ?value, lease, "campaign");

        // key = format!("{name}/{lease:016x}")
        let mut key = name.clone();
        key.push(b'/');
        key.extend_from_slice(format!("{lease:016x}").as_bytes());

        if self.kv.get(&key).map(|kv| &*kv.value.0) != Some(value.as_slice()) {
            // put the kv if key not exists or value not match
            self.revision += 1;
            let kv = Stored {
                value: value.clone().into(),
                lease,
                create_revision: self.revision,
                modify_revision: self.revision,
            };
            self.lease
                .get_mut(&lease)
                .ok_or_else(lease_not_found)?
                .keys
                .insert(key.clone());
            let event = Event::Put(kv.with_key(&key));
            self.kv.insert(&key, kv);
            self.watcher.publish(event);
        }

        if self.leader(name.clone()).kv.unwrap().key == key {
            Ok(Ok(CampaignResponse {
                header: Some(self.header()),
                leader: Some(LeaderKey {
                    name: name.clone(),
                    key,
                    rev: self.revision,
                    lease,
                }),
            }))
        } else {
            let (tx, rx) = mpsc::channel(4);
            self.watcher
                .subscribe(EventPattern::Prefix(name.clone()), tx);
            Ok(Err((key, rx)))
        }
    }

    fn proclaim(&mut self, leader: LeaderKey, value: Value) -> Result<ProclaimResponse> {
        tracing::trace!(name = ?leader.name, ?value, "proclaim");
        match self.kv.get_mut(&leader.key) {
            None => return Err(session_expired()),
            Some(entry) => {
                self.revision += 1;
                entry.value = value.into();
                entry.modify_revision = self.revision;
                self.watcher.publish(Event::Put(entry.with_key(&leader.key)));
            }
        }
        Ok(ProclaimResponse {
            header: self.header(),
        })
    }

    fn leader(&self, name: Key) -> LeaderResponse {
        LeaderResponse {
            header: self.header(),
            kv: self
                .get_prefix_range(name)
                .min_by_key(|(_, v)| v.create_revision)
                .map(|(k, v)| v.with_key(k)),
        }
    }

    // NOTE: This function returns an event stream of the prefix `name`.
    //       Caller should check the leader on each event, since the leader may not change.
    fn observe(&mut self, name: Key) -> Result<(LeaderResponse, mpsc::Receiver<Event>)> {
        tracing::trace!(?name, "observe");
        let (tx, rx) = mpsc::channel(4);
        self.watcher
            .subscribe(EventPattern::Prefix(name.clone()), tx);
        Ok((self.leader(name), rx))
    }

    fn resign(&mut self, leader: LeaderKey) -> Result<ResignResponse> {
        tracing::trace!(name = ?leader.name, "resign");
        let kv = self.kv.remove(&leader.key).ok_or_else(session_expired)?;
        let lease = self.lease.get_mut(&kv.lease).expect("no lease");
        lease.keys.remove(&leader.key);
        self.watcher.publish(Event::Delete(kv.into_kv(leader.key)));
        self.revision += 1;
        Ok(ResignResponse {
            header: self.header(),
        })
    }

    fn status(&mut self) -> Result<StatusResponse> {
        tracing::trace!("status");
        Ok(StatusResponse {
            header: self.header(),
        })
    }
}

fn lease_not_found() -> Error {
    Error::GRpcStatus(tonic::Status::new(
        tonic::Code::NotFound,
        "etcdserver: requested lease not found",
    ))
}

fn session_expired() -> Error {
    Error::ElectError("session expired".into())
}

/// Refuses a txn whose branch writes one key twice (two puts, or a put and a delete), as
/// etcd's server does before applying anything (`checkIntervals` in
/// server/etcdserver/api/v3rpc/key.go: "duplicate key given in txn request",
/// InvalidArgument). Checked against etcd 3.4.23: a txn of `put /a 1; put /a 2`, and one of
/// `put /a 1; delete /a`, both answer `{"code":3, "error":"etcdserver: duplicate key given
/// in txn request"}`. Each branch is checked on its own; nested txns are not (faultline
/// sends none).
fn check_no_duplicate_keys(txn: &Txn) -> Result<()> {
    for branch in [&txn.success, &txn.failure] {
        // faultline patch (PATCHED.md, change 11): the written keys sorted in a vector, not
        // cloned into a set.
        let mut written: Vec<&Key> = branch
            .iter()
            .filter_map(|op| match op {
                TxnOp::Put { key, .. } | TxnOp::Delete { key, .. } => Some(key),
                TxnOp::Get { .. } | TxnOp::Txn { .. } => None,
            })
            .collect();
        written.sort_unstable();
        if written.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err(Error::GRpcStatus(tonic::Status::new(
                tonic::Code::InvalidArgument,
                "etcdserver: duplicate key given in txn request",
            )));
        }
    }
    Ok(())
}

/// The largest message a real etcd client decodes: tonic's default `max_decoding_message_size`,
/// which etcd-client 0.18 does not raise (faultline change 7).
pub const MAX_DECODING_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Refuses a range response larger than a real client could decode, as the real client does
/// on receiving it: OutOfRange "Error, decoded message length too large" (faultline change
/// 7). Seen on etcd 3.4.23 with etcd-client 0.18: a prefix read of 20,000 task records,
/// 6,421,503 bytes, failed with exactly that. Those records' keys and values sum to 6,126,670
/// bytes: the protobuf encoding adds 14.7 bytes per key-value (tags, lengths, revisions and
/// version as varints), so the size counted here is keys and values plus 15 each.
fn check_response_size(rsp: &GetResponse) -> Result<()> {
    let size: usize = 32 + rsp.kvs.iter().map(|kv| kv.key.len() + kv.value.len() + 15).sum::<usize>();
    if size > MAX_DECODING_MESSAGE_BYTES {
        return Err(Error::GRpcStatus(tonic::Status::new(
            tonic::Code::OutOfRange,
            format!("Error, decoded message length too large: found {size} bytes, the limit is: {MAX_DECODING_MESSAGE_BYTES}"),
        )));
    }
    Ok(())
}
