//! Scheduled jobs in the coordinator core: exact outputs for each firing rule.

use super::*;
use crate::coordinator::tests::{drain, persist_all as confirm, writes};
use crate::coordinator::{Coordinator, CoordinatorConfig, Output};
use crate::executor::{Beat, Completion};
use crate::schedule::{JobCommand, JobSpec, Misfire, Overlap, Schedule};
use crate::{Outcome, Token};

const EPOCH: u64 = 3;

fn job(name: &str, every_ms: u64, misfire: Misfire, overlap: Overlap) -> JobSpec {
    JobSpec {
        name: name.into(),
        schedule: Schedule::Every { every_ms, from_unix_ms: None },
        misfire,
        misfire_after_ms: 500,
        overlap,
        payload: vec![],
        max_attempts: 1,
        timeout_ms: 10_000,
    }
}

fn events(outputs: &[Output]) -> Vec<EventKind> {
    outputs.iter().filter_map(|o| if let Output::Record(e) = o { Some(e.clone()) } else { None }).collect()
}

/// A leader with `spec` created (and durable) at time 0.
fn leader_with(spec: JobSpec) -> Coordinator {
    // Executors stay alive between the beats these tests send.
    let cfg = CoordinatorConfig { missed_beats: 100, ..CoordinatorConfig::default() };
    let mut c = Coordinator::new(cfg, 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    c.job_command(Now::at(0), 1, JobCommand::Create { spec });
    let out = drain(&mut c);
    let after = confirm(&mut c, 0, &out);
    assert!(after.contains(&Output::JobReply { req: 1, reply: JobReply::Done }), "{after:?}");
    c
}

/// Confirms writes until none is left; returns every event recorded meanwhile.
fn settle(c: &mut Coordinator, now: u64, mut out: Vec<Output>) -> Vec<Output> {
    let mut all = out.clone();
    while !writes(&out).is_empty() {
        out = confirm(c, now, &out);
        all.extend(out.clone());
    }
    all
}

fn fires(outputs: &[Output]) -> Vec<(u64, u64)> {
    events(outputs)
        .into_iter()
        .filter_map(|e| match e {
            EventKind::Fire { covers_from_ms, scheduled_ms, .. } => Some((covers_from_ms, scheduled_ms)),
            _ => None,
        })
        .collect()
}

fn beat(seq: u64, completed: Vec<Completion>) -> Beat {
    Beat { zone: String::new(), executor: "ex-1".into(), incarnation: 1, seq, capacity: 4, held: vec![], completed }
}

#[test]
fn a_fire_and_its_cursor_are_one_write_and_nothing_dispatches_before_it_is_durable() {
    let mut c = leader_with(job("j", 1_000, Misfire::FireOnce, Overlap::Allow));
    c.tick(Now::at(1_000));
    let out = drain(&mut c);
    let w = writes(&out);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].task().spec.key, "fire/j/1000");
    assert_eq!(w[0].task().spec.not_before_ms, 1_000);
    assert!(w[0].create_key);
    assert_eq!(w[0].job.as_ref().unwrap().next_ms, Some(2_000), "the cursor moves in the same txn");
    assert!(fires(&out).is_empty(), "no fire is recorded before the store confirms it");
    // Not durable yet: a beat gets nothing.
    let reply = c.beat_reply(Now::at(1_001), beat(1, vec![])).unwrap();
    assert!(reply.assignments.is_empty());
    // Another tick decides nothing more for the job while its write is in flight.
    c.tick(Now::at(2_100));
    assert!(writes(&drain(&mut c)).is_empty());
    let after = confirm(&mut c, 2_100, &out);
    assert_eq!(fires(&after), vec![(1_000, 1_000)]);
}

#[test]
fn a_new_leader_resumes_from_the_persisted_cursor_and_queues_a_persisted_fire() {
    let mut c = leader_with(job("j", 1_000, Misfire::CatchUp { max: 10 }, Overlap::Allow));
    c.tick(Now::at(1_000));
    let w = writes(&drain(&mut c)).remove(0);
    // The leader crashes after the fire is durable; a successor loads the store.
    let mut next = Coordinator::new(CoordinatorConfig::default(), 2);
    next.become_leader(Now::at(1_200), EPOCH + 1, vec![w.task().clone()], vec![*w.job.clone().unwrap()]);
    drain(&mut next);
    next.tick(Now::at(1_300));
    assert!(writes(&drain(&mut next)).is_empty(), "instant 1000 is not fired again");
    let reply = next.beat_reply(Now::at(1_300), beat(1, vec![])).unwrap();
    assert!(reply.assignments.is_empty());
    let out = drain(&mut next);
    confirm(&mut next, 1_300, &out);
    let reply = next.beat_reply(Now::at(1_310), beat(2, vec![])).unwrap();
    assert_eq!(reply.assignments.len(), 1, "the persisted fire is dispatched by the successor");
    assert_eq!(reply.assignments[0].spec.key, "fire/j/1000");
}

