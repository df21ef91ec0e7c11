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
