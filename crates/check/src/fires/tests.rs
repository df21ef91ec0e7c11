use super::*;
use crate::tests::{apply, dead_lettered, drain_start, ev, run_end, succeeded};
use faultline_model::job::{parse_instant, Schedule};
use faultline_model::trace::FaultPhase;
use ViolationKind::*;

const BASE: u64 = 1_700_000_000_000;

/// Job `tick`, every second from `BASE` (history instants 1000, 2000, ...).
fn spec(misfire: Misfire, overlap: Overlap) -> JobSpec {
    let schedule = Schedule::Every { every_ms: 1000, from_unix_ms: Some(BASE) };
    let (payload, max_attempts, timeout_ms) = (vec![], 1, 1000);
    JobSpec {
        name: "tick".into(),
        schedule,
        misfire,
        misfire_after_ms: 500,
        overlap,
        payload,
        max_attempts,
        timeout_ms,
    }
}

fn created(spec: &JobSpec, from_ms: u64, base_unix_ms: u64) -> Event {
    let (job, spec) = (spec.name.clone(), serde_json::to_string(spec).expect("spec serializes"));
    ev(
        from_ms,
        "coord-1",
        EventKind::JobCreated(Box::new(JobCreation {
            job: job.into(),
            spec: spec.into(),
            from_ms,
            base_unix_ms,
            late_bound_ms: 1000,
            settle_ms: 5000,
        })),
    )
}

fn fire(at_ms: u64, covers_from_ms: u64, scheduled_ms: u64, task: &str) -> Event {
    let (job, task) = ("tick".into(), task.into());
    ev(at_ms, "coord-1", EventKind::Fire { job, scheduled_ms, covers_from_ms, task, epoch: 1 })
}

fn skipped(at_ms: u64, node: &str, from_ms: u64, to_ms: u64, reason: &str) -> Event {
    let (job, reason) = ("tick".into(), reason.into());
    ev(at_ms, node, EventKind::FireSkipped { job, from_ms, to_ms, count: 1, reason, epoch: 1 })
}

fn start(at_ms: u64, task: &str) -> Event {
    ev(at_ms, "exec-1", EventKind::Start { task: task.into(), incarnation: 1, epoch: 1, attempt: 1 })
}

fn fault(at_ms: u64, id: u64, fault: &str, phase: FaultPhase, target: &str) -> Event {
    let (fault, target, detail) = (fault.into(), target.into(), String::new());
    ev(at_ms, "nemesis", EventKind::Fault { id, fault, phase, target, detail: detail.into() })
}

fn job_event(at_ms: u64, kind: EventKind) -> Event {
    ev(at_ms, "coord-1", kind)
}

/// The fire of instant `at` recorded at `at`, started 10 ms later, accepted, succeeded.
fn on_time(at: u64, task: &str) -> Vec<Event> {
    vec![
        fire(at, at, at, task),
        start(at + 10, task),
        ev(at + 20, "sink", apply(task, "exec-1", 1, 1, Verdict::Accepted)),
        ev(at + 50, "coord-1", succeeded(task)),
    ]
}

/// `body` between the job's creation at 0 and a drain at `drain_ms` that ends drained.
fn run(spec: &JobSpec, body: Vec<Event>, drain_ms: u64) -> Vec<Event> {
    let mut history = vec![created(spec, 0, BASE)];
    history.extend(body);
    history.push(ev(drain_ms, "sim", drain_start(drain_ms + 1000)));
    history.push(ev(drain_ms + 10, "sim", run_end(true)));
    history
}

/// (kind, event index) of each violation; every one names the job.
fn found(history: &[Event]) -> Vec<(ViolationKind, usize)> {
    let violations = no_fire_violations(history);
    assert!(violations.iter().all(|v| v.subject == "job tick"), "{violations:?}");
    violations.iter().map(|v| (v.kind, v.event_index)).collect()
}

fn message(history: &[Event], n: usize) -> String {
    no_fire_violations(history)[n].message.clone()
}

