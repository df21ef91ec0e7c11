//! One small test per coordinator behaviour, asserting exact outputs.

use super::*;
use crate::executor::{Beat, Completion};

const EPOCH: u64 = 7;

fn spec(key: &str) -> TaskSpec {
    TaskSpec { key: key.into(), payload: vec![], max_attempts: 2, timeout_ms: 1_000, not_before_ms: 0 }
}

fn leader() -> Coordinator {
    let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    c
}

impl Coordinator {
    /// Test shorthand: a heartbeat's answer, taken out of the output queue (the outputs the
    /// beat caused stay queued, in order).
    pub(in crate::coordinator) fn beat_reply(&mut self, now: Now, beat: Beat) -> Option<BeatReply> {
        self.heartbeat(now, 0, beat);
        let at = self.out.iter().position(|o| matches!(o, Output::BeatReply { .. })).expect("every beat is answered");
        let Some(Output::BeatReply { reply, .. }) = self.out.remove(at) else { unreachable!() };
        reply
    }
}

fn drain(c: &mut Coordinator) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

fn writes(outputs: &[Output]) -> Vec<Write> {
    outputs.iter().filter_map(|o| if let Output::Write(w) = o { Some(w.clone()) } else { None }).collect()
}

/// Confirms every write in `outputs`.
fn persist_all(c: &mut Coordinator, now: u64, outputs: &[Output]) -> Vec<Output> {
    for w in writes(outputs) {
        c.persisted(Now::at(now), w.op);
    }
    drain(c)
}

fn beat(ex: &str, inc: u64, seq: u64, held: Vec<(&str, Token)>, completed: Vec<Completion>) -> Beat {
    Beat {
        zone: String::new(),
        executor: ex.into(),
        incarnation: inc,
        seq,
        capacity: 2,
        held: held.into_iter().map(|(t, k)| (t.to_string(), k)).collect(),
        completed,
    }
}

fn tok(attempt: u32) -> Token {
    Token { epoch: EPOCH, attempt }
}

/// Submits `key` and persists it; returns the task id.
fn submitted(c: &mut Coordinator, key: &str) -> TaskId {
    c.submit(1, spec(key));
    let out = drain(c);
    persist_all(c, 0, &out);
    format!("t{EPOCH}-{}", c.next_seq - 1)
}

/// Submits one task and delivers it to ex-1 (incarnation 1) in reply to beat 2.
fn delivered(c: &mut Coordinator) -> TaskId {
    let task = submitted(c, "k");
    c.beat_reply(Now::at(10), beat("ex-1", 1, 1, vec![], vec![]));
    let out = drain(c);
    persist_all(c, 10, &out);
    let reply = c.beat_reply(Now::at(20), beat("ex-1", 1, 2, vec![], vec![])).unwrap();
    assert_eq!(reply.assignments.len(), 1);
    drain(c);
    task
}

#[test]
fn submit_is_acknowledged_only_after_the_create_write() {
    let mut c = leader();
    c.submit(9, spec("k"));
    let out = drain(&mut c);
    assert_eq!(out.len(), 1, "only the write, no reply yet: {out:?}");
    let w = &writes(&out)[0];
    assert!(w.create_key);
    assert_eq!((w.task().id.as_str(), w.task().state), ("t7-1", TaskState::Pending));
    let out = persist_all(&mut c, 0, &out);
    assert_eq!(
        out,
        vec![
            Output::Record(EventKind::Persist { task: "t7-1".into(), state: "pending".into(), epoch: EPOCH }),
            Output::Reply { req: 9, reply: SubmitReply::Accepted { task: "t7-1".into(), created: true } },
        ]
    );
}

