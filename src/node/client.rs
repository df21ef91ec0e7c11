//! The workload client: submits tasks at a steady rate with bounded concurrency, retrying
//! each submit (same idempotency key) until the leader acknowledges it durably.

use crate::node::executor::TaskBody;
use crate::node::rpc::{self, spec_to_wire, LeaderCursor};
use crate::node::NodeContext;
use crate::proto;
use crate::scenario::Workload;
use crate::trace::EventKind;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct ClientSettings {
    pub coordinators: Vec<(String, String)>,
    pub workload: Workload,
    pub max_attempts: u32,
    pub rpc_timeout_ms: u64,
}

impl ClientSettings {
    /// The scenario's workload, sent to `coordinators` (name, address).
    pub fn from_scenario(s: &crate::scenario::Scenario, coordinators: Vec<(String, String)>) -> Self {
        ClientSettings {
            coordinators,
            workload: s.workload.clone(),
            max_attempts: s.retry.max_attempts as u32,
            rpc_timeout_ms: s.scheduler.rpc_timeout_ms,
        }
    }
}

/// Submits the whole workload; `acked` counts durable acknowledgements.
pub async fn run(ctx: NodeContext, settings: ClientSettings, acked: Arc<AtomicU64>) {
    let w = &settings.workload;
    let leaders =
        Arc::new(Mutex::new(LeaderCursor::new(&settings.coordinators).expect("coordinator addresses are valid")));
    let permits = Arc::new(Semaphore::new(w.client_concurrency as usize));
    let gap_ms = 1000.0 / w.arrival_rate_per_s as f64;
    let start = ctx.clock.now_ms();
    for i in 0..w.tasks {
        let due = start + (i as f64 * gap_ms) as u64;
        ctx.clock.sleep(due.saturating_sub(ctx.clock.now_ms())).await;
        let permit = permits.clone().acquire_owned().await.expect("semaphore open");
        let span = w.duration_ms.max - w.duration_ms.min;
        let duration_ms = w.duration_ms.min + if span == 0 { 0 } else { madsim::rand::random::<u64>() % (span + 1) };
        let body = TaskBody { duration_ms, fail_probability: w.fail_probability };
        let spec = crate::core::TaskSpec {
            key: format!("task-{i:07}"),
            payload: serde_json::to_vec(&body).expect("body serializes"),
            max_attempts: settings.max_attempts,
            timeout_ms: w.task_timeout_ms,
        };
        let (ctx, leaders, acked, timeout_ms) = (ctx.clone(), leaders.clone(), acked.clone(), settings.rpc_timeout_ms);
        tokio::spawn(async move {
            submit(&ctx, &leaders, spec, timeout_ms).await;
            acked.fetch_add(1, Ordering::SeqCst);
            drop(permit);
        });
    }
}

async fn submit(ctx: &NodeContext, leaders: &Mutex<LeaderCursor>, spec: crate::core::TaskSpec, timeout_ms: u64) {
    ctx.record(EventKind::Submit { key: spec.key.clone() });
    let request = proto::SubmitRequest { spec: Some(spec_to_wire(&spec)) };
    loop {
        let (peer, client) = leaders.lock().expect("cursor poisoned").client();
        let call = || {
            let (mut client, request) = (client.clone(), request.clone());
            async move { client.submit(request).await }
        };
        // A submit waits for a store write, so it gets a few RPC deadlines.
        match rpc::call(ctx, &peer, timeout_ms * 5, call).await {
            Ok(reply) if !reply.task_id.is_empty() => {
                ctx.record(EventKind::Ack { key: spec.key.clone(), task: reply.task_id });
                return;
            }
            Ok(reply) if reply.not_leader => leaders.lock().expect("cursor poisoned").redirect(&reply.leader_hint),
            Ok(_) => {} // overloaded: back off and retry
            Err(_) => leaders.lock().expect("cursor poisoned").redirect(""),
        }
        ctx.clock.sleep(50).await;
    }
}
