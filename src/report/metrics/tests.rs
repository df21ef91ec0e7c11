//! Metrics on crafted histories with answers worked out by hand (the comments show the
//! arithmetic). Every test pins exact numbers, so a wrong definition fails it.

use super::*;
use crate::trace::Verdict;
use faultline_model::fixtures::{ack, dead_lettered, ev, run_end, submit, succeeded};

fn dispatch_to(task: &str, executor: &str) -> EventKind {
    EventKind::Dispatch { task: task.into(), executor: executor.into(), incarnation: 1, epoch: 1, attempt: 1 }
}

fn fault(id: u64, kind: &str, phase: FaultPhase, target: &str) -> EventKind {
    EventKind::Fault { id, fault: kind.into(), phase, target: target.into(), detail: Default::default() }
}

fn begin(at_ms: u64, id: u64, kind: &str, target: &str) -> Event {
    ev(at_ms, "nemesis", fault(id, kind, FaultPhase::Begin, target))
}

fn end(at_ms: u64, id: u64, kind: &str, target: &str) -> Event {
    ev(at_ms, "nemesis", fault(id, kind, FaultPhase::End, target))
}

fn elected(at_ms: u64, node: &str, epoch: u64) -> Event {
    ev(at_ms, node, EventKind::LeaderElected { epoch })
}

fn executor_dead(at_ms: u64, executor: &str) -> Event {
    let kind = EventKind::ExecutorDead { executor: executor.into(), incarnation: 1, reason: "missed".into(), tasks: 1 };
    ev(at_ms, "coord-1", kind)
}

/// A task acknowledged and dispatched at `at_ms`, succeeded `run_ms` later.
fn task(leader: &str, at_ms: u64, executor: &str, run_ms: u64) -> Vec<Event> {
    let (key, id) = (format!("k{at_ms}"), format!("t{at_ms}"));
    vec![
        ev(at_ms, "client", submit(&key)),
        ev(at_ms, "client", ack(&key, &id)),
        ev(at_ms, leader, dispatch_to(&id, executor)),
        ev(at_ms + run_ms, leader, succeeded(&id)),
    ]
}

/// One task every `period_ms` in `[from_ms, to_ms)`, round robin over `executors`.
fn steady(leader: &str, from_ms: u64, to_ms: u64, period_ms: u64, executors: &[&str], run_ms: u64) -> Vec<Event> {
    (from_ms..to_ms)
        .step_by(period_ms as usize)
        .enumerate()
        .flat_map(|(i, at_ms)| task(leader, at_ms, executors[i % executors.len()], run_ms))
        .collect()
}

/// A task acknowledged at `at_ms` and left waiting.
fn waiting(at_ms: u64) -> Vec<Event> {
    let key = format!("k{at_ms}");
    vec![ev(at_ms, "client", submit(&key)), ev(at_ms, "client", ack(&key, &format!("w{at_ms}")))]
}

/// The parts merged into one history in time order (stable: equal times keep part order).
fn history(parts: Vec<Vec<Event>>) -> Vec<Event> {
    let mut events: Vec<Event> = parts.into_iter().flatten().collect();
    events.sort_by_key(|event| event.at_ms);
    events
}

fn recovery(
    (id, kind, target): (u64, &str, &str),
    (begin_ms, end_ms): (u64, Option<u64>),
    detection_ms: Option<u64>,
    failover_ms: Option<u64>,
    recovery_ms: Option<u64>,
) -> FaultRecovery {
    FaultRecovery {
        id,
        kind: kind.into(),
        target: target.into(),
        begin_ms,
        end_ms,
        detection_ms,
        failover_ms,
        recovery_ms,
        recovered: recovery_ms.is_some(),
        hit: match (target.contains("exec-"), target.contains("coord-")) {
            (true, true) => Hit::Both,
            (true, false) => Hit::Executors,
            (false, true) => Hit::Leader,
            (false, false) => Hit::Other,
        },
        executors_hit: target.split(',').filter(|n| n.starts_with("exec-")).count() as u64,
    }
}