#[test]
fn resubmitting_a_key_names_the_same_task() {
    let mut c = leader();
    c.submit(1, spec("k"));
    c.submit(2, spec("k")); // a retry before the first ack
    let out = drain(&mut c);
    assert_eq!(writes(&out).len(), 1);
    let out = persist_all(&mut c, 0, &out);
    assert!(
        out.contains(&Output::Reply { req: 2, reply: SubmitReply::Accepted { task: "t7-1".into(), created: false } })
    );
    c.submit(3, spec("k")); // a retry after a lost ack
    assert_eq!(
        drain(&mut c),
        vec![Output::Reply { req: 3, reply: SubmitReply::Accepted { task: "t7-1".into(), created: false } }]
    );
}

#[test]
fn a_resubmit_while_the_task_is_being_written_is_answered_at_once() {
    let mut c = leader();
    let task = submitted(&mut c, "k");
    c.beat_reply(Now::at(10), beat("ex-1", 1, 1, vec![], vec![]));
    let assign = drain(&mut c);
    assert_eq!(writes(&assign).len(), 1, "an assignment write is in flight");
    c.submit(2, spec("k"));
    assert_eq!(drain(&mut c), vec![Output::Reply { req: 2, reply: SubmitReply::Accepted { task, created: false } }]);
}

#[test]
fn standbys_refuse_and_full_leaders_shed_load() {
    let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
    c.submit(1, spec("k"));
    assert_eq!(drain(&mut c), vec![Output::Reply { req: 1, reply: SubmitReply::NotLeader }]);
    assert_eq!(c.beat_reply(Now::at(0), beat("ex-1", 1, 1, vec![], vec![])), None);
    let mut c = Coordinator::new(CoordinatorConfig { max_open_tasks: 1, ..Default::default() }, 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    c.submit(1, spec("a"));
    c.submit(2, spec("b"));
    assert_eq!(drain(&mut c)[1], Output::Reply { req: 2, reply: SubmitReply::Overloaded });
}

#[test]
fn a_beat_is_answered_ahead_of_queued_writes_and_the_writes_it_caused() {
    let mut c = leader();
    c.submit(1, spec("k"));
    c.heartbeat(Now::at(10), 9, beat("ex-1", 1, 1, vec![], vec![]));
    let out = drain(&mut c);
    assert_eq!(out[0], Output::BeatReply { req: 9, reply: Some(BeatReply { epoch: EPOCH, ..Default::default() }) });
    assert!(matches!(out[1], Output::Write(_)), "the submit's create write comes after: {out:?}");
}

#[test]
fn a_duplicated_or_overtaken_beat_changes_nothing_and_carries_nothing() {
    let mut c = leader();
    let first = delivered(&mut c);
    // A second task is assigned on beat 3 and its write confirmed.
    let second = submitted(&mut c, "k2");
    c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![(first.as_str(), tok(1))], vec![]));
    let out = drain(&mut c);
    persist_all(&mut c, 30, &out);
    // The network duplicates beat 3. The executor reads only the first reply, so the copy
    // must not carry the now-deliverable assignment (it would be lost with the copy's reply).
    let dup = c.beat_reply(Now::at(40), beat("ex-1", 1, 3, vec![(first.as_str(), tok(1))], vec![])).unwrap();
    assert_eq!((dup.assignments.len(), dup.cancel.len(), dup.pending), (0, 0, 0));
    assert!(drain(&mut c).is_empty(), "no event, no write");
    // An older beat, overtaken, reports nothing held: not a lost assignment either.
    c.beat_reply(Now::at(45), beat("ex-1", 1, 2, vec![], vec![]));
    assert!(drain(&mut c).is_empty());
    let reply = c.beat_reply(Now::at(50), beat("ex-1", 1, 4, vec![(first.as_str(), tok(1))], vec![])).unwrap();
    assert_eq!(reply.assignments.iter().map(|a| a.task.clone()).collect::<Vec<_>>(), [second]);
    assert!(reply.cancel.is_empty(), "the executor keeps its first task");
}

