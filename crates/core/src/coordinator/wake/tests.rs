//! The core's own deadlines: each kind appears in `poll_timeout`, a tick at it acts, a tick
//! before it does not, and the tick plans the next one exactly.

use super::*;
use crate::coordinator::{CoordinatorConfig, Output};
use crate::executor::Beat;
use crate::schedule::{JobCommand, JobSpec, Misfire, Overlap, Schedule};
use crate::Now;
use faultline_model::trace::EventKind;

fn leader(cfg: CoordinatorConfig) -> Coordinator {
    let mut c = Coordinator::new(cfg, 1);
    c.become_leader(Now::at(0), 1, vec![], vec![]);
    c
}

fn idle(ex: &str, incarnation: u64, seq: u64) -> Beat {
    Beat {
        zone: String::new(),
        executor: ex.into(),
        incarnation,
        seq,
        capacity: 0,
        held: Default::default(),
        completed: vec![],
    }
}

fn events(c: &mut Coordinator) -> Vec<EventKind> {
    std::iter::from_fn(|| c.poll_output())
        .filter_map(|o| if let Output::Record(e) = o { Some(e) } else { None })
        .collect()
}

fn confirm_writes(c: &mut Coordinator, now: u64) -> Vec<EventKind> {
    let mut seen = Vec::new();
    loop {
        let outputs: Vec<Output> = std::iter::from_fn(|| c.poll_output()).collect();
        let ops: Vec<u64> =
            outputs.iter().filter_map(|o| if let Output::Write(w) = o { Some(w.op) } else { None }).collect();
        seen.extend(outputs.into_iter().filter_map(|o| if let Output::Record(e) = o { Some(e) } else { None }));
        if ops.is_empty() {
            return seen;
        }
        for op in ops {
            c.persisted(Now::at(now), op);
        }
    }
}

#[test]
fn a_standby_or_an_idle_leader_needs_no_tick() {
    assert_eq!(Coordinator::new(CoordinatorConfig::default(), 1).poll_timeout(), Wake::default());
    assert_eq!(leader(CoordinatorConfig::default()).poll_timeout(), Wake::default());
}

#[test]
fn the_core_wakes_when_a_silent_executors_window_ends() {
    let mut c = leader(CoordinatorConfig::default()); // dead after 3 x 100 ms
    c.beat_reply(Now::at(10), idle("ex-1", 1, 1));
    assert_eq!(c.poll_timeout().mono_ms, Some(311), "silent for more than 300 ms from 10");
    // A later beat moves the deadline on; the wake stays a lower bound until a tick.
    c.beat_reply(Now::at(100), idle("ex-1", 1, 2));
    assert!(!c.poll_timeout().is_due(Now::at(310)));
    assert!(c.poll_timeout().is_due(Now::at(311)));
    c.tick(Now::at(311));
    assert!(events(&mut c).is_empty(), "an early wake changes nothing");
    assert_eq!(c.poll_timeout().mono_ms, Some(401), "and plans the exact deadline");
    c.tick(Now::at(400));
    assert!(events(&mut c).is_empty(), "300 ms of silence is not yet more than 300");
    c.tick(Now::at(401));
    assert!(matches!(events(&mut c).as_slice(), [EventKind::ExecutorDead { executor, .. }] if executor == "ex-1"));
    assert_eq!(c.poll_timeout(), Wake::default(), "no live executor left to watch");
}

#[test]
fn the_core_wakes_when_a_quarantine_ends() {
    // Executors stay alive for 10 s of silence, so the quarantine's end is the first deadline.
    let mut c = leader(CoordinatorConfig { missed_beats: 100, ..CoordinatorConfig::default() });
    c.beat_reply(Now::at(0), idle("ex-2", 1, 1));
    for (incarnation, now) in [(1, 0), (2, 100), (3, 200), (4, 300)] {
        c.beat_reply(Now::at(now), idle("ex-1", incarnation, 1));
    }
    let seen = events(&mut c);
    assert!(seen.iter().any(|e| matches!(e, EventKind::ExecutorQuarantined { backoff_ms: 2_000, .. })), "{seen:?}");
    assert!(c.poll_timeout().is_due(Now::at(300)), "a death (the old incarnations'): tick at once");
    c.tick(Now::at(300));
    assert_eq!(c.poll_timeout().mono_ms, Some(2_300), "the quarantine's end");
    c.tick(Now::at(2_299));
    assert!(events(&mut c).is_empty());
    c.tick(Now::at(2_300));
    assert_eq!(events(&mut c), vec![EventKind::ExecutorReleased { executor: "ex-1".into() }]);
    assert_eq!(c.poll_timeout().mono_ms, Some(10_001), "then ex-2's window (last seen at 0)");
}

#[test]
fn the_core_wakes_at_a_jobs_next_instant_on_the_wall_clock() {
    let mut c = leader(CoordinatorConfig::default());
    let spec = JobSpec {
        name: "every-second".into(),
        schedule: Schedule::Every { every_ms: 1_000, from_unix_ms: None },
        misfire: Misfire::FireOnce,
        misfire_after_ms: 500,
        overlap: Overlap::Allow,
        payload: vec![],
        max_attempts: 1,
        timeout_ms: 1_000,
    };
    c.job_command(Now::at(0), 1, JobCommand::Create { spec });
    assert_eq!(c.poll_timeout().wall_ms, None, "not before the job is durable");
    confirm_writes(&mut c, 0);
    assert_eq!(c.poll_timeout(), Wake { mono_ms: None, wall_ms: Some(1_000) });
    // The wall clock decides: a monotonic clock past the instant is not enough.
    assert!(!c.poll_timeout().is_due(Now { mono_ms: 5_000, wall_ms: 999 }));
    c.tick(Now::at(1_000));
    let fired = confirm_writes(&mut c, 1_000);
    assert!(fired.iter().any(|e| matches!(e, EventKind::Fire { scheduled_ms: 1_000, .. })), "{fired:?}");
    assert_eq!(c.poll_timeout().wall_ms, Some(2_000), "the cursor moved on with the fire's write");
}
