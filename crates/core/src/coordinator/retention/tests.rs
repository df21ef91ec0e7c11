//! Retention: a finished task is compacted once its retention is over, and not before.

use crate::coordinator::tests::*;
use crate::coordinator::*;

const RETENTION_MS: u64 = 1_000;

fn leader_retaining() -> Coordinator {
    let mut c = Coordinator::new(CoordinatorConfig { retention_ms: RETENTION_MS, ..CoordinatorConfig::default() }, 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    c
}

/// Runs one task to success, durable at 40 ms; returns it.
fn succeeded_at_40(c: &mut Coordinator) -> TaskId {
    let task = delivered(c);
    let done = Completion { task: task.clone(), token: tok(1), outcome: Outcome::Succeeded };
    c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![], vec![done]));
    let out = drain(c);
    persist_all(c, 40, &out);
    task
}

fn deletes(outputs: &[Output]) -> Vec<Compaction> {
    writes(outputs).into_iter().filter_map(|w| w.delete).collect()
}

#[test]
fn a_finished_task_is_compacted_when_its_retention_ends_and_its_key_then_names_a_new_task() {
    let mut c = leader_retaining();
    let task = succeeded_at_40(&mut c);
    assert!(c.poll_timeout().mono_ms.is_some_and(|t| t <= 40 + RETENTION_MS), "the core asks to wake by then");
    c.tick(Now::at(40 + RETENTION_MS - 1));
    assert!(deletes(&drain(&mut c)).is_empty(), "not before the retention ends");
    c.tick(Now::at(40 + RETENTION_MS));
    let out = drain(&mut c);
    assert_eq!(deletes(&out), vec![Compaction { task: task.clone(), key: "k".into() }]);
    let confirmed = persist_all(&mut c, 40 + RETENTION_MS, &out);
    assert!(confirmed.contains(&Output::Record(EventKind::Compacted { task: task.clone(), epoch: EPOCH })));
    c.submit(9, spec("k"));
    let out = drain(&mut c);
    let created = writes(&out);
    assert_eq!(created.len(), 1);
    assert!(created[0].create_key && created[0].task().id != task, "a compacted key names a new task");
}

#[test]
fn an_open_task_is_never_compacted_and_a_new_leader_retains_what_it_loads_finished() {
    let mut done = TaskRecord::new("t3-1".into(), spec("a"));
    done.state = TaskState::Succeeded;
    let open = TaskRecord::new("t3-2".into(), spec("b"));
    let mut c = Coordinator::new(CoordinatorConfig { retention_ms: RETENTION_MS, ..CoordinatorConfig::default() }, 1);
    c.become_leader(Now::at(500), EPOCH, vec![done, open], vec![]);
    drain(&mut c);
    c.tick(Now::at(500 + RETENTION_MS));
    let out = drain(&mut c);
    assert_eq!(deletes(&out), vec![Compaction { task: "t3-1".into(), key: "a".into() }], "retained from takeover");
    c.tick(Now::at(500 + 100 * RETENTION_MS));
    assert!(deletes(&drain(&mut c)).is_empty(), "the open task stays");
}

#[test]
fn a_task_records_when_it_finished_and_a_new_leader_keeps_it_only_the_rest_of_its_retention() {
    let mut c = leader_retaining();
    let task = delivered(&mut c);
    let done = Completion { task: task.clone(), token: tok(1), outcome: Outcome::Succeeded };
    c.beat_reply(Now { mono_ms: 30, wall_ms: 5_030 }, beat("ex-1", 1, 3, vec![], vec![done]));
    let finished: Vec<Option<u64>> = writes(&drain(&mut c)).iter().map(|w| w.task().finished_at_ms).collect();
    assert_eq!(finished, [Some(5_030)], "the finish, by the leader's wall clock");
    // A successor takes over 600 ms (by its wall clock) after a finish: 400 ms are left.
    let mut done = TaskRecord::new("t3-1".into(), spec("a"));
    done.state = TaskState::Succeeded;
    done.finished_at_ms = Some(10_000);
    let mut unstamped = TaskRecord::new("t3-2".into(), spec("b"));
    unstamped.state = TaskState::Succeeded;
    let mut c = Coordinator::new(CoordinatorConfig { retention_ms: RETENTION_MS, ..CoordinatorConfig::default() }, 1);
    c.become_leader(Now { mono_ms: 50, wall_ms: 10_600 }, EPOCH, vec![done, unstamped], vec![]);
    drain(&mut c);
    c.tick(Now { mono_ms: 50 + 399, wall_ms: 10_999 });
    assert!(deletes(&drain(&mut c)).is_empty());
    c.tick(Now { mono_ms: 50 + 400, wall_ms: 11_000 });
    assert_eq!(deletes(&drain(&mut c)), vec![Compaction { task: "t3-1".into(), key: "a".into() }]);
    c.tick(Now { mono_ms: 50 + RETENTION_MS, wall_ms: 11_600 });
    assert_eq!(
        deletes(&drain(&mut c)),
        vec![Compaction { task: "t3-2".into(), key: "b".into() }],
        "a record without a finish time: a whole retention from the takeover"
    );
}
