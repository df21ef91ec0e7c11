//! One small test per coordinator behaviour, asserting exact outputs.

use super::*;
use crate::core::executor::{Beat, Completion};

const EPOCH: u64 = 7;

fn spec(key: &str) -> TaskSpec {
    TaskSpec { key: key.into(), payload: vec![], max_attempts: 2, timeout_ms: 1_000 }
}

fn leader() -> Coordinator {
    let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
    c.become_leader(0, EPOCH, vec![]);
    c
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
        c.persisted(now, w.op);
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
    c.heartbeat(10, beat("ex-1", 1, 1, vec![], vec![]));
    let out = drain(c);
    persist_all(c, 10, &out);
    let reply = c.heartbeat(20, beat("ex-1", 1, 2, vec![], vec![])).unwrap();
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
    assert_eq!((w.record.id.as_str(), w.record.state), ("t7-1", TaskState::Pending));
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
    c.heartbeat(10, beat("ex-1", 1, 1, vec![], vec![]));
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
    assert_eq!(c.heartbeat(0, beat("ex-1", 1, 1, vec![], vec![])), None);
    let mut c = Coordinator::new(CoordinatorConfig { max_open_tasks: 1, ..Default::default() }, 1);
    c.become_leader(0, EPOCH, vec![]);
    c.submit(1, spec("a"));
    c.submit(2, spec("b"));
    assert_eq!(drain(&mut c)[1], Output::Reply { req: 2, reply: SubmitReply::Overloaded });
}

#[test]
fn assignments_are_persisted_before_delivery_and_carry_fresh_tokens() {
    let mut c = leader();
    let task = submitted(&mut c, "k");
    let reply = c.heartbeat(10, beat("ex-1", 1, 1, vec![], vec![])).unwrap();
    assert!(reply.assignments.is_empty(), "not durable yet");
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!((w.record.state, w.record.token), (TaskState::Assigned, Some(tok(1))));
    persist_all(&mut c, 10, &out);
    let reply = c.heartbeat(20, beat("ex-1", 1, 2, vec![], vec![])).unwrap();
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
    c.heartbeat(10, beat("ex-1", 1, 1, vec![], vec![]));
    assert_eq!(writes(&drain(&mut c)).len(), 2, "capacity 2");
}

#[test]
fn a_lost_assignment_is_taken_back_at_the_next_beat() {
    let mut c = leader();
    let task = delivered(&mut c);
    // Beat 3 does not list the task delivered in reply to beat 2: that reply was lost.
    c.heartbeat(30, beat("ex-1", 1, 3, vec![], vec![]));
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!((w.record.id.clone(), w.record.token, w.record.redispatches), (task, Some(tok(2)), 1));
}

#[test]
fn a_silent_executor_is_declared_dead_after_k_beats_and_its_tasks_requeued() {
    let mut c = leader();
    let task = delivered(&mut c);
    c.tick(20 + 300);
    assert!(drain(&mut c).is_empty(), "exactly k*h of silence is still alive");
    c.tick(20 + 301);
    assert_eq!(
        drain(&mut c),
        vec![Output::Record(EventKind::ExecutorDead {
            executor: "ex-1".into(),
            incarnation: 1,
            reason: "missed 3 heartbeats".into(),
            tasks: 1
        })]
    );
    c.heartbeat(400, beat("ex-2", 5, 1, vec![], vec![]));
    let w = &writes(&drain(&mut c))[0];
    assert_eq!((w.record.id.clone(), w.record.holder.clone().unwrap().executor), (task, "ex-2".to_string()));
}

#[test]
fn a_new_incarnation_retires_the_old_one_at_once() {
    let mut c = leader();
    let task = delivered(&mut c);
    let reply = c.heartbeat(30, beat("ex-1", 2, 1, vec![], vec![])).unwrap();
    let out = drain(&mut c);
    assert!(matches!(&out[0], Output::Record(EventKind::ExecutorDead { incarnation: 1, tasks: 1, .. })));
    assert_eq!(writes(&out)[0].record.id, task, "re-assigned to the new incarnation");
    assert!(reply.assignments.is_empty());
    // The old incarnation, if it speaks again, is told to drop what it holds.
    let reply = c.heartbeat(40, beat("ex-1", 1, 3, vec![(&task, tok(1))], vec![])).unwrap();
    assert_eq!(reply.cancel, vec![task]);
}

