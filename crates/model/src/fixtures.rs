//! Builders of small histories, for tests and examples: one event per call, with the
//! defaults a test rarely cares about (epoch 1, attempt 1, `exec-1`). The checkers' and the
//! reports' unit tests share them.

use crate::trace::{Event, EventKind, Verdict};

pub fn ev(at_ms: u64, node: &str, kind: EventKind) -> Event {
    Event { at_ms, node: node.into(), kind }
}

pub fn submit(key: &str) -> EventKind {
    EventKind::Submit { key: key.into() }
}

pub fn ack(key: &str, task: &str) -> EventKind {
    EventKind::Ack { key: key.into(), task: task.into() }
}

pub fn succeeded(task: &str) -> EventKind {
    EventKind::Succeeded { task: task.into(), epoch: 1, attempt: 1 }
}

pub fn dead_lettered(task: &str, reason: &str) -> EventKind {
    EventKind::DeadLettered { task: task.into(), reason: reason.into() }
}

pub fn apply(task: &str, executor: &str, epoch: u64, attempt: u32, verdict: Verdict) -> EventKind {
    let key = format!("key-{task}");
    EventKind::Apply { task: task.into(), key: key.into(), executor: executor.into(), epoch, attempt, verdict }
}

pub fn dispatch(task: &str, attempt: u32) -> EventKind {
    EventKind::Dispatch { task: task.into(), executor: "exec-1".into(), incarnation: 1, epoch: 1, attempt }
}

pub fn elected(epoch: u64) -> EventKind {
    EventKind::LeaderElected { epoch }
}

/// The harness's bounds event: `max` for every false-verdict kind.
pub fn check_bounds(max: Option<u64>, settle_ms: u64, min_goodput_percent: Option<u64>) -> EventKind {
    EventKind::CheckBounds(Box::new(crate::trace::Bounds {
        max_false_deaths: max,
        max_false_quarantines: max,
        max_unforced_failovers: max,
        settle_ms,
        min_goodput_percent,
        max_detection_ms: None,
    }))
}

pub fn drain_start(deadline_ms: u64) -> EventKind {
    EventKind::DrainStart { deadline_ms }
}

pub fn run_end(drained: bool) -> EventKind {
    EventKind::RunEnd { drained }
}
