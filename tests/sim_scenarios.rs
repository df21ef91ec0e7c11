//! Simulation tests on fixed seeds: the checked-in scenarios pass, their faults fire and
//! leave the trace they must (a leader change, a re-dispatch), and a seed is deterministic.
#![cfg(madsim)]

use faultline::scenario::Scenario;
use faultline::sim::{run_seed, RunOutcome};
use faultline::trace::{EventKind, FaultPhase};
use std::path::Path;

fn run(path: &str, seed: u64) -> RunOutcome {
    let scenario = Scenario::load(Path::new(path)).expect("scenario parses");
    let outcome = run_seed(&scenario, seed);
    assert!(outcome.passed(), "{path} seed {seed}: {:?} {:#?}", outcome.panic, outcome.check.violations);
    outcome
}

fn fault_begins(o: &RunOutcome) -> Vec<(u64, String)> {
    o.history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Fault { phase: FaultPhase::Begin, target, .. } => Some((e.at_ms, target.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn smoke_three_coordinators_elect_one_leader_and_finish_everything() {
    let o = run("scenarios/smoke/three-coordinators-1k.toml", 1);
    let c = &o.check.counts;
    assert_eq!((c.acked, c.succeeded + c.dead_lettered, c.lost, c.duplicate_applies), (1000, 1000, 0, 0));
    assert_eq!(c.leader_changes, 1);
}

#[test]
fn leader_crash_hands_over_to_a_standby_with_a_higher_epoch() {
    let o = run("scenarios/failover/leader-crash.toml", 2);
    let faults = fault_begins(&o);
    assert_eq!(faults.len(), 1, "the crash fired");
    let (crash_at, victim) = faults[0].clone();
    let elections: Vec<(u64, &str, u64)> = o
        .history
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::LeaderElected { epoch } => Some((e.at_ms, e.node.as_str(), epoch)),
            _ => None,
        })
        .collect();
    assert_eq!(elections[0].1, victim, "the leader was the one crashed");
    let (at, node, epoch) = *elections.iter().find(|(at, _, _)| *at > crash_at).expect("a new leader after the crash");
    assert_ne!(node, victim);
    assert!(epoch > elections[0].2);
    assert!(at - crash_at < 5_000, "took over within the lease bound: {} ms", at - crash_at);
    let dispatched_by_new =
        o.history.iter().any(|e| matches!(e.kind, EventKind::Dispatch { epoch: ep, .. } if ep == epoch));
    assert!(dispatched_by_new, "the new leader dispatches");
}

#[test]
fn executor_crash_is_detected_and_its_tasks_redispatched() {
    let o = run("scenarios/failover/executor-crash.toml", 3);
    let (crash_at, victim) = fault_begins(&o)[0].clone();
    let dead = o
        .history
        .iter()
        .find(|e| matches!(&e.kind, EventKind::ExecutorDead { executor, .. } if *executor == victim))
        .expect("the crashed executor is declared dead");
    assert!(
        dead.at_ms > crash_at && dead.at_ms - crash_at <= 300 + 200,
        "detected within k*h plus a tick: {} ms",
        dead.at_ms - crash_at
    );
    let EventKind::ExecutorDead { tasks, .. } = dead.kind else { unreachable!() };
    assert!(tasks > 0, "it held tasks when it died");
    let redispatched = o.history.iter().any(|e| {
        e.at_ms >= dead.at_ms
            && matches!(&e.kind, EventKind::Dispatch { executor, attempt, .. } if *executor != victim && *attempt > 1)
    });
    assert!(redispatched, "its tasks went to another executor");
}

#[test]
fn store_crash_loses_no_acknowledged_write() {
    let o = run("scenarios/failover/store-crash.toml", 4);
    assert_eq!(fault_begins(&o).len(), 1);
    assert_eq!(o.check.counts.acked, 2000);
}

#[test]
fn a_seed_replays_bit_for_bit() {
    let scenario = Scenario::load(Path::new("scenarios/failover/leader-crash.toml")).unwrap();
    let a = run_seed(&scenario, 11);
    let b = run_seed(&scenario, 11);
    assert_eq!(a.history.len(), b.history.len());
    assert_eq!(a.hash, b.hash);
    let c = run_seed(&scenario, 12);
    assert_ne!(a.hash, c.hash, "different seeds explore different runs");
}

#[test]
fn a_finished_run_frees_its_nodes() {
    let o = run("scenarios/smoke/one-coordinator-1k.toml", 5);
    assert!(!o.leaked, "the nodes outlived the runtime: memory grows with every seed");
}

/// Regressions: seeds that once failed, named after the bug they found.
mod regressions {
    use super::run;

    /// The leader told an executor a completion was recorded before the write was durable,
    /// then crashed: the outcome was lost and the task stayed assigned (lost_task).
    #[test]
    fn completion_acknowledged_before_durable_then_leader_crash() {
        run("scenarios/failover/leader-crash.toml", 1);
    }

    /// A key resubmitted after failover while its task had a write in flight joined a waiter
    /// list only a create write serves: the submit was never answered (unacknowledged).
    #[test]
    fn resubmit_during_a_write_after_failover_is_answered() {
        let o = run("scenarios/failover/leader-crash.toml", 4);
        assert!(o.sim_ms < 60_000, "the workload phase ended on time: {} ms", o.sim_ms);
    }

    /// Simulator bug found by the swarm (seed 802): the store's second crash spawned its
    /// dump through the node handle of its first life, so the dump was cancelled and the
    /// nemesis panicked. The run now keeps its history up to a panic, too.
    #[test]
    fn the_store_crashes_twice_in_one_run() {
        let o = run("scenarios/chaos/swarm.toml", 802);
        let store_crashes = o
            .history
            .iter()
            .filter(|e| {
                matches!(&e.kind, faultline::trace::EventKind::Fault { fault, phase: faultline::trace::FaultPhase::Begin, target, .. }
                    if fault == "crash" && target == "store")
            })
            .count();
        assert_eq!(store_crashes, 2);
        run("scenarios/faults/crash-store-twice.toml", 1);
    }

    /// Swarm seed 3920: the simulated etcd (madsim-etcd-client 0.7.0) dropped an election
    /// campaign's waiter when 5 election events queued up before it ran, and the store node
    /// panicked ("sender should not drop"). Patched in third_party/madsim-etcd-client.
    #[test]
    fn a_campaign_behind_five_election_events_keeps_waiting() {
        run("scenarios/chaos/swarm.toml", 3920);
    }

    /// Deep-seed failures of commit cc5672f, each kept at its own seed: the original swarm
    /// seeds and the shrunk reproduction files in scenarios/regressions/ (saved and shrunk
    /// by that build; their trace hashes are that build's).
    #[test]
    fn a_campaign_won_on_a_lapsed_lease_never_takes_office() {
        run("scenarios/chaos/swarm.toml", 106_233);
        run("scenarios/chaos/swarm.toml", 115_456);
        run("scenarios/regressions/elected-on-lapsed-lease-a.toml", 106_233);
        run("scenarios/regressions/elected-on-lapsed-lease-b.toml", 5);
    }

    #[test]
    fn a_skip_is_judged_by_its_deciders_clock() {
        run("scenarios/chaos/schedules-swarm.toml", 100_522);
        run("scenarios/regressions/skip-decided-by-a-fast-clock.toml", 100_522);
    }

    #[test]
    fn a_job_command_that_landed_unconfirmed_is_recorded_by_the_next_leader() {
        run("scenarios/chaos/schedules-swarm.toml", 101_303);
        run("scenarios/regressions/pause-landed-unrecorded.toml", 101_303);
    }

    /// Schedules swarm seed 1241: an executor the leader had declared dead across a bridge
    /// crashed inside the cut; the bridge was recorded as hitting the bridge node only, so
    /// the detection checker judged the crash and called it undetected.
    #[test]
    fn a_bridge_hits_both_halves() {
        run("scenarios/chaos/schedules-swarm.toml", 1241);
        run("scenarios/regressions/bridge-hits-both-halves.toml", 1);
    }

    /// Swarm seed 3458 (10,000-seed rerun on the uncapped transport): the leader crashed
    /// and restarted, and an executor crashed while no leader was elected yet; the detection
    /// checker took the crashed leader as still in office and called the crash detected late.
    #[test]
    fn a_crashed_leader_is_out_of_office() {
        run("scenarios/chaos/swarm.toml", 3458);
        run("scenarios/regressions/leader-crash-ends-its-term.toml", 1);
    }

    /// Fault-handling bugs seen on real processes (issue 13), each a scenario with a bound
    /// on false verdicts that failed before its fix.
    #[test]
    fn healthy_executors_survive_a_paused_leader() {
        for seed in 1..=20 {
            let o = run("scenarios/regressions/paused-leader-false-deaths.toml", seed);
            assert_eq!(o.check.counts.false_verdicts.false_deaths, 0, "seed {seed}");
        }
    }

    /// Schedules swarm seed 202040: a lost load reply held the election for 10 s.
    #[test]
    fn a_new_leader_retries_a_load_whose_reply_was_lost() {
        for seed in 1..=10 {
            run("scenarios/regressions/new-leader-load-reply-lost.toml", seed);
        }
    }

    /// Swarm seed 519544 (a fresh range, 500001..540000): the store crashed while a txn it
    /// had received was held by its request delay; the txn was applied after the crash
    /// dump, and its reply, held by the cut link, reached the leader once the store had
    /// restarted from that dump without it. The next leader loaded the task as never
    /// assigned and ran its success again (rerun_after_success).
    #[test]
    fn a_store_crash_loses_no_acknowledged_write() {
        run("scenarios/chaos/swarm.toml", 519_544);
        run("scenarios/regressions/store-acked-after-its-dump.toml", 519_544);
    }

    /// Swarm seeds 621712 and 624249 (a fresh range, 600001..640000): an executor restarted
    /// and its old incarnation's tasks were taken back in memory only (a take-back is never
    /// written); the store held tasks of both incarnations when the leader changed, and the
    /// next leader kept the incarnation of whichever record came first in key order,
    /// queueing the live incarnation's running tasks again (`rerun_after_success`). Also
    /// `faultline_core`'s `a_new_leader_keeps_the_tasks_of_the_incarnation_that_beats`.
    #[test]
    fn a_new_leader_keeps_a_restarted_executors_live_tasks() {
        run("scenarios/chaos/swarm.toml", 621_712);
        run("scenarios/chaos/swarm.toml", 624_249);
    }

    #[test]
    fn a_deposed_leader_keeps_its_next_term() {
        for seed in 1..=20 {
            run("scenarios/regressions/deposed-leader-resigns-next-term.toml", seed);
        }
    }
}

/// The known-bug scenarios: each catches its bug (the expected violation shows within a
/// few seeds), and the same scenario with the bug switched off passes on the seed that
/// caught it, so the catch is the bug's doing and not the faults'.
mod known_bugs {
    use super::*;
    use faultline::bugs::CATALOG;

    #[test]
    fn every_catalog_entry_has_a_targeted_scenario_that_catches_it_only_with_the_bug_on() {
        for entry in CATALOG {
            let path = format!("scenarios/bugs/{}.toml", entry.bug.name().replace('_', "-"));
            let scenario = Scenario::load(Path::new(&path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_eq!(scenario.bugs, vec![entry.bug], "{path} switches on its own entry only");
            let expect = scenario.expect.unwrap_or_else(|| panic!("{path} declares what it expects"));
            assert_eq!(expect.name(), entry.expect, "{path} expects what the catalog says");
            let caught = (1..=10)
                .find(|seed| run_seed(&scenario, *seed).check.violations.iter().any(|v| v.kind == expect))
                .unwrap_or_else(|| panic!("{path}: {} not caught in 10 seeds", expect.name()));
            let correct = Scenario { bugs: vec![], expect: None, ..scenario.clone() };
            let o = run_seed(&correct, caught);
            assert!(o.passed(), "{path} without its bug fails seed {caught}: {:#?}", o.check.violations);
        }
    }
}

/// Reproduction files, replay and shrink, on a known bug in the generic swarm.
mod reproduce_and_shrink {
    use super::*;
    use faultline::bugs::Bug;
    use faultline::sim::{repro, shrink};

    /// The swarm with `requeue_running_only` on: seed 3 loses tasks.
    fn buggy_swarm() -> (std::path::PathBuf, String) {
        let path = Path::new("scenarios/chaos/swarm.toml");
        let text = std::fs::read_to_string(path).unwrap();
        (path.to_path_buf(), format!("bugs = [\"requeue_running_only\"]\n{text}"))
    }

    #[test]
    fn a_saved_failure_replays_to_the_identical_trace_hash() {
        let (path, text) = buggy_swarm();
        let scenario = Scenario::parse(&path, &text).unwrap();
        let failed = run_seed(&scenario, 3);
        assert!(!failed.passed(), "seed 3 shows the bug");
        let dir = std::env::temp_dir().join(format!("faultline-repro-{}", std::process::id()));
        let record = repro::reproduce_of(&path, &failed).expect("a failed run has a record");
        let file = repro::write_failure(&dir, &path, &text, &record).unwrap();
        let loaded = Scenario::load(&file).unwrap();
        let recorded = loaded.reproduce.clone().expect("a [reproduce] table");
        assert_eq!((recorded.seed, recorded.violation.as_str()), (3, "lost_task"));
        let again = run_seed(&loaded, recorded.seed);
        assert_eq!(format!("{:016x}", again.hash), recorded.trace_hash, "replay gives the failing run's trace");
        assert_eq!(again.history, failed.history);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn shrinking_keeps_the_failure_and_makes_it_smaller() {
        let (path, text) = buggy_swarm();
        let scenario = Scenario::parse(&path, &text).unwrap();
        let shrunk = shrink::shrink(&path, &scenario, 3, "lost_task", &mut |_| {}).expect("seed 3 fails");
        let (b, a) = (&shrunk.before, &shrunk.after);
        // Nothing grows, fewer faults remain, and the workload or the cluster gets smaller:
        // which of the two depends on the seed's timing (on the uncapped transport seed 3
        // needed all 1,000 tasks and lost nodes; with timer-delivered messages it keeps its
        // 12 nodes and needs 250 tasks).
        assert!(a.faults <= b.faults && a.tasks <= b.tasks && a.nodes <= b.nodes, "before {b}, after {a}");
        assert!(a.faults < b.faults && (a.tasks < b.tasks || a.nodes < b.nodes), "before {b}, after {a}");
        assert!(shrunk.scenario.swarm.is_none(), "the swarm's draw became an explicit fault list");
        assert!(a.sim_s < b.sim_s / 2.0, "the workload window and drain were cut: before {b}, after {a}");
        // The file says what it is and writes only what differs from the defaults.
        assert!(shrunk.text.contains("shrunk by faultline shrink: lost_task on seed"), "{}", shrunk.text);
        for default in ["[retry]", "heartbeat_interval_ms", "[isolation]", "[store"] {
            assert!(!shrunk.text.contains(default), "{default} is a default: {}", shrunk.text);
        }
        // The minimal file fails on its own, with the same violation, and only with the bug.
        let minimal = Scenario::parse(&path, &shrunk.text).unwrap();
        let o = run_seed(&minimal, shrunk.seed);
        assert!(o.check.violations.iter().any(|v| v.kind.name() == "lost_task"));
        assert_eq!(minimal.bugs, vec![Bug::RequeueRunningOnly]);
        let correct = Scenario { bugs: vec![], ..minimal };
        assert!(run_seed(&correct, shrunk.seed).passed());
    }
}

#[test]
fn the_seed_loop_gives_the_same_results_on_any_number_of_threads_and_stops_at_the_first_stop() {
    use faultline::sim::{run_seeds, SeedPlan};
    let mut scenario = Scenario::load(Path::new("scenarios/smoke/one-coordinator-1k.toml")).expect("scenario parses");
    scenario.workload.tasks = 50;
    let plan = SeedPlan { first: 5, stride: 2, count: 4 };
    let hashes = |jobs| run_seeds(&scenario, plan, jobs, None, |o| (o.hash, false));
    let one = hashes(1);
    assert_eq!(one.iter().map(|(seed, _)| *seed).collect::<Vec<_>>(), vec![5, 7, 9, 11]);
    assert_eq!(hashes(2), one, "two threads, the same seeds and histories");
    let stopped = run_seeds(&scenario, plan, 2, None, |o| (o.seed, o.seed == 7));
    assert_eq!(stopped, vec![(5, 5), (7, 7)], "nothing past the first stop is kept");
}

/// A job that never comes due in the run fails it, as a fault that never fires does: the
/// scenario would otherwise pass having tested nothing (issue: "jobs that never fire").
#[test]
fn a_job_that_never_comes_due_fails_the_run() {
    let text = "[workload]\ntasks = 10\n[schedule]\nrun_s = 10\n\
                [[jobs]]\nname = \"yearly\"\ncron = \"0 0 1 1 *\"\n\
                [[jobs]]\nname = \"every-second\"\nevery_ms = 1000\n";
    let scenario = Scenario::parse(Path::new("yearly.toml"), text).unwrap();
    let o = run_seed(&scenario, 1);
    let kinds: Vec<(&str, &str)> = o.check.violations.iter().map(|v| (v.kind.name(), v.subject.as_str())).collect();
    assert_eq!(kinds, [("job_not_fired", "job yearly")]);
}

/// Regression: a dead executor's tasks were queued again behind the whole backlog. On the
/// saturated executor-crash scenario (4 executors, one down, arrivals above what three
/// serve) they were re-dispatched 2.7 s after the crash (p50 over 20 seeds, max 2.8 s)
/// against a 359 ms bound, and the report hid it by holding failover to the leader-failover
/// bound. Taken-back tasks now keep their place at the front of the queue, and executor
/// failover has its own bound (death + a beat + the longest task + a store write).
#[test]
fn a_dead_executors_tasks_are_redispatched_within_the_executor_failover_bound_under_load() {
    use faultline::report::{metrics::fault_recoveries, RecoveryBounds};
    let path = "scenarios/failover/executor-crash.toml";
    let bound = RecoveryBounds::of(&Scenario::load(Path::new(path)).unwrap()).executor_failover_ms;
    for seed in 1..=5 {
        let o = run(path, seed);
        let crash = &fault_recoveries(&o.history)[0];
        let failover = crash.failover_ms.expect("its tasks were re-dispatched");
        assert!(failover <= bound, "seed {seed}: failover {failover} ms over the {bound} ms bound");
    }
}
