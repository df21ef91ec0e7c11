//! The coordinator node: an actor that owns the core [`Coordinator`], a gRPC server that
//! feeds it, an election loop (etcd lease + campaign) that makes it leader or deposes it,
//! and a writer that carries its store writes out in order, fenced by its epoch.
//!
//! Leadership is held only while the lease is known alive by this node's own clock: a
//! keep-alive reply proves the lease alive for `ttl - margin` (drift-corrected) from when
//! that keep-alive was SENT: etcd counts the TTL from when it handles the renewal, later.

use crate::core::coordinator::{Coordinator, CoordinatorConfig, JobRecord, JobReply, Output, SubmitReply, Write};
use crate::core::executor::BeatReply;
use crate::node::clock::Reading;
use crate::node::rpc::{beat_from_wire, reply_to_wire, spec_from_wire};
use crate::node::store::{Store, StoreError, ELECTION, MAX_BATCH_OPS, STORE_PEER};
use crate::node::tls::{self, Act};
use crate::node::{NodeContext, Timing};
use crate::proto;
use crate::trace::EventKind;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};

/// Everything a coordinator node needs.
#[derive(Clone)]
pub struct CoordinatorSettings {
    pub listen: SocketAddr,
    pub store_endpoints: Vec<String>,
    pub config: CoordinatorConfig,
    pub timing: Timing,
    pub seed: u64,
    /// Where the driver shows its load and store latency (a real node serves it).
    pub load: crate::node::load::LeaderLoad,
}

enum Msg {
    Submit {
        spec: crate::core::TaskSpec,
        reply: oneshot::Sender<SubmitReply>,
    },
    Beat {
        beat: crate::core::executor::Beat,
        reply: oneshot::Sender<Option<BeatReply>>,
    },
    Job {
        command: crate::schedule::JobCommand,
        reply: oneshot::Sender<JobReply>,
    },
    Elected {
        epoch: u64,
        store: Box<Store>,
        records: Vec<crate::core::TaskRecord>,
        jobs: Vec<JobRecord>,
        valid_until: Arc<AtomicU64>,
    },
    Deposed {
        epoch: u64,
        reason: String,
    },
    Written {
        epoch: u64,
        ops: Vec<u64>,
    },
    WriteFailed {
        epoch: u64,
        reason: String,
    },
}

/// Runs a coordinator until the node is killed, or until `stop` completes (a planned
/// shutdown: SIGTERM in real mode; the simulator passes a future that never completes).
/// Stopping ends the term the way a refused write does, with the lease revoked, so a
/// standby is elected at once instead of after the lease's TTL; the node then campaigns no
/// more and `run` returns (within two store deadlines, whatever the store does).
pub async fn run(ctx: NodeContext, settings: CoordinatorSettings, stop: impl std::future::Future<Output = ()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let hint = Arc::new(Mutex::new(String::new()));
    // The highest epoch the actor has asked the election loop to resign. Tagged with the
    // epoch (not a bare wake-up) so a request for an ended term never ends the next one.
    let (resign, resign_rx) = watch::channel(0u64);
    let service = Service { tx: tx.clone(), hint: hint.clone(), ctx: ctx.clone() };
    let server = match tls::server(ctx.tls.as_deref()) {
        Ok(mut server) => {
            server.add_service(proto::coordinator_server::CoordinatorServer::new(service)).serve(settings.listen)
        }
        Err(e) => return tracing::error!("coordinator server: TLS: {e}"),
    };
    tokio::spawn(async move {
        if let Err(e) = server.await {
            tracing::error!("coordinator server stopped: {e}");
        }
    });
    let (stopping, stopping_rx) = watch::channel(false);
    let terms = Terms { resign: resign_rx, stopping: stopping_rx };
    let election = tokio::spawn(elect(ctx.clone(), settings.clone(), tx.clone(), hint, terms));
    let (clock, limit_ms) = (ctx.clock.clone(), settings.timing.store_timeout_ms * 2);
    let actor = actor(ctx, settings, rx, tx, resign);
    tokio::pin!(actor);
    tokio::select! {
        biased;
        () = &mut actor => return,
        () = stop => {}
    }
    let _ = stopping.send(true);
    // The actor goes on while the term ends: it records the deposition the election loop
    // sends, and refuses what waits for a write.
    tokio::select! {
        biased;
        _ = election => {}
        () = &mut actor => {}
        () = clock.sleep(limit_ms) => tracing::warn!("the store did not confirm the lease's revoke in time"),
    }
}