#[test]
fn assignments_are_persisted_before_delivery_and_carry_fresh_tokens() {
    let mut c = leader();
    let task = submitted(&mut c, "k");
    let reply = c.beat_reply(Now::at(10), beat("ex-1", 1, 1, vec![], vec![])).unwrap();
    assert!(reply.assignments.is_empty(), "not durable yet");
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!((w.task().state, w.task().token), (TaskState::Assigned, Some(tok(1))));
    persist_all(&mut c, 10, &out);
    let reply = c.beat_reply(Now::at(20), beat("ex-1", 1, 2, vec![], vec![])).unwrap();
    assert_eq!(reply.assignments.len(), 1);
    assert_eq!((reply.assignments[0].task.clone(), reply.assignments[0].token), (task.clone(), tok(1)));
    assert_eq!(
        drain(&mut c),
        vec![Output::Record(EventKind::Dispatch {
            task,
            executor: "ex-1".into(),
            incarnation: 1,
            epoch: EPOCH,
            attempt: 1
        })]
    );
}

#[test]
fn capacity_bounds_assignments() {
    let mut c = leader();
    for key in ["a", "b", "c"] {
        submitted(&mut c, key);
    }
    c.beat_reply(Now::at(10), beat("ex-1", 1, 1, vec![], vec![]));
    assert_eq!(writes(&drain(&mut c)).len(), 2, "capacity 2");
}

#[test]
fn a_lost_assignment_is_taken_back_at_the_next_beat() {
    let mut c = leader();
    let task = delivered(&mut c);
    // Beat 3 does not list the task delivered in reply to beat 2: that reply was lost.
    c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![], vec![]));
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!((w.task().id.clone(), w.task().token, w.task().redispatches), (task, Some(tok(2)), 1));
}

#[test]
fn a_silent_executor_is_declared_dead_after_k_beats_and_its_tasks_requeued() {
    let mut c = leader();
    let task = delivered(&mut c);
    c.tick(Now::at(20 + 300));
    assert!(drain(&mut c).is_empty(), "exactly k*h of silence is still alive");
    c.tick(Now::at(20 + 301));
    assert_eq!(
        drain(&mut c),
        vec![Output::Record(EventKind::ExecutorDead {
            executor: "ex-1".into(),
            incarnation: 1,
            reason: "missed 3 heartbeats".into(),
            tasks: 1
        })]
    );
    c.beat_reply(Now::at(400), beat("ex-2", 5, 1, vec![], vec![]));
    let w = &writes(&drain(&mut c))[0];
    assert_eq!((w.task().id.clone(), w.task().holder.clone().unwrap().executor), (task, "ex-2".to_string()));
}

#[test]
fn a_new_incarnation_retires_the_old_one_at_once() {
    let mut c = leader();
    let task = delivered(&mut c);
    let reply = c.beat_reply(Now::at(30), beat("ex-1", 2, 1, vec![], vec![])).unwrap();
    let out = drain(&mut c);
    assert!(matches!(&out[0], Output::Record(EventKind::ExecutorDead { incarnation: 1, tasks: 1, .. })));
    assert_eq!(writes(&out)[0].task().id, task, "re-assigned to the new incarnation");
    assert!(reply.assignments.is_empty());
    // The old incarnation, if it speaks again, is told to drop what it holds.
    let reply = c.beat_reply(Now::at(40), beat("ex-1", 1, 3, vec![(&task, tok(1))], vec![])).unwrap();
    assert_eq!(reply.cancel, vec![task]);
}

#[test]
fn success_is_acknowledged_to_the_executor_only_once_durable() {
    let mut c = leader();
    let task = delivered(&mut c);
    let done = Completion { task: task.clone(), token: tok(1), outcome: Outcome::Succeeded };
    let reply = c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![], vec![done.clone()])).unwrap();
    assert!(reply.done.is_empty());
    let out = drain(&mut c);
    // Reported again before the write is confirmed: still not done.
    let reply = c.beat_reply(Now::at(40), beat("ex-1", 1, 4, vec![], vec![done.clone()])).unwrap();
    assert!(reply.done.is_empty(), "must not be acknowledged before it is durable");
    let recorded = persist_all(&mut c, 40, &out);
    assert!(recorded.contains(&Output::Record(EventKind::Succeeded { task: task.clone(), epoch: EPOCH, attempt: 1 })));
    let reply = c.beat_reply(Now::at(50), beat("ex-1", 1, 5, vec![], vec![done])).unwrap();
    assert_eq!(reply.done, vec![task]);
}

