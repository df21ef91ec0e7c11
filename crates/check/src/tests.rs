//! Test helpers for building small histories, and tests of `check_all` as a whole.

use super::*;
pub(crate) use faultline_model::fixtures::*;
use faultline_model::trace::EventKind;
use faultline_model::trace::Verdict;

fn executor_dead() -> EventKind {
    EventKind::ExecutorDead { executor: "exec-1".into(), incarnation: 1, reason: "lease expired".into(), tasks: 1 }
}

/// A run with every invariant kept: two tasks, a retry after an executor death, a fenced
/// late apply, a leader change, and a drained end.
fn clean_history() -> Vec<Event> {
    vec![
        ev(0, "node-a", elected(1)),
        ev(1, "client", ack("k1", "t1")),
        ev(2, "client", ack("k2", "t2")),
        ev(3, "node-a", dispatch("t1", 1)),
        ev(4, "node-a", dispatch("t2", 1)),
        ev(5, "sink", apply("t2", "exec-2", 1, 1, Verdict::Accepted)),
        ev(6, "node-a", succeeded("t2")),
        ev(7, "node-a", executor_dead()),
        ev(8, "node-b", elected(2)),
        ev(9, "node-b", dispatch("t1", 2)),
        ev(10, "sink", apply("t1", "exec-2", 2, 2, Verdict::Accepted)),
        ev(11, "sink", apply("t1", "exec-1", 1, 1, Verdict::Stale)),
        ev(12, "node-b", succeeded("t1")),
        ev(13, "sim", drain_start(100)),
        ev(14, "sim", run_end(true)),
    ]
}

#[test]
fn clean_history_passes_with_exact_counts() {
    let result = check_all(&clean_history());
    assert!(result.passed(), "unexpected violations: {:?}", result.violations);
    assert_eq!(
        result.counts,
        Counts {
            acked: 2,
            succeeded: 2,
            dead_lettered: 0,
            lost: 0,
            duplicate_applies: 0,
            fenced_rejections: 1,
            leader_changes: 2,
            executors_declared_dead: 1,
            redispatches: 1,
            // The history injects no fault, so nothing explains that death.
            false_verdicts: FalseVerdicts { false_deaths: 1, ..FalseVerdicts::default() },
            ..Counts::default()
        }
    );
}

#[test]
fn fires_skips_and_lateness_are_counted_once_each() {
    let fire = |task: &str, scheduled_ms: u64| EventKind::Fire {
        job: "j".into(),
        scheduled_ms,
        covers_from_ms: scheduled_ms,
        task: task.into(),
        epoch: 1,
    };
    let skip = EventKind::FireSkipped {
        job: "j".into(),
        from_ms: 3000,
        to_ms: 4000,
        count: 2,
        reason: "misfire".into(),
        epoch: 1,
    };
    let start = |task: &str| EventKind::Start { task: task.into(), incarnation: 1, epoch: 1, attempt: 1 };
    let history = vec![
        ev(1010, "coord-1", fire("f1", 1000)),
        ev(1040, "exec-1", start("f1")),
        ev(2300, "coord-1", fire("f2", 2000)),
        ev(2300, "coord-2", fire("f2", 2000)), // recorded again by a new leader
        ev(2350, "exec-1", start("f2")),
        ev(2400, "exec-2", start("f2")), // a second attempt: not the fire's start
        ev(5000, "coord-1", skip.clone()),
        ev(5100, "coord-2", skip),
    ];
    let counts = Counts::tally(&history, &[]);
    assert_eq!((counts.fires, counts.instants_skipped, counts.fire_lateness_max_ms), (2, 2, 350));
}

#[test]
fn violations_from_every_checker_are_sorted_by_index_then_kind() {
    let history = vec![
        ev(0, "node-a", elected(2)),
        ev(1, "client", ack("k1", "t1")),
        ev(2, "node-b", elected(2)),
        ev(3, "sink", apply("t2", "exec-1", 2, 1, Verdict::Accepted)),
        ev(4, "sink", apply("t2", "exec-2", 2, 2, Verdict::Accepted)),
        ev(5, "node-a", elected(1)),
        ev(6, "node-a", dead_lettered("t2", "")),
        ev(7, "sim", run_end(false)),
    ];
    let result = check_all(&history);
    let found: Vec<(usize, ViolationKind, &str)> =
        result.violations.iter().map(|v| (v.event_index, v.kind, v.subject.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (1, ViolationKind::LostTask, "t1"),
            (1, ViolationKind::NoConvergence, "run"),
            (2, ViolationKind::SplitBrain, "epoch 2"),
            (4, ViolationKind::DuplicateApply, "t2"),
            (5, ViolationKind::EpochRegression, "epoch 1"),
            (6, ViolationKind::MissingReason, "t2"),
            (6, ViolationKind::DeadLetteredWithEffect, "t2"),
        ]
    );
    assert_eq!(result.counts.lost, 1);
    assert_eq!(result.counts.duplicate_applies, 1);
    assert_eq!(result.counts.leader_changes, 3);
}

#[test]
fn kind_names_match_their_serde_form() {
    let kinds = [
        ViolationKind::LostTask,
        ViolationKind::DuplicateApply,
        ViolationKind::SplitBrain,
        ViolationKind::EpochRegression,
        ViolationKind::NoConvergence,
        ViolationKind::MissingReason,
        ViolationKind::Unacknowledged,
    ];
    for kind in kinds {
        let json = serde_json::to_string(&kind).expect("kind serializes");
        assert_eq!(json, format!("\"{}\"", kind.name()));
        let back: ViolationKind = serde_json::from_str(&json).expect("kind deserializes");
        assert_eq!(back, kind);
    }
    assert_eq!(ViolationKind::NoConvergence.name(), "no_convergence");
}
