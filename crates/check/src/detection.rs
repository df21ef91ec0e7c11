//! Detection: a crashed executor is declared dead within the README's bound. The failure
//! detector is the scheduler's answer to a crash; one that answers late (or never) keeps the
//! crashed executor's work stranded, and nothing else notices: the work is re-dispatched in
//! the end, so every safety checker passes.
//!
//! For each crash of an executor E at `t`, while a leader N is in office, some node must
//! record E dead (`executor_dead`, any reason: a restart's new incarnation retires the old
//! one) within `t ..= t + max_detection_ms`, the bound the harness writes in its
//! [`CheckBounds`] event (`[checks] max_detection_ms`; default `k*h + h`: the dead-after
//! window, one coordinator tick and one beat of slack). A crash is not judged when:
//! - no leader is in office at `t` (none elected, or the last one stepped down or crashed
//!   since), the crash takes the leader down too, or leadership changes in `t - settle_ms ..= t + bound`
//!   (a new leader grants known executors a takeover grace);
//! - another fault on E or on N is in progress at some moment of `t - settle_ms ..= t +
//!   bound` (a paused leader cannot detect; an executor already partitioned may already be
//!   dead), **except a wall-clock fault** (`clock_step`, `clock_offset`): liveness runs on
//!   the monotonic clock, which neither moves, so neither excuses a late verdict;
//! - E was declared dead in the bound before `t` (it is dead at the leader already), or the
//!   run ends before `t + bound`.
//!
//! [`CheckBounds`]: faultline_model::trace::EventKind::CheckBounds

use super::firings::{firings, in_progress_during, nodes};
use super::{Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind};

/// Fault kinds that move only a node's wall clock: they explain no liveness verdict.
pub const WALL_CLOCK_FAULTS: [&str; 2] = ["clock_step", "clock_offset"];

/// Flags each executor crash not detected within the bound (LateDetection, at the crash).
pub fn crashes_detected(history: &[Event]) -> Vec<Violation> {
    let bounds = history.iter().find_map(|e| match &e.kind {
        EventKind::CheckBounds(b) => b.max_detection_ms.map(|bound| (bound, b.settle_ms)),
        _ => None,
    });
    let (Some((bound, settle_ms)), Some(last)) = (bounds, history.last()) else {
        return Vec::new();
    };
    let all = firings(history);
    let executors = executors(history);
    let mut violations = Vec::new();
    for crash in all.iter().filter(|f| f.kind == "crash") {
        let t = history[crash.begin].at_ms;
        let deadline = t + bound;
        if deadline > last.at_ms {
            continue;
        }
        let Some(leader) = leader_at(history, crash.begin) else { continue };
        let targets = nodes(crash.target);
        if targets.contains(leader) {
            continue; // the leader went down with it: its successor's takeover grace applies
        }
        let from_ms = t.saturating_sub(settle_ms);
        if leadership_changed(history, from_ms, deadline) {
            continue;
        }
        for executor in targets.into_iter().filter(|n| executors.contains(n)) {
            let explained = all.iter().any(|other| {
                !std::ptr::eq(other, crash)
                    && !WALL_CLOCK_FAULTS.contains(&other.kind)
                    && in_progress_during(other.window_ms(history), from_ms, deadline)
                    && nodes(other.target).iter().any(|n| *n == executor || *n == leader)
            });
            // Dead already (in the bound before the crash) or in time: either way, judged.
            let first_dead = declared_dead(history, executor, t.saturating_sub(bound));
            if explained || first_dead.is_some_and(|at| at <= deadline) {
                continue;
            }
            let seen =
                first_dead.map_or("never".to_string(), |at| format!("only at {at} ms ({} ms after the crash)", at - t));
            let message = format!(
                "{executor} crashed at {t} ms while {leader} led and was declared dead {seen}, past the {bound} ms detection bound"
            );
            violations.push(Violation::at(history, crash.begin, ViolationKind::LateDetection, executor, message));
        }
    }
    violations
}

/// Nodes that ran an attempt or were dispatched to: the executors.
fn executors(history: &[Event]) -> std::collections::BTreeSet<&str> {
    history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Dispatch { executor, .. } => Some(executor.as_str()),
            EventKind::Start { .. } => Some(e.node.as_str()),
            _ => None,
        })
        .collect()
}

/// The node in office just before event `index`: the last elected that has not stepped down
/// and has not crashed since (a crashed leader records no `leader_lost`; whoever it is after
/// a restart holds no office until elected again: swarm seed 3458).
fn leader_at(history: &[Event], index: usize) -> Option<&str> {
    let mut leader = None;
    for e in &history[..index] {
        match &e.kind {
            EventKind::LeaderElected { .. } => leader = Some(e.node.as_str()),
            EventKind::LeaderLost { .. } if leader == Some(e.node.as_str()) => leader = None,
            EventKind::Fault { fault, phase: faultline_model::trace::FaultPhase::Begin, target, .. }
                if fault == "crash" && leader.is_some_and(|l| nodes(target).contains(&l)) =>
            {
                leader = None;
            }
            _ => {}
        }
    }
    leader
}