#[test]
fn a_healthy_every_second_job_fired_on_time_passes() {
    let forbid = spec(Misfire::Skip, Overlap::Forbid);
    let body: Vec<Event> = [1000, 2000, 3000].iter().flat_map(|&at| on_time(at, &format!("t{at}"))).collect();
    assert_eq!(found(&run(&forbid, body, 3500)), vec![]);
    assert_eq!(found(&[]), vec![]);
}

#[test]
fn an_instant_neither_fired_nor_skipped_is_lost_at_the_window_end() {
    let skip = spec(Misfire::Skip, Overlap::Allow);
    let body = [on_time(1000, "t1"), on_time(3000, "t3")].concat();
    let history = run(&skip, body, 4500);
    assert_eq!(found(&history), vec![(FireLost, 9)]);
    assert_eq!(message(&history, 0), "job tick: instant 2000 ms was never fired nor skipped as its policy allows");
    // A pause ends the window: due instants before it count, later ones do not.
    let mut paused = on_time(1000, "t1");
    paused.push(job_event(3100, EventKind::JobPaused { job: "tick".into() }));
    paused.push(job_event(3200, EventKind::JobResumed { job: "tick".into(), next_ms: Some(4000) }));
    paused.extend(on_time(4000, "t4"));
    assert_eq!(found(&run(&skip, paused, 4500)), vec![(FireLost, 5)]);
}

#[test]
fn fire_once_coverage_counts_only_under_fire_once() {
    let mut body = [
        on_time(1000, "t1"),
        vec![fault(1200, 1, "crash", FaultPhase::Begin, "coord-1")],
        vec![fault(4300, 1, "crash", FaultPhase::End, "coord-1")],
        on_time(4600, "t4").into_iter().skip(1).collect(),
        on_time(5000, "t5"),
    ]
    .concat();
    body.insert(6, fire(4600, 2000, 4000, "t4"));
    assert_eq!(found(&run(&spec(Misfire::FireOnce, Overlap::Allow), body.clone(), 6500)), vec![]);
    let history = run(&spec(Misfire::Skip, Overlap::Allow), body, 6500);
    assert_eq!(found(&history), vec![(FireLost, 15)]);
    let want = "job tick: 2 instants from 2000 ms to 3000 ms were never fired nor skipped as its policy allows";
    assert_eq!(message(&history, 0), want);
}

#[test]
fn skips_pass_only_as_the_policy_allows() {
    let skip = |at_ms, reason| {
        [on_time(1000, "t1"), vec![skipped(at_ms, "coord-2", 2000, 3000, reason)], on_time(4000, "t4")].concat()
    };
    let (skip_policy, catch_up) =
        (spec(Misfire::Skip, Overlap::Allow), spec(Misfire::CatchUp { max: 2 }, Overlap::Allow));
    assert_eq!(found(&run(&skip_policy, skip(3600, "misfire"), 5500)), vec![]);
    assert_eq!(found(&run(&catch_up, skip(3600, "catch_up_bound"), 5500)), vec![]);
    assert_eq!(found(&run(&catch_up, skip(3600, "misfire"), 5500)), vec![(FireLost, 10)]);
    assert_eq!(
        found(&run(&spec(Misfire::FireOnce, Overlap::Forbid), skip(3600, "overlap"), 5500)),
        vec![(FireLost, 10)]
    );
    // Too soon for 3000 ms (misfire after 500 ms), unless a clock fault hit its recorder.
    let history = run(&skip_policy, skip(3200, "misfire"), 5500);
    assert_eq!(found(&history), vec![(FireLost, 10)]);
    let want = "job tick: instant 3000 ms was never fired nor skipped as its policy allows \
                (3000 ms was skipped for misfire at 3200 ms, unjustified under misfire skip, overlap allow)";
    assert_eq!(message(&history, 0), want);
    let mut excused = skip(3200, "misfire");
    excused.insert(0, fault(500, 7, "clock_offset", FaultPhase::Begin, "exec-1, coord-2"));
    assert_eq!(found(&run(&skip_policy, excused, 5500)), vec![]);
}

