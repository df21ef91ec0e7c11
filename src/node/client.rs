//! The workload client: submits tasks at a steady rate with bounded concurrency, retrying
//! each submit (same idempotency key) until the leader acknowledges it durably.

use crate::node::body::{Body, StandIn};
use crate::node::faults::MsRange;
use crate::node::rpc::{self, spec_to_wire, LeaderCursor, RpcError};
use crate::node::NodeContext;
use crate::proto;
use crate::schedule::{JobCommand, JobSpec};
use crate::trace::EventKind;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// What the workload client submits, and to whom.
#[derive(Clone)]
pub struct ClientSettings {
    pub coordinators: Vec<(String, String)>,
    /// Tasks to submit, at `arrival_rate_per_s` with `concurrency` submits in flight.
    pub tasks: u64,
    pub arrival_rate_per_s: u64,
    pub concurrency: u64,
    /// Each task's body: a sleep uniform in `body_ms`, failing with `fail_probability`.
    pub body_ms: MsRange,
    pub fail_probability: f64,
    /// Per attempt, and attempts per task.
    pub task_timeout_ms: u64,
    pub max_attempts: u32,
    pub rpc_timeout_ms: u64,
}

/// Submits the whole workload; `acked` counts durable acknowledgements.
pub async fn run(ctx: NodeContext, settings: ClientSettings, acked: Arc<AtomicU64>) {
    let leaders = Arc::new(Mutex::new(
        LeaderCursor::new(&settings.coordinators, ctx.tls.as_deref()).expect("coordinator addresses are valid"),
    ));
    let permits = Arc::new(Semaphore::new(settings.concurrency as usize));
    let gap_ms = 1000.0 / settings.arrival_rate_per_s as f64;
    let start = ctx.clock.mono_ms();
    for i in 0..settings.tasks {
        // A task already due goes at once: the simulator never sleeps less than 1 ms, so
        // sleeping for 0 ms capped the workload at 1,000 submits a second.
        let wait_ms = (start + (i as f64 * gap_ms) as u64).saturating_sub(ctx.clock.mono_ms());
        if wait_ms > 0 {
            ctx.clock.sleep(wait_ms).await;
        }
        let permit = permits.clone().acquire_owned().await.expect("semaphore open");
        let span = settings.body_ms.max - settings.body_ms.min;
        let duration_ms = settings.body_ms.min + if span == 0 { 0 } else { madsim::rand::random::<u64>() % (span + 1) };
        let body = Body::StandIn(StandIn { duration_ms, fail_probability: settings.fail_probability });
        let spec = crate::core::TaskSpec {
            key: task_key(i),
            payload: body.payload(),
            max_attempts: settings.max_attempts,
            timeout_ms: settings.task_timeout_ms,
            not_before_ms: 0,
        };
        let (ctx, leaders, acked, timeout_ms) = (ctx.clone(), leaders.clone(), acked.clone(), settings.rpc_timeout_ms);
        tokio::spawn(async move {
            submit(&ctx, &leaders, spec, timeout_ms).await;
            acked.fetch_add(1, Ordering::SeqCst);
            drop(permit);
        });
    }
}

/// The workload's `i`th task key, `task-` and `i` padded to 7 digits (as `format!("task-{i:07}")`
/// writes it, without the formatter's per-character padding: a submit's costliest step
/// before the call; faultline issue 16).
fn task_key(i: u64) -> String {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(i);
    let mut key = String::with_capacity(12);
    key.push_str("task-");
    key.extend(std::iter::repeat_n('0', 7usize.saturating_sub(digits.len())));
    key.push_str(digits);
    key
}

async fn submit(ctx: &NodeContext, leaders: &Mutex<LeaderCursor>, spec: crate::core::TaskSpec, timeout_ms: u64) {
    ctx.record(EventKind::Submit { key: spec.key.as_str().into() });
    match send_task(ctx, leaders, &spec, timeout_ms).await {
        Ok(task) => ctx.record(EventKind::Ack { key: spec.key.as_str().into(), task: task.into() }),
        Err(why) => tracing::warn!(key = %spec.key, "submit refused: {why}"),
    }
}