/// What ends a term early: the actor's resign requests (by epoch), and a planned shutdown.
#[derive(Clone)]
struct Terms {
    resign: watch::Receiver<u64>,
    stopping: watch::Receiver<bool>,
}

impl Terms {
    fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }
}

struct Actor {
    ctx: NodeContext,
    core: Coordinator,
    submits: BTreeMap<u64, oneshot::Sender<SubmitReply>>,
    job_replies: BTreeMap<u64, oneshot::Sender<JobReply>>,
    beats: BTreeMap<u64, oneshot::Sender<Option<BeatReply>>>,
    next_req: u64,
    writer: Option<mpsc::UnboundedSender<Write>>,
    tx: mpsc::UnboundedSender<Msg>,
    resign: watch::Sender<u64>,
    /// While leading: the local time until which the lease is proven (keep-alives move it).
    lease: Option<Arc<AtomicU64>>,
    load: crate::node::load::LeaderLoad,
}

async fn actor(
    ctx: NodeContext,
    settings: CoordinatorSettings,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    tx: mpsc::UnboundedSender<Msg>,
    resign: watch::Sender<u64>,
) {
    // A wall-clock deadline (a job's instant) is slept on the monotonic clock: a wall clock
    // stepped forward during the sleep is noticed within this (half a beat interval, the
    // blind tick this loop had before the core said when to wake it).
    let wall_recheck_ms = (settings.config.heartbeat_interval_ms / 2).max(5);
    let core = Coordinator::new(CoordinatorConfig { bugs: ctx.bugs, ..settings.config }, settings.seed);
    let mut a = Actor::new(ctx, core, tx, resign, settings.load.clone());
    loop {
        let wait = a.core.poll_timeout().wait_ms(a.ctx.clock.now(), wall_recheck_ms);
        let msg = tokio::select! {
            biased;
            msg = rx.recv() => match msg {
                Some(msg) => Some(msg),
                None => return,
            },
            () = a.ctx.clock.sleep(wait.unwrap_or(0)), if wait.is_some() => None,
        };
        let at = a.ctx.clock.reading();
        a.step(msg, at);
    }
}

impl Actor {
    /// An actor of `core`, not leading.
    fn new(
        ctx: NodeContext,
        core: Coordinator,
        tx: mpsc::UnboundedSender<Msg>,
        resign: watch::Sender<u64>,
        load: crate::node::load::LeaderLoad,
    ) -> Self {
        Actor {
            ctx,
            core,
            submits: BTreeMap::new(),
            job_replies: BTreeMap::new(),
            beats: BTreeMap::new(),
            next_req: 1,
            writer: None,
            tx,
            resign,
            lease: None,
            load,
        }
    }

    /// One step at one clock reading `at`: the lease check, the message, the core's due
    /// deadline, and the acts that follow are all judged and stamped at `at`, so a pause
    /// that lands inside the step (a real process can stop anywhere) cannot make an act
    /// checked before it look as if it were decided after it (see [`Reading`]).
    fn step(&mut self, msg: Option<Msg>, at: Reading) {
        // A leader that was paused (GC, VM freeze) wakes up to a backlog of messages and
        // an overdue deadline: it checks its lease by its own clock before acting on either.
        #[cfg(madsim)]
        let check = !self.ctx.bugs.on(crate::bugs::Bug::NoLeaseCheck);
        #[cfg(not(madsim))]
        let check = true;
        if check {
            self.check_lease(at);
        }
        if let Some(msg) = msg {
            self.handle(msg, at);
        }
        if self.core.poll_timeout().is_due(at.now) {
            self.core.tick(at.now);
        }
        self.drain(at);
    }

