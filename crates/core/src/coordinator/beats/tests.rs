//! Heartbeats: answers, assignment and delivery, completions.

use crate::coordinator::tests::*;
use crate::coordinator::*;

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
    // A second task is assigned on beat 3 and its write confirmed.
    let (first, second) = delivered_and_assigned(&mut c);
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

/// A finished task leaves the open count: under `max_open_tasks = 1`, the next submit is
/// taken once the first task's success is written.
#[test]
fn a_finished_task_frees_its_place_under_the_open_task_bound() {
    let mut c = Coordinator::new(CoordinatorConfig { max_open_tasks: 1, ..Default::default() }, 1);
    c.become_leader(Now::at(0), EPOCH, vec![], vec![]);
    let task = delivered(&mut c);
    c.submit(5, spec("b"));
    assert_eq!(drain(&mut c), vec![Output::Reply { req: 5, reply: SubmitReply::Overloaded }]);
    let done = Completion { task, token: tok(1), outcome: Outcome::Succeeded };
    c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![], vec![done]));
    let out = drain(&mut c);
    persist_all(&mut c, 30, &out);
    c.submit(6, spec("b"));
    assert!(matches!(&drain(&mut c)[..], [Output::Write(_)]), "the second task is created");
}

/// An attempt reported with no verdict from the sink is retried with that reason, not as
/// a time-out.
#[test]
fn an_unknown_outcome_is_retried_with_its_own_reason() {
    let mut c = leader();
    let task = delivered(&mut c);
    let unknown = Completion { task, token: tok(1), outcome: Outcome::Unknown("its reply was lost".into()) };
    c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![], vec![unknown]));
    let out = drain(&mut c);
    let recorded = persist_all(&mut c, 30, &out);
    let Some(Output::Record(EventKind::Retry { failures: 0, reason, .. })) = recorded.last() else {
        panic!("expected a retry: {recorded:?}")
    };
    assert_eq!(reason, "attempt 1 has no verdict from the sink: its reply was lost");
}

/// What an executor reports holding must match this leader's holder and token: an attempt
/// under an older token is told to stop, even on the right executor.
#[test]
fn a_held_attempt_under_a_stale_token_is_cancelled() {
    let mut c = leader();
    let task = delivered(&mut c);
    let stale = Token { epoch: EPOCH - 1, attempt: 1 };
    let reply = c.beat_reply(Now::at(30), beat("ex-1", 1, 3, vec![(task.as_str(), stale)], vec![])).unwrap();
    assert_eq!(reply.cancel, vec![task]);
}

/// A beat that lists one delivered task but not another: the missing one was lost.
#[test]
fn a_lost_assignment_is_taken_back_even_when_the_executor_reports_another() {
    let mut c = leader();
    let (first, second) = delivered_and_assigned(&mut c);
    let reply = c.beat_reply(Now::at(40), beat("ex-1", 1, 4, vec![(first.as_str(), tok(1))], vec![])).unwrap();
    assert_eq!(reply.assignments[0].task, second);
    drain(&mut c);
    // Beat 5 lists the first task only: the second's delivery (in reply to beat 4) was lost.
    c.beat_reply(Now::at(50), beat("ex-1", 1, 5, vec![(first.as_str(), tok(1))], vec![]));
    let taken: Vec<_> = writes(&drain(&mut c)).iter().map(|w| (w.task().id.clone(), w.task().redispatches)).collect();
    assert_eq!(taken, vec![(second, 1)], "re-assigned at once, counted as a take-back");
}
