//! No unfenced duplicate applies: the sink may accept each task's effect at most once.
//!
//! Fenced rejections (verdict duplicate or stale) are the fencing working, not a
//! violation; `Counts` tallies them.

use super::{NameMap, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind, Verdict};

/// The first accepted apply of a task, kept to name it when a later one lands too.
struct FirstApply<'a> {
    executor: &'a str,
    epoch: u64,
    attempt: u32,
    accepted: u32,
}

/// Flags every accepted apply of a task after its first (DuplicateApply, at that apply).
pub fn no_duplicate_applies(history: &[Event]) -> Vec<Violation> {
    let mut firsts: NameMap<FirstApply> = NameMap::default();
    let mut violations = Vec::new();
    for (index, event) in history.iter().enumerate() {
        let EventKind::Apply { task, executor, epoch, attempt, verdict: Verdict::Accepted, .. } = &event.kind else {
            continue;
        };
        let Some(first) = firsts.get_mut(task.as_str()) else {
            let first = FirstApply { executor, epoch: *epoch, attempt: *attempt, accepted: 1 };
            firsts.insert(task, first);
            continue;
        };
        first.accepted += 1;
        let message = format!(
            "task {task} accepted at the sink {} times: first by {} with token (epoch {}, \
             attempt {}), now by {executor} with token (epoch {epoch}, attempt {attempt})",
            first.accepted, first.executor, first.epoch, first.attempt,
        );
        violations.push(Violation::at(history, index, ViolationKind::DuplicateApply, task.as_str(), message));
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{apply, ev};

    #[test]
    fn second_accepted_apply_is_flagged_and_stale_rejection_is_not() {
        let history = vec![
            ev(10, "sink", apply("t1", "exec-1", 1, 1, Verdict::Accepted)),
            ev(11, "sink", apply("t1", "exec-3", 1, 1, Verdict::Stale)),
            ev(12, "sink", apply("t1", "exec-2", 2, 2, Verdict::Accepted)),
        ];
        assert_eq!(
            no_duplicate_applies(&history),
            vec![Violation {
                kind: ViolationKind::DuplicateApply,
                subject: "t1".into(),
                event_index: 2,
                at_ms: 12,
                message: "task t1 accepted at the sink 2 times: first by exec-1 with token \
                          (epoch 1, attempt 1), now by exec-2 with token (epoch 2, attempt 2)"
                    .into(),
            }]
        );
    }

    #[test]
    fn third_accepted_apply_is_flagged_again() {
        let history = vec![
            ev(1, "sink", apply("t1", "exec-1", 1, 1, Verdict::Accepted)),
            ev(2, "sink", apply("t1", "exec-1", 1, 2, Verdict::Accepted)),
            ev(3, "sink", apply("t1", "exec-2", 1, 3, Verdict::Accepted)),
        ];
        let violations = no_duplicate_applies(&history);
        let indexes: Vec<usize> = violations.iter().map(|v| v.event_index).collect();
        assert_eq!(indexes, vec![1, 2]);
        assert_eq!(
            violations[1].message,
            "task t1 accepted at the sink 3 times: first by exec-1 with token (epoch 1, \
             attempt 1), now by exec-2 with token (epoch 1, attempt 3)"
        );
    }

    #[test]
    fn one_accept_per_task_with_fenced_rejections_passes() {
        let history = vec![
            ev(1, "sink", apply("t1", "exec-1", 1, 1, Verdict::Accepted)),
            ev(2, "sink", apply("t1", "exec-2", 1, 2, Verdict::Duplicate)),
            ev(3, "sink", apply("t1", "exec-1", 1, 1, Verdict::Stale)),
            ev(4, "sink", apply("t2", "exec-2", 1, 1, Verdict::Accepted)),
        ];
        assert_eq!(no_duplicate_applies(&history), vec![]);
    }
}
