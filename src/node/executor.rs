//! The executor node: registers with a fresh incarnation on every start, heartbeats the
//! leader every interval (completions ride on the next beat), runs attempts and applies
//! their effect at the sink with the attempt's fencing token.

use crate::core::executor::{Action, Assignment, Executor};
use crate::core::retry::RetryPolicy;
use crate::core::sink::Checked;
use crate::core::{Outcome, TaskId};
use crate::node::body::{Attempt, Body, Work as _};
use crate::node::faults::BodyFault;
use crate::node::rpc::{
    beat_to_wire, checked_from_wire, reply_from_wire, token_to_wire, verdict_from_wire, LeaderCursor, SinkClient,
};
use crate::node::{rpc, NodeContext, Timing};
use crate::proto;
use crate::trace::{EventKind, Verdict};
use futures_util::FutureExt as _;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct ExecutorSettings {
    pub capacity: u32,
    /// The failure zone this executor runs in.
    pub zone: String,
    pub coordinators: Vec<(String, String)>,
    pub sink: String,
    pub timing: Timing,
    /// Counts this executor's heartbeats (shared by a fleet of executors in one process).
    pub beats: Arc<BeatCount>,
    /// After a planned stop, how long held attempts may take to finish, ms.
    pub drain_ms: u64,
}

/// Heartbeats sent, by how they ended: answered by the leader, or not (timed out, refused,
/// or answered "not leader").
#[derive(Debug, Default)]
pub struct BeatCount {
    pub answered: AtomicU64,
    pub unanswered: AtomicU64,
}

type Running = Arc<Mutex<BTreeMap<TaskId, JoinHandle<()>>>>;

/// An early beat (a finished attempt to report, or assignments about to be ready) comes
/// this fraction of the heartbeat interval after the last one, so several ride on one beat
/// and an executor sends at most 4 beats per interval.
const EARLY_BEAT_DIVISOR: u64 = 4;

/// The payload of an injected task-body panic (the CLI's panic hook keeps it quiet).
pub const INJECTED_PANIC: &str = "injected fault: task body panicked";

/// Keeps injected task-body panics out of stderr (they are expected, and recorded in the
/// history as failed attempts); every other panic still reaches the previous hook.
pub fn quiet_injected_panics() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&INJECTED_PANIC) {
            previous(info);
        }
    }));
}

/// What the attempts of one executor process share.
#[derive(Clone)]
struct Shared {
    ctx: NodeContext,
    core: Arc<Mutex<Executor>>,
    running: Running,
    sink: SinkClient,
    rpc_timeout_ms: u64,
    /// Wakes the heartbeat loop when an attempt finishes.
    finished: Arc<Notify>,
    beats: Arc<BeatCount>,
}

/// A planned stop's signal (SIGTERM in real mode).
pub type Stop = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Runs an executor until the node is killed, or, once `stop` completes, until it drained:
/// it asks for no more work, lets what it holds finish, reports it, and returns when the
/// leader acknowledged every completion, or after `drain_ms` whatever is left (the leader
/// takes that back as from a dead executor). The simulator passes no `stop`.
pub async fn run(ctx: NodeContext, settings: ExecutorSettings, stop: Option<Stop>) {
    let incarnation = madsim::rand::random::<u64>() | 1;
    ctx.record(EventKind::NodeStart { incarnation });
    let shared = Shared {
        core: Arc::new(Mutex::new(
            Executor::new(ctx.name.to_string(), incarnation, settings.capacity).in_zone(&settings.zone),
        )),
        running: Arc::default(),
        sink: SinkClient::new(rpc::channel(&settings.sink, ctx.tls.as_deref()).expect("sink address is valid")),
        rpc_timeout_ms: settings.timing.rpc_timeout_ms,
        finished: Arc::new(Notify::new()),
        beats: settings.beats.clone(),
        ctx,
    };
    if let Some(stop) = stop {
        let (core, finished) = (shared.core.clone(), shared.finished.clone());
        tokio::spawn(async move {
            stop.await;
            core.lock().expect("executor poisoned").drain();
            finished.notify_one();
        });
    }
    let (ctx, timing) = (shared.ctx.clone(), settings.timing);
    let mut leaders =
        LeaderCursor::new(&settings.coordinators, ctx.tls.as_deref()).expect("coordinator addresses are valid");
    let early_ms = (timing.heartbeat_interval_ms / EARLY_BEAT_DIVISOR).max(1);
    let mut drain_until: Option<u64> = None;
    loop {
        let soon = beat(&shared, &mut leaders, &timing).await;
        let (draining, drained, left) = {
            let core = shared.core.lock().expect("executor poisoned");
            (core.draining(), core.drained(), core.held_count())
        };
        if draining {
            let until = *drain_until.get_or_insert(ctx.clock.mono_ms() + settings.drain_ms);
            if drained || ctx.clock.mono_ms() >= until {
                tracing::info!(node = %ctx.name, left, "stopping after a drain");
                return;
            }
        }
        ctx.clock.sleep(early_ms).await;
        if !soon {
            let rest_ms = timing.heartbeat_interval_ms - early_ms;
            tokio::select! {
                biased;
                () = shared.finished.notified() => {}
                () = ctx.clock.sleep(rest_ms) => {}
            }
        }
    }
}

