//! The coordination store client (etcd; simulated etcd under madsim). Task records live
//! under `/faultline/tasks/` (in a compact binary form, [`record`]), the idempotency index under `/faultline/keys/`, job records
//! (with their fire cursors) under `/faultline/jobs/`.
//!
//! Fencing: a new leader raises `/faultline/fence` to its epoch (zero-padded, so byte order
//! is numeric order) before it reads any state, and every later write is a txn guarded by
//! `fence == my epoch`. A deposed leader's writes therefore fail once a successor exists,
//! and the successor's read sees every write the old leader got acknowledged.

use crate::core::coordinator::{JobRecord, Write};
use crate::core::TaskRecord;
use crate::node::clock::{Elapsed, NodeClock};
use crate::node::rpc::through_faults;
use crate::node::NodeFaults;
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, TxnOpResponse, TxnResponse};

pub mod record;

/// The peer name store calls carry in the fault layer.
pub const STORE_PEER: &str = "store";
pub const ELECTION: &str = "/faultline/election";
const FENCE: &str = "/faultline/fence";
/// The newest (epoch, write sequence) a leader wrote: each write txn requires it to be older
/// than its own and moves it, so a retried write is applied once and a late copy never.
const WRITE_SEQ: &str = "/faultline/write-seq";
const TASKS: &str = "/faultline/tasks/";
const KEYS: &str = "/faultline/keys/";
const JOBS: &str = "/faultline/jobs/";
/// etcd's default `--max-txn-ops`.
pub const MAX_TXN_OPS: usize = 128;
/// A load (a prefix read of every record) gets this many store deadlines: it is larger than
/// any other call, but a lost reply should cost a few seconds, not ten (a new leader that
/// waited ten on a dropped load reply held the election that long with nobody leading).
const LOAD_TIMEOUT_FACTOR: u64 = 3;
/// Keys a load reads per call: 1,000 finished-task records with small payloads are about
/// 100 KB.
const LOAD_PAGE: i64 = 1_000;
/// Operations a write batch may carry: one of the txn's ops moves [`WRITE_SEQ`].
pub const MAX_BATCH_OPS: usize = MAX_TXN_OPS - 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store error: {0}")]
    Etcd(String),
    #[error("store call {0}")]
    Timeout(#[from] Elapsed),
    #[error("fenced: the store names epoch {found}, newer than {mine}")]
    Fenced { mine: u64, found: String },
    #[error("corrupt task record under {key}: {err}")]
    Corrupt { key: String, err: String },
}

impl From<etcd_client::Error> for StoreError {
    fn from(e: etcd_client::Error) -> Self {
        StoreError::Etcd(e.to_string())
    }
}

fn fence_value(epoch: u64) -> String {
    let mut value = String::with_capacity(PADDED_DIGITS);
    push_padded(&mut value, epoch);
    value
}

/// Zero-padded, so byte order is (epoch, seq) order.
fn write_seq_value(epoch: u64, seq: u64) -> String {
    let mut value = String::with_capacity(2 * PADDED_DIGITS + 1);
    push_padded(&mut value, epoch);
    value.push('/');
    push_padded(&mut value, seq);
    value
}

/// Digits of the largest u64.
const PADDED_DIGITS: usize = 20;

/// Appends `n` in `PADDED_DIGITS` decimal digits, zero-padded: what `format!("{n:020}")`
/// writes, without the formatter's padding machinery (it went a character at a time, and
/// the two values of every store write were 1% of a simulated run's instructions).
fn push_padded(out: &mut String, mut n: u64) {
    let mut digits = [b'0'; PADDED_DIGITS];
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.push_str(std::str::from_utf8(&digits).expect("ASCII digits"));
}

/// A store client whose every call has a deadline on the node's clock and goes through
/// the node's fault layer (peer `store`), so a slow or lossy store can be injected.
#[derive(Clone)]
pub struct Store {
    client: Client,
    clock: NodeClock,
    faults: NodeFaults,
    timeout_ms: u64,
    latency: prometheus_client::metrics::histogram::Histogram,
}