    fn handle(&mut self, msg: Msg, at: Reading) {
        let now = at.now;
        match msg {
            Msg::Submit { spec, reply } => {
                let req = self.next_req;
                self.next_req += 1;
                self.submits.insert(req, reply);
                self.core.submit(req, spec);
            }
            Msg::Beat { beat, reply } => {
                let req = self.next_req;
                self.next_req += 1;
                self.beats.insert(req, reply);
                self.core.heartbeat(now, req, beat);
            }
            Msg::Job { command, reply } => {
                let req = self.next_req;
                self.next_req += 1;
                self.job_replies.insert(req, reply);
                self.core.job_command(now, req, command);
            }
            Msg::Elected { epoch, store, records, jobs, valid_until } => {
                // The campaign may have been won long ago (its reply held up by a partition)
                // or the load may have outlasted the lease: never announce or act on a term
                // whose lease this node's clock can no longer vouch for.
                if !lease_proven_at(now.mono_ms, &valid_until) {
                    tracing::debug!(node = %self.ctx.name, epoch, "elected on a lapsed lease: not taking office");
                    self.resign(epoch);
                    return;
                }
                self.core.become_leader(now, epoch, records, jobs);
                let (wtx, wrx) = mpsc::unbounded_channel();
                self.writer = Some(wtx);
                let writer = Writer {
                    epoch,
                    store: *store,
                    clock: self.ctx.clock.clone(),
                    valid_until: valid_until.clone(),
                    tx: self.tx.clone(),
                    bugs: self.ctx.bugs,
                };
                tokio::spawn(writer.run(wrx));
                self.lease = Some(valid_until);
                self.ctx.record_at(at.true_ms, EventKind::LeaderElected { epoch });
            }
            Msg::Deposed { epoch, reason } => self.depose(epoch, reason, at),
            Msg::Written { epoch, ops } if self.core.epoch() == Some(epoch) => {
                for op in ops {
                    self.core.persisted(now, op);
                }
            }
            Msg::Written { .. } => {}
            Msg::WriteFailed { epoch, reason } => {
                if self.core.epoch() == Some(epoch) {
                    self.resign(epoch);
                }
                self.depose(epoch, reason, at);
            }
        }
    }

    fn check_lease(&mut self, at: Reading) {
        let lapsed = self.lease.as_ref().is_some_and(|v| !lease_proven_at(at.now.mono_ms, v));
        if let (true, Some(epoch)) = (lapsed, self.core.epoch()) {
            self.resign(epoch);
            self.depose(epoch, "lease lapsed by the local clock".into(), at);
        }
    }

    /// Asks the election loop to end term `epoch` (and no later one).
    fn resign(&self, epoch: u64) {
        self.resign.send_if_modified(|asked| {
            let newer = epoch > *asked;
            if newer {
                *asked = epoch;
            }
            newer
        });
    }

    fn depose(&mut self, epoch: u64, reason: String, at: Reading) {
        if self.core.epoch() != Some(epoch) {
            return;
        }
        self.core.step_down();
        self.writer = None;
        self.lease = None;
        self.ctx.record_at(at.true_ms, EventKind::LeaderLost { epoch, reason: reason.into() });
    }

    fn drain(&mut self, at: Reading) {
        self.load.show(self.core.open_tasks(), self.core.ready_tasks());
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Write(w) => {
                    let writer = self.writer.as_ref().expect("writes only while leading");
                    let _ = writer.send(w);
                }
                Output::Reply { req, reply } => {
                    if let Some(tx) = self.submits.remove(&req) {
                        let _ = tx.send(reply);
                    }
                }
                Output::BeatReply { req, reply } => {
                    if let Some(tx) = self.beats.remove(&req) {
                        let _ = tx.send(reply);
                    }
                }
                Output::JobReply { req, reply } => {
                    if let Some(tx) = self.job_replies.remove(&req) {
                        let _ = tx.send(reply);
                    }
                }
                Output::Record(event) => self.ctx.record_at(at.true_ms, event),
            }
        }
    }
}