/// Two executors share 10 tasks/s. exec-2 crashes at 5000 holding x for 3 s: exec-1 keeps
/// its 5/s, the other half of the arrivals wait, and after the restart they are worked off.
fn executor_crash_history() -> Vec<Event> {
    let mut outage = Vec::new();
    for at_ms in (5000..8000).step_by(100) {
        outage.extend(if at_ms % 200 == 0 { task("coord-1", at_ms, "exec-1", 150) } else { waiting(at_ms) });
    }
    let catch_up = (0..15u64).flat_map(|j| {
        let id = format!("w{}", 5100 + 200 * j);
        [ev(8000 + 10 * j, "coord-1", dispatch_to(&id, "exec-2")), ev(8150 + 10 * j, "coord-1", succeeded(&id))]
    });
    history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 0, 4900, 100, &["exec-1", "exec-2"], 150),
        vec![ev(4900, "client", submit("kx")), ev(4900, "client", ack("kx", "x"))],
        vec![ev(4900, "coord-1", dispatch_to("x", "exec-2")), begin(5000, 0, "crash", "exec-2")],
        outage,
        vec![executor_dead(5300, "exec-2"), ev(5350, "coord-1", dispatch_to("x", "exec-1"))],
        vec![ev(5500, "coord-1", succeeded("x")), end(8000, 0, "crash", "exec-2")],
        catch_up.collect(),
        steady("coord-1", 8000, 12000, 100, &["exec-1", "exec-2"], 150),
        vec![ev(12200, "harness", run_end(true))],
    ])
}

#[test]
fn executor_crash_detection_failover_and_recovery() {
    // Detection: ExecutorDead at 5300. Failover: x re-dispatched at 5350. Recovery: the
    // baseline is 50 dispatches in [0, 5000), so a 1 s window needs 9; the backlog at the
    // begin is 2 (x, t5000), so it must fall to 2 + 5 = 7. During the outage windows hold
    // at most 6 dispatches; after 8000 the 15 waiting tasks finish at 8150 + 10j, and at
    // 8240 the backlog is 5 waiting + t8100 + t8200 = 7 while [8240, 9240) holds 10.
    assert_eq!(
        fault_recoveries(&executor_crash_history()),
        vec![recovery((0, "crash", "exec-2"), (5000, Some(8000)), Some(300), Some(350), Some(3240))]
    );
}

#[test]
fn a_tighter_backlog_slack_delays_recovery() {
    // With no slack the backlog must be back to 2: at 8270 two waiting tasks (done at 8280
    // and 8290) and t8200 are open, 3; at 8280 only w5100+200*14 and t8200, 2.
    let config = RecoveryConfig { backlog_slack_tasks: 0, backlog_slack_percent: 0, ..RecoveryConfig::default() };
    let measured = fault_recoveries_with(&executor_crash_history(), &config);
    assert_eq!(measured[0].recovery_ms, Some(3280));
}

/// The leader coord-1 crashes at 5000; coord-2 is elected at 6500 and serves from 6600.
fn leader_crash_history() -> Vec<Event> {
    history(vec![
        vec![elected(0, "coord-1", 1), elected(10, "coord-2", 0), ev(11, "coord-2", lost(0))],
        steady("coord-1", 0, 5000, 100, &["exec-1"], 50),
        vec![begin(5000, 3, "crash", "coord-1"), elected(6500, "coord-2", 2), end(7000, 3, "crash", "coord-1")],
        steady("coord-2", 6600, 10000, 100, &["exec-1"], 50),
        vec![ev(10100, "harness", run_end(true))],
    ])
}

fn lost(epoch: u64) -> EventKind {
    EventKind::LeaderLost { epoch, reason: "lease expired".into() }
}

