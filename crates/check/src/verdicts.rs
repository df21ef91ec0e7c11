//! False verdicts: the scheduler condemning what was healthy. A death verdict on an
//! executor, a quarantine, or a leader stepping down are each the scheduler's answer to a
//! fault; one that no fault explains is a false verdict. They cost work (a false death
//! re-dispatches everything the executor held and may quarantine it; an unforced failover
//! costs a term and a full reload of the store), never safety, so they are counted in
//! every run and judged against the bounds the scenario sets (a [`CheckBounds`] event):
//! none by default, `[checks] max_false_deaths = 0` and the like where a scenario claims
//! the scheduler must not err.
//!
//! What explains a verdict, from the history alone:
//! - **A death or a quarantine of executor E**: a fault whose targets include E (crash,
//!   pause, partition, message or clock fault on E, task faults on E), in progress at some
//!   moment of the `settle_ms` before the verdict. A death for "restarted with a new
//!   incarnation" is never false: the old incarnation is gone.
//! - **A leader N stepping down**: a fault whose targets include N or the store.
//!
//! Wall-clock faults (`clock_step`, `clock_offset`) explain no verdict: deaths, quarantines
//! and leases are timed on each node's monotonic clock, which neither fault moves.
//!
//! A fault on the *leader* does not explain a death verdict on a healthy executor: that is
//! the case this checker exists for (a paused leader's successor condemning executors still
//! stuck in calls to it).
//!
//! [`CheckBounds`]: faultline_model::trace::EventKind::CheckBounds

use super::firings::{firings, in_progress_during, nodes};
use super::{Violation, ViolationKind, WALL_CLOCK_FAULTS};
use faultline_model::trace::{Event, EventKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// How far back a fault explains a verdict when no [`CheckBounds`] event says: 2 s.
///
/// [`CheckBounds`]: faultline_model::trace::EventKind::CheckBounds
pub const DEFAULT_SETTLE_MS: u64 = 2_000;

/// False verdicts in one history.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FalseVerdicts {
    pub false_deaths: u64,
    pub false_quarantines: u64,
    pub unforced_failovers: u64,
}

/// The faults of a history: when each began and ended (none: still going), and its targets.
struct Faults<'a>(Vec<(u64, Option<u64>, BTreeSet<&'a str>)>);

impl<'a> Faults<'a> {
    fn gather(history: &'a [Event]) -> Self {
        let liveness = firings(history).into_iter().filter(|f| !WALL_CLOCK_FAULTS.contains(&f.kind));
        let windows = liveness.map(|f| {
            let (begin, end) = f.window_ms(history);
            (begin, end, nodes(f.target))
        });
        Faults(windows.collect())
    }

    /// Whether a fault on any of `nodes` was in progress at some moment of
    /// `at_ms - settle_ms ..= at_ms`.
    fn explain(&self, nodes: &[&str], at_ms: u64, settle_ms: u64) -> bool {
        let from_ms = at_ms.saturating_sub(settle_ms);
        self.0.iter().any(|(begin, end, targets)| {
            in_progress_during((*begin, *end), from_ms, at_ms) && nodes.iter().any(|n| targets.contains(n))
        })
    }
}

