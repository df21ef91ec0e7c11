//! Fault isolation: quarantine and zone-aware placement.

use crate::coordinator::tests::*;
use crate::coordinator::*;

fn with_zone(zone: &str, capacity: u32, b: Beat) -> Beat {
    Beat { zone: zone.into(), capacity, ..b }
}

/// A beat of `ex` with nothing held or completed.
fn idle(ex: &str, inc: u64, seq: u64, zone: &str, capacity: u32) -> Beat {
    with_zone(zone, capacity, beat(ex, inc, seq, vec![], vec![]))
}

/// The quarantine, release and zone events among `outputs`, in order.
fn isolation_events(outputs: &[Output]) -> Vec<EventKind> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Record(
                e @ (EventKind::ExecutorQuarantined { .. }
                | EventKind::ExecutorReleased { .. }
                | EventKind::ZoneAvoided { .. }),
            ) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// The executors the assignment writes among `outputs` name.
fn assigned_to(outputs: &[Output]) -> Vec<String> {
    writes(outputs).iter().filter_map(|w| w.task().holder.as_ref().map(|h| h.executor.clone())).collect()
}

fn quarantined(ex: &str, reason: &str, backoff_ms: u64) -> EventKind {
    EventKind::ExecutorQuarantined { executor: ex.into(), reason: reason.into(), backoff_ms }
}

fn released(ex: &str) -> EventKind {
    EventKind::ExecutorReleased { executor: ex.into() }
}

/// Runs `outcomes.len()` fresh tasks on `ex` (incarnation 1, zone `zone`, one slot each)
/// with beats at `now`, `now + 1` and `now + 2`, the last reporting `outcomes` in order.
/// Returns the outputs of that last beat (its outcome writes are not confirmed).
fn run_batch(c: &mut Coordinator, ex: &str, zone: &str, now: u64, outcomes: Vec<Outcome>) -> Vec<Output> {
    let slots = outcomes.len() as u32;
    for i in 0..outcomes.len() {
        submitted(c, &format!("{ex}-{now}-{i}"));
    }
    c.beat_reply(Now::at(now), idle(ex, 1, now, zone, slots));
    let out = drain(c);
    persist_all(c, now, &out);
    let reply = c.beat_reply(Now::at(now + 1), idle(ex, 1, now + 1, zone, slots)).unwrap();
    assert_eq!(reply.assignments.len(), outcomes.len());
    drain(c);
    let completed = reply
        .assignments
        .iter()
        .zip(outcomes)
        .map(|(a, outcome)| Completion { task: a.task.clone(), token: a.token, outcome })
        .collect();
    c.beat_reply(Now::at(now + 2), with_zone(zone, slots, beat(ex, 1, now + 2, vec![], completed)));
    drain(c)
}

/// Six of eight attempts failed: exactly the default ratio (0.75 of a window of 8).
fn mostly_failed() -> Vec<Outcome> {
    let mut outcomes = vec![Outcome::Failed("boom".into()); 5];
    outcomes.extend([Outcome::TimedOut, Outcome::Succeeded, Outcome::Succeeded]);
    outcomes
}

#[test]
fn a_crash_looping_executor_is_quarantined_with_doubling_backoff() {
    let mut c = leader();
    c.beat_reply(Now::at(0), idle("ex-2", 1, 1, "", 0)); // a healthy peer, so the cap allows one quarantine
    c.beat_reply(Now::at(0), idle("ex-1", 1, 1, "", 2)); // the first incarnation seen is not a restart
    c.beat_reply(Now::at(100), idle("ex-1", 2, 1, "", 2));
    c.beat_reply(Now::at(200), idle("ex-1", 3, 1, "", 2));
    assert!(isolation_events(&drain(&mut c)).is_empty(), "two restarts are not a crash loop");
    c.beat_reply(Now::at(300), idle("ex-1", 4, 1, "", 2));
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Record(EventKind::ExecutorDead {
                executor: "ex-1".into(),
                incarnation: 3,
                reason: "restarted with a new incarnation".into(),
                tasks: 0
            }),
            Output::Record(quarantined("ex-1", "crash loop: 3 restarts within 10000 ms", 2_000)),
        ]
    );
    let task = submitted(&mut c, "k");
    c.beat_reply(Now::at(400), idle("ex-1", 4, 2, "", 2));
    c.beat_reply(Now::at(2_299), idle("ex-1", 4, 3, "", 2));
    assert!(drain(&mut c).is_empty(), "no new work while quarantined");
    c.beat_reply(Now::at(2_300), idle("ex-1", 4, 4, "", 2));
    let out = drain(&mut c);
    assert_eq!(isolation_events(&out), vec![released("ex-1")]);
    assert_eq!((writes(&out)[0].task().id.clone(), assigned_to(&out)), (task, vec!["ex-1".to_string()]));
    // Three more restarts: the second quarantine of the name lasts twice as long.
    let mut events = Vec::new();
    for (inc, now) in [(5, 2_400), (6, 2_500), (7, 2_600)] {
        c.beat_reply(Now::at(now), idle("ex-1", inc, 1, "", 2));
        events.extend(isolation_events(&drain(&mut c)));
    }
    assert_eq!(events, vec![quarantined("ex-1", "crash loop: 3 restarts within 10000 ms", 4_000)]);
    c.beat_reply(Now::at(6_599), idle("ex-1", 7, 2, "", 2));
    assert!(isolation_events(&drain(&mut c)).is_empty());
    c.beat_reply(Now::at(6_600), idle("ex-1", 7, 3, "", 2));
    assert_eq!(isolation_events(&drain(&mut c)), vec![released("ex-1")]);
}

