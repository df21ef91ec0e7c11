//! The drivers' settings from a scenario: the one module that knows both the scenario file
//! format and the settings types the drivers in `node/` take, so that `node/` never reads a
//! scenario. The simulator builds every node with these; the real-mode commands (`serve`,
//! `submit`) read the same scenario file through them.

use crate::node::body::{Body, CommandBody, HttpBody, StandIn};
use crate::node::client::{ClientSettings, JobsSettings};
use crate::node::faults::MsRange;
use crate::node::Timing;
use crate::scenario::{DurationRange, Scenario};
use crate::schedule::JobCommand;

/// The timing every driver shares.
pub fn timing(s: &Scenario) -> Timing {
    Timing {
        heartbeat_interval_ms: s.scheduler.heartbeat_interval_ms,
        rpc_timeout_ms: s.scheduler.rpc_timeout_ms,
        store_timeout_ms: s.scheduler.store_timeout_ms,
        lease_ttl_s: s.scheduler.lease_ttl_s,
        clock_drift_bound: s.scheduler.clock_drift_bound,
    }
}

/// A scenario's millisecond range as the fault layer's.
pub fn ms_range(range: DurationRange) -> MsRange {
    MsRange { min: range.min, max: range.max }
}

/// The scenario's workload, sent to `coordinators` (name, address).
pub fn client(s: &Scenario, coordinators: Vec<(String, String)>) -> ClientSettings {
    let w = &s.workload;
    ClientSettings {
        coordinators,
        tasks: w.tasks,
        arrival_rate_per_s: w.arrival_rate_per_s,
        concurrency: w.client_concurrency,
        body_ms: ms_range(w.duration_ms),
        fail_probability: w.fail_probability,
        task_timeout_ms: w.task_timeout_ms,
        max_attempts: s.retry.max_attempts as u32,
        rpc_timeout_ms: s.scheduler.rpc_timeout_ms,
    }
}

/// The scenario's jobs and job commands, sent to `coordinators`.
pub fn jobs(s: &Scenario, coordinators: Vec<(String, String)>) -> JobsSettings {
    let jobs = (s.jobs.iter())
        .map(|j| {
            let body = match (j.command.as_deref(), &j.http) {
                (Some([program, args @ ..]), _) => Body::Command {
                    command: CommandBody { program: program.clone(), args: args.to_vec(), ..CommandBody::default() },
                },
                (_, Some(h)) => Body::Http {
                    http: HttpBody {
                        url: h.url.clone(),
                        method: h.method.clone(),
                        headers: h.headers.clone(),
                        body: h.body.clone(),
                    },
                },
                _ => Body::StandIn(StandIn { duration_ms: j.duration_ms, fail_probability: j.fail_probability }),
            };
            j.spec(body.payload()).expect("validated when parsed")
        })
        .collect();
    let mut ops: Vec<(u64, JobCommand)> = s.job_ops.iter().map(|op| (op.at_ms, op.command())).collect();
    ops.sort_by_key(|(at, _)| *at);
    JobsSettings {
        coordinators,
        jobs,
        ops,
        delete_at_ms: s.schedule.run_s * 1000,
        rpc_timeout_ms: s.scheduler.rpc_timeout_ms,
    }
}
