//! The names of the invariants a run can break: the vocabulary the checkers judge with and
//! a scenario names (`expect`, `tolerate`). It sits below both, so the scenario format does
//! not import the checkers. Serde only.

use serde::{Deserialize, Serialize};

/// Which invariant a violation breaks. The order is the tie-break when two violations
/// point at the same event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// An acknowledged task never reached a terminal state.
    LostTask,
    /// The sink accepted a task's effect more than once.
    DuplicateApply,
    /// Two different nodes were elected with the same epoch.
    SplitBrain,
    /// A node was elected with an epoch no higher than one already elected.
    EpochRegression,
    /// The run did not drain: acknowledged tasks were still open when it ended.
    NoConvergence,
    /// A task was dead-lettered without saying why.
    MissingReason,
    /// A submitted task was never acknowledged, although the client kept retrying.
    Unacknowledged,
    /// A deposed leader acted (dispatched, persisted, declared an executor dead...) after a
    /// newer epoch was elected on another node.
    StaleLeader,
    /// A fault the run planned never fired (or fired fewer times than planned).
    FaultNotFired,
    /// A job the run created neither fired nor skipped an instant before the run ended (its
    /// schedule never came due, or it was paused or deleted first): it tested nothing.
    JobNotFired,
    /// A job's instant was neither fired nor skipped as its misfire or overlap policy allows,
    /// or a fire record never ran to a terminal state.
    FireLost,
    /// One instant of a job was fired by two fire records, or took effect twice at the sink.
    FireTwice,
    /// A fire started before its scheduled instant.
    FireEarly,
    /// A fire started later than its bound while the cluster was healthy.
    FireLate,
    /// A fire's instant is not an instant of its job's schedule.
    FireOffSchedule,
    /// A fire was decided while the job's previous fire was still running, under overlap
    /// `forbid` or `replace`, or a `replace` job skipped a fire for overlap.
    FireOverlap,
    /// More live executors were declared dead than the scenario allows (no fault on them).
    FalseDeath,
    /// More healthy executors were quarantined than the scenario allows.
    FalseQuarantine,
    /// More leaders stepped down with no fault on them or the store than the scenario allows.
    UnforcedFailover,
    /// Fewer acknowledged tasks succeeded than the scenario's `min_goodput_percent`.
    LowGoodput,
    /// A task was dead-lettered although the sink accepted its effect.
    DeadLetteredWithEffect,
    /// A task was recorded succeeded although the sink had accepted no effect of it.
    SucceededWithoutEffect,
    /// A crashed executor was not declared dead within `max_detection_ms` while a leader
    /// was in office and no other fault explains it.
    LateDetection,
    /// An attempt that had succeeded on an executor that lived on was run again: a leader
    /// forgot a success (its `done` went out before the outcome was durable).
    RerunAfterSuccess,
}

impl ViolationKind {
    /// The snake_case name, the same string serde writes.
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::LostTask => "lost_task",
            ViolationKind::DuplicateApply => "duplicate_apply",
            ViolationKind::SplitBrain => "split_brain",
            ViolationKind::EpochRegression => "epoch_regression",
            ViolationKind::NoConvergence => "no_convergence",
            ViolationKind::MissingReason => "missing_reason",
            ViolationKind::Unacknowledged => "unacknowledged",
            ViolationKind::StaleLeader => "stale_leader",
            ViolationKind::FaultNotFired => "fault_not_fired",
            ViolationKind::JobNotFired => "job_not_fired",
            ViolationKind::FireLost => "fire_lost",
            ViolationKind::FireTwice => "fire_twice",
            ViolationKind::FireEarly => "fire_early",
            ViolationKind::FireLate => "fire_late",
            ViolationKind::FireOffSchedule => "fire_off_schedule",
            ViolationKind::FireOverlap => "fire_overlap",
            ViolationKind::FalseDeath => "false_death",
            ViolationKind::FalseQuarantine => "false_quarantine",
            ViolationKind::UnforcedFailover => "unforced_failover",
            ViolationKind::LowGoodput => "low_goodput",
            ViolationKind::DeadLetteredWithEffect => "dead_lettered_with_effect",
            ViolationKind::SucceededWithoutEffect => "succeeded_without_effect",
            ViolationKind::LateDetection => "late_detection",
            ViolationKind::RerunAfterSuccess => "rerun_after_success",
        }
    }
}