#[test]
fn leader_crash_detection_and_failover() {
    // coord-2's epoch 0 ended before the crash, so coord-1 (epoch 1) led at 5000.
    // Detection: coord-2 elected at 6500. Failover: its first dispatch at 6600. Recovery:
    // [6600, 7600) holds 10 >= 9 dispatches and the backlog is 1 <= 0 + 5.
    assert_eq!(
        fault_recoveries(&leader_crash_history()),
        vec![recovery((3, "crash", "coord-1"), (5000, Some(7000)), Some(1500), Some(1600), Some(1600))]
    );
    assert_eq!(
        leader_epochs(&leader_crash_history()),
        vec![(0, 1, "coord-1".to_string()), (10, 0, "coord-2".to_string()), (6500, 2, "coord-2".to_string())]
    );
}

#[test]
fn a_paused_leader_is_detected_by_its_own_leader_lost() {
    let h = history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 0, 5000, 100, &["exec-1"], 50),
        vec![begin(5000, 1, "pause", "coord-1"), ev(5800, "coord-1", lost(1)), end(6000, 1, "pause", "coord-1")],
        vec![elected(6200, "coord-2", 2)],
        steady("coord-2", 6300, 9000, 100, &["exec-1"], 50),
    ]);
    // LeaderLost at 5800 comes before coord-2's election; coord-2 dispatches from 6300.
    assert_eq!(
        fault_recoveries(&h),
        vec![recovery((1, "pause", "coord-1"), (5000, Some(6000)), Some(800), Some(1300), Some(1300))]
    );
}

#[test]
fn a_coordinator_that_already_stepped_down_is_not_the_leader_hit() {
    // coord-1 lost epoch 1 at 4000 and nobody leads at 5000: coord-2's election at 6000 is
    // not a detection of the fault on coord-1, nor its dispatches a failover.
    let h = history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 0, 4000, 100, &["exec-1"], 50),
        vec![ev(4000, "coord-1", lost(1)), begin(5000, 0, "isolate", "coord-1"), elected(6000, "coord-2", 2)],
        steady("coord-2", 6000, 9000, 100, &["exec-1"], 50),
    ]);
    assert_eq!(fault_recoveries(&h)[0].detection_ms, None);
    assert_eq!(fault_recoveries(&h)[0].failover_ms, None);
}

#[test]
fn a_fault_that_caused_nothing_recovers_at_once() {
    // A standby crash and an idle executor's pause: no detection, no failover, throughput
    // never dropped ([5000, 6000) holds 10 dispatches), so recovery is 0. The later leader
    // change is not the standby's doing (it never led).
    let h = history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 0, 10000, 100, &["exec-1", "exec-2"], 150),
        vec![begin(5000, 0, "crash", "coord-2"), begin(5000, 1, "pause", "exec-3")],
        vec![end(6000, 0, "crash", "coord-2"), elected(9000, "coord-3", 2)],
    ]);
    assert_eq!(
        fault_recoveries(&h),
        vec![
            // Neither hit the leader or an executor that ever ran work.
            FaultRecovery {
                hit: Hit::Other,
                ..recovery((0, "crash", "coord-2"), (5000, Some(6000)), None, None, Some(0))
            },
            FaultRecovery {
                hit: Hit::Other,
                executors_hit: 0,
                ..recovery((1, "pause", "exec-3"), (5000, None), None, None, Some(0))
            },
        ]
    );
}

fn never_recovered_history() -> Vec<Event> {
    // The only executor crashes for good at 5000 holding t4900; arrivals keep coming.
    history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 0, 4900, 100, &["exec-1"], 50),
        vec![ev(4900, "client", submit("k4900")), ev(4900, "client", ack("k4900", "t4900"))],
        vec![ev(4900, "coord-1", dispatch_to("t4900", "exec-1")), begin(5000, 0, "crash", "exec-1")],
        (5000..8000).step_by(100).flat_map(waiting).collect(),
        vec![executor_dead(5300, "exec-1"), ev(10000, "harness", run_end(false))],
    ])
}

