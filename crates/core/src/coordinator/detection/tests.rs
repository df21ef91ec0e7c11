//! Detection: lost assignments, silent executors, restarts.

use crate::coordinator::tests::*;
use crate::coordinator::*;

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

/// Taken back past `max_redispatches`, a task is not dead-lettered on the count: its silent
/// holder may have applied the effect. Its next attempt only asks the sink; a verdict of
/// "no effect" dead-letters it with the take-back reason, an effect found makes it succeed.
#[test]
fn a_task_taken_back_too_often_gets_a_check_only_attempt_before_any_dead_letter() {
    for landed in [false, true] {
        let mut c = Coordinator::new(CoordinatorConfig { max_redispatches: 0, ..CoordinatorConfig::default() }, 1);
        c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
        let task = delivered(&mut c);
        c.tick(Now::at(20 + 301)); // ex-1 silent: dead, the task taken back once (> 0)
        let out = drain(&mut c);
        assert!(out.iter().all(|o| !matches!(o, Output::Write(_))), "nothing dead-lettered yet: {out:?}");
        c.beat_reply(Now::at(400), beat("ex-2", 5, 1, vec![], vec![]));
        let out = drain(&mut c);
        persist_all(&mut c, 400, &out);
        let reply = c.beat_reply(Now::at(410), beat("ex-2", 5, 2, vec![], vec![])).unwrap();
        let a = &reply.assignments[0];
        assert_eq!((a.task.clone(), a.check_first, a.check_only), (task.clone(), true, true));
        drain(&mut c);
        let outcome = if landed {
            Outcome::Succeeded
        } else {
            Outcome::Failed("the sink has no effect of it (checked only, not run again)".into())
        };
        let done = Completion { task: task.clone(), token: a.token, outcome };
        c.beat_reply(Now::at(420), beat("ex-2", 5, 3, vec![], vec![done]));
        let record = writes(&drain(&mut c))[0].task().clone();
        if landed {
            assert_eq!(record.state, TaskState::Succeeded);
        } else {
            assert_eq!(record.state, TaskState::DeadLettered, "one failed check settles it (max_attempts is 2)");
            let reason = record.reason.unwrap();
            assert!(reason.starts_with("taken back 1 times; attempt 2 failed: the sink has no effect"), "{reason}");
        }
    }
}

/// The bound is a count of take-backs allowed: with `max_redispatches = 1` the first
/// take-back re-runs the task as usual, the second makes its next attempt check-only.
#[test]
fn check_only_begins_after_max_redispatches_take_backs_not_at_it() {
    let mut c = Coordinator::new(CoordinatorConfig { max_redispatches: 1, ..CoordinatorConfig::default() }, 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    let task = delivered(&mut c);
    let mut check_only = vec![];
    for (n, ex) in [(0u64, "ex-2"), (1, "ex-3")] {
        let t = 1_000 * (n + 1);
        c.tick(Now::at(t)); // the holder is silent: dead, the task taken back
        drain(&mut c);
        c.beat_reply(Now::at(t + 10), beat(ex, 5, 1, vec![], vec![]));
        let out = drain(&mut c);
        persist_all(&mut c, t + 10, &out);
        let reply = c.beat_reply(Now::at(t + 20), beat(ex, 5, 2, vec![], vec![])).unwrap();
        assert_eq!(reply.assignments[0].task, task);
        check_only.push(reply.assignments[0].check_only);
        drain(&mut c);
    }
    assert_eq!(check_only, vec![false, true]);
}

/// Taking one task back leaves the holder's other undelivered assignments to be delivered.
#[test]
fn a_take_back_keeps_the_holders_other_assignments_in_its_outbox() {
    let mut c = leader();
    let (_first, second) = delivered_and_assigned(&mut c);
    // Beat 4 does not list the first (lost): taken back; the second is still delivered.
    let reply = c.beat_reply(Now::at(40), beat("ex-1", 1, 4, vec![], vec![])).unwrap();
    assert_eq!(reply.assignments.iter().map(|a| a.task.clone()).collect::<Vec<_>>(), vec![second]);
}
