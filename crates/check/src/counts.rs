//! Tallies of what happened in a history, for reports: counted from events, never inferred.

use super::{NameMap, NameSet, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind, Verdict};
use serde::Serialize;

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
    /// Scheduled fires (distinct fire tasks).
    #[serde(default)]
    pub fires: u64,
    /// Job instants recorded as skipped (misfire, catch-up bound, overlap).
    #[serde(default)]
    pub instants_skipped: u64,
    /// The latest a fire's task first started after its instant, ms.
    #[serde(default)]
    pub fire_lateness_max_ms: u64,
    /// Verdicts no fault explains: live executors declared dead or quarantined, leaders that
    /// stepped down (see `check::verdicts`).
    #[serde(default, flatten)]
    pub false_verdicts: super::FalseVerdicts,
    /// Fires cancelled by overlap `replace` whose effect landed anyway (`check::ledger`).
    #[serde(default)]
    pub replaced_with_effect: u64,
    /// Acts of deposed leaders after a newer election, explained by a clock fault or not.
    #[serde(default, flatten)]
    pub stale_acts: super::StaleActs,
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
        let mut acked = NameSet::default();
        let mut succeeded = NameSet::default();
        let mut dead_lettered = NameSet::default();
        // Fire tasks and their instants; skips (a new leader may record one again).
        let mut fires: NameMap<u64> = NameMap::default();
        let mut skips: rustc_hash::FxHashSet<(&str, u64, u64)> = Default::default();
        let mut started = NameSet::default();
        for event in history {
            match &event.kind {
                EventKind::Fire { task, scheduled_ms, .. } => {
                    fires.entry(task.as_str()).or_insert(*scheduled_ms);
                }
                EventKind::FireSkipped { job, from_ms, to_ms, count, .. }
                    if skips.insert((job.as_str(), *from_ms, *to_ms)) =>
                {
                    counts.instants_skipped += u64::from(*count);
                }
                EventKind::Start { task, .. } if started.insert(task.as_str()) => {
                    if let Some(instant) = fires.get(task.as_str()) {
                        let late = event.at_ms.saturating_sub(*instant);
                        counts.fire_lateness_max_ms = counts.fire_lateness_max_ms.max(late);
                    }
                }
                EventKind::Ack { task, .. } => {
                    acked.insert(task.as_str());
                }
                EventKind::Succeeded { task, .. } => {
                    succeeded.insert(task.as_str());
                }
                EventKind::DeadLettered { task, .. } => {
                    dead_lettered.insert(task.as_str());
                }
                EventKind::Recovered { task, state, .. } if state == "succeeded" => {
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
        counts.fires = fires.len() as u64;
        counts
    }
}

fn count_kind(violations: &[Violation], kind: ViolationKind) -> u64 {
    violations.iter().filter(|violation| violation.kind == kind).count() as u64
}