/// Carries one term's writes out in order, batching what has queued up into one txn.
///
/// A write the store refuses (the fence names a newer epoch) ends the term at once. A write
/// that timed out or failed in transport is retried, the same batch under the same sequence
/// number, while the lease is still proven by this node's clock: one slow store call is not
/// a reason to give up leadership. The sequence number makes the retry exactly-once (a
/// retry of a batch that had landed is answered "already written"), and a stale copy that
/// arrives late can never overwrite a newer batch.
struct Writer {
    epoch: u64,
    store: Store,
    clock: crate::node::clock::NodeClock,
    valid_until: Arc<AtomicU64>,
    tx: mpsc::UnboundedSender<Msg>,
    /// Known bugs switched on (simulation only).
    #[cfg_attr(not(madsim), allow(dead_code))]
    bugs: crate::bugs::BugSet,
}

/// First pause before retrying a failed store call; doubled per retry up to [`RETRY_MAX_MS`].
const RETRY_BASE_MS: u64 = 10;
const RETRY_MAX_MS: u64 = 100;

impl Writer {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<Write>) {
        let mut queue: VecDeque<Write> = VecDeque::new();
        let mut seq = 0;
        loop {
            if queue.is_empty() {
                match rx.recv().await {
                    Some(w) => queue.push_back(w),
                    None => return,
                }
            }
            while let Ok(w) = rx.try_recv() {
                queue.push_back(w);
            }
            let mut batch = Vec::new();
            let mut ops = 0;
            while let Some(w) = queue.front() {
                let cost = w.ops();
                if ops + cost > MAX_BATCH_OPS {
                    break;
                }
                ops += cost;
                batch.push(queue.pop_front().expect("front exists"));
            }
            seq += 1;
            match self.write(seq, &batch).await {
                Ok(()) => {
                    let ops = batch.iter().map(|w| w.op).collect();
                    let _ = self.tx.send(Msg::Written { epoch: self.epoch, ops });
                }
                Err(reason) => {
                    let _ = self.tx.send(Msg::WriteFailed { epoch: self.epoch, reason });
                    return;
                }
            }
        }
    }

    /// Writes one batch, retrying what may be transient while the lease is alive.
    async fn write(&self, seq: u64, batch: &[Write]) -> Result<(), String> {
        #[cfg(madsim)]
        {
            use crate::bugs::Bug;
            let on = |bug| self.bugs.on(bug);
            if on(Bug::IgnoreStoreErrors) || on(Bug::GiveUpOnSlowStore) {
                return match self.store.write(self.epoch, seq, batch).await {
                    Err(e) if on(Bug::IgnoreStoreErrors) => {
                        tracing::warn!("write failed, carrying on: {e}");
                        Ok(())
                    }
                    result => result.map_err(|e| format!("write failed: {e}")),
                };
            }
        }
        let proven = || lease_proven(&self.clock, &self.valid_until);
        retry_while(&self.clock, proven, || self.store.write(self.epoch, seq, batch))
            .await
            .map_err(|e| format!("write failed: {e}"))
    }
}

/// Campaigns forever: lease, campaign, fence, load, lead while the lease is alive.
async fn elect(
    ctx: NodeContext,
    settings: CoordinatorSettings,
    tx: mpsc::UnboundedSender<Msg>,
    hint: Arc<Mutex<String>>,
    terms_end: Terms,
) {
    #[allow(unused_mut)]
    let mut timeout_ms = settings.timing.store_timeout_ms;
    #[cfg(madsim)]
    if ctx.bugs.on(crate::bugs::Bug::GiveUpOnSlowStore) {
        timeout_ms = settings.timing.rpc_timeout_ms; // the peer deadline for the store too
    }
    tokio::spawn(watch_leader(ctx.clone(), settings.clone(), hint));
    let mut terms = 0;
    while !terms_end.stopping() {
        match Store::connect(
            &settings.store_endpoints,
            ctx.clock.clone(),
            ctx.faults.clone(),
            timeout_ms,
            &settings.load,
            ctx.tls.as_deref(),
        )
        .await
        {
            Ok(store) => {
                if let Err(e) = term(&ctx, &settings, &store, &tx, terms_end.clone(), &mut terms).await {
                    tracing::debug!(node = %ctx.name, "election round ended: {e}");
                }
            }
            Err(e) => tracing::debug!(node = %ctx.name, "store unreachable: {e}"),
        }
        if !terms_end.stopping() {
            ctx.clock.sleep(settings.timing.rpc_timeout_ms).await;
        }
    }
}