#[test]
fn a_run_that_never_recovered_says_so() {
    // Detected at 5300, but t4900 is never re-dispatched and nothing is dispatched again.
    let measured = fault_recoveries(&never_recovered_history());
    assert_eq!(measured, vec![recovery((0, "crash", "exec-1"), (5000, None), Some(300), None, None)]);
    assert!(!measured[0].recovered);
}

#[test]
fn overlapping_faults_are_each_measured_from_their_own_begin() {
    // exec-3 carries the steady load; exec-1 and exec-2 each hold one long task when they
    // crash, 5000-7000 and 5200-6500. exec-2's death (5500) comes first, yet each firing
    // sees only its own executor's death and its own task's re-dispatch. Recovery waits
    // for that failover: both baselines are 52 dispatches over 5 s (10 needed a second),
    // and [5610, 6610) and [5520, 6520) hold 10 and 11.
    let h = history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 0, 10000, 100, &["exec-3"], 50),
        vec![ev(4000, "client", ack("ka", "a")), ev(4000, "coord-1", dispatch_to("a", "exec-1"))],
        vec![ev(4000, "client", ack("kb", "b")), ev(4000, "coord-1", dispatch_to("b", "exec-2"))],
        vec![begin(5000, 0, "crash", "exec-1"), executor_dead(5600, "exec-1")],
        vec![ev(5610, "coord-1", dispatch_to("a", "exec-3")), ev(5700, "coord-1", succeeded("a"))],
        vec![begin(5200, 1, "crash", "exec-2"), executor_dead(5500, "exec-2")],
        vec![ev(5520, "coord-1", dispatch_to("b", "exec-3")), ev(5600, "coord-1", succeeded("b"))],
        vec![end(6500, 1, "crash", "exec-2"), end(7000, 0, "crash", "exec-1")],
    ]);
    assert_eq!(
        fault_recoveries(&h),
        vec![
            recovery((0, "crash", "exec-1"), (5000, Some(7000)), Some(600), Some(610), Some(610)),
            recovery((1, "crash", "exec-2"), (5200, Some(6500)), Some(300), Some(320), Some(320)),
        ]
    );
}

#[test]
fn only_attempts_still_held_at_the_begin_count_for_failover() {
    // y failed (Retry) and w's holder died before the fault: their re-dispatches after the
    // begin are not failovers. z, held at 1000, moves at 1400.
    let h = history(vec![
        vec![elected(0, "coord-1", 1)],
        vec![ev(100, "client", ack("ky", "y")), ev(100, "coord-1", dispatch_to("y", "exec-1"))],
        vec![ev(
            200,
            "coord-1",
            EventKind::Retry { task: "y".into(), failures: 1, backoff_ms: 900, reason: "x".into() },
        )],
        vec![ev(300, "client", ack("kw", "w")), ev(300, "coord-1", dispatch_to("w", "exec-1"))],
        vec![executor_dead(500, "exec-1")],
        vec![ev(600, "client", ack("kz", "z")), ev(600, "coord-1", dispatch_to("z", "exec-1"))],
        vec![begin(1000, 0, "crash", "exec-1"), ev(1100, "coord-1", dispatch_to("y", "exec-2"))],
        vec![ev(1200, "coord-1", dispatch_to("w", "exec-2")), executor_dead(1300, "exec-1")],
        vec![ev(1400, "coord-1", dispatch_to("z", "exec-2"))],
    ]);
    let measured = &fault_recoveries(&h)[0];
    assert_eq!((measured.detection_ms, measured.failover_ms), (Some(300), Some(400)));
}