/// Regression (schedules swarm seed 100522 of 100000..110545): the leader of epoch 1
/// (coord-1, its clock 2.3 s ahead) skipped an instant that was not yet late by true
/// time, lost its lease, and coord-2 recorded the skip again when it loaded the job. The
/// clock that misjudged lateness is the decider's, not the recorder's.
#[test]
fn a_skip_is_judged_by_the_clock_of_the_leader_that_decided_it() {
    let skip_policy = spec(Misfire::Skip, Overlap::Allow);
    let history = |clock_hit: &str| {
        let mut body = on_time(1000, "t1");
        body.insert(0, fault(500, 7, "clock_offset", FaultPhase::Begin, clock_hit));
        body.insert(1, ev(600, "coord-1", EventKind::LeaderElected { epoch: 1 }));
        body.push(ev(3100, "coord-2", EventKind::LeaderElected { epoch: 2 }));
        body.push(skipped(3200, "coord-2", 2000, 3000, "misfire"));
        run(&skip_policy, [body, on_time(4000, "t4")].concat(), 5500)
    };
    assert_eq!(found(&history("coord-1")), vec![]);
    // The recorder's clock fault excuses nothing: it decided nothing.
    assert_eq!(found(&history("coord-2")), vec![(FireLost, 13)]);
}

#[test]
fn forbid_skips_while_the_previous_fire_runs_and_never_overlaps() {
    let forbid = spec(Misfire::Skip, Overlap::Forbid);
    let history = |done_ms: u64| {
        let mut body = vec![fire(1000, 1000, 1000, "t1"), start(1010, "t1")];
        body.push(skipped(2005, "coord-1", 2000, 2000, "overlap"));
        body.push(ev(done_ms, "coord-1", succeeded("t1")));
        body.sort_by_key(|event| event.at_ms);
        run(&forbid, [body, on_time(3000, "t3")].concat(), 3500)
    };
    assert_eq!(found(&history(2500)), vec![]);
    // Decided at 2000 ms while t1's terminal write was in flight: still justified.
    assert_eq!(found(&history(2002)), vec![]);
    assert_eq!(found(&history(1500)), vec![(FireLost, 9)], "t1 was done before the decision");
    let body = [vec![fire(1000, 1000, 1000, "t1"), start(1010, "t1")], on_time(2000, "t2")].concat();
    let mut overlapping = run(&forbid, body, 2500);
    overlapping.insert(7, ev(2060, "coord-1", succeeded("t1")));
    assert_eq!(found(&overlapping), vec![(FireOverlap, 3)]);
    let want = "job tick: fire of instant 2000 ms (task t2) was recorded while the previous fire \
                (task t1, instant 1000 ms) was not terminal, under overlap forbid";
    assert_eq!(message(&overlapping, 0), want);
}

#[test]
fn replace_dead_letters_first_and_never_skips_for_overlap() {
    let replace = spec(Misfire::Skip, Overlap::Replace);
    let mut body = vec![fire(1000, 1000, 1000, "t1"), start(1010, "t1")];
    body.push(ev(2000, "coord-1", dead_lettered("t1", "replaced by the job's fire at 2000 ms (overlap: replace)")));
    assert_eq!(found(&run(&replace, [body.clone(), on_time(2000, "t2")].concat(), 2500)), vec![]);
    body.push(skipped(2005, "coord-1", 2000, 2000, "overlap"));
    assert_eq!(found(&run(&replace, body, 3500)), vec![(FireOverlap, 4), (FireLost, 5)]);
}