/// Sends one task until a leader acknowledges it (its task id, once durable) or refuses it
/// as invalid (the reason: final, resending cannot help). No leader, an overloaded leader or
/// no reply: it tries again, following the leader hints.
pub async fn send_task(
    ctx: &NodeContext,
    leaders: &Mutex<LeaderCursor>,
    spec: &crate::core::TaskSpec,
    timeout_ms: u64,
) -> Result<String, String> {
    let request = proto::SubmitRequest { spec: Some(spec_to_wire(spec)) };
    loop {
        let (peer, client) = leaders.lock().expect("cursor poisoned").client();
        let call = || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.submit(request).await }
        };
        // A submit waits for a store write, so it gets a few RPC deadlines.
        match rpc::call(ctx, &peer, timeout_ms * 5, call).await {
            Ok(reply) if !reply.task_id.is_empty() => return Ok(reply.task_id),
            Ok(reply) if reply.not_leader => leaders.lock().expect("cursor poisoned").redirect(&reply.leader_hint),
            Ok(_) => {} // overloaded: back off and retry
            Err(RpcError::Status(status)) if status.code() == tonic::Code::InvalidArgument => {
                return Err(status.message().to_string());
            }
            Err(_) => leaders.lock().expect("cursor poisoned").redirect(""),
        }
        ctx.clock.sleep(50).await;
    }
}

/// The scenario's scheduled jobs, as the client drives them.
#[derive(Clone)]
pub struct JobsSettings {
    pub coordinators: Vec<(String, String)>,
    /// Created at the start, in order.
    pub jobs: Vec<JobSpec>,
    /// Later commands: (client ms, command), in time order.
    pub ops: Vec<(u64, JobCommand)>,
    /// When every job still alive is deleted (client ms).
    pub delete_at_ms: u64,
    pub rpc_timeout_ms: u64,
}

/// Creates the jobs, sends the later commands on time, deletes what is left at the end;
/// sets `done` once every command is durable.
pub async fn run_jobs(ctx: NodeContext, settings: JobsSettings, done: Arc<AtomicBool>) {
    let mut leaders =
        LeaderCursor::new(&settings.coordinators, ctx.tls.as_deref()).expect("coordinator addresses are valid");
    let timeout_ms = settings.rpc_timeout_ms;
    let mut alive: Vec<String> = Vec::new();
    for spec in &settings.jobs {
        alive.push(spec.name.clone());
        let command = JobCommand::Create { spec: spec.clone() };
        refused(&command, send_job(&ctx, &mut leaders, command.clone(), timeout_ms).await);
    }
    for (at_ms, command) in &settings.ops {
        ctx.clock.sleep(at_ms.saturating_sub(ctx.clock.mono_ms())).await;
        if let JobCommand::Delete { name } = command {
            alive.retain(|n| n != name);
        }
        refused(command, send_job(&ctx, &mut leaders, command.clone(), timeout_ms).await);
    }
    if !settings.jobs.is_empty() {
        ctx.clock.sleep(settings.delete_at_ms.saturating_sub(ctx.clock.mono_ms())).await;
    }
    for name in alive {
        let command = JobCommand::Delete { name };
        refused(&command, send_job(&ctx, &mut leaders, command.clone(), timeout_ms).await);
    }
    done.store(true, Ordering::SeqCst);
}

fn refused(command: &JobCommand, result: Result<(), String>) {
    if let Err(why) = result {
        tracing::warn!(job = command.job(), "job command refused: {why}");
    }
}

/// Sends one job command until the leader says it is durable (Ok) or refuses it (the reason).
pub async fn send_job(
    ctx: &NodeContext,
    leaders: &mut LeaderCursor,
    command: JobCommand,
    timeout_ms: u64,
) -> Result<(), String> {
    let request = proto::JobRequest { command_json: serde_json::to_string(&command).expect("commands serialize") };
    loop {
        let (peer, client) = leaders.client();
        let call = || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.job(request).await }
        };
        match rpc::call(ctx, &peer, timeout_ms * 5, call).await {
            Ok(reply) if reply.done => return Ok(()),
            Ok(reply) if !reply.error.is_empty() => return Err(reply.error),
            Ok(reply) if reply.not_leader => leaders.redirect(&reply.leader_hint),
            Ok(_) => {}
            Err(_) => leaders.redirect(""),
        }
        ctx.clock.sleep(50).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn task_keys_read_as_the_formatter_writes_them() {
        for i in [0, 7, 297, 1_234_567, 9_999_999, 10_000_000, u64::MAX] {
            assert_eq!(super::task_key(i), format!("task-{i:07}"));
        }
    }
}