#[test]
fn misfire_policies_after_an_outage() {
    // Five instants (1000..=5000) are due at 5_200; all but 5000 are more than 500 ms late.
    let mut once = leader_with(job("j", 1_000, Misfire::FireOnce, Overlap::Allow));
    once.tick(Now::at(5_200));
    let out = drain(&mut once);
    let all = settle(&mut once, 5_200, out);
    assert_eq!(fires(&all), vec![(1_000, 4_000), (5_000, 5_000)], "one fire stands for 1000..=4000; 5000 is on time");

    let mut skip = leader_with(job("j", 1_000, Misfire::Skip, Overlap::Allow));
    skip.tick(Now::at(5_200));
    let out = drain(&mut skip);
    let skipped = events(&confirm(&mut skip, 5_200, &out));
    assert!(skipped.iter().any(|e| matches!(e, EventKind::FireSkipped { from_ms: 1_000, to_ms: 4_000, count: 4, reason, .. } if reason == "misfire")), "{skipped:?}");

    let mut catch_up = leader_with(job("j", 1_000, Misfire::CatchUp { max: 2 }, Overlap::Allow));
    catch_up.tick(Now::at(5_200));
    let out = drain(&mut catch_up);
    let seen = events(&settle(&mut catch_up, 5_200, out));
    let summary: Vec<String> = seen
        .iter()
        .filter(|e| matches!(e, EventKind::Fire { .. } | EventKind::FireSkipped { .. }))
        .map(|e| match e {
            EventKind::Fire { scheduled_ms, .. } => format!("fire {scheduled_ms}"),
            EventKind::FireSkipped { from_ms, to_ms, .. } => format!("skip {from_ms}..={to_ms}"),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(summary, ["skip 1000..=2000", "fire 3000", "fire 4000", "fire 5000"]);
}

#[test]
fn overlap_forbid_skips_while_the_previous_fire_runs_and_replace_dead_letters_it() {
    for overlap in [Overlap::Forbid, Overlap::Replace] {
        let mut c = leader_with(job("j", 1_000, Misfire::FireOnce, overlap));
        c.tick(Now::at(1_000));
        let out = drain(&mut c);
        confirm(&mut c, 1_000, &out);
        c.beat_reply(Now::at(1_010), beat(1, vec![])).unwrap();
        let out = drain(&mut c);
        confirm(&mut c, 1_010, &out);
        let reply = c.beat_reply(Now::at(1_020), beat(2, vec![])).unwrap();
        let first = reply.assignments[0].clone();
        c.tick(Now::at(2_000));
        let out = drain(&mut c);
        let after = events(&settle(&mut c, 2_000, out));
        match overlap {
            Overlap::Forbid => assert!(
                after
                    .iter()
                    .any(|e| matches!(e, EventKind::FireSkipped { from_ms: 2_000, to_ms: 2_000, count: 1, reason, .. } if reason == "overlap")),
                "{after:?}"
            ),
            _ => {
                assert!(after.iter().any(|e| matches!(e, EventKind::DeadLettered { task, .. } if *task == first.task)));
                assert!(after.iter().any(|e| matches!(e, EventKind::Fire { scheduled_ms: 2_000, .. })));
                // The executor still holding the replaced fire is told to cancel it.
                let mut b = beat(3, vec![]);
                b.held = vec![(first.task.clone(), first.token)];
                assert_eq!(c.beat_reply(Now::at(2_010), b).unwrap().cancel, vec![first.task.clone()]);
            }
        }
        // Once the previous fire finished, the next instant fires.
        if overlap == Overlap::Forbid {
            let done = Completion { task: first.task.clone(), token: first.token, outcome: Outcome::Succeeded };
            c.beat_reply(Now::at(2_500), beat(3, vec![done])).unwrap();
            let out = drain(&mut c);
            confirm(&mut c, 2_500, &out);
            c.tick(Now::at(3_000));
            let out = drain(&mut c);
            assert_eq!(fires(&settle(&mut c, 3_000, out)), vec![(3_000, 3_000)]);
        }
        let _ = Token::default();
    }
}

#[test]
fn pause_resume_delete_are_durable_commands() {
    let mut c = leader_with(job("j", 1_000, Misfire::FireOnce, Overlap::Allow));
    c.job_command(Now::at(500), 2, JobCommand::Pause { name: "j".into() });
    let out = drain(&mut c);
    let after = confirm(&mut c, 500, &out);
    assert!(events(&after).contains(&EventKind::JobPaused { job: "j".into() }));
    c.tick(Now::at(3_500));
    assert!(writes(&drain(&mut c)).is_empty(), "a paused job decides nothing");
    c.job_command(Now::at(3_500), 3, JobCommand::Resume { name: "j".into() });
    let out = drain(&mut c);
    let after = confirm(&mut c, 3_500, &out);
    assert!(events(&after).contains(&EventKind::JobResumed { job: "j".into(), next_ms: Some(4_000) }));
    c.job_command(Now::at(3_600), 4, JobCommand::Delete { name: "j".into() });
    let out = drain(&mut c);
    confirm(&mut c, 3_600, &out);
    c.tick(Now::at(9_000));
    assert!(writes(&drain(&mut c)).is_empty(), "a deleted job never fires");
    c.job_command(Now::at(9_000), 5, JobCommand::Pause { name: "nope".into() });
    assert!(matches!(&drain(&mut c)[..], [Output::JobReply { req: 5, reply: JobReply::Rejected(_) }]));
}

#[test]
fn a_new_leader_records_the_last_skip_its_predecessor_wrote_but_never_confirmed() {
    let mut c = leader_with(job("j", 1_000, Misfire::Skip, Overlap::Allow));
    c.tick(Now::at(5_200));
    let w = writes(&drain(&mut c)).remove(0);
    assert!(w.record.is_none(), "a skip is a job-only write");
    // The write lands, but its confirm is lost with the leader: nothing recorded the skip.
    let mut next = Coordinator::new(CoordinatorConfig::default(), 2);
    next.become_leader(Now::at(5_300), EPOCH + 1, vec![], vec![*w.job.clone().unwrap()]);
    let recorded = events(&drain(&mut next));
    let skip = EventKind::FireSkipped {
        job: "j".into(),
        from_ms: 1_000,
        to_ms: 4_000,
        count: 4,
        reason: "misfire".into(),
        epoch: EPOCH,
    };
    let state = EventKind::JobResumed { job: "j".into(), next_ms: w.job.unwrap().next_ms };
    assert_eq!(recorded, vec![skip, state]);
}

/// Regression (schedules swarm seed 101303 of 100000..110545): a pause whose write timed
/// out while the store was paused landed after its leader had stepped down, so nobody
/// recorded it and the checker counted the paused instants as lost.
#[test]
fn a_new_leader_records_the_state_of_each_job_it_loads() {
    let mut c = leader_with(job("j", 1_000, Misfire::Skip, Overlap::Allow));
    c.job_command(Now::at(500), 2, JobCommand::Pause { name: "j".into() });
    let paused = *writes(&drain(&mut c)).remove(0).job.unwrap();
    assert!(paused.paused);
    let deleted =
        JobRecord { deleted: true, spec: JobSpec { name: "k".into(), ..paused.spec.clone() }, ..paused.clone() };
    let mut next = Coordinator::new(CoordinatorConfig::default(), 2);
    next.become_leader(Now::at(5_300), EPOCH + 1, vec![], vec![paused, deleted]);
    let recorded = events(&drain(&mut next));
    assert_eq!(recorded, vec![EventKind::JobPaused { job: "j".into() }, EventKind::JobDeleted { job: "k".into() }]);
}

#[test]
fn a_create_sent_again_is_done_and_a_different_job_under_the_name_is_refused() {
    let spec = job("j", 1_000, Misfire::FireOnce, Overlap::Allow);
    let mut c = leader_with(spec.clone());
    c.job_command(Now::at(700), 2, JobCommand::Create { spec: spec.clone() });
    assert_eq!(drain(&mut c), vec![Output::JobReply { req: 2, reply: JobReply::Done }], "a retried create");
    let faster = JobSpec { schedule: Schedule::Every { every_ms: 500, from_unix_ms: None }, ..spec.clone() };
    let cron = JobSpec { schedule: Schedule::Cron { cron: "* * * * * *".into(), tz: "UTC".into() }, ..spec.clone() };
    let forbid = JobSpec { overlap: Overlap::Forbid, ..spec };
    for (req, other) in [(3, faster), (4, cron), (5, forbid)] {
        c.job_command(Now::at(700), req, JobCommand::Create { spec: other });
        assert!(matches!(&drain(&mut c)[..], [Output::JobReply { reply: JobReply::Rejected(_), .. }]), "req {req}");
    }
}

#[test]
fn fires_are_dispatched_before_an_older_task_backlog() {
    let mut c = leader_with(job("j", 1_000, Misfire::FireOnce, Overlap::Allow));
    // Five plain tasks queued before the fire, all durable and ready.
    for (req, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        let spec =
            crate::TaskSpec { key: key.into(), payload: vec![], max_attempts: 1, timeout_ms: 1_000, not_before_ms: 0 };
        c.submit(req as u64 + 10, spec);
    }
    let out = drain(&mut c);
    settle(&mut c, 500, out);
    c.tick(Now::at(1_000));
    let out = drain(&mut c);
    settle(&mut c, 1_000, out);
    // One free slot: the fire gets it, though five tasks became ready before it.
    let one_slot = Beat { capacity: 1, ..beat(1, vec![]) };
    c.beat_reply(Now::at(1_001), one_slot.clone()).unwrap();
    let out = drain(&mut c);
    let assigned: Vec<String> = writes(&out).iter().map(|w| w.task().spec.key.clone()).collect();
    assert_eq!(assigned, vec!["fire/j/1000".to_string()]);
}

#[test]
fn a_client_submit_is_checked_against_the_limits() {
    let ok = crate::TaskSpec { key: "k".into(), payload: vec![], max_attempts: 3, timeout_ms: 1_000, not_before_ms: 0 };
    assert_eq!(ok.validate_submit(), Ok(()));
    let largest = crate::TaskSpec {
        key: "k".repeat(256),
        payload: vec![0; crate::task::MAX_PAYLOAD_BYTES],
        max_attempts: 100,
        timeout_ms: 86_400_000,
        ..ok.clone()
    };
    assert_eq!(largest.validate_submit(), Ok(()), "every limit is inclusive");
    let bad = [
        crate::TaskSpec { key: String::new(), ..ok.clone() },
        crate::TaskSpec { key: "k".repeat(257), ..ok.clone() },
        crate::TaskSpec { key: "fire/j/1000".into(), ..ok.clone() },
        crate::TaskSpec { payload: vec![0; crate::task::MAX_PAYLOAD_BYTES + 1], ..ok.clone() },
        crate::TaskSpec { max_attempts: 0, ..ok.clone() },
        crate::TaskSpec { max_attempts: 101, ..ok.clone() },
        crate::TaskSpec { timeout_ms: 86_400_001, ..ok.clone() },
        crate::TaskSpec { timeout_ms: 0, ..ok.clone() },
        crate::TaskSpec { not_before_ms: 5, ..ok.clone() },
    ];
    for spec in bad {
        assert!(spec.validate_submit().is_err(), "{spec:?}");
    }
    let reserved = crate::TaskSpec { key: "fire/j/1000".into(), ..ok };
    assert!(reserved.validate_submit().unwrap_err().contains("reserved for scheduled fires"));
}

#[test]
fn a_new_leader_records_the_fire_of_every_unfinished_fire_task_it_loads() {
    let spec = |key: &str| crate::TaskSpec {
        key: key.into(),
        payload: vec![],
        max_attempts: 1,
        timeout_ms: 1_000,
        not_before_ms: 3_000,
    };
    let pending = TaskRecord::new("t1-1".into(), spec("fire/nightly/1000..3000"));
    let mut done = TaskRecord::new("t1-2".into(), spec("fire/nightly/500"));
    done.state = crate::TaskState::Succeeded;
    let plain = TaskRecord::new("t1-3".into(), spec("k"));
    let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
    c.become_leader(Now::at(5_000), 2, vec![pending, done, plain], vec![]);
    let fires: Vec<EventKind> =
        events(&drain(&mut c)).into_iter().filter(|e| matches!(e, EventKind::Fire { .. })).collect();
    let fire = EventKind::Fire {
        job: "nightly".into(),
        scheduled_ms: 3_000,
        covers_from_ms: 1_000,
        task: "t1-1".into(),
        epoch: 2,
    };
    assert_eq!(fires, vec![fire], "one fire, for the unfinished one, with the instants its key names");
}