fn leadership_changed(history: &[Event], from_ms: u64, to_ms: u64) -> bool {
    history.iter().any(|e| {
        (from_ms..=to_ms).contains(&e.at_ms)
            && matches!(e.kind, EventKind::LeaderElected { .. } | EventKind::LeaderLost { .. })
    })
}

/// When `executor` was first declared dead at or after `from_ms`, if it was.
fn declared_dead(history: &[Event], executor: &str, from_ms: u64) -> Option<u64> {
    history.iter().find_map(|e| match &e.kind {
        EventKind::ExecutorDead { executor: dead, .. } if dead == executor && e.at_ms >= from_ms => Some(e.at_ms),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{ev, run_end};
    use faultline_model::trace::FaultPhase;

    fn bounds() -> Event {
        let mut kind = crate::tests::check_bounds(None, 1_000, None);
        if let EventKind::CheckBounds(b) = &mut kind {
            b.max_detection_ms = Some(400);
        }
        ev(0, "harness", kind)
    }

    fn fault(at_ms: u64, id: u64, kind: &str, phase: FaultPhase, target: &str) -> Event {
        let kind =
            EventKind::Fault { id, fault: kind.into(), phase, target: target.into(), detail: Default::default() };
        ev(at_ms, "harness", kind)
    }

    fn dead(at_ms: u64) -> Event {
        let kind =
            EventKind::ExecutorDead { executor: "exec-1".into(), incarnation: 1, reason: "silent".into(), tasks: 0 };
        ev(at_ms, "coord-1", kind)
    }

    /// A leader, an executor that ran something, a crash of it at 2000 ms, `rest`, an end.
    fn history(rest: Vec<Event>) -> Vec<Event> {
        let start = EventKind::Start { task: "t1-1".into(), incarnation: 1, epoch: 1, attempt: 1 };
        let mut h = vec![
            bounds(),
            ev(100, "coord-1", EventKind::LeaderElected { epoch: 1 }),
            ev(500, "exec-1", start),
            fault(2_000, 7, "crash", FaultPhase::Begin, "exec-1"),
        ];
        h.extend(rest);
        h.push(ev(20_000, "harness", run_end(true)));
        h
    }

    #[test]
    fn a_crash_detected_within_the_bound_passes() {
        assert!(crashes_detected(&history(vec![dead(2_350)])).is_empty());
    }

    #[test]
    fn a_crash_detected_late_or_never_is_flagged() {
        let late = crashes_detected(&history(vec![dead(11_500)]));
        assert_eq!(late.len(), 1);
        assert_eq!(late[0].kind, ViolationKind::LateDetection);
        assert!(late[0].message.contains("only at 11500 ms (9500 ms after the crash)"), "{}", late[0].message);
        let never = crashes_detected(&history(vec![]));
        assert!(never[0].message.contains("declared dead never"), "{}", never[0].message);
    }

    #[test]
    fn a_wall_clock_step_on_the_leader_excuses_nothing_but_a_pause_does() {
        let step = fault(1_500, 3, "clock_step", FaultPhase::Begin, "coord-1");
        assert_eq!(crashes_detected(&history(vec![step, dead(11_500)])).len(), 1);
        let pause = fault(1_500, 3, "pause", FaultPhase::Begin, "coord-1");
        assert!(crashes_detected(&history(vec![pause, dead(11_500)])).is_empty());
    }

    #[test]
    fn a_leadership_change_or_no_leader_is_not_judged() {
        let elected = ev(2_100, "coord-2", EventKind::LeaderElected { epoch: 2 });
        assert!(crashes_detected(&history(vec![elected])).is_empty());
        let mut leaderless = history(vec![]);
        leaderless.remove(1);
        assert!(crashes_detected(&leaderless).is_empty());
        let mut with_the_leader = history(vec![]);
        with_the_leader[3] = fault(2_000, 7, "crash", FaultPhase::Begin, "coord-1,exec-1");
        assert!(crashes_detected(&with_the_leader).is_empty());
    }

    #[test]
    fn a_crashed_leader_is_out_of_office_until_elected_again() {
        // Swarm seed 3458: the leader crashed and restarted; an executor crashed while none
        // was elected yet and was declared dead right after the next election.
        let mut h = history(vec![ev(3_530, "coord-1", EventKind::LeaderElected { epoch: 227 }), dead(3_565)]);
        h.insert(3, fault(1_000, 1, "crash", FaultPhase::Begin, "coord-1"));
        h.insert(4, fault(1_035, 1, "crash", FaultPhase::End, "coord-1"));
        assert!(crashes_detected(&h).is_empty(), "no leader was in office at the crash");
        // A crash of another node leaves the leader in office: still judged.
        h[3] = fault(1_000, 1, "crash", FaultPhase::Begin, "coord-2");
        h[4] = fault(1_035, 1, "crash", FaultPhase::End, "coord-2");
        assert_eq!(crashes_detected(&h).len(), 1);
    }
}