/// Counts the false verdicts of `history` and flags each one past its bound.
pub fn false_verdicts(history: &[Event]) -> (FalseVerdicts, Vec<Violation>) {
    let bounds = history.iter().find_map(|event| match &event.kind {
        EventKind::CheckBounds(b) => {
            Some(([b.max_false_deaths, b.max_false_quarantines, b.max_unforced_failovers], b.settle_ms))
        }
        _ => None,
    });
    let (limits, settle_ms) = bounds.unwrap_or(([None; 3], DEFAULT_SETTLE_MS));
    let faults = Faults::gather(history);
    let mut counts = [0u64; 3];
    let mut violations = Vec::new();
    for (index, event) in history.iter().enumerate() {
        let (slot, kind, what) = match &event.kind {
            EventKind::ExecutorDead { executor, incarnation, reason, .. }
                if !reason.starts_with("restarted") && !faults.explain(&[executor], event.at_ms, settle_ms) =>
            {
                let what = format!("{executor} (incarnation {incarnation}) declared dead ({reason})");
                (0, ViolationKind::FalseDeath, what)
            }
            EventKind::ExecutorQuarantined { executor, reason, .. }
                if !faults.explain(&[executor], event.at_ms, settle_ms) =>
            {
                (1, ViolationKind::FalseQuarantine, format!("{executor} quarantined ({reason})"))
            }
            EventKind::LeaderLost { epoch, reason }
                if !faults.explain(&[&event.node, "store"], event.at_ms, settle_ms) =>
            {
                (
                    2,
                    ViolationKind::UnforcedFailover,
                    format!("{} stepped down as leader of epoch {epoch} ({reason})", event.node),
                )
            }
            _ => continue,
        };
        counts[slot] += 1;
        if let Some(limit) = limits[slot].filter(|limit| counts[slot] > *limit) {
            let message = format!(
                "{what} at {} ms with no fault explaining it in the {settle_ms} ms before: {} such verdicts, at most {limit} allowed",
                event.at_ms, counts[slot]
            );
            violations.push(Violation::at(history, index, kind, "run", message));
        }
    }
    let [false_deaths, false_quarantines, unforced_failovers] = counts;
    (FalseVerdicts { false_deaths, false_quarantines, unforced_failovers }, violations)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{check_bounds, ev};
    use faultline_model::trace::FaultPhase;

    fn bounds(max: Option<u64>) -> Event {
        ev(0, "harness", check_bounds(max, 1_000, None))
    }

    fn fault(at_ms: u64, id: u64, phase: FaultPhase, target: &str) -> Event {
        let (fault, target, detail) = ("pause".into(), target.into(), String::new());
        ev(at_ms, "nemesis", EventKind::Fault { id, fault, phase, target, detail: detail.into() })
    }

    fn dead(at_ms: u64, executor: &str, reason: &str) -> Event {
        let (executor, reason) = (executor.into(), reason.into());
        ev(at_ms, "coord-2", EventKind::ExecutorDead { executor, incarnation: 7, reason, tasks: 1 })
    }

    fn quarantined(at_ms: u64, executor: &str) -> Event {
        let (executor, reason) = (executor.into(), "7 of its last 8 attempts failed".into());
        ev(at_ms, "coord-2", EventKind::ExecutorQuarantined { executor, reason, backoff_ms: 2_000 })
    }

    fn lost(at_ms: u64, node: &str) -> Event {
        ev(at_ms, node, EventKind::LeaderLost { epoch: 3, reason: "a store write was refused".into() })
    }

    #[test]
    fn a_verdict_no_fault_explains_is_false_and_counted() {
        let history = vec![
            bounds(None),
            // The leader is paused: that explains nothing about exec-1.
            fault(100, 1, FaultPhase::Begin, "coord-1"),
            dead(600, "exec-1", "missed 3 heartbeats"),
            quarantined(600, "exec-1"),
            fault(4_100, 1, FaultPhase::End, "coord-1"),
            lost(9_000, "coord-2"),
        ];
        let (counts, violations) = false_verdicts(&history);
        assert_eq!(counts, FalseVerdicts { false_deaths: 1, false_quarantines: 1, unforced_failovers: 1 });
        assert!(violations.is_empty(), "no bounds, no violations");
    }

    #[test]
    fn a_fault_on_the_node_within_the_settle_window_explains_the_verdict() {
        let history = vec![
            bounds(Some(0)),
            fault(100, 1, FaultPhase::Begin, "exec-1, coord-1"),
            fault(300, 1, FaultPhase::End, "exec-1, coord-1"),
            dead(1_200, "exec-1", "missed 3 heartbeats"),
            quarantined(1_250, "exec-1"),
            lost(1_300, "coord-1"),
            fault(5_000, 2, FaultPhase::Begin, "store"),
            lost(5_100, "coord-2"),
            dead(7_000, "exec-2", "restarted with a new incarnation"),
        ];
        assert_eq!(false_verdicts(&history), (FalseVerdicts::default(), vec![]));
        // Past the settle window the same fault explains nothing.
        let late = vec![
            bounds(Some(0)),
            fault(100, 1, FaultPhase::Begin, "exec-1"),
            fault(300, 1, FaultPhase::End, "exec-1"),
            dead(1_400, "exec-1", "missed 3 heartbeats"),
        ];
        let (counts, violations) = false_verdicts(&late);
        assert_eq!(counts.false_deaths, 1);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].kind, ViolationKind::FalseDeath);
        assert_eq!(violations[0].event_index, 3);
        assert_eq!(
            violations[0].message,
            "exec-1 (incarnation 7) declared dead (missed 3 heartbeats) at 1400 ms with no fault explaining it \
             in the 1000 ms before: 1 such verdicts, at most 0 allowed"
        );
    }

    #[test]
    fn each_verdict_past_its_bound_is_a_violation() {
        let history = vec![bounds(Some(1)), lost(100, "coord-1"), lost(3_000, "coord-2"), lost(6_000, "coord-3")];
        let (counts, violations) = false_verdicts(&history);
        assert_eq!(counts.unforced_failovers, 3);
        let kinds: Vec<_> = violations.iter().map(|v| (v.kind, v.event_index)).collect();
        assert_eq!(kinds, vec![(ViolationKind::UnforcedFailover, 2), (ViolationKind::UnforcedFailover, 3)]);
    }
}