#[test]
fn a_mostly_failing_executor_is_quarantined_and_a_healthy_one_gets_the_work() {
    let mut c = leader();
    c.beat_reply(Now::at(0), idle("ex-2", 1, 1, "", 0));
    let out = run_batch(&mut c, "ex-1", "", 10, mostly_failed());
    assert_eq!(writes(&out).len(), 8, "the eight outcomes");
    assert_eq!(isolation_events(&out), vec![quarantined("ex-1", "6 of its last 8 attempts failed", 2_000)]);
    persist_all(&mut c, 12, &out); // six retries, due within 100 ms
    c.beat_reply(Now::at(210), idle("ex-1", 1, 20, "", 8));
    c.beat_reply(Now::at(250), idle("ex-1", 1, 21, "", 8));
    assert!(drain(&mut c).is_empty(), "no new work while quarantined");
    c.beat_reply(Now::at(260), idle("ex-2", 1, 2, "", 2));
    assert_eq!(assigned_to(&drain(&mut c)), vec!["ex-2", "ex-2"]);
    c.beat_reply(Now::at(2_012), idle("ex-1", 1, 22, "", 8));
    let out = drain(&mut c);
    assert_eq!(isolation_events(&out), vec![released("ex-1")]);
    assert_eq!(assigned_to(&out), vec!["ex-1"; 4], "released: it gets the four retries left");
    // A fresh window: one more failure does not quarantine it again.
    persist_all(&mut c, 2_012, &out);
    let reply = c.beat_reply(Now::at(2_013), idle("ex-1", 1, 23, "", 8)).unwrap();
    let a = &reply.assignments[0];
    let failed = Completion { task: a.task.clone(), token: a.token, outcome: Outcome::Failed("boom".into()) };
    let held = reply.assignments[1..].iter().map(|a| (a.task.as_str(), a.token)).collect();
    c.beat_reply(Now::at(2_014), with_zone("", 8, beat("ex-1", 1, 24, held, vec![failed])));
    assert!(isolation_events(&drain(&mut c)).is_empty());
}

#[test]
fn attempts_lost_with_a_dead_executor_count_as_failures() {
    let mut c = leader();
    c.beat_reply(Now::at(0), idle("ex-2", 1, 1, "", 0));
    for i in 0..8 {
        submitted(&mut c, &format!("k{i}"));
    }
    c.beat_reply(Now::at(10), idle("ex-1", 1, 1, "", 8));
    let out = drain(&mut c);
    persist_all(&mut c, 10, &out);
    c.beat_reply(Now::at(20), idle("ex-1", 1, 2, "", 8));
    c.beat_reply(Now::at(300), idle("ex-2", 1, 2, "", 0));
    drain(&mut c);
    c.tick(Now::at(321));
    let out = drain(&mut c);
    assert!(matches!(&out[0], Output::Record(EventKind::ExecutorDead { tasks: 8, .. })));
    assert_eq!(isolation_events(&out), vec![quarantined("ex-1", "8 of its last 8 attempts failed", 2_000)]);
    // Back with a new incarnation, it gets none of the eight re-queued tasks.
    c.beat_reply(Now::at(330), idle("ex-1", 2, 1, "", 8));
    assert!(writes(&drain(&mut c)).is_empty());
}