#[test]
fn paused_and_deleted_jobs_owe_nothing_after_the_pause_or_delete() {
    let skip = spec(Misfire::Skip, Overlap::Allow);
    let mut body = on_time(1000, "t1");
    body.push(job_event(1600, EventKind::JobPaused { job: "tick".into() }));
    body.push(job_event(5200, EventKind::JobResumed { job: "tick".into(), next_ms: Some(6000) }));
    body.extend(on_time(6000, "t6"));
    assert_eq!(found(&run(&skip, body, 7500)), vec![]);
    // 3000 ms was due at the delete, but within its late bound.
    let mut body = [on_time(1000, "t1"), on_time(2000, "t2")].concat();
    body.push(job_event(3500, EventKind::JobDeleted { job: "tick".into() }));
    assert_eq!(found(&run(&skip, body, 9000)), vec![]);
}

#[test]
fn a_pause_cancels_undecided_instants_only_while_a_fault_excuses_their_lateness() {
    let skip = spec(Misfire::Skip, Overlap::Allow);
    // 2000 ms was never decided; the pause at 4000 came 2 s after it.
    // `healed`: the fault's end, if it ended; the pause comes at `pause_ms`.
    let paused = |faulted: bool, healed: Option<u64>, pause_ms: u64| {
        let mut body = on_time(1000, "t1");
        if faulted {
            body.push(fault(1900, 9, "clock_step", FaultPhase::Begin, "coord-1"));
        }
        if let Some(end) = healed {
            body.push(fault(end, 9, "clock_step", FaultPhase::End, "coord-1"));
        }
        body.push(job_event(pause_ms, EventKind::JobPaused { job: "tick".into() }));
        run(&skip, body, pause_ms + 2000)
    };
    let lost_at_pause = |history: &[Event]| {
        let pause = history.iter().position(|e| matches!(e.kind, EventKind::JobPaused { .. })).unwrap();
        vec![(ViolationKind::FireLost, pause)]
    };
    let history = paused(false, None, 4000);
    assert_eq!(found(&history), lost_at_pause(&history), "healthy: 2000 ms was owed");
    assert_eq!(found(&paused(true, None, 4000)), vec![], "a leader clock stepped back had not reached 2000 ms yet");
    // Healed (and settled: 5 s) long before the pause: the leader had time to decide.
    let history = paused(true, Some(2000), 9000);
    assert_eq!(found(&history)[0], lost_at_pause(&history)[0], "a fault long healed excuses nothing");
}

#[test]
fn a_fire_that_never_ends_is_lost_only_in_a_drained_run() {
    let mut history = run(&spec(Misfire::Skip, Overlap::Allow), vec![fire(1000, 1000, 1000, "t1")], 1500);
    assert_eq!(found(&history), vec![(FireLost, 1)]);
    assert_eq!(message(&history, 0), "job tick: fire of instant 1000 ms (task t1) never reached a terminal state");
    history[3] = ev(1510, "sim", run_end(false));
    assert_eq!(found(&history), vec![]);
}

#[test]
fn one_instant_fired_twice_is_flagged_at_the_second_fire_and_the_second_effect() {
    let body = [on_time(1000, "t1"), on_time(1000, "t2")].concat();
    let history = run(&spec(Misfire::Skip, Overlap::Allow), body, 1500);
    assert_eq!(found(&history), vec![(FireTwice, 5), (FireTwice, 7)]);
    assert_eq!(message(&history, 0), "job tick: instant 1000 ms fired twice, by task t1 and task t2");
    assert_eq!(message(&history, 1), "job tick: instant 1000 ms took effect twice, by task t1 and task t2");
    // A fire_once fire covering an instant already fired.
    let body = [on_time(2000, "t2"), on_time(3000, "t3")].concat();
    let mut history = run(&spec(Misfire::FireOnce, Overlap::Allow), body, 3500);
    history[5] = fire(3000, 1000, 3000, "t3");
    assert_eq!(found(&history), vec![(FireTwice, 5), (FireTwice, 7)]);
}