/// A term's lease: its id, the local time up to which keep-alives prove it, and the epoch
/// this node leads under it (0 while campaigning).
struct HeldLease {
    id: i64,
    valid_until: Arc<AtomicU64>,
    leading: Arc<AtomicU64>,
}

/// One lease: campaign with it, and lead until it lapses or a write is refused.
async fn term(
    ctx: &NodeContext,
    settings: &CoordinatorSettings,
    store: &Store,
    tx: &mpsc::UnboundedSender<Msg>,
    terms_end: Terms,
    terms: &mut u64,
) -> Result<(), StoreError> {
    let timeout_ms = settings.timing.store_timeout_ms;
    let ttl_s = settings.timing.lease_ttl_s;
    let client = store.client();
    let leases = client.lease_client();
    let sent = ctx.clock.mono_ms();
    // The grant and the revoke go through the fault layer like every store call.
    let grant = || {
        let mut leases = leases.clone();
        async move { leases.grant(ttl_s as i64, None).await }
    };
    let lease = crate::node::rpc::through_faults(&ctx.faults, &ctx.clock, STORE_PEER, timeout_ms, grant).await??.id();
    let valid_until = Arc::new(AtomicU64::new(sent + settings.timing.lease_validity_ms()));
    let leading = Arc::new(AtomicU64::new(0));
    let keeper = tokio::spawn(keep_alive(
        ctx.clone(),
        client.clone(),
        lease,
        settings.timing.clone(),
        valid_until.clone(),
        leading.clone(),
    ));
    let held = HeldLease { id: lease, valid_until: valid_until.clone(), leading };
    let result = lead(ctx, store, tx, terms_end, &held, terms).await;
    keeper.abort();
    let revoke = || {
        let mut leases = leases.clone();
        async move { leases.revoke(lease).await }
    };
    let _ = crate::node::rpc::through_faults(&ctx.faults, &ctx.clock, STORE_PEER, timeout_ms, revoke).await;
    result
}

async fn lead(
    ctx: &NodeContext,
    store: &Store,
    tx: &mpsc::UnboundedSender<Msg>,
    terms_end: Terms,
    held: &HeldLease,
    terms: &mut u64,
) -> Result<(), StoreError> {
    let (lease, valid_until, leading) = (held.id, &held.valid_until, &held.leading);
    let Terms { mut resign, mut stopping } = terms_end;
    let mut election = store.client().election_client();
    // The campaign waits without a deadline for its turn, so of the fault layer only delays
    // apply to it (a `delay` or `store_slow` toward the store, either way).
    let campaign = async {
        let wait_ms = ctx.faults.delay_request(STORE_PEER, madsim::rand::random::<f64>);
        if wait_ms > 0 {
            ctx.clock.sleep(wait_ms).await;
        }
        let won = election.campaign(ELECTION, ctx.name.as_str(), lease).await;
        let held_ms = ctx.faults.delay_reply(STORE_PEER, madsim::rand::random::<f64>);
        if held_ms > 0 {
            ctx.clock.sleep(held_ms).await;
        }
        won
    };
    #[allow(unused_mut)]
    let mut epoch = tokio::select! {
        biased;
        won = campaign => {
            let won = won?;
            won.leader().map(|k| k.rev() as u64).ok_or_else(|| StoreError::Etcd("campaign gave no leader key".into()))?
        }
        () = lease_lapsed(ctx, valid_until) => return Err(StoreError::Etcd("lease lapsed while campaigning".into())),
        _ = stopping.wait_for(|s| *s) => return Ok(()),
    };
    *terms += 1;
    #[cfg(madsim)]
    if ctx.bugs.on(crate::bugs::Bug::EpochFromLocalCounter) {
        epoch = *terms;
    }
    // Taking office reads and writes the store like any term does: a call that timed out or
    // failed in transport is tried again while the lease is proven (the fence claim is
    // idempotent, the loads are reads).
    let proven = || lease_proven(&ctx.clock, valid_until);
    retry_while(&ctx.clock, proven, || store.claim_fence(epoch)).await?;
    let records = retry_while(&ctx.clock, proven, || store.load_tasks()).await?;
    let jobs = retry_while(&ctx.clock, proven, || store.load_jobs()).await?;
    if !proven() {
        return Err(StoreError::Etcd(format!("lease lapsed before taking office as epoch {epoch}")));
    }
    let shared = valid_until.clone();
    leading.store(epoch, Ordering::SeqCst);
    let _ = tx.send(Msg::Elected { epoch, store: Box::new(store.clone()), records, jobs, valid_until: shared });
    let reason = tokio::select! {
        biased;
        () = lease_lapsed(ctx, valid_until) => "lease lapsed by the local clock".to_string(),
        _ = resign.wait_for(|asked| *asked >= epoch) => "a store write was refused, or the lease lapsed".to_string(),
        _ = stopping.wait_for(|s| *s) => "shutting down: the lease is revoked for a successor".to_string(),
    };
    let _ = tx.send(Msg::Deposed { epoch, reason });
    Ok(())
}

