//! Tallies of what happened in a history, for reports: counted from events, never inferred.

use super::{Violation, ViolationKind};
use crate::trace::{Event, EventKind, Verdict};
use serde::Serialize;
use std::collections::BTreeSet;

/// How many of each notable thing a history holds. Task counts are of distinct tasks;
/// the others count events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub acked: u64,
    pub succeeded: u64,
    pub dead_lettered: u64,
    pub lost: u64,
    pub duplicate_applies: u64,
    /// Applies the sink refused as duplicate or stale: fencing doing its job.
    pub fenced_rejections: u64,
    pub leader_changes: u64,
    pub executors_declared_dead: u64,
    /// Dispatches beyond a task's first attempt.
    pub redispatches: u64,
}

impl Counts {
    /// Counts `history`, taking `lost` and `duplicate_applies` from the checkers'
    /// `violations` so the two can never disagree.
    pub fn tally(history: &[Event], violations: &[Violation]) -> Self {
        let mut counts = Counts {
            lost: count_kind(violations, ViolationKind::LostTask),
            duplicate_applies: count_kind(violations, ViolationKind::DuplicateApply),
            ..Counts::default()
        };
        let mut acked = BTreeSet::new();
        let mut succeeded = BTreeSet::new();
        let mut dead_lettered = BTreeSet::new();
        for event in history {
            match &event.kind {
                EventKind::Ack { task, .. } => {
                    acked.insert(task.as_str());
                }
                EventKind::Succeeded { task, .. } => {
                    succeeded.insert(task.as_str());
                }
                EventKind::DeadLettered { task, .. } => {
                    dead_lettered.insert(task.as_str());
                }
                EventKind::Recovered { task, state } if state == "succeeded" => {
                    succeeded.insert(task.as_str());
                }
                EventKind::Recovered { task, .. } => {
                    dead_lettered.insert(task.as_str());
                }
                EventKind::Apply { verdict: Verdict::Duplicate | Verdict::Stale, .. } => {
                    counts.fenced_rejections += 1;
                }
                EventKind::LeaderElected { .. } => counts.leader_changes += 1,
                EventKind::ExecutorDead { .. } => counts.executors_declared_dead += 1,
                EventKind::Dispatch { attempt, .. } if *attempt > 1 => counts.redispatches += 1,
                _ => {}
            }
        }
        counts.acked = acked.len() as u64;
        counts.succeeded = succeeded.len() as u64;
        counts.dead_lettered = dead_lettered.len() as u64;
        counts
    }
}

fn count_kind(violations: &[Violation], kind: ViolationKind) -> u64 {
    violations.iter().filter(|violation| violation.kind == kind).count() as u64
}