/// One heartbeat round. Within it, the other coordinators are tried at once, each at most
/// once, so after a failover the leader is found within one interval, not one interval per
/// guess, and a stale hint never sends the beat back to a coordinator that just timed out
/// (a paused leader: calls to it hang until their deadline). Returns whether to beat again
/// soon: the leader has assignments for us about to be ready, or no leader answered.
async fn beat(shared: &Shared, leaders: &mut LeaderCursor, timing: &Timing) -> bool {
    let beat = beat_to_wire(shared.core.lock().expect("executor poisoned").beat());
    let mut round = leaders.round();
    loop {
        let (peer, client) = leaders.client();
        let call = || {
            let (mut client, beat) = (client.clone(), beat.clone());
            async move { client.heartbeat(beat).await }
        };
        let reply = rpc::call(&shared.ctx, &peer, timing.rpc_timeout_ms, call).await;
        let counter =
            if reply.as_ref().is_ok_and(|r| !r.not_leader) { &shared.beats.answered } else { &shared.beats.unanswered };
        counter.fetch_add(1, Ordering::Relaxed);
        let hint = match reply {
            Ok(reply) if reply.not_leader => reply.leader_hint,
            Ok(reply) => {
                let soon = reply.pending > 0;
                let actions: Vec<Action> = {
                    let mut core = shared.core.lock().expect("executor poisoned");
                    core.on_reply(reply_from_wire(reply));
                    std::iter::from_fn(|| core.poll_output()).collect()
                };
                for action in actions {
                    act(shared, action);
                }
                return soon;
            }
            Err(_) => String::new(),
        };
        if !leaders.redirect_within(&mut round, &hint) {
            return true;
        }
    }
}

fn act(shared: &Shared, action: Action) {
    match action {
        Action::Run(a) => {
            let task = a.task.clone();
            let attempt = tokio::spawn(run_attempt(shared.clone(), a));
            shared.running.lock().expect("running poisoned").insert(task, attempt);
        }
        Action::Abort(task) => {
            if let Some(handle) = shared.running.lock().expect("running poisoned").remove(&task) {
                handle.abort();
            }
        }
        Action::Reject { assignment, reason } => shared.ctx.record(EventKind::Reject {
            task: assignment.task,
            epoch: assignment.token.epoch,
            attempt: assignment.token.attempt,
            reason: reason.into(),
        }),
    }
}

async fn run_attempt(shared: Shared, a: Assignment) {
    let ctx = &shared.ctx;
    let (epoch, attempt) = (a.token.epoch, a.token.attempt);
    let incarnation = shared.core.lock().expect("executor poisoned").incarnation();
    // A scheduled fire never starts before its instant by this node's clock, whatever the
    // leader's clock said when it dispatched it (two clocks must agree the time has come).
    #[allow(unused_mut)]
    let mut early_ms = a.spec.not_before_ms.saturating_sub(ctx.clock.wall_ms());
    #[cfg(madsim)]
    if ctx.bugs.on(crate::bugs::Bug::FireTrustsLeaderClock) {
        early_ms = 0;
    }
    if early_ms > 0 {
        ctx.clock.sleep(early_ms).await;
    }
    ctx.record(EventKind::Start { task: a.task.clone(), incarnation, epoch, attempt });
    let body = Body::of(&a.spec.payload);
    let fault = ctx.faults.plan_body(madsim::rand::random::<f64>);
    let applying = AtomicBool::new(false);
    let body = attempt_body(ctx, &shared.sink, shared.rpc_timeout_ms, &a, &body, fault, &applying);
    let work = std::panic::AssertUnwindSafe(body);
    // A panicking body fails its attempt; it does not take the executor down.
    let outcome = match ctx.clock.timeout(a.spec.timeout_ms, work.catch_unwind()).await {
        Ok(Ok(outcome)) => outcome,
        Ok(Err(_)) => Outcome::Failed("task body panicked".into()),
        Err(_) if applying.load(Ordering::Relaxed) => {
            Outcome::Unknown(format!("timed out after {} ms while applying its effect", a.spec.timeout_ms))
        }
        Err(_) => Outcome::TimedOut,
    };
    ctx.record(EventKind::Complete { task: a.task.clone(), epoch, attempt, outcome: outcome.name().into() });
    shared.core.lock().expect("executor poisoned").finished(&a.task, a.token, outcome);
    shared.running.lock().expect("running poisoned").remove(&a.task);
    shared.finished.notify_one();
}