/// Runs `call` until it succeeds, is refused (fenced, corrupt), or `proven` turns false, with
/// a short doubling pause between tries.
async fn retry_while<T, Fut>(
    clock: &crate::node::clock::NodeClock,
    proven: impl Fn() -> bool,
    call: impl Fn() -> Fut,
) -> Result<T, StoreError>
where
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut pause_ms = RETRY_BASE_MS;
    let mut failures: u64 = 0;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e @ (StoreError::Fenced { .. } | StoreError::Corrupt { .. })) => return Err(e),
            Err(e) if !proven() => return Err(e),
            Err(e) => {
                failures += 1;
                // One failure is the store's tail; a call failing on and on while the lease
                // holds (a load too large for one response keeps a leader out of office
                // forever) must reach the operator: warned at the 16th, 32nd, 64th... try.
                if failures >= 16 && failures.is_power_of_two() {
                    tracing::warn!("store call failed {failures} times, retrying while the lease is proven: {e}");
                } else {
                    tracing::debug!("store call failed, retrying while the lease is proven: {e}");
                }
            }
        }
        clock.sleep(pause_ms).await;
        pause_ms = (pause_ms * 2).min(RETRY_MAX_MS);
    }
}

/// Whether this node's clock still proves the lease: it is before `valid_until`, the local
/// time up to which the last keep-alive reply vouches for it.
fn lease_proven(clock: &crate::node::clock::NodeClock, valid_until: &AtomicU64) -> bool {
    lease_proven_at(clock.mono_ms(), valid_until)
}

/// Whether the monotonic reading `mono_ms` is before `valid_until`.
fn lease_proven_at(mono_ms: u64, valid_until: &AtomicU64) -> bool {
    mono_ms < valid_until.load(Ordering::SeqCst)
}

/// Returns once this node's clock passes `valid_until` (which keep-alives keep moving).
async fn lease_lapsed(ctx: &NodeContext, valid_until: &AtomicU64) {
    while lease_proven(&ctx.clock, valid_until) {
        ctx.clock.sleep(20).await;
    }
}

/// Keep-alives sent but not yet answered, beyond which the stream is reopened: a stream that
/// stopped answering proves nothing, and a fresh one may.
const MAX_UNANSWERED_KEEP_ALIVES: usize = 16;

