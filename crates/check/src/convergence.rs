//! Convergence: once faults heal, the run must drain, i.e. end with every acknowledged
//! task terminal. A history without a run end cannot show that, so it fails too.

use super::{terminal_tasks, NameSet, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind};

/// Passes iff the first `RunEnd` in `history` says `drained: true`. An undrained end is
/// pinned to the first Ack of a task still open at that point (or to the RunEnd itself);
/// a missing end is pinned to the last event.
pub fn converges(history: &[Event]) -> Vec<Violation> {
    let run_end = history.iter().enumerate().find_map(|(index, event)| match event.kind {
        EventKind::RunEnd { drained } => Some((index, drained)),
        _ => None,
    });
    match run_end {
        Some((_, true)) => Vec::new(),
        Some((index, false)) => vec![undrained(history, index)],
        None => {
            let index = history.len().saturating_sub(1);
            let message = "history has no run end".to_string();
            vec![Violation::at(history, index, ViolationKind::NoConvergence, "run", message)]
        }
    }
}

/// The violation for a run that ended at `run_end` without draining.
fn undrained(history: &[Event], run_end: usize) -> Violation {
    let before_end = &history[..run_end];
    let terminal = terminal_tasks(before_end);
    let mut acked = NameSet::default();
    let mut open = NameSet::default();
    let mut first_open_ack = None;
    for (index, event) in before_end.iter().enumerate() {
        let EventKind::Ack { task, .. } = &event.kind else {
            continue;
        };
        acked.insert(task.as_str());
        if !terminal.contains(task.as_str()) && open.insert(task.as_str()) {
            first_open_ack.get_or_insert(index);
        }
    }
    let deadline = match drain_deadline_ms(before_end) {
        Some(deadline_ms) => format!("drain deadline {deadline_ms} ms"),
        None => "no drain start".to_string(),
    };
    let message = format!(
        "run ended undrained with {} of {} acknowledged tasks not terminal ({deadline})",
        open.len(),
        acked.len(),
    );
    let index = first_open_ack.unwrap_or(run_end);
    Violation::at(history, index, ViolationKind::NoConvergence, "run", message)
}

/// The deadline of the last `DrainStart` in `history`, if the drain phase began.
fn drain_deadline_ms(history: &[Event]) -> Option<u64> {
    history.iter().rev().find_map(|event| match event.kind {
        EventKind::DrainStart { deadline_ms } => Some(deadline_ms),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{ack, drain_start, ev, run_end, succeeded};

    #[test]
    fn undrained_run_is_flagged_at_first_open_ack() {
        let history = vec![
            ev(1, "client", ack("k1", "t1")),
            ev(2, "client", ack("k2", "t2")),
            ev(3, "client", ack("k3", "t3")),
            ev(4, "leader-1", succeeded("t1")),
            ev(10, "sim", drain_start(30_000)),
            ev(30_000, "sim", run_end(false)),
            ev(30_001, "leader-1", succeeded("t2")),
        ];
        assert_eq!(
            converges(&history),
            vec![Violation {
                kind: ViolationKind::NoConvergence,
                subject: "run".into(),
                event_index: 1,
                at_ms: 2,
                message: "run ended undrained with 2 of 3 acknowledged tasks not terminal \
                          (drain deadline 30000 ms)"
                    .into(),
            }]
        );
    }

    #[test]
    fn undrained_run_with_no_open_task_is_flagged_at_the_run_end() {
        let history =
            vec![ev(1, "client", ack("k1", "t1")), ev(2, "leader-1", succeeded("t1")), ev(9, "sim", run_end(false))];
        assert_eq!(
            converges(&history),
            vec![Violation {
                kind: ViolationKind::NoConvergence,
                subject: "run".into(),
                event_index: 2,
                at_ms: 9,
                message: "run ended undrained with 0 of 1 acknowledged tasks not terminal \
                          (no drain start)"
                    .into(),
            }]
        );
    }

    #[test]
    fn history_without_run_end_is_flagged_at_its_last_event() {
        let history = vec![ev(1, "client", ack("k1", "t1")), ev(7, "leader-1", succeeded("t1"))];
        assert_eq!(
            converges(&history),
            vec![Violation {
                kind: ViolationKind::NoConvergence,
                subject: "run".into(),
                event_index: 1,
                at_ms: 7,
                message: "history has no run end".into(),
            }]
        );
    }

    #[test]
    fn empty_history_is_flagged_at_index_zero() {
        let violations = converges(&[]);
        assert_eq!(
            violations,
            vec![Violation {
                kind: ViolationKind::NoConvergence,
                subject: "run".into(),
                event_index: 0,
                at_ms: 0,
                message: "history has no run end".into(),
            }]
        );
    }

    #[test]
    fn drained_run_passes() {
        let history = vec![
            ev(1, "client", ack("k1", "t1")),
            ev(2, "leader-1", succeeded("t1")),
            ev(3, "sim", drain_start(100)),
            ev(4, "sim", run_end(true)),
        ];
        assert_eq!(converges(&history), vec![]);
    }
}