async fn attempt_body(
    ctx: &NodeContext,
    sink: &SinkClient,
    rpc_timeout_ms: u64,
    a: &Assignment,
    body: &Body,
    fault: Option<BodyFault>,
    applying: &AtomicBool,
) -> Outcome {
    let request = proto::ApplyRequest {
        task_id: a.task.to_string(),
        key: a.spec.key.clone(),
        token: Some(token_to_wire(a.token)),
        executor: ctx.name.to_string(),
    };
    if a.check_first {
        // Until the sink answers, this attempt's outcome is as unknown as the last one's.
        applying.store(true, Ordering::Relaxed);
        match check_sink(ctx, sink, rpc_timeout_ms, &request).await {
            Checked::Landed => return Outcome::Succeeded,
            Checked::Stale => return Outcome::Failed("fenced by the sink: stale token".into()),
            Checked::Absent if a.check_only => {
                return Outcome::Failed("the sink has no effect of it (checked only, not run again)".into())
            }
            Checked::Absent => applying.store(false, Ordering::Relaxed),
        }
    }
    let ran = body.run(ctx, Attempt { task: &a.task, key: &a.spec.key, token: a.token }).await;
    match fault {
        Some(BodyFault::Panic) => std::panic::panic_any(INJECTED_PANIC),
        Some(BodyFault::Fail) => return Outcome::Failed("task body failed (injected)".into()),
        Some(BodyFault::Hang) => std::future::pending::<()>().await,
        None => {}
    }
    if let Err(reason) = ran {
        return Outcome::Failed(reason);
    }
    let call = || {
        let (mut client, request) = (sink.clone(), request.clone());
        async move { client.apply(request).await }
    };
    // From here on the effect may land whatever this attempt hears back.
    applying.store(true, Ordering::Relaxed);
    // The apply may land without its reply: retrying is safe, the sink judges the same
    // token a duplicate.
    let reply = until_answered(ctx, rpc_timeout_ms, call).await;
    match verdict_from_wire(reply.verdict) {
        Verdict::Accepted | Verdict::Duplicate => Outcome::Succeeded,
        Verdict::Stale => Outcome::Failed("fenced by the sink: stale token".into()),
    }
}

/// Asks the sink whether the task's effect landed, until it answers (the attempt's
/// deadline bounds it). The check fences every older attempt of the task.
async fn check_sink(
    ctx: &NodeContext,
    sink: &SinkClient,
    rpc_timeout_ms: u64,
    request: &proto::ApplyRequest,
) -> Checked {
    let call = || {
        let (mut client, request) = (sink.clone(), request.clone());
        async move { client.check(request).await }
    };
    checked_from_wire(until_answered(ctx, rpc_timeout_ms, call).await.result)
}

/// Calls the sink until it answers (the attempt's deadline bounds the loop), backing off
/// exponentially with jitter between failed calls: a fixed retry interval kept an
/// overloaded sink saturated with retries of calls whose callers had already timed out.
async fn until_answered<T, F, Fut>(ctx: &NodeContext, rpc_timeout_ms: u64, call: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>> + Send + 'static,
    T: Send + 'static,
{
    let policy = sink_retry(rpc_timeout_ms);
    let mut failures = 0u32;
    loop {
        match rpc::call(ctx, "sink", rpc_timeout_ms, &call).await {
            Ok(reply) => return reply,
            Err(_) => {
                failures = failures.saturating_add(1);
                ctx.clock.sleep(policy.backoff_ms(failures, madsim::rand::random::<f64>())).await;
            }
        }
    }
}

/// The executor's sink retry: half the RPC timeout first (the old fixed interval), doubling
/// to eight timeouts, half of each delay drawn at random so retries spread out.
fn sink_retry(rpc_timeout_ms: u64) -> RetryPolicy {
    RetryPolicy { base_ms: (rpc_timeout_ms / 2).max(1), max_ms: rpc_timeout_ms.saturating_mul(8).max(1), jitter: 0.5 }
}