/// Keeps the lease alive, extending `valid_until` from each reply's request send time.
///
/// Each keep-alive goes through the node's fault layer toward the store, like every store
/// call: a `delay` or `store_slow` holds the request (its validity still counts from when
/// it was sent) or, with `direction = "response"`, the reply (held in stream order), a
/// dropped request is never answered, a dropped response is read and discarded. While the node leads (`leading` holds its epoch), each send is recorded
/// (`keep_alive_sent`, once on the wire), so a fault can be triggered the moment a reply
/// is in flight.
///
/// Keep-alives go out every `L/8` whatever the replies do, and replies are read as they
/// come: the stream answers in order, so reply i proves the lease from when request i was
/// sent. (Waiting a bounded time for each reply before sending the next, as this loop once
/// did, left one reply unread per slow store call; from then on every reply was matched to
/// an ever older request, and after a few healthy etcd stalls the lease "lapsed" with
/// nothing wrong.)
async fn keep_alive(
    ctx: NodeContext,
    client: etcd_client::Client,
    lease: i64,
    timing: Timing,
    valid_until: Arc<AtomicU64>,
    leading: Arc<AtomicU64>,
) {
    let timeout_ms = timing.store_timeout_ms;
    let interval_ms = (timing.lease_ttl_s * 1000 / 8).max(50);
    loop {
        let mut leases = client.lease_client();
        let Ok(Ok((mut keeper, mut stream))) = ctx.clock.timeout(timeout_ms, leases.keep_alive(lease)).await else {
            ctx.clock.sleep(interval_ms).await;
            continue;
        };
        let mut sent: VecDeque<u64> = VecDeque::new();
        // Replies a response delay holds: (when the node sees it, send time, TTL), in
        // stream order.
        let mut held: VecDeque<(u64, u64, i64)> = VecDeque::new();
        // Takes in one reply: false when it says the lease is gone.
        let deliver = |at: u64, ttl: i64| -> bool {
            if ttl <= 0 {
                return false; // lead() sees valid_until pass
            }
            #[allow(unused_mut)]
            let mut until = at + timing.lease_validity_ms();
            #[cfg(madsim)]
            if ctx.bugs.on(crate::bugs::Bug::TrustLocalLease) {
                until = ctx.clock.mono_ms() + timing.lease_ttl_s * 1000; // a local timer from the reply
            }
            valid_until.fetch_max(until, Ordering::SeqCst);
            true
        };
        let mut next_send_ms = ctx.clock.mono_ms();
        while sent.len() <= MAX_UNANSWERED_KEEP_ALIVES {
            let wait_ms = next_send_ms.saturating_sub(ctx.clock.mono_ms());
            let held_wait_ms = held.front().map_or(0, |(seen, _, _)| seen.saturating_sub(ctx.clock.mono_ms()));
            tokio::select! {
                biased;
                reply = stream.message() => {
                    let Ok(Some(resp)) = reply else { break };
                    let Some(at) = sent.pop_front() else { break }; // a reply nobody asked for
                    if ctx.faults.lose_reply(STORE_PEER, madsim::rand::random::<f64>) {
                        continue;
                    }
                    let held_ms = ctx.faults.delay_reply(STORE_PEER, madsim::rand::random::<f64>);
                    if held_ms == 0 && held.is_empty() {
                        if !deliver(at, resp.ttl()) {
                            return;
                        }
                    } else {
                        // The stream is in order: a reply is seen no earlier than the one before.
                        let seen = held.back().map_or(0, |(s, _, _)| *s).max(ctx.clock.mono_ms() + held_ms);
                        held.push_back((seen, at, resp.ttl()));
                    }
                }
                () = ctx.clock.sleep(held_wait_ms), if !held.is_empty() => {
                    let (_, at, ttl) = held.pop_front().expect("a held reply");
                    if !deliver(at, ttl) {
                        return;
                    }
                }
                () = ctx.clock.sleep(wait_ms) => {
                    let now = ctx.clock.mono_ms();
                    next_send_ms = now + interval_ms;
                    let plan = ctx.faults.plan_call(STORE_PEER, madsim::rand::random::<f64>);
                    if plan.drop_request {
                        continue; // lost on the way: nothing will answer it
                    }
                    ctx.clock.sleep(plan.delay_ms).await;
                    sent.push_back(now);
                    if keeper.keep_alive().await.is_err() {
                        break;
                    }
                    // Recorded once the request is on the wire, so a fault it triggers finds
                    // the reply in flight (recorded before the send, a pause it triggered
                    // stopped the node before the request left).
                    let epoch = leading.load(Ordering::SeqCst);
                    if epoch > 0 && lease_proven(&ctx.clock, &valid_until) {
                        ctx.record(EventKind::KeepAliveSent { epoch });
                    }
                }
            }
        }
    }
}