#[test]
fn success_is_acknowledged_to_the_executor_only_once_durable() {
    let mut c = leader();
    let task = delivered(&mut c);
    let done = Completion { task: task.clone(), token: tok(1), outcome: Outcome::Succeeded };
    let reply = c.heartbeat(30, beat("ex-1", 1, 3, vec![], vec![done.clone()])).unwrap();
    assert!(reply.done.is_empty());
    let out = drain(&mut c);
    // Reported again before the write is confirmed: still not done.
    let reply = c.heartbeat(40, beat("ex-1", 1, 4, vec![], vec![done.clone()])).unwrap();
    assert!(reply.done.is_empty(), "must not be acknowledged before it is durable");
    let recorded = persist_all(&mut c, 40, &out);
    assert!(recorded.contains(&Output::Record(EventKind::Succeeded { task: task.clone(), epoch: EPOCH, attempt: 1 })));
    let reply = c.heartbeat(50, beat("ex-1", 1, 5, vec![], vec![done])).unwrap();
    assert_eq!(reply.done, vec![task]);
}

#[test]
fn failures_retry_with_backoff_then_dead_letter_with_a_reason() {
    let mut c = leader();
    let task = delivered(&mut c);
    let failed =
        |attempt| Completion { task: task.clone(), token: tok(attempt), outcome: Outcome::Failed("boom".into()) };
    c.heartbeat(30, beat("ex-1", 1, 3, vec![], vec![failed(1)]));
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!((w.record.state, w.record.failures), (TaskState::Pending, 1));
    let recorded = persist_all(&mut c, 30, &out);
    let Some(Output::Record(EventKind::Retry { failures: 1, backoff_ms, .. })) = recorded.last() else {
        panic!("expected a retry: {recorded:?}")
    };
    assert!((50..=100).contains(backoff_ms), "base 100 ms with jitter 0.5: {backoff_ms}");
    // Not ready before its backoff ends.
    c.heartbeat(31, beat("ex-1", 1, 4, vec![], vec![]));
    assert!(writes(&drain(&mut c)).is_empty());
    c.heartbeat(30 + backoff_ms, beat("ex-1", 1, 5, vec![], vec![]));
    let out = drain(&mut c);
    persist_all(&mut c, 200, &out);
    c.heartbeat(210, beat("ex-1", 1, 6, vec![], vec![]));
    drain(&mut c);
    c.heartbeat(220, beat("ex-1", 1, 7, vec![], vec![failed(2)]));
    let out = drain(&mut c);
    let w = &writes(&out)[0];
    assert_eq!(w.record.state, TaskState::DeadLettered);
    assert_eq!(w.record.reason.as_deref(), Some("2 of 2 attempts failed; last: attempt 2 failed: boom"));
}

#[test]
fn stale_completions_are_acknowledged_and_ignored() {
    let mut c = leader();
    let task = delivered(&mut c);
    let stale =
        Completion { task: task.clone(), token: Token { epoch: EPOCH - 1, attempt: 1 }, outcome: Outcome::Succeeded };
    let reply = c.heartbeat(30, beat("ex-1", 1, 3, vec![(&task, tok(1))], vec![stale])).unwrap();
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
    c.become_leader(0, EPOCH, vec![record, done, pending]);
    assert_eq!(
        drain(&mut c),
        vec![Output::Record(EventKind::Recovered { task: "t3-2".into(), state: "succeeded".into() })]
    );
    assert_eq!(c.open_tasks(), 2);
    // ex-1 still runs t3-1 under the old token: the new leader keeps it there.
    let reply = c.heartbeat(10, beat("ex-1", 1, 1, vec![("t3-1", Token { epoch: 3, attempt: 1 })], vec![])).unwrap();
    assert!(reply.cancel.is_empty());
    let w = writes(&drain(&mut c));
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].record.id.as_str(), w[0].record.token), ("t3-3", Some(Token { epoch: EPOCH, attempt: 1 })));
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
fn a_new_leader_gives_inherited_executors_one_extra_interval() {
    let mut record = TaskRecord::new("t3-1".into(), spec("a"));
    record.state = TaskState::Running;
    record.token = Some(Token { epoch: 3, attempt: 1 });
    record.holder = Some(Holder { executor: "ex-1".into(), incarnation: 1 });
    let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
    c.become_leader(1_000, EPOCH, vec![record]);
    c.tick(1_000 + 300 + 100);
    assert!(drain(&mut c).is_empty(), "k*h + h after takeover is still within the grace");
    c.tick(1_000 + 300 + 101);
    assert!(matches!(drain(&mut c)[0], Output::Record(EventKind::ExecutorDead { tasks: 1, .. })));
}
