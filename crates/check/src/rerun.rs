//! Re-runs of a success: an attempt that finished succeeded on an executor that lived on
//! must never be handed out again. The leader answers a reported completion with `done`
//! only once the outcome is durable, and the executor reports it until then, so a new
//! leader learns every success either from the store or from the executor's next beat.
//! A leader that says `done` too early (or forgets an outcome any other way) lets a crash
//! lose the success: its successor finds the task still running, its holder no longer
//! reports it, and it is run again. Sink idempotency hides that re-run from every safety
//! checker (the second apply is fenced as a duplicate), so only this one sees it.
//!
//! **RerunAfterSuccess.** A `dispatch` of a task, by the leader of the newest elected epoch,
//! with a token other than that of an attempt that had `complete`d succeeded while it was
//! the task's current attempt, unless in between:
//! - the attempt's executor incarnation was declared dead (`executor_dead`), or its node
//!   started again (`node_start`): its unreported completions went with it;
//! - the task was recorded terminal (a later dispatch is another checker's business).
//!
//! An attempt stops being current when another token of the task is dispatched or its
//! holder is declared dead; a success completed after that (a paused executor waking up)
//! is not judged. A dispatch by a deposed leader is `stale_leader`'s business.
//! One violation per task, at the re-dispatch.

use super::{NameMap, NameSet, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind};

/// A task's current attempt as the history shows it.
struct Current<'a> {
    token: (u64, u32),
    executor: &'a str,
    incarnation: u64,
    /// Its holder was declared dead or restarted since the dispatch.
    holder_gone: bool,
    /// Where it completed succeeded, while current and with its holder alive.
    succeeded_at: Option<u64>,
}

/// Flags re-dispatches of tasks whose current attempt had succeeded (see the module doc).
pub fn no_rerun_after_success(history: &[Event]) -> Vec<Violation> {
    let mut current: NameMap<Current> = NameMap::default();
    let mut flagged = NameSet::default();
    let mut newest_epoch = 0;
    let mut violations = Vec::new();
    for (index, event) in history.iter().enumerate() {
        match &event.kind {
            EventKind::LeaderElected { epoch } => newest_epoch = newest_epoch.max(*epoch),
            EventKind::Dispatch { task, executor, incarnation, epoch, attempt } => {
                let token = (*epoch, *attempt);
                if let Some(was) = current.get(task.as_str()).filter(|c| c.token != token) {
                    let forgotten = was.succeeded_at.filter(|_| !was.holder_gone && *epoch >= newest_epoch);
                    if let Some(at_ms) = forgotten.filter(|_| flagged.insert(task.as_str())) {
                        let what = format!(
                            "task {task} was dispatched again as epoch {epoch} attempt {attempt} after attempt \
                             (epoch {}, attempt {}) had succeeded on {} at {at_ms} ms, and {} was neither declared \
                             dead nor restarted in between: a success was forgotten",
                            was.token.0, was.token.1, was.executor, was.executor,
                        );
                        violations.push(Violation::at(
                            history,
                            index,
                            ViolationKind::RerunAfterSuccess,
                            task.to_string(),
                            what,
                        ));
                    }
                }
                let fresh =
                    Current { token, executor, incarnation: *incarnation, holder_gone: false, succeeded_at: None };
                current.insert(task, fresh);
            }
            EventKind::Complete { task, epoch, attempt, outcome } if outcome == "succeeded" => {
                if let Some(c) = current.get_mut(task.as_str()) {
                    if c.token == (*epoch, *attempt) && c.executor == event.node && !c.holder_gone {
                        c.succeeded_at.get_or_insert(event.at_ms);
                    }
                }
            }
            EventKind::ExecutorDead { executor, incarnation, .. } => {
                for c in current.values_mut() {
                    if c.executor == executor && c.incarnation == *incarnation {
                        c.holder_gone = true;
                    }
                }
            }
            EventKind::NodeStart { .. } => {
                for c in current.values_mut() {
                    if c.executor == event.node {
                        c.holder_gone = true;
                    }
                }
            }
            kind => {
                if let Some(task) = kind.terminal_task() {
                    current.remove(task);
                }
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::*;

    fn complete(task: &str, epoch: u64, attempt: u32) -> EventKind {
        EventKind::Complete { task: task.into(), epoch, attempt, outcome: "succeeded".into() }
    }

    fn dispatch_as(task: &str, epoch: u64, attempt: u32) -> EventKind {
        EventKind::Dispatch { task: task.into(), executor: "exec-1".into(), incarnation: 1, epoch, attempt }
    }

    /// The shape the early `done` produces: a success, a leader crash, the new leader runs
    /// the task again on a live executor.
    fn forgotten() -> Vec<Event> {
        vec![
            ev(0, "coord-1", elected(1)),
            ev(1, "coord-1", dispatch_as("t1", 1, 1)),
            ev(5, "exec-1", complete("t1", 1, 1)),
            ev(9, "coord-2", elected(2)),
            ev(12, "coord-2", dispatch_as("t1", 2, 2)),
        ]
    }

    #[test]
    fn a_success_run_again_on_a_live_executor_is_flagged_at_the_re_dispatch() {
        let violations = no_rerun_after_success(&forgotten());
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert_eq!((violations[0].kind, violations[0].event_index), (ViolationKind::RerunAfterSuccess, 4));
        assert!(violations[0].message.contains("succeeded on exec-1 at 5 ms"), "{}", violations[0].message);
    }

    #[test]
    fn a_holder_declared_dead_or_restarted_explains_the_re_run() {
        let dead = EventKind::ExecutorDead { executor: "exec-1".into(), incarnation: 1, reason: "x".into(), tasks: 1 };
        for gone in [ev(10, "coord-2", dead), ev(10, "exec-1", EventKind::NodeStart { incarnation: 2 })] {
            let mut history = forgotten();
            history.insert(4, gone);
            assert!(no_rerun_after_success(&history).is_empty());
        }
    }

    #[test]
    fn a_failure_a_stale_dispatch_or_a_success_after_the_holder_died_is_not_judged() {
        let mut failed = forgotten();
        failed[2] =
            ev(5, "exec-1", EventKind::Complete { task: "t1".into(), epoch: 1, attempt: 1, outcome: "failed".into() });
        assert!(no_rerun_after_success(&failed).is_empty());
        let mut stale = forgotten();
        stale.insert(4, ev(11, "coord-3", elected(3)));
        assert!(no_rerun_after_success(&stale).is_empty(), "epoch 2 is deposed by then");
        let mut woke_late = forgotten();
        let dead = EventKind::ExecutorDead { executor: "exec-1".into(), incarnation: 1, reason: "x".into(), tasks: 1 };
        woke_late.insert(2, ev(3, "coord-1", dead));
        assert!(no_rerun_after_success(&woke_late).is_empty());
    }

    #[test]
    fn a_task_recorded_terminal_is_no_longer_judged_here() {
        let mut history = forgotten();
        history.insert(3, ev(6, "coord-1", succeeded("t1")));
        assert!(no_rerun_after_success(&history).is_empty());
    }
}
