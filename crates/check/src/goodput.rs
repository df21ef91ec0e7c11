//! Goodput: the share of acknowledged tasks that succeeded. Safety checkers pass a run in
//! which the scheduler dead-letters nearly everything (a sink overwhelmed by retries, say),
//! so this one holds the run to a floor: `[checks] min_goodput_percent` (default
//! `DEFAULT_MIN_GOODPUT_PERCENT`), read from the history's `check_bounds` event. Tasks
//! count once each, however many acks or terminal events they have; a run with no
//! acknowledged task, or no bound, is not judged.

use super::{NameSet, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind};

/// The floor when a scenario sets none. The workloads' own failure rates (5% per attempt,
/// 3 attempts) dead-letter about 0.01% of tasks; injected task faults in windows of a few
/// seconds stay far above 90%.
pub const DEFAULT_MIN_GOODPUT_PERCENT: u64 = 90;

/// Flags a run whose goodput is below its bound (LowGoodput, at the run's last event).
pub fn enough_goodput(history: &[Event]) -> Vec<Violation> {
    let bound = history.iter().find_map(|e| match &e.kind {
        EventKind::CheckBounds(b) => b.min_goodput_percent,
        _ => None,
    });
    let (Some(bound), Some(last)) = (bound.filter(|b| *b > 0), history.len().checked_sub(1)) else {
        return Vec::new();
    };
    let mut acked = NameSet::default();
    let mut succeeded = NameSet::default();
    let mut dead = NameSet::default();
    for event in history {
        match &event.kind {
            EventKind::Ack { task, .. } => {
                acked.insert(task.as_str());
            }
            EventKind::Succeeded { task, .. } => {
                succeeded.insert(task.as_str());
            }
            EventKind::Recovered { task, state, .. } if state == "succeeded" => {
                succeeded.insert(task.as_str());
            }
            EventKind::DeadLettered { task, .. } => {
                dead.insert(task.as_str());
            }
            _ => {}
        }
    }
    if acked.is_empty() {
        return Vec::new();
    }
    let ok = acked.iter().filter(|t| succeeded.contains(*t)).count() as u64;
    let total = acked.len() as u64;
    if ok * 100 >= bound * total {
        return Vec::new();
    }
    let dead = acked.iter().filter(|t| dead.contains(*t)).count();
    let message = format!(
        "goodput {:.1}%: {ok} of {total} acknowledged tasks succeeded ({dead} dead-lettered), below the bound of {bound}%",
        ok as f64 * 100.0 / total as f64
    );
    vec![Violation::at(history, last, ViolationKind::LowGoodput, "run", message)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{ack, check_bounds, dead_lettered, ev, succeeded};

    fn bound(percent: Option<u64>) -> Event {
        ev(0, "harness", check_bounds(None, 2_000, percent))
    }

    fn run(percent: Option<u64>, ok: usize, dead: usize) -> Vec<Event> {
        let mut history = vec![bound(percent)];
        for i in 0..ok + dead {
            let task = format!("t{i}");
            history.push(ev(1, "client", ack(&format!("k{i}"), &task)));
            history.push(ev(1, "client", ack(&format!("k{i}"), &task))); // acked twice: one task
            let end = if i < ok { succeeded(&task) } else { dead_lettered(&task, "3 of 3 attempts failed") };
            history.push(ev(2, "coord-1", end));
        }
        history
    }

    #[test]
    fn a_run_below_its_goodput_bound_is_flagged_once_at_its_end() {
        let history = run(Some(90), 8, 2);
        let found = enough_goodput(&history);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].kind, found[0].event_index), (ViolationKind::LowGoodput, history.len() - 1));
        assert_eq!(
            found[0].message,
            "goodput 80.0%: 8 of 10 acknowledged tasks succeeded (2 dead-lettered), below the bound of 90%"
        );
    }

    #[test]
    fn at_the_bound_or_without_one_the_run_passes() {
        assert!(enough_goodput(&run(Some(90), 9, 1)).is_empty());
        assert!(enough_goodput(&run(None, 1, 9)).is_empty());
        assert!(enough_goodput(&run(Some(0), 1, 9)).is_empty());
        assert!(enough_goodput(&run(Some(90), 0, 0)).is_empty());
    }
}