fn repeated_firings_history() -> Vec<Event> {
    // Fault 7 crashes idle exec-1 three times; only the first and third are detected. A
    // fourth firing never fired (an End without a Begin).
    history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 0, 10000, 100, &["exec-2"], 50),
        vec![begin(2000, 7, "crash", "exec-1"), executor_dead(2300, "exec-1"), end(2500, 7, "crash", "exec-1")],
        vec![begin(4000, 7, "crash", "exec-1"), end(4500, 7, "crash", "exec-1")],
        vec![begin(6000, 7, "crash", "exec-1"), executor_dead(6300, "exec-1"), end(6500, 7, "crash", "exec-1")],
        vec![end(9000, 7, "crash", "executor")],
    ])
}

#[test]
fn repeated_firings_of_one_fault_are_paired_in_order() {
    let span = |begin_ms, end_ms| FaultSpan {
        id: 7,
        kind: "crash".into(),
        target: "exec-1".into(),
        begin_ms,
        end_ms: Some(end_ms),
    };
    let h = repeated_firings_history();
    assert_eq!(fault_spans(&h), vec![span(2000, 2500), span(4000, 4500), span(6000, 6500)]);
    // The second firing's signals stop where the third begins: the death at 6300 is not
    // its detection. Recovery is never before detection: 300, 0, 300.
    assert_eq!(
        fault_recoveries(&h),
        vec![
            recovery((7, "crash", "exec-1"), (2000, Some(2500)), Some(300), None, Some(300)),
            recovery((7, "crash", "exec-1"), (4000, Some(4500)), None, None, Some(0)),
            recovery((7, "crash", "exec-1"), (6000, Some(6500)), Some(300), None, Some(300)),
        ]
    );
}

#[test]
fn a_later_fault_that_can_move_leadership_takes_over_the_signals() {
    // exec-1's fault ends at 2500 undetected; exec-1 is declared dead at 3500. After a
    // later fault on exec-3 that death is still the first fault's detection; after a
    // store crash (which can elect a new leader, who may declare anyone dead) it is not.
    let with_second = |kind: &str, target: &str| {
        history(vec![
            vec![elected(0, "coord-1", 1)],
            steady("coord-1", 0, 10000, 100, &["exec-2"], 50),
            vec![begin(2000, 0, "drop_request", "exec-1"), end(2500, 0, "drop_request", "exec-1")],
            vec![begin(3000, 1, kind, target), end(3200, 1, kind, target), executor_dead(3500, "exec-1")],
        ])
    };
    let first = |h: &[Event]| {
        let r = &fault_recoveries(h)[0];
        (r.detection_ms, r.recovery_ms)
    };
    assert_eq!(first(&with_second("pause", "exec-3")), (Some(1500), Some(1500)));
    assert_eq!(first(&with_second("crash", "store")), (None, Some(0)));
}

#[test]
fn a_fault_after_the_workload_takes_its_baseline_from_the_last_work() {
    let h = history(vec![
        vec![elected(0, "coord-1", 1)],
        steady("coord-1", 1000, 10000, 100, &["exec-1"], 50),
        vec![begin(20000, 0, "pause", "exec-1"), end(21000, 0, "pause", "exec-1")],
    ]);
    // No dispatch in [15000, 20000): the baseline is the 5 s up to just after the last
    // dispatch (9900), i.e. [4901, 9901), 50 dispatches. Nothing is pending, so the fault
    // recovers at once.
    assert_eq!(baseline(&Load::of(&h), 20000, &RecoveryConfig::default()), (50, 5000));
    // A fault 300 ms into the work: the baseline starts at the first dispatch.
    assert_eq!(baseline(&Load::of(&h), 1300, &RecoveryConfig::default()), (3, 300));
    assert_eq!(baseline(&Load::of(&h), 1000, &RecoveryConfig::default()), (0, 0));
    assert_eq!(fault_recoveries(&h)[0].recovery_ms, Some(0));
}