/// Keeps the not-leader hint fresh: the elected coordinator's name.
async fn watch_leader(ctx: NodeContext, settings: CoordinatorSettings, hint: Arc<Mutex<String>>) {
    let timeout_ms = settings.timing.store_timeout_ms;
    loop {
        let (clock, faults, tls) = (ctx.clock.clone(), ctx.faults.clone(), ctx.tls.as_deref());
        if let Ok(store) =
            Store::connect(&settings.store_endpoints, clock, faults, timeout_ms, &settings.load, tls).await
        {
            let mut election = store.client().election_client();
            while let Ok(Ok(resp)) = ctx.clock.timeout(timeout_ms, election.leader(ELECTION)).await {
                // No leader: clear the hint rather than point at a dead one.
                let leader = resp.kv().map(|kv| String::from_utf8_lossy(kv.value()).into_owned());
                *hint.lock().expect("hint poisoned") = leader.unwrap_or_default();
                ctx.clock.sleep(500).await;
            }
        }
        ctx.clock.sleep(500).await;
    }
}

struct Service {
    tx: mpsc::UnboundedSender<Msg>,
    hint: Arc<Mutex<String>>,
    /// Where a refused request is recorded (with TLS, `tls::admit` holds every request to
    /// its sender's certificate); its name is the one a not-leader hint leaves out.
    ctx: NodeContext,
}

impl Service {
    fn hint(&self) -> String {
        let hint = self.hint.lock().expect("hint poisoned").clone();
        if hint == self.ctx.name {
            String::new()
        } else {
            hint
        }
    }
}

#[tonic::async_trait]
impl proto::coordinator_server::Coordinator for Service {
    async fn submit(
        &self,
        req: tonic::Request<proto::SubmitRequest>,
    ) -> Result<tonic::Response<proto::SubmitReply>, tonic::Status> {
        tls::admit(&self.ctx, &req, Act::Submit)?;
        let spec = spec_from_wire(req.into_inner().spec);
        spec.validate_submit().map_err(tonic::Status::invalid_argument)?;
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Submit { spec, reply }).map_err(|_| tonic::Status::unavailable("stopping"))?;
        let mut out = proto::SubmitReply::default();
        match rx.await.map_err(|_| tonic::Status::unavailable("stopping"))? {
            SubmitReply::Accepted { task, created } => {
                out.task_id = task.into();
                out.created = created;
            }
            SubmitReply::NotLeader => {
                out.not_leader = true;
                out.leader_hint = self.hint();
            }
            SubmitReply::Overloaded => {}
        }
        Ok(tonic::Response::new(out))
    }

    async fn job(
        &self,
        req: tonic::Request<proto::JobRequest>,
    ) -> Result<tonic::Response<proto::JobReply>, tonic::Status> {
        tls::admit(&self.ctx, &req, Act::Submit)?;
        let command = serde_json::from_str(&req.into_inner().command_json)
            .map_err(|e| tonic::Status::invalid_argument(format!("not a job command: {e}")))?;
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Job { command, reply }).map_err(|_| tonic::Status::unavailable("stopping"))?;
        let mut out = proto::JobReply::default();
        match rx.await.map_err(|_| tonic::Status::unavailable("stopping"))? {
            JobReply::Done => out.done = true,
            JobReply::NotLeader => {
                out.not_leader = true;
                out.leader_hint = self.hint();
            }
            JobReply::Rejected(why) => out.error = why,
        }
        Ok(tonic::Response::new(out))
    }

    async fn heartbeat(
        &self,
        req: tonic::Request<proto::HeartbeatRequest>,
    ) -> Result<tonic::Response<proto::HeartbeatReply>, tonic::Status> {
        tls::admit(&self.ctx, &req, Act::Beat { executor: &req.get_ref().executor })?;
        let beat = beat_from_wire(req.into_inner());
        let (reply, rx) = oneshot::channel();
        self.tx.send(Msg::Beat { beat, reply }).map_err(|_| tonic::Status::unavailable("stopping"))?;
        let out = match rx.await.map_err(|_| tonic::Status::unavailable("stopping"))? {
            Some(reply) => reply_to_wire(reply),
            None => proto::HeartbeatReply { not_leader: true, leader_hint: self.hint(), ..Default::default() },
        };
        Ok(tonic::Response::new(out))
    }
}

#[cfg(all(test, not(madsim)))]
mod tests;
