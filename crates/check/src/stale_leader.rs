//! Leadership exclusivity: once a newer epoch is elected on another node, the leader it
//! deposed stops acting as leader.
//!
//! A node leads epoch E from its `LeaderElected { epoch: E }` until its matching
//! `LeaderLost { epoch: E }` (or until it is elected again, which replaces E). While it
//! leads, it alone records the leader's acts: dispatches, persisted writes, retries,
//! terminal states, recoveries and executor verdicts. If another node is then elected
//! with a higher epoch, the old leader must not act again under E.
//!
//! Fencing keeps most such acts harmless downstream, which is why `one_leader_per_epoch`
//! allows overlapping leaders; this checker asks the stronger question of whether the
//! scheduler honours its lease. The correct scheduler deposes itself by its own clock
//! before the store lets its lease expire (the lease is shortened by the clock drift
//! bound), so without a clock fault, an act after a newer election means the old leader
//! kept acting past its lease. A lease is only as good as the clock that reads it, though:
//! once a rate fault has hit a node (`clock_drift` or `clock_slew` naming it; steps and
//! offsets move only the wall clock, and leases are monotonic), a stale act
//! of that node is explained (a wrong clock can keep it believing in an expired lease): it
//! is not a violation, but it is still counted, with how long after the newer election it
//! came (`StaleActs`, in every summary), since only fencing then keeps it harmless.
//!
//! A node elected with an epoch below one already elected elsewhere was never the rightful
//! leader; that election is `EpochRegression`'s to report, so only elections that come
//! after the node's own election depose it here.

use super::{Violation, ViolationKind, WALL_CLOCK_FAULTS};
use faultline_model::trace::{Event, EventKind, FaultPhase};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Every act a deposed leader recorded after a newer election on another node.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaleActs {
    /// All such acts, explained or not.
    pub stale_acts: u64,
    /// Those of nodes a clock fault had hit: not violations.
    pub stale_acts_clock_explained: u64,
    /// The latest such act after the newer election, ms.
    pub stale_act_lag_max_ms: u64,
}

/// One node's current leadership.
struct Leadership<'a> {
    epoch: u64,
    /// The highest epoch elected on another node since this leadership began, with that
    /// node and the election's time; ties keep the first election.
    deposed_by: Option<(u64, &'a str, u64)>,
}

/// Flags, in history order, the first leader act of each (node, epoch) recorded while the
/// node led that epoch and after a higher epoch was elected on another node, unless a
/// clock fault had hit the node by then. Each violation sits at that act.
pub fn no_stale_leader(history: &[Event]) -> Vec<Violation> {
    stale_leader_acts(history).0
}

/// `no_stale_leader`, and the tally of every stale act (see `StaleActs`).
pub fn stale_leader_acts(history: &[Event]) -> (Vec<Violation>, StaleActs) {
    let mut acts = StaleActs::default();
    let mut leading: BTreeMap<&str, Leadership> = BTreeMap::new();
    let mut clock_faulted: BTreeSet<&str> = BTreeSet::new();
    let mut flagged: BTreeSet<(&str, u64)> = BTreeSet::new();
    let mut violations = Vec::new();
    for (index, event) in history.iter().enumerate() {
        let node = event.node.as_str();
        match &event.kind {
            EventKind::LeaderElected { epoch } => {
                for (_, leadership) in leading.iter_mut().filter(|(other, _)| **other != node) {
                    let newest = leadership.deposed_by.map_or(leadership.epoch, |(top, _, _)| top);
                    if *epoch > newest {
                        leadership.deposed_by = Some((*epoch, node, event.at_ms));
                    }
                }
                leading.insert(node, Leadership { epoch: *epoch, deposed_by: None });
            }
            EventKind::LeaderLost { epoch, .. } if leading.get(node).is_some_and(|l| l.epoch == *epoch) => {
                leading.remove(node);
            }
            EventKind::Fault { phase: FaultPhase::Begin, fault, target, .. }
                if fault.starts_with("clock_") && !WALL_CLOCK_FAULTS.contains(&fault.as_str()) =>
            {
                // The nemesis writes the nodes it hit joined by commas.
                clock_faulted.extend(target.split(',').map(str::trim).filter(|name| !name.is_empty()));
            }
            kind => {
                let Some((act, what)) = leader_act(kind) else {
                    continue;
                };
                let Some(Leadership { epoch, deposed_by: Some((newer, other, elected_ms)) }) = leading.get(node) else {
                    continue;
                };
                acts.stale_acts += 1;
                acts.stale_act_lag_max_ms = acts.stale_act_lag_max_ms.max(event.at_ms.saturating_sub(*elected_ms));
                if clock_faulted.contains(node) {
                    acts.stale_acts_clock_explained += 1;
                    continue;
                }
                if !flagged.insert((node, *epoch)) {
                    continue;
                }
                let message = format!(
                    "{node} acted as leader of epoch {epoch} ({act} of {what}) \
                     after epoch {newer} was elected on {other} at {elected_ms} ms"
                );
                let subject = format!("epoch {epoch}");
                violations.push(Violation::at(history, index, ViolationKind::StaleLeader, subject, message));
            }
        }
    }
    (violations, acts)
}