impl Store {
    pub async fn connect(
        endpoints: &[String],
        clock: NodeClock,
        faults: NodeFaults,
        timeout_ms: u64,
        load: &crate::node::load::LeaderLoad,
        tls: Option<&crate::node::tls::Tls>,
    ) -> Result<Self, StoreError> {
        let options = crate::node::tls::etcd_options(tls);
        let client = clock.timeout(timeout_ms, Client::connect(endpoints, options)).await??;
        Ok(Store { client, clock, faults, timeout_ms, latency: load.store_call_seconds.clone() })
    }

    /// One store call through the fault layer, its time observed.
    async fn call<T, F, Fut>(&self, timeout_ms: u64, make: F) -> Result<Result<T, etcd_client::Error>, StoreError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
        T: Send + 'static,
    {
        let start = self.clock.mono_ms();
        let result = through_faults(&self.faults, &self.clock, STORE_PEER, timeout_ms, make).await;
        self.latency.observe(self.clock.mono_ms().saturating_sub(start) as f64 / 1000.0);
        Ok(result?)
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse, StoreError> {
        let make = || {
            let (mut kv, txn) = (self.client.kv_client(), txn.clone());
            async move { kv.txn(txn).await }
        };
        Ok(self.call(self.timeout_ms, make).await??)
    }

    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// Raises the fence to `epoch`; fails if a newer leader already raised it.
    pub async fn claim_fence(&self, epoch: u64) -> Result<(), StoreError> {
        let mine = fence_value(epoch);
        let txn = Txn::new()
            .when(vec![Compare::value(FENCE, CompareOp::Less, mine.clone())])
            .and_then(vec![
                TxnOp::put(FENCE, mine.clone(), None),
                TxnOp::put(WRITE_SEQ, write_seq_value(epoch, 0), None),
            ])
            .or_else(vec![TxnOp::get(FENCE, None)]);
        let resp = self.txn(txn).await?;
        if resp.succeeded() {
            return Ok(());
        }
        let found = resp.op_responses().into_iter().find_map(|op| match op {
            TxnOpResponse::Get(get) => {
                Some(get.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
            }
            _ => None,
        });
        match found.flatten() {
            Some(found) if found != mine => Err(StoreError::Fenced { mine: epoch, found }),
            Some(_) => Ok(()),
            None => {
                // The very first leader ever: the fence key does not exist yet.
                let first = Txn::new().and_then(vec![
                    TxnOp::put(FENCE, mine.clone(), None),
                    TxnOp::put(WRITE_SEQ, write_seq_value(epoch, 0), None),
                ]);
                self.txn(first).await?;
                Ok(())
            }
        }
    }

    /// Every task record, in key order.
    pub async fn load_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        self.load(TASKS, record::decode).await
    }

    /// Every job record, in name order.
    pub async fn load_jobs(&self) -> Result<Vec<JobRecord>, StoreError> {
        self.load(JOBS, |value| serde_json::from_slice(value).map_err(|e| e.to_string())).await
    }

    /// Every record under `prefix`, read in pages of at most [`LOAD_PAGE`] keys: one read of
    /// everything fails once it passes the client's 4 MiB response limit (20,000 finished
    /// tasks did on etcd 3.4), and a page that still passes it (large payloads) is read again
    /// as two halves. The pages need no common revision: the loading leader has raised the
    /// fence, so no other leader writes meanwhile.
    async fn load<T>(
        &self,
        prefix: &'static str,
        decode: fn(&[u8]) -> Result<T, String>,
    ) -> Result<Vec<T>, StoreError> {
        let end = prefix_end(prefix);
        let mut from = prefix.as_bytes().to_vec();
        let mut page = LOAD_PAGE;
        let mut records = Vec::new();
        loop {
            let make = || {
                let (mut kv, from, end) = (self.client.kv_client(), from.clone(), end.clone());
                async move { kv.get(from, Some(GetOptions::new().with_range(end).with_limit(page))).await }
            };
            let timeout_ms = self.timeout_ms * LOAD_TIMEOUT_FACTOR;
            let resp = match self.call(timeout_ms, make).await? {
                Err(e) if too_large(&e) && page > 1 => {
                    page = (page / 2).max(1);
                    continue;
                }
                resp => resp?,
            };
            for kv in resp.kvs() {
                records.push(
                    decode(kv.value()).map_err(|err| StoreError::Corrupt {
                        key: String::from_utf8_lossy(kv.key()).into_owned(),
                        err,
                    })?,
                );
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => from = [last.key(), &[0]].concat(),
                _ => return Ok(records),
            }
        }
    }

    /// Writes a batch in one txn fenced by `epoch`, as write number `seq` of the term (from
    /// 1, one number per batch; a retry reuses its number). At most [`MAX_BATCH_OPS`]
    /// operations. Ok also when this very write had already landed (a retry after a lost
    /// reply).
    pub async fn write(&self, epoch: u64, seq: u64, writes: &[Write]) -> Result<(), StoreError> {
        let mut ops: Vec<TxnOp> = batch_ops(writes)
            .into_iter()
            .map(|(key, value)| match value {
                Some(value) => TxnOp::put(key, value, None),
                None => TxnOp::delete(key, None),
            })
            .collect();
        assert!(ops.len() <= MAX_BATCH_OPS, "write batch of {} ops exceeds the txn limit", ops.len());
        assert!(seq > 0, "write sequence numbers start at 1");
        let mine = write_seq_value(epoch, seq);
        ops.push(TxnOp::put(WRITE_SEQ, mine.clone(), None));
        let txn = Txn::new()
            .when(vec![
                Compare::value(FENCE, CompareOp::Equal, fence_value(epoch)),
                Compare::value(WRITE_SEQ, CompareOp::Less, mine.clone()),
            ])
            .and_then(ops)
            .or_else(vec![TxnOp::get(FENCE, None), TxnOp::get(WRITE_SEQ, None)]);
        let resp = self.txn(txn).await?;
        if resp.succeeded() {
            return Ok(());
        }
        let [fence, written] = first_values(&resp);
        if fence.as_deref() != Some(fence_value(epoch).as_str()) {
            return Err(StoreError::Fenced { mine: epoch, found: fence.unwrap_or_else(|| "nothing".into()) });
        }
        match written {
            Some(written) if written == mine => Ok(()),
            written => Err(StoreError::Etcd(format!(
                "write {mine} out of order: the store holds {}",
                written.unwrap_or_else(|| "no write sequence".into())
            ))),
        }
    }
}

/// The operations of one batch, one per store key: a value to put, or `None` to delete the
/// key. Where two writes of the batch name the same key (a task assigned, taken back and
/// assigned again; two fires of one job, each moving its cursor), the later one is kept.
/// etcd refuses a txn that writes a key twice ("duplicate key given in txn request") and
/// applying both in order would leave the later one, so keeping only it is the same write.
/// Keys keep the order of their first write.
fn batch_ops(writes: &[Write]) -> Vec<(String, Option<Vec<u8>>)> {
    // A write puts one or two keys (a record and its new idempotency key).
    let mut puts: Vec<(String, Option<Vec<u8>>)> = Vec::with_capacity(2 * writes.len());
    let mut at: rustc_hash::FxHashMap<String, usize> = // looked up only
        rustc_hash::FxHashMap::with_capacity_and_hasher(2 * writes.len(), Default::default());
    let mut put = |key: String, value: Option<Vec<u8>>| match at.get(&key) {
        Some(&i) => puts[i].1 = value,
        None => {
            at.insert(key.clone(), puts.len());
            puts.push((key, value));
        }
    };
    for w in writes {
        if let Some(record) = &w.record {
            put(key(TASKS, &record.id), Some(record::encode(record)));
            if w.create_key {
                put(key(KEYS, &record.spec.key), Some(record.id.as_bytes().to_vec()));
            }
        }
        if let Some(job) = &w.job {
            put(key(JOBS, &job.spec.name), Some(serde_json::to_vec(job).expect("job records serialize")));
        }
        if let Some(compaction) = &w.delete {
            put(key(TASKS, &compaction.task), None);
            put(key(KEYS, &compaction.key), None);
        }
    }
    puts
}

/// The store key of `name` under `prefix`: `[prefix, name].concat()`, without its general
/// join (every write builds one or two; faultline issue 16).
fn key(prefix: &str, name: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + name.len());
    key.push_str(prefix);
    key.push_str(name);
    key
}

