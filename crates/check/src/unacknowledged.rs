//! Availability: the client retries every submit until it is acknowledged, so once the
//! faults heal every submitted key must have been acknowledged by the end of the run. A
//! key that never is shows a scheduler that stopped answering (or answered wrongly).

use super::{NameMap, NameSet, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind};

/// Flags each key with a `Submit` but no `Ack` anywhere in `history`, at its first Submit.
/// Histories without a run end are left to the convergence checker.
pub fn every_submit_acknowledged(history: &[Event]) -> Vec<Violation> {
    if !history.iter().any(|e| matches!(e.kind, EventKind::RunEnd { .. })) {
        return Vec::new();
    }
    let acked: NameSet = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Ack { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let mut first_submit: NameMap<usize> = NameMap::default();
    for (index, e) in history.iter().enumerate() {
        if let EventKind::Submit { key } = &e.kind {
            first_submit.entry(key).or_insert(index);
        }
    }
    let mut open: Vec<(usize, &str)> =
        first_submit.into_iter().filter(|(key, _)| !acked.contains(key)).map(|(k, i)| (i, k)).collect();
    open.sort();
    open.into_iter()
        .map(|(index, key)| {
            let message = format!("key {key} was submitted but never acknowledged by the end of the run");
            Violation::at(history, index, ViolationKind::Unacknowledged, key, message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{ack, ev, submit, succeeded};

    fn run_end() -> EventKind {
        EventKind::RunEnd { drained: true }
    }

    #[test]
    fn a_submit_never_acknowledged_is_flagged_at_its_first_submit() {
        let history = vec![
            ev(0, "client", submit("k1")),
            ev(1, "client", submit("k2")),
            ev(2, "client", ack("k1", "t1")),
            ev(3, "leader", succeeded("t1")),
            ev(4, "client", submit("k2")),
            ev(9, "harness", run_end()),
        ];
        let v = every_submit_acknowledged(&history);
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].kind, v[0].subject.as_str(), v[0].event_index, v[0].at_ms),
            (ViolationKind::Unacknowledged, "k2", 1, 1)
        );
    }

    #[test]
    fn every_submit_acknowledged_passes_and_unfinished_histories_are_not_judged() {
        let mut history =
            vec![ev(0, "client", submit("k1")), ev(2, "client", ack("k1", "t1")), ev(9, "harness", run_end())];
        assert!(every_submit_acknowledged(&history).is_empty());
        history.remove(1);
        history.pop();
        assert!(every_submit_acknowledged(&history).is_empty(), "no run end: convergence's job");
    }
}