#[test]
fn failures_retry_with_backoff_then_dead_letter_with_a_reason() {
    let mut c = leader();
    let task = delivered(&mut c);
    let failed =
        |attempt| Completion { task: task.clone(), token: tok(attempt), outcome: Outcome::Failed("boom".into()) };
    c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![], vec![failed(1)]));
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!((w.task().state, w.task().failures), (TaskState::Pending, 1));
    let recorded = persist_all(&mut c, 30, &out);
    let Some(Output::Record(EventKind::Retry { failures: 1, backoff_ms, .. })) = recorded.last() else {
        panic!("expected a retry: {recorded:?}")
    };
    assert!((50..=100).contains(backoff_ms), "base 100 ms with jitter 0.5: {backoff_ms}");
    // Not ready before its backoff ends.
    c.beat_reply(Now::at(31), beat("ex-1", 1, 4, vec![], vec![]));
    assert!(writes(&drain(&mut c)).is_empty());
    c.beat_reply(Now::at(30 + backoff_ms), beat("ex-1", 1, 5, vec![], vec![]));
    let out = drain(&mut c);
    persist_all(&mut c, 200, &out);
    c.beat_reply(Now::at(210), beat("ex-1", 1, 6, vec![], vec![]));
    drain(&mut c);
    c.beat_reply(Now::at(220), beat("ex-1", 1, 7, vec![], vec![failed(2)]));
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!(w.task().state, TaskState::DeadLettered);
    assert_eq!(w.task().reason.as_deref(), Some("2 of 2 attempts failed; last: attempt 2 failed: boom"));
}

#[test]
fn a_task_whose_effect_may_have_landed_is_checked_at_the_sink_before_it_can_be_dead_lettered() {
    let mut c = leader();
    let task = delivered(&mut c);
    // Attempt 1 fails; attempt 2 hears no verdict from the sink: its effect may have landed,
    // so it is no failure, and attempt 3 is told to ask the sink first. Attempt 3 times out
    // asking (unknown again); attempt 4 asked, heard "absent", then failed: dead-lettered.
    let unknown = || Outcome::Unknown("timed out while applying its effect".into());
    let outcomes = [Outcome::Failed("boom".into()), unknown(), unknown(), Outcome::Failed("boom".into())];
    let (mut now, mut seq) = (30, 3);
    let mut checks = vec![];
    let mut last = None;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let done = Completion { task: task.clone(), token: tok(i as u32 + 1), outcome };
        c.beat_reply(Now::at(now), beat("ex-1", 1, seq, vec![], vec![done]));
        let out = drain(&mut c);
        let record = writes(&out)[0].task().clone();
        let recorded = persist_all(&mut c, now, &out);
        last = Some(record.clone());
        if record.state == TaskState::DeadLettered {
            break;
        }
        let Some(Output::Record(EventKind::Retry { backoff_ms, .. })) = recorded.last() else {
            panic!("attempt {}: expected a retry, got {recorded:?}", i + 1)
        };
        // Re-dispatch after the backoff and deliver the next attempt.
        now += backoff_ms;
        c.beat_reply(Now::at(now), beat("ex-1", 1, seq + 1, vec![], vec![]));
        let out = drain(&mut c);
        persist_all(&mut c, now + 1, &out);
        let reply = c.beat_reply(Now::at(now + 2), beat("ex-1", 1, seq + 2, vec![], vec![])).unwrap();
        checks.push(reply.assignments.iter().map(|a| a.check_first).collect::<Vec<_>>());
        drain(&mut c);
        (now, seq) = (now + 10, seq + 3);
    }
    assert_eq!(checks, vec![vec![false], vec![true], vec![true]], "attempts 2, 3 and 4");
    let last = last.expect("attempts ended");
    assert_eq!((last.state, last.failures, last.effect_unknown), (TaskState::DeadLettered, 2, false));
}