/// The first key after every key that starts with `prefix` (etcd's prefix range end).
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    let last = end.last_mut().expect("a non-empty prefix");
    assert!(*last < u8::MAX, "prefixes end in a printable byte");
    *last += 1;
    end
}

/// A response the client refused for its size (tonic's 4 MiB decoding limit).
fn too_large(e: &etcd_client::Error) -> bool {
    matches!(e, etcd_client::Error::GRpcStatus(status) if status.code() == tonic::Code::OutOfRange)
}

/// The values the `get` ops of a failed txn's else branch read, in order (None: no key).
fn first_values<const N: usize>(resp: &TxnResponse) -> [Option<String>; N] {
    let mut gets = resp.op_responses().into_iter().filter_map(|op| match op {
        TxnOpResponse::Get(get) => Some(get.kvs().first().map(|kv| String::from_utf8_lossy(kv.value()).into_owned())),
        _ => None,
    });
    std::array::from_fn(|_| gets.next().flatten())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{TaskSpec, TaskState};

    #[test]
    fn fence_and_write_sequence_values_are_zero_padded_to_20_digits() {
        for n in [0, 7, 10, 1_000_003, 99_999_999_999, u64::MAX / 3, u64::MAX] {
            assert_eq!(fence_value(n), format!("{n:020}"));
            assert_eq!(write_seq_value(n, n / 7 + 1), format!("{n:020}/{:020}", n / 7 + 1));
        }
    }

    fn write(op: u64, record: &TaskRecord, create_key: bool) -> Write {
        Write { op, record: Some(record.clone()), create_key, job: None, delete: None }
    }

    #[test]
    fn a_batch_writes_each_key_once_with_its_last_value() {
        let spec = TaskSpec { key: "k".into(), payload: vec![], max_attempts: 3, timeout_ms: 1_000, not_before_ms: 0 };
        let created = TaskRecord::new("t1-1".into(), spec.clone());
        let mut assigned = created.clone();
        assigned.state = TaskState::Assigned;
        let mut reassigned = assigned.clone();
        reassigned.attempt = 2;
        let other = TaskRecord::new("t1-2".into(), TaskSpec { key: "k2".into(), ..spec });
        let batch = [
            write(1, &created, true),
            write(2, &assigned, false),
            write(3, &other, true),
            write(4, &reassigned, false),
        ];
        let puts = batch_ops(&batch);
        let keys: Vec<&str> = puts.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["/faultline/tasks/t1-1", "/faultline/keys/k", "/faultline/tasks/t1-2", "/faultline/keys/k2"]);
        let kept = record::decode(puts[0].1.as_deref().expect("a put")).expect("a task record");
        assert_eq!(kept, reassigned, "the batch's last write of a key wins");
    }

    #[test]
    fn a_compaction_deletes_the_record_and_the_key() {
        let spec = TaskSpec { key: "k".into(), payload: vec![], max_attempts: 3, timeout_ms: 1_000, not_before_ms: 0 };
        let mut done = TaskRecord::new("t1-1".into(), spec);
        done.state = TaskState::Succeeded;
        let compaction = crate::core::coordinator::Compaction { task: "t1-1".into(), key: "k".into() };
        let delete = Write { op: 2, record: None, create_key: false, job: None, delete: Some(compaction) };
        let ops = batch_ops(&[write(1, &done, false), delete]);
        assert_eq!(ops, [("/faultline/tasks/t1-1".to_string(), None), ("/faultline/keys/k".to_string(), None)]);
    }
}
