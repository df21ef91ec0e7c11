//! Coordinator tests: the shared kit (a leader, beats, draining and confirming outputs),
//! then submit and leadership (become_leader, step_down). Each handler's tests sit beside it:
//! beats/tests.rs, detection/tests.rs, isolation/tests.rs, jobs/tests.rs, wake/tests.rs.
//! One small test per behaviour, asserting exact outputs.

use super::*;
pub(super) use crate::executor::{Beat, Completion};

pub(super) const EPOCH: u64 = 7;

pub(super) fn spec(key: &str) -> TaskSpec {
    TaskSpec { key: key.into(), payload: vec![], max_attempts: 2, timeout_ms: 1_000, not_before_ms: 0 }
}

pub(super) fn leader() -> Coordinator {
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

pub(super) fn drain(c: &mut Coordinator) -> Vec<Output> {
    std::iter::from_fn(|| c.poll_output()).collect()
}

pub(super) fn writes(outputs: &[Output]) -> Vec<Write> {
    outputs.iter().filter_map(|o| if let Output::Write(w) = o { Some(w.clone()) } else { None }).collect()
}

/// Confirms every write in `outputs`.
pub(super) fn persist_all(c: &mut Coordinator, now: u64, outputs: &[Output]) -> Vec<Output> {
    for w in writes(outputs) {
        c.persisted(Now::at(now), w.op);
    }
    drain(c)
}

pub(super) fn beat(ex: &str, inc: u64, seq: u64, held: Vec<(&str, Token)>, completed: Vec<Completion>) -> Beat {
    Beat {
        zone: String::new(),
        executor: ex.into(),
        incarnation: inc,
        seq,
        capacity: 2,
        held: held.into_iter().map(|(t, k)| (t.into(), k)).collect(),
        completed,
    }
}

pub(super) fn tok(attempt: u32) -> Token {
    Token { epoch: EPOCH, attempt }
}

/// Submits `key` and persists it; returns the task id.
pub(super) fn submitted(c: &mut Coordinator, key: &str) -> TaskId {
    c.submit(1, spec(key));
    let out = drain(c);
    persist_all(c, 0, &out);
    format!("t{EPOCH}-{}", c.next_seq - 1).into()
}

/// Submits one task and delivers it to ex-1 (incarnation 1) in reply to beat 2.
pub(super) fn delivered(c: &mut Coordinator) -> TaskId {
    let task = submitted(c, "k");
    c.beat_reply(Now::at(10), beat("ex-1", 1, 1, vec![], vec![]));
    let out = drain(c);
    persist_all(c, 10, &out);
    let reply = c.beat_reply(Now::at(20), beat("ex-1", 1, 2, vec![], vec![])).unwrap();
    assert_eq!(reply.assignments.len(), 1);
    drain(c);
    task
}

/// Delivers one task to ex-1 (reply to beat 2), then assigns a second to it on beat 3 and
/// confirms that write: the second awaits delivery in ex-1's outbox. Returns both ids.
pub(super) fn delivered_and_assigned(c: &mut Coordinator) -> (TaskId, TaskId) {
    let first = delivered(c);
    let second = submitted(c, "k2");
    c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![(first.as_str(), tok(1))], vec![]));
    let out = drain(c);
    persist_all(c, 30, &out);
    (first, second)
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

/// Swarm seed 621712 (a fresh range, 600001..640000): a leader took ex-1's tasks back when
/// it restarted (in memory: a take-back is never written) and gave one to the new
/// incarnation, which ran it; the store then held tasks of both incarnations of ex-1. The
/// next leader kept the incarnation of whichever record came first in key order and queued
/// the other's tasks again at once, so the new incarnation's running task ran a second
/// time after it had succeeded (`rerun_after_success`). Which incarnation lives is for the
/// executor's next beat to say, whichever record comes first.
#[test]
fn a_new_leader_keeps_the_tasks_of_the_incarnation_that_beats() {
    let held = |id: &str, incarnation: u64, attempt: u32| {
        let mut record = TaskRecord::new(id.into(), spec(id));
        record.state = TaskState::Running;
        record.attempt = attempt;
        record.token = Some(Token { epoch: 3, attempt });
        record.holder = Some(Holder { executor: "ex-1".into(), incarnation });
        record
    };
    // Key order puts the dead incarnation's (1) task first, then the live one's (2).
    for (records, name) in [
        (vec![held("t3-1", 1, 1), held("t3-2", 2, 2)], "the dead incarnation's record first"),
        (vec![held("t3-2", 2, 2), held("t3-1", 1, 1)], "the live incarnation's record first"),
    ] {
        let mut c = Coordinator::new(CoordinatorConfig::default(), 1);
        c.become_leader(Now::at(0), EPOCH, records, vec![]);
        drain(&mut c);
        // Incarnation 2 beats, still running t3-2 under its token.
        let reply = c
            .beat_reply(Now::at(10), beat("ex-1", 2, 1, vec![("t3-2", Token { epoch: 3, attempt: 2 })], vec![]))
            .unwrap();
        assert!(reply.cancel.is_empty(), "{name}: {reply:?}");
        let assigned: Vec<(String, Option<Token>)> =
            writes(&drain(&mut c)).iter().map(|w| (w.task().id.to_string(), w.task().token)).collect();
        assert_eq!(
            assigned,
            [("t3-1".to_string(), Some(Token { epoch: EPOCH, attempt: 2 }))],
            "{name}: only the dead incarnation's task runs again"
        );
    }
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

/// A leader keeps an entry per task for the retention (a day by default): at a million
/// tasks each byte is a megabyte. 256 is an allocator size class; one byte more and every
/// entry costs 320 (the rarely used parts belong in `Rare`).
#[test]
fn a_task_entry_fits_in_256_bytes() {
    assert!(std::mem::size_of::<Entry>() <= 256, "a task entry is {} bytes", std::mem::size_of::<Entry>());
}