#[test]
fn stale_completions_are_acknowledged_and_ignored() {
    let mut c = leader();
    let task = delivered(&mut c);
    let stale =
        Completion { task: task.clone(), token: Token { epoch: EPOCH - 1, attempt: 1 }, outcome: Outcome::Succeeded };
    let reply = c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![(&task, tok(1))], vec![stale])).unwrap();
    assert_eq!(reply.done, vec![task]);
    assert!(writes(&drain(&mut c)).is_empty());
}

#[test]
fn a_new_leader_resumes_from_the_store() {
    let mut record = TaskRecord::new("t3-1".into(), spec("a"));
    record.state = TaskState::Running;
    record.attempt = 1;
    record.token = Some(Token { epoch: 3, attempt: 1 });
    record.holder = Some(Holder { executor: "ex-1".into(), incarnation: 1 });
    let mut done = TaskRecord::new("t3-2".into(), spec("b"));
    done.state = TaskState::Succeeded;
    let pending = TaskRecord::new("t3-3".into(), spec("c"));
    let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
    c.become_leader(Now::at(0), EPOCH, vec![record, done, pending], vec![]);
    assert_eq!(
        drain(&mut c),
        vec![Output::Record(EventKind::Recovered { task: "t3-2".into(), state: "succeeded".into(), reason: None })]
    );
    assert_eq!(c.open_tasks(), 2);
    // ex-1 still runs t3-1 under the old token: the new leader keeps it there.
    let reply =
        c.beat_reply(Now::at(10), beat("ex-1", 1, 1, vec![("t3-1", Token { epoch: 3, attempt: 1 })], vec![])).unwrap();
    assert!(reply.cancel.is_empty());
    let w = writes(&drain(&mut c));
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].task().id.as_str(), w[0].task().token), ("t3-3", Some(Token { epoch: EPOCH, attempt: 1 })));
    // A duplicate submit of a recovered key names the recovered task.
    c.submit(5, spec("b"));
    assert_eq!(
        drain(&mut c),
        vec![Output::Reply { req: 5, reply: SubmitReply::Accepted { task: "t3-2".into(), created: false } }]
    );
}

#[test]
fn stepping_down_refuses_waiting_submits_and_forgets_state() {
    let mut c = leader();
    c.submit(4, spec("k"));
    drain(&mut c);
    c.step_down();
    assert_eq!(drain(&mut c), vec![Output::Reply { req: 4, reply: SubmitReply::NotLeader }]);
    assert_eq!((c.epoch(), c.open_tasks()), (None, 0));
}

#[test]
fn a_new_leader_gives_inherited_executors_one_extra_interval_and_the_takeover_grace() {
    let mut record = TaskRecord::new("t3-1".into(), spec("a"));
    record.state = TaskState::Running;
    record.token = Some(Token { epoch: 3, attempt: 1 });
    record.holder = Some(Holder { executor: "ex-1".into(), incarnation: 1 });
    let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
    c.become_leader(Now::at(1_000), EPOCH, vec![record], vec![]);
    c.tick(Now::at(1_000 + 300 + 100 + 200));
    assert!(drain(&mut c).is_empty(), "k*h + h + an RPC deadline after takeover is still within the grace");
    c.tick(Now::at(1_000 + 300 + 100 + 201));
    assert!(matches!(drain(&mut c)[0], Output::Record(EventKind::ExecutorDead { tasks: 1, .. })));
}

// Fault isolation: quarantine and zone-aware placement.

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
