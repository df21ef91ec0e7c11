//! Invariant checkers over a recorded history: pure functions of `&[Event]`, nothing else.
//!
//! The checker never sees the scheduler's internals, only what the nodes recorded, so it
//! stays an independent witness. Every checker iterates in history order or over
//! `BTreeMap`/`BTreeSet`, which keeps its output identical for identical histories. Sets
//! and maps keyed by a task (or key) name that are only looked up, counted or filtered,
//! never walked in order, are hash sets ([`NameSet`], [`NameMap`]): a B-tree of ~10,000
//! names spent most of the checkers' time comparing strings.

mod convergence;
mod counts;
mod cron_oracle;
mod detection;
mod duplicates;
mod faults;
mod fires;
pub mod firings;
mod goodput;
mod leaders;
mod ledger;
mod lost;
mod rerun;
mod stale_leader;
#[cfg(test)]
pub(crate) mod tests;
mod unacknowledged;
mod verdicts;

pub use convergence::converges;
pub use counts::Counts;
pub use detection::{crashes_detected, WALL_CLOCK_FAULTS};
pub use duplicates::no_duplicate_applies;
pub use faults::{every_fault_fired, every_job_fired};
pub use fires::no_fire_violations;
pub use goodput::{enough_goodput, DEFAULT_MIN_GOODPUT_PERCENT};
pub use leaders::one_leader_per_epoch;
pub use ledger::outcomes_match_ledger;
pub use lost::no_lost_tasks;
pub use rerun::no_rerun_after_success;
pub use stale_leader::{no_stale_leader, stale_leader_acts, StaleActs};
pub use unacknowledged::every_submit_acknowledged;
pub use verdicts::{false_verdicts, FalseVerdicts, DEFAULT_SETTLE_MS};

use faultline_model::trace::Event;
pub use faultline_model::verdict::ViolationKind;
use serde::{Deserialize, Serialize};

/// One broken invariant, pinned to the first event of the history that shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The task id, `"epoch N"`, or `"run"`.
    pub subject: String,
    /// Index into the history of the first event that shows the violation.
    pub event_index: usize,
    pub at_ms: u64,
    /// Lowercase, no trailing period; names the subject and what was seen.
    pub message: String,
}

impl Violation {
    /// Builds a violation at `event_index`, taking its time from that event (0 when the
    /// index is past the end, which only an empty history produces).
    fn at(
        history: &[Event],
        event_index: usize,
        kind: ViolationKind,
        subject: impl Into<String>,
        message: String,
    ) -> Self {
        let at_ms = history.get(event_index).map_or(0, |event| event.at_ms);
        Violation { kind, subject: subject.into(), event_index, at_ms, message }
    }
}

/// Everything the checkers found in one history, plus the tallies reports show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    /// Sorted by `event_index`, then by kind.
    pub violations: Vec<Violation>,
    pub counts: Counts,
}

impl CheckResult {
    /// True when no invariant was broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Runs every checker over `history`; call it once the run has ended.
pub fn check_all(history: &[Event]) -> CheckResult {
    let mut violations = no_lost_tasks(history);
    violations.extend(no_duplicate_applies(history));
    violations.extend(no_rerun_after_success(history));
    let (ledger, replaced_with_effect) = outcomes_match_ledger(history);
    violations.extend(ledger);
    violations.extend(one_leader_per_epoch(history));
    let (stale, stale_acts) = stale_leader_acts(history);
    violations.extend(stale);
    violations.extend(converges(history));
    violations.extend(every_submit_acknowledged(history));
    violations.extend(every_fault_fired(history));
    violations.extend(every_job_fired(history));
    violations.extend(no_fire_violations(history));
    let (verdicts, bounded) = false_verdicts(history);
    violations.extend(bounded);
    violations.extend(enough_goodput(history));
    violations.extend(crashes_detected(history));
    // Stable sort: violations of one kind at one event keep their checker's order.
    violations.sort_by_key(|violation| (violation.event_index, violation.kind));
    let mut counts = Counts::tally(history, &violations);
    counts.false_verdicts = verdicts;
    counts.replaced_with_effect = replaced_with_effect;
    counts.stale_acts = stale_acts;
    CheckResult { violations, counts }
}

/// A set of names only looked up or counted, never walked in order (see the crate doc).
type NameSet<'a> = rustc_hash::FxHashSet<&'a str>;
/// A map from names only looked up, never walked in order (see the crate doc).
type NameMap<'a, V> = rustc_hash::FxHashMap<&'a str, V>;

/// The tasks that reached a terminal state (succeeded or dead-lettered) in `history`.
fn terminal_tasks(history: &[Event]) -> NameSet<'_> {
    history.iter().filter_map(|event| event.kind.terminal_task()).collect()
}