/// A leader's act, as its event name (the serde tag) and the task or executor it is about;
/// `None` for events that are not leader acts.
fn leader_act(kind: &EventKind) -> Option<(&'static str, &str)> {
    Some(match kind {
        EventKind::Dispatch { task, .. } => ("dispatch", task),
        EventKind::Persist { task, .. } => ("persist", task),
        EventKind::Retry { task, .. } => ("retry", task),
        EventKind::Succeeded { task, .. } => ("succeeded", task),
        EventKind::DeadLettered { task, .. } => ("dead_lettered", task),
        EventKind::Recovered { task, .. } => ("recovered", task),
        EventKind::Compacted { task, .. } => ("compacted", task),
        EventKind::ExecutorDead { executor, .. } => ("executor_dead", executor),
        EventKind::ExecutorQuarantined { executor, .. } => ("executor_quarantined", executor),
        EventKind::ExecutorReleased { executor } => ("executor_released", executor),
        EventKind::ZoneAvoided { task, .. } => ("zone_avoided", task),
        EventKind::Fire { task, .. } => ("fire", task),
        EventKind::FireSkipped { job, .. } => ("fire_skipped", job),
        EventKind::JobPaused { job } => ("job_paused", job),
        EventKind::JobResumed { job, .. } => ("job_resumed", job),
        EventKind::JobDeleted { job } => ("job_deleted", job),
        EventKind::JobCreated(created) => ("job_created", &created.job),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check_all;
    use crate::tests::{dead_lettered, dispatch, elected, ev, succeeded};

    fn lost(epoch: u64) -> EventKind {
        EventKind::LeaderLost { epoch, reason: "lease lapsed by the local clock".into() }
    }

    fn fault(fault: &str, target: &str) -> EventKind {
        EventKind::Fault {
            id: 0,
            fault: fault.into(),
            phase: FaultPhase::Begin,
            target: target.into(),
            detail: Default::default(),
        }
    }

    fn executor_dead(executor: &str) -> EventKind {
        EventKind::ExecutorDead { executor: executor.into(), incarnation: 1, reason: "lease expired".into(), tasks: 1 }
    }

    fn persist(task: &str) -> EventKind {
        EventKind::Persist { task: task.into(), state: "running".into(), epoch: 1 }
    }

    fn stale(event_index: usize, at_ms: u64, epoch: u64, message: &str) -> Violation {
        Violation {
            kind: ViolationKind::StaleLeader,
            subject: format!("epoch {epoch}"),
            event_index,
            at_ms,
            message: message.into(),
        }
    }

    /// Every leader act, for the tests that must cover all of them.
    fn every_act() -> Vec<EventKind> {
        vec![
            dispatch("t1", 1),
            persist("t1"),
            EventKind::Retry { task: "t1".into(), failures: 1, backoff_ms: 10, reason: "failed".into() },
            succeeded("t1"),
            dead_lettered("t2", "too many failures"),
            EventKind::Recovered { task: "t3".into(), state: "succeeded".into(), reason: None },
            executor_dead("exec-1"),
            EventKind::ExecutorQuarantined { executor: "exec-2".into(), reason: "crash loop".into(), backoff_ms: 5 },
            EventKind::ExecutorReleased { executor: "exec-2".into() },
            EventKind::ZoneAvoided { task: "t1".into(), zone: "a".into() },
            EventKind::Fire { job: "j".into(), scheduled_ms: 5, covers_from_ms: 5, task: "t4".into(), epoch: 3 },
            EventKind::FireSkipped {
                job: "j".into(),
                from_ms: 5,
                to_ms: 5,
                count: 1,
                reason: "misfire".into(),
                epoch: 3,
            },
            EventKind::JobPaused { job: "j".into() },
            EventKind::JobResumed { job: "j".into(), next_ms: None },
            EventKind::JobDeleted { job: "j".into() },
        ]
    }

    #[test]
    fn act_after_a_newer_election_is_flagged_once_at_the_first_act() {
        let history = vec![
            ev(0, "coord-2", elected(3)),
            ev(100, "coord-2", dispatch("t3-1", 1)),
            ev(4200, "coord-1", elected(5)),
            ev(4300, "coord-2", dispatch("t3-7", 1)),
            ev(4400, "coord-2", executor_dead("exec-1")),
            ev(4500, "coord-2", succeeded("t3-7")),
        ];
        assert_eq!(
            no_stale_leader(&history),
            vec![stale(
                3,
                4300,
                3,
                "coord-2 acted as leader of epoch 3 (dispatch of t3-7) after epoch 5 was elected on coord-1 at 4200 ms"
            )]
        );
    }

    #[test]
    fn every_leader_act_is_judged_and_named_by_its_event_name() {
        for act in every_act() {
            let json = serde_json::to_value(&act).expect("event serializes");
            let (name, what) = leader_act(&act).expect("a leader act");
            assert_eq!(json["event"], name);
            let named = json.get("task").or(json.get("executor")).or(json.get("job"));
            assert_eq!(named.expect("names a task, executor or job"), what);
            let history =
                vec![ev(0, "coord-2", elected(3)), ev(10, "coord-1", elected(4)), ev(20, "coord-2", act.clone())];
            let message = format!(
                "coord-2 acted as leader of epoch 3 ({name} of {what}) after epoch 4 was elected on coord-1 at 10 ms"
            );
            assert_eq!(no_stale_leader(&history), vec![stale(2, 20, 3, &message)]);
        }
        for not_act in [elected(9), lost(3), EventKind::NodeStart { incarnation: 2 }, fault("crash", "coord-2")] {
            assert_eq!(leader_act(&not_act), None, "{not_act:?}");
        }
    }

    #[test]
    fn acts_before_the_newer_election_and_after_leader_lost_pass() {
        let mut history = vec![ev(0, "coord-2", elected(3))];
        history.extend(every_act().into_iter().map(|act| ev(10, "coord-2", act)));
        history.push(ev(20, "coord-2", lost(3)));
        history.push(ev(30, "coord-1", elected(5)));
        history.extend(every_act().into_iter().map(|act| ev(40, "coord-2", act)));
        assert_eq!(no_stale_leader(&history), vec![]);

        // A LeaderLost for an epoch the node no longer leads does not end its leadership.
        let history = vec![
            ev(0, "coord-2", elected(3)),
            ev(5, "coord-2", lost(2)),
            ev(10, "coord-1", elected(5)),
            ev(20, "coord-2", persist("t9")),
        ];
        let message =
            "coord-2 acted as leader of epoch 3 (persist of t9) after epoch 5 was elected on coord-1 at 10 ms";
        assert_eq!(no_stale_leader(&history), vec![stale(3, 20, 3, message)]);
    }

    #[test]
    fn the_newer_leaders_own_acts_pass() {
        // coord-2 never records LeaderLost: it still leads epoch 3, but stays silent.
        let mut history = vec![ev(0, "coord-2", elected(3)), ev(10, "coord-1", elected(5))];
        history.extend(every_act().into_iter().map(|act| ev(20, "coord-1", act)));
        assert_eq!(no_stale_leader(&history), vec![]);
    }

    #[test]
    fn a_clock_fault_on_the_node_excuses_it_but_not_one_on_another_node() {
        let history = |target: &str, kind: &str| {
            vec![
                ev(0, "coord-1", elected(3)),
                ev(10, "nemesis", fault(kind, target)),
                ev(20, "coord-10", elected(5)),
                ev(30, "coord-1", dead_lettered("t4", "too many failures")),
            ]
        };
        assert_eq!(no_stale_leader(&history("exec-2,coord-1", "clock_drift")), vec![]);
        assert_eq!(no_stale_leader(&history("coord-1", "clock_slew")), vec![]);
        // Excused, but still counted, with its lag after the newer election.
        let mut twice = history("coord-1", "clock_slew");
        twice.push(ev(95, "coord-1", dispatch("t5", 1)));
        let counted = StaleActs { stale_acts: 2, stale_acts_clock_explained: 2, stale_act_lag_max_ms: 75 };
        assert_eq!(stale_leader_acts(&twice), (vec![], counted));
        let message =
            "coord-1 acted as leader of epoch 3 (dead_lettered of t4) after epoch 5 was elected on coord-10 at 20 ms";
        let flagged = vec![stale(3, 30, 3, message)];
        assert_eq!(no_stale_leader(&history("coord-10,exec-1", "clock_offset")), flagged, "coord-10 is not coord-1");
        assert_eq!(no_stale_leader(&history("coord", "clock_slew")), flagged, "a prefix is not the node");
        assert_eq!(no_stale_leader(&history("coord-1", "pause")), flagged, "only clock faults excuse");
        assert_eq!(
            no_stale_leader(&history("coord-1", "clock_step")),
            flagged,
            "a lease is monotonic: no step excuses"
        );

        // The fault must come before the act, and its end is no begin.
        let mut late = history("exec-2", "clock_drift");
        late.push(ev(40, "nemesis", fault("clock_drift", "coord-1")));
        assert_eq!(no_stale_leader(&late), flagged);
        let mut ended = history("exec-2", "clock_drift");
        ended[1].kind = EventKind::Fault {
            id: 0,
            fault: "clock_drift".into(),
            phase: FaultPhase::End,
            target: "coord-1".into(),
            detail: "back to true time".into(),
        };
        assert_eq!(no_stale_leader(&ended), flagged);
    }

    #[test]
    fn reelection_with_a_higher_epoch_makes_the_old_nodes_acts_fine_again() {
        let history = vec![
            ev(0, "coord-2", elected(3)),
            ev(10, "coord-1", elected(5)),
            ev(20, "coord-2", elected(7)),
            ev(30, "coord-2", dispatch("t1", 2)),
            ev(40, "coord-1", executor_dead("exec-3")),
            ev(50, "coord-1", dispatch("t2", 1)),
        ];
        let message =
            "coord-1 acted as leader of epoch 5 (executor_dead of exec-3) after epoch 7 was elected on coord-2 at 20 ms";
        assert_eq!(no_stale_leader(&history), vec![stale(4, 40, 5, message)]);
    }

    #[test]
    fn each_deposed_epoch_is_flagged_and_names_the_highest_newer_epoch() {
        let history = vec![
            ev(0, "coord-2", elected(3)),
            ev(10, "coord-1", elected(4)),
            ev(20, "coord-3", elected(6)),
            ev(25, "coord-1", elected(6)),
            ev(30, "coord-2", dispatch("t1", 1)),
            ev(40, "coord-2", elected(8)),
            ev(50, "coord-3", elected(9)),
            ev(60, "coord-2", succeeded("t1")),
        ];
        assert_eq!(
            no_stale_leader(&history),
            vec![
                stale(
                    4,
                    30,
                    3,
                    "coord-2 acted as leader of epoch 3 (dispatch of t1) after epoch 6 was elected on coord-3 at 20 ms"
                ),
                stale(
                    7,
                    60,
                    8,
                    "coord-2 acted as leader of epoch 8 (succeeded of t1) after epoch 9 was elected on coord-3 at 50 ms"
                ),
            ]
        );
    }

    #[test]
    fn an_election_below_a_standing_epoch_is_left_to_epoch_regression() {
        let history = vec![
            ev(0, "coord-1", elected(5)),
            ev(10, "coord-2", elected(3)),
            ev(20, "coord-2", dispatch("t1", 1)),
            ev(30, "coord-3", elected(6)),
            ev(40, "coord-2", dispatch("t2", 1)),
        ];
        let message =
            "coord-2 acted as leader of epoch 3 (dispatch of t2) after epoch 6 was elected on coord-3 at 30 ms";
        assert_eq!(no_stale_leader(&history), vec![stale(4, 40, 3, message)]);
        let kinds: Vec<(usize, ViolationKind)> =
            check_all(&history).violations.iter().map(|v| (v.event_index, v.kind)).collect();
        assert!(kinds.contains(&(1, ViolationKind::EpochRegression)), "{kinds:?}");
        assert!(kinds.contains(&(4, ViolationKind::StaleLeader)), "check_all runs this checker: {kinds:?}");
    }

    #[test]
    fn kind_name_matches_its_serde_form() {
        let kind = ViolationKind::StaleLeader;
        assert_eq!(kind.name(), "stale_leader");
        assert_eq!(serde_json::to_string(&kind).expect("kind serializes"), "\"stale_leader\"");
        assert!(kind < ViolationKind::FaultNotFired && kind > ViolationKind::Unacknowledged);
    }
}