#[test]
fn unavailability_windows_are_quiet_spans_with_pending_work() {
    let h = vec![
        ev(0, "client", ack("k1", "t1")),
        ev(10, "coord-1", dispatch_to("t1", "exec-1")),
        ev(100, "client", ack("k2", "t2")),
        ev(600, "coord-1", dispatch_to("t2", "exec-1")),
        ev(700, "coord-1", succeeded("t1")),
        ev(800, "coord-1", succeeded("t2")),
        ev(1000, "client", ack("k3", "t3")),
        ev(1200, "coord-1", dispatch_to("t3", "exec-1")),
        ev(1300, "coord-1", EventKind::Recovered { task: "t3".into(), state: "succeeded".into(), reason: None }),
        ev(2000, "client", ack("k4", "t4")),
        ev(2500, "harness", run_end(false)),
    ];
    let all = vec![(0, 10), (10, 600), (600, 800), (1000, 1200), (1200, 1300), (2000, 2500)];
    assert_eq!(unavailability_windows(&h, 0), all);
    assert_eq!(unavailability_windows(&h, 200), vec![(10, 600), (600, 800), (1000, 1200), (2000, 2500)]);
    assert_eq!(unavailability_windows(&h, 300), vec![(10, 600), (2000, 2500)]);
}

#[test]
fn percentiles_use_the_nearest_rank() {
    let p = |count, p50, p90, p99, max| Percentiles { count, p50, p90, p99, max };
    assert_eq!(percentiles(&[]), p(0, 0, 0, 0, 0));
    assert_eq!(percentiles(&[7]), p(1, 7, 7, 7, 7));
    // Ranks ceil(0.5 * 2) = 1 and ceil(0.9 * 2) = 2: no interpolation (that would say 15).
    assert_eq!(percentiles(&[20, 10]), p(2, 10, 20, 20, 20));
    assert_eq!(percentiles(&[3, 1, 4, 10, 5, 9, 2, 6, 8, 7]), p(10, 5, 9, 10, 10));
    let hundred: Vec<u64> = (1..=100).rev().collect();
    assert_eq!(percentiles(&hundred), p(100, 50, 90, 99, 100));
}

#[test]
fn submit_to_success_latency_and_retries_per_run() {
    let retry = EventKind::Retry { task: "t3".into(), failures: 1, backoff_ms: 10, reason: "failed".into() };
    let h = vec![
        ev(0, "client", submit("k1")),
        ev(10, "client", submit("k2")),
        ev(20, "client", submit("k3")),
        ev(20, "client", ack("k1", "t1")),
        ev(25, "client", ack("k2", "t2")),
        ev(26, "client", ack("k3", "t3")),
        ev(30, "client", submit("k4")),
        ev(35, "client", ack("k4", "t4")),
        ev(40, "client", submit("k5")),
        ev(40, "coord-1", succeeded("t2")),
        ev(41, "sink", faultline_model::fixtures::apply("t2", "exec-1", 1, 1, Verdict::Accepted)),
        ev(42, "sink", faultline_model::fixtures::apply("t2", "exec-2", 1, 2, Verdict::Accepted)),
        ev(43, "sink", faultline_model::fixtures::apply("t1", "exec-2", 1, 1, Verdict::Stale)),
        ev(50, "client", submit("k1")),
        ev(60, "coord-1", retry.clone()),
        ev(70, "coord-1", retry),
        ev(80, "coord-1", dead_lettered("t3", "retries exhausted")),
        ev(90, "coord-2", EventKind::Recovered { task: "t4".into(), state: "succeeded".into(), reason: None }),
        ev(120, "coord-2", succeeded("t1")),
        ev(130, "coord-2", succeeded("t1")),
    ];
    // Latency: t1 120 - 0 (the first submit of k1), t2 40 - 10; t3 dead-lettered and t4
    // only recovered have no success time.
    let latency = Percentiles { count: 2, p50: 30, p90: 120, p99: 120, max: 120 };
    assert_eq!(percentiles(&latencies_ms(&h)), latency);
    assert_eq!(retries(&h), 2);
}