#[test]
fn a_start_before_the_instant_is_early_unless_the_executors_clock_was_faulted() {
    let mut history = run(&spec(Misfire::Skip, Overlap::Allow), on_time(1000, "t1"), 1500);
    history[2] = start(900, "t1");
    assert_eq!(found(&history), vec![(FireEarly, 2)]);
    assert_eq!(message(&history, 0), "job tick: fire of instant 1000 ms (task t1) started at 900 ms");
    history.insert(1, fault(800, 3, "clock_step", FaultPhase::Begin, "exec-1"));
    assert_eq!(found(&history), vec![]);
}

#[test]
fn a_late_start_is_flagged_only_while_healthy() {
    let mut history = run(&spec(Misfire::Skip, Overlap::Allow), on_time(1000, "t1"), 2900);
    history[2] = start(2500, "t1");
    assert_eq!(found(&history), vec![(FireLate, 2)]);
    let want = "job tick: fire of instant 1000 ms (task t1) started at 2500 ms, 1500 ms late (bound 1000 ms) \
                while no fault was in progress";
    assert_eq!(message(&history, 0), want);
    // A fault that ended before the instant but within settle_ms, or one still in progress.
    let mut settling = history.clone();
    settling.splice(
        1..1,
        [fault(10, 1, "pause", FaultPhase::Begin, "coord-1"), fault(20, 1, "pause", FaultPhase::End, "")],
    );
    assert_eq!(found(&settling), vec![]);
    history.insert(1, fault(30, 2, "store_slow", FaultPhase::Begin, "store"));
    assert_eq!(found(&history), vec![]);
    // A fault that begins after the start does not excuse it.
    let mut after = run(&spec(Misfire::Skip, Overlap::Allow), on_time(1000, "t1"), 2900);
    after[2] = start(2500, "t1");
    after.insert(3, fault(2600, 2, "crash", FaultPhase::Begin, "coord-1"));
    assert_eq!(found(&after), vec![(FireLate, 2)]);
}

#[test]
fn fires_off_the_schedule_or_before_the_creation_are_flagged() {
    let skip = spec(Misfire::Skip, Overlap::Allow);
    let mut history = run(&skip, [on_time(1000, "t1"), on_time(2000, "t2")].concat(), 2500);
    history[5] = fire(2000, 1500, 1500, "t2");
    assert_eq!(found(&history), vec![(FireOffSchedule, 5)]);
    assert_eq!(message(&history, 0), "job tick: fire at 1500 ms (task t2), which is not an instant of its schedule");
    let mut late_created = run(&skip, on_time(3000, "t3"), 3500);
    late_created[0] = created(&skip, 2500, BASE);
    late_created[1] = fire(3000, 2000, 3000, "t3");
    assert_eq!(found(&late_created), vec![(FireOffSchedule, 1)]);
    late_created[1] = fire(3000, 4000, 3000, "t3");
    assert_eq!(
        message(&late_created, 0),
        "job tick: fire at 3000 ms (task t3), covering from 4000 ms, after its instant"
    );
}

#[test]
fn a_cron_fire_in_the_spring_forward_gap_is_off_schedule() {
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT, so "02:30" fires at 03:00 EDT.
    let base = parse_instant("2026-03-08T00:00:00-05:00").expect("instant");
    let ms = |text: &str| parse_instant(text).expect("instant") - base;
    let schedule = Schedule::Cron { cron: "0 30 2 * * *".into(), tz: "America/New_York".into() };
    let cron = JobSpec { schedule, ..spec(Misfire::Skip, Overlap::Allow) };
    let (good, gap) = (ms("2026-03-08T03:00:00-04:00"), ms("2026-03-08T02:30:00-05:00"));
    let mut history = vec![created(&cron, 0, base), fire(good, good, good, "t1"), fire(gap, gap, gap, "t2")];
    history.push(ev(gap + 10, "coord-1", succeeded("t1")));
    assert_eq!(found(&history), vec![(FireOffSchedule, 2)]);
    if let EventKind::JobCreated(created) = &mut history[0].kind {
        let spec = &mut created.spec;
        *spec = "{".into();
    }
    assert_eq!(found(&history), vec![], "a job whose spec does not parse is not judged");
}