#[test]
fn with_isolation_off_a_failing_executor_keeps_getting_work() {
    let isolation = IsolationConfig { enabled: false, ..IsolationConfig::default() };
    let mut c = Coordinator::new(CoordinatorConfig { isolation, ..CoordinatorConfig::default() }, 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    c.beat_reply(Now::at(0), idle("ex-2", 1, 1, "", 0));
    let out = run_batch(&mut c, "ex-1", "z1", 10, mostly_failed());
    assert!(isolation_events(&out).is_empty());
    persist_all(&mut c, 12, &out);
    c.beat_reply(Now::at(210), idle("ex-1", 1, 20, "z1", 8));
    assert_eq!(assigned_to(&drain(&mut c)), vec!["ex-1"; 6]);
}

#[test]
fn a_lone_executor_is_never_quarantined() {
    let mut c = leader();
    let failed = vec![Outcome::Failed("boom".into()); 8];
    let out = run_batch(&mut c, "ex-1", "", 10, failed);
    assert!(isolation_events(&out).is_empty(), "quarantining it would leave no executor usable");
    persist_all(&mut c, 12, &out);
    c.beat_reply(Now::at(210), idle("ex-1", 1, 20, "", 8));
    assert_eq!(assigned_to(&drain(&mut c)), vec!["ex-1"; 8]);
}

#[test]
fn quarantine_keeps_half_the_live_executors_usable() {
    let mut c = leader();
    for ex in ["ex-1", "ex-2", "ex-3"] {
        c.beat_reply(Now::at(0), idle(ex, 1, 1, "", 2));
    }
    let mut events = Vec::new();
    for (inc, now) in [(2, 100), (3, 200), (4, 300)] {
        c.beat_reply(Now::at(now), idle("ex-1", inc, 1, "", 2));
        c.beat_reply(Now::at(now), idle("ex-2", inc, 1, "", 2));
        events.extend(isolation_events(&drain(&mut c)));
    }
    // Both crash-loop, but of three live names two must stay usable.
    assert_eq!(events, vec![quarantined("ex-1", "crash loop: 3 restarts within 10000 ms", 2_000)]);
    c.beat_reply(Now::at(350), idle("ex-1", 4, 2, "", 2));
    c.beat_reply(Now::at(650), idle("ex-1", 4, 3, "", 2));
    drain(&mut c);
    // ex-2 and ex-3 fall silent: ex-1 alone is live, so its quarantine is lifted early.
    c.tick(Now::at(700));
    let dead = |executor: &str, incarnation| EventKind::ExecutorDead {
        executor: executor.into(),
        incarnation,
        reason: "missed 3 heartbeats".into(),
        tasks: 0,
    };
    assert_eq!(
        drain(&mut c),
        vec![Output::Record(dead("ex-2", 4)), Output::Record(dead("ex-3", 1)), Output::Record(released("ex-1"))]
    );
}

/// Submits one task and fails its first attempt on ex-1 in zone z1 (beats at 10, 20, 30);
/// the retry is persisted at 30 and due within 100 ms. Returns the task and the outputs of
/// the failing beat.
fn failed_in_z1(c: &mut Coordinator) -> (TaskId, Vec<Output>) {
    let task = submitted(c, "k");
    c.beat_reply(Now::at(10), idle("ex-1", 1, 1, "z1", 2));
    let out = drain(c);
    persist_all(c, 10, &out);
    c.beat_reply(Now::at(20), idle("ex-1", 1, 2, "z1", 2));
    drain(c);
    let failed = Completion { task: task.clone(), token: tok(1), outcome: Outcome::Failed("boom".into()) };
    c.beat_reply(Now::at(30), with_zone("z1", 2, beat("ex-1", 1, 3, vec![], vec![failed])));
    let out = drain(c);
    persist_all(c, 30, &out);
    (task, out)
}

#[test]
fn a_task_that_failed_in_a_zone_runs_next_in_another_zone() {
    let mut c = leader();
    let (task, out) = failed_in_z1(&mut c);
    assert_eq!(isolation_events(&out), vec![EventKind::ZoneAvoided { task: task.clone(), zone: "z1".into() }]);
    c.beat_reply(Now::at(40), idle("ex-2", 1, 1, "z2", 0)); // z2 is live, with no free slot yet
    c.beat_reply(Now::at(200), idle("ex-1", 1, 4, "z1", 2));
    assert!(drain(&mut c).is_empty(), "z1 passes over the task while z2 is live");
    c.beat_reply(Now::at(210), idle("ex-2", 1, 2, "z2", 2));
    let out = drain(&mut c);
    assert_eq!((writes(&out)[0].task().id.clone(), assigned_to(&out)), (task, vec!["ex-2".to_string()]));
}

#[test]
fn a_task_avoiding_a_zone_still_runs_there_when_no_other_zone_is_live() {
    let mut c = leader();
    let (task, _) = failed_in_z1(&mut c);
    c.beat_reply(Now::at(40), idle("ex-2", 1, 1, "z2", 0));
    c.beat_reply(Now::at(300), idle("ex-1", 1, 4, "z1", 2));
    assert!(drain(&mut c).is_empty(), "z2 is still live");
    c.tick(Now::at(341)); // ex-2 (z2) is declared dead
    drain(&mut c);
    c.beat_reply(Now::at(350), idle("ex-1", 1, 5, "z1", 2));
    let out = drain(&mut c);
    assert_eq!((writes(&out)[0].task().id.clone(), assigned_to(&out)), (task, vec!["ex-1".to_string()]));
}

#[test]
fn passed_over_tasks_keep_their_place_and_others_are_served() {
    let mut c = leader();
    let (avoider, _) = failed_in_z1(&mut c);
    c.submit(2, spec("other"));
    let out = drain(&mut c);
    persist_all(&mut c, 150, &out); // queued behind the retry, due by 130
    let other = writes(&out)[0].task().id.clone();
    c.beat_reply(Now::at(40), idle("ex-2", 1, 1, "z2", 0));
    c.beat_reply(Now::at(200), idle("ex-1", 1, 4, "z1", 2));
    let out = drain(&mut c);
    assert_eq!(writes(&out).iter().map(|w| w.task().id.clone()).collect::<Vec<_>>(), vec![other]);
    c.beat_reply(Now::at(210), idle("ex-2", 1, 2, "z2", 2));
    let out = drain(&mut c);
    assert_eq!(writes(&out).iter().map(|w| w.task().id.clone()).collect::<Vec<_>>(), vec![avoider]);
}

#[test]
fn a_beat_passes_over_at_most_max_skips_per_beat_tasks() {
    let isolation = IsolationConfig { max_skips_per_beat: 0, ..IsolationConfig::default() };
    let mut c = Coordinator::new(CoordinatorConfig { isolation, ..CoordinatorConfig::default() }, 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    failed_in_z1(&mut c);
    c.submit(2, spec("other"));
    let out = drain(&mut c);
    persist_all(&mut c, 150, &out);
    c.beat_reply(Now::at(40), idle("ex-2", 1, 1, "z2", 0));
    c.beat_reply(Now::at(200), idle("ex-1", 1, 4, "z1", 2));
    assert!(drain(&mut c).is_empty(), "the scan stops at the first task it may not take");
}

#[test]
fn an_attempt_lost_with_a_dead_executor_avoids_its_zone() {
    let mut c = leader();
    let task = submitted(&mut c, "k");
    c.beat_reply(Now::at(10), idle("ex-1", 1, 1, "z1", 2));
    let out = drain(&mut c);
    persist_all(&mut c, 10, &out);
    c.beat_reply(Now::at(20), idle("ex-1", 1, 2, "z1", 2));
    drain(&mut c);
    c.tick(Now::at(321));
    assert_eq!(
        drain(&mut c),
        vec![
            Output::Record(EventKind::ExecutorDead {
                executor: "ex-1".into(),
                incarnation: 1,
                reason: "missed 3 heartbeats".into(),
                tasks: 1
            }),
            Output::Record(EventKind::ZoneAvoided { task, zone: "z1".into() }),
        ]
    );
}

#[test]
fn a_zone_that_just_lost_an_executor_gets_no_work_while_another_zone_has_room() {
    let mut c = leader();
    c.beat_reply(Now::at(0), idle("ex-1", 1, 1, "z1", 2));
    c.beat_reply(Now::at(200), idle("ex-2", 1, 1, "z2", 2));
    c.beat_reply(Now::at(200), idle("ex-3", 1, 1, "z1", 2));
    c.tick(Now::at(301)); // ex-1 (z1) is declared dead: z1 counts as lost until 301 + 600
    drain(&mut c);
    let first = submitted(&mut c, "a");
    c.beat_reply(Now::at(350), idle("ex-3", 1, 2, "z1", 2));
    assert!(drain(&mut c).is_empty(), "z2 has a free slot");
    c.beat_reply(Now::at(360), idle("ex-2", 1, 2, "z2", 2));
    let out = drain(&mut c);
    assert_eq!((writes(&out)[0].task().id.clone(), assigned_to(&out)), (first, vec!["ex-2".to_string()]));
    c.beat_reply(Now::at(600), idle("ex-3", 1, 3, "z1", 2));
    c.beat_reply(Now::at(860), idle("ex-2", 1, 3, "z2", 2)); // one slot still free
    let second = submitted(&mut c, "b");
    c.beat_reply(Now::at(870), idle("ex-3", 1, 4, "z1", 2));
    assert!(drain(&mut c).is_empty(), "still within the window");
    c.beat_reply(Now::at(902), idle("ex-3", 1, 5, "z1", 2));
    let out = drain(&mut c);
    assert_eq!((writes(&out)[0].task().id.clone(), assigned_to(&out)), (second, vec!["ex-3".to_string()]));
}
