//! No lost tasks: every acknowledged task must end succeeded or dead-lettered, a dead-letter
//! must say why, and a task may be compacted out of the store only once it has ended.

use super::{terminal_tasks, NameSet, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind};

/// Flags each acknowledged task with no terminal event anywhere in `history` (LostTask,
/// at its first Ack) and each task dead-lettered with a blank reason (MissingReason, at
/// that dead-letter), and each task compacted before any terminal event of it (LostTask, at
/// the compaction: nothing would finish it). At most one violation of each kind per task.
pub fn no_lost_tasks(history: &[Event]) -> Vec<Violation> {
    let terminal = terminal_tasks(history);
    let mut ended = NameSet::default();
    let mut compacted_open = NameSet::default();
    let mut seen_acks = NameSet::default();
    let mut seen_blank_reasons = NameSet::default();
    let mut violations = Vec::new();
    for (index, event) in history.iter().enumerate() {
        if let Some(task) = event.kind.terminal_task() {
            ended.insert(task);
        }
        match &event.kind {
            EventKind::Compacted { task, .. }
                if !ended.contains(task.as_str()) && compacted_open.insert(task.as_str()) =>
            {
                let message = format!("task {task} was compacted out of the store before it ended");
                violations.push(Violation::at(history, index, ViolationKind::LostTask, task.to_string(), message));
            }
            EventKind::Ack { key, task } => {
                let first_ack = seen_acks.insert(task.as_str());
                if first_ack && !terminal.contains(task.as_str()) {
                    violations.push(lost(history, index, key, task));
                }
            }
            EventKind::DeadLettered { task, reason } => {
                // Only blank reasons are recorded, so a task is flagged once however often.
                let first_blank = reason.trim().is_empty() && seen_blank_reasons.insert(task.as_str());
                if first_blank {
                    violations.push(missing_reason(history, index, task));
                }
            }
            _ => {}
        }
    }
    violations
}

fn lost(history: &[Event], index: usize, key: &str, task: &str) -> Violation {
    let message = format!("task {task} (key {key}) was acknowledged but never succeeded or dead-lettered");
    Violation::at(history, index, ViolationKind::LostTask, task, message)
}

fn missing_reason(history: &[Event], index: usize, task: &str) -> Violation {
    let message = format!("task {task} was dead-lettered with an empty reason");
    Violation::at(history, index, ViolationKind::MissingReason, task, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{ack, dead_lettered, ev, submit, succeeded};

    #[test]
    fn acked_task_never_finished_is_lost_at_its_first_ack() {
        let history = vec![
            ev(0, "client", submit("k1")),
            ev(5, "client", ack("k1", "t1")),
            ev(6, "client", ack("k1", "t1")),
            ev(9, "leader-1", succeeded("t2")),
        ];
        assert_eq!(
            no_lost_tasks(&history),
            vec![Violation {
                kind: ViolationKind::LostTask,
                subject: "t1".into(),
                event_index: 1,
                at_ms: 5,
                message: "task t1 (key k1) was acknowledged but never succeeded or dead-lettered".into(),
            }]
        );
    }

    #[test]
    fn a_task_compacted_before_it_ended_is_lost_at_its_compaction() {
        let compacted = |task: &str| EventKind::Compacted { task: task.into(), epoch: 2 };
        let history = vec![
            ev(1, "leader-1", succeeded("t1")),
            ev(2, "leader-1", compacted("t1")),
            ev(3, "leader-1", compacted("t2")),
            ev(4, "leader-1", compacted("t2")),
            ev(5, "leader-1", succeeded("t2")),
        ];
        let lost = no_lost_tasks(&history);
        assert_eq!(lost.len(), 1, "{lost:?}");
        assert_eq!((lost[0].subject.as_str(), lost[0].event_index), ("t2", 2));
        assert_eq!(lost[0].message, "task t2 was compacted out of the store before it ended");
    }

    #[test]
    fn dead_lettered_with_blank_reason_is_missing_reason_once() {
        let history = vec![
            ev(1, "client", ack("k1", "t1")),
            ev(7, "leader-1", dead_lettered("t1", "  ")),
            ev(8, "leader-1", dead_lettered("t1", "")),
        ];
        assert_eq!(
            no_lost_tasks(&history),
            vec![Violation {
                kind: ViolationKind::MissingReason,
                subject: "t1".into(),
                event_index: 1,
                at_ms: 7,
                message: "task t1 was dead-lettered with an empty reason".into(),
            }]
        );
    }

    #[test]
    fn every_acked_task_terminal_passes() {
        let history = vec![
            ev(1, "client", ack("k1", "t1")),
            ev(2, "client", ack("k2", "t2")),
            ev(3, "leader-1", succeeded("t1")),
            ev(4, "leader-1", dead_lettered("t2", "retries exhausted")),
        ];
        assert_eq!(no_lost_tasks(&history), vec![]);
    }

    #[test]
    fn terminal_event_before_the_ack_still_counts() {
        // The ack can reach the client after the task already finished.
        let history = vec![ev(3, "leader-1", succeeded("t1")), ev(4, "client", ack("k1", "t1"))];
        assert_eq!(no_lost_tasks(&history), vec![]);
    }
}