#[test]
fn timeline_buckets_count_dispatches_first_completions_and_end_backlog() {
    // t1's Recovered is not a second completion; t9 finished before its (late) Ack, so it
    // never enters the backlog.
    let h = vec![
        ev(0, "client", ack("k1", "t1")),
        ev(10, "coord-1", dispatch_to("t1", "exec-1")),
        ev(50, "client", ack("k2", "t2")),
        ev(120, "coord-1", dispatch_to("t2", "exec-1")),
        ev(150, "coord-1", succeeded("t1")),
        ev(180, "coord-2", EventKind::Recovered { task: "t1".into(), state: "succeeded".into(), reason: None }),
        ev(250, "coord-1", succeeded("t2")),
        ev(310, "client", ack("k3", "t3")),
        ev(320, "coord-1", succeeded("t9")),
        ev(330, "client", ack("k9", "t9")),
        ev(399, "coord-1", dispatch_to("t3", "exec-1")),
    ];
    let point = |t_ms, dispatches, completions, backlog| TimelinePoint { t_ms, dispatches, completions, backlog };
    assert_eq!(
        throughput_timeline(&h, 100),
        vec![point(0, 1, 0, 2), point(100, 1, 1, 1), point(200, 0, 1, 0), point(300, 1, 1, 1)]
    );
    assert_eq!(throughput_timeline(&h, 1000), vec![point(0, 3, 3, 1)]);
    assert_eq!(throughput_timeline(&[], 100), vec![]);
    // Real-mode stamps are UNIX ms: the timeline starts at the first event's bucket.
    let late = vec![
        ev(1_700_000_000_050, "client", ack("k1", "t1")),
        ev(1_700_000_000_120, "coord-1", dispatch_to("t1", "e")),
    ];
    let from = 1_700_000_000_000;
    assert_eq!(throughput_timeline(&late, 100), vec![point(from, 0, 0, 1), point(from + 100, 1, 0, 1)]);
}

#[test]
fn by_kind_counts_never_recovered_and_takes_percentiles_of_what_was_seen() {
    let crash = |detection, failover, recovered| {
        recovery((0, "crash", "exec-1"), (0, Some(1)), Some(detection), failover, recovered)
    };
    let pause = recovery((1, "pause", "coord-1"), (0, None), None, None, Some(0));
    let runs = vec![
        vec![crash(300, Some(350), Some(900)), pause.clone()],
        vec![crash(250, None, None), crash(400, Some(420), Some(700))],
    ];
    let kinds = by_kind(&runs);
    let p = |count, p50, p90, max| Percentiles { count, p50, p90, p99: max, max };
    assert_eq!(
        kinds["crash (executors)"],
        KindRecovery {
            kind: "crash".into(),
            hit: Hit::Executors,
            executors_hit: 1,
            count: 3,
            recovered: 2,
            never_recovered: 1,
            detection: p(3, 300, 400, 400),
            failover: p(2, 350, 420, 420),
            recovery: p(2, 700, 900, 900),
        }
    );
    let pause = &kinds["pause (leader)"];
    assert_eq!((pause.count, pause.recovered, pause.recovery.max), (1, 1, 0));
    assert_eq!(pause.detection, p(0, 0, 0, 0));
    assert_eq!(kinds.len(), 2);
}

#[test]
fn only_faults_that_silence_nodes_are_classed_by_what_they_hit() {
    let crash = executor_crash_history();
    assert_eq!(fault_recoveries(&crash)[0].hit, Hit::Executors);
    let task_fail: Vec<Event> = crash
        .into_iter()
        .map(|mut e| {
            if let EventKind::Fault { fault, .. } = &mut e.kind {
                *fault = "task_fail".into();
            }
            e
        })
        .collect();
    assert_eq!(fault_recoveries(&task_fail)[0].hit, Hit::Other, "a task fault's timing is retry backoff");
}
