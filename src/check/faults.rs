//! Honesty: a fault the run planned must have fired. A scenario that passes because its
//! faults never happened (no node matched the target, the trigger event never came) proves
//! nothing, so it fails.

use super::{Violation, ViolationKind};
use crate::trace::{Event, EventKind, FaultPhase};
use std::collections::BTreeMap;

/// Flags each planned fault that began fewer times than planned, at its plan event.
/// Histories without a run end are left to the convergence checker.
pub fn every_fault_fired(history: &[Event]) -> Vec<Violation> {
    if !history.iter().any(|e| matches!(e.kind, EventKind::RunEnd { .. })) {
        return Vec::new();
    }
    let mut began: BTreeMap<u64, u32> = BTreeMap::new();
    for e in history {
        if let EventKind::Fault { id, phase: FaultPhase::Begin, .. } = &e.kind {
            *began.entry(*id).or_default() += 1;
        }
    }
    history
        .iter()
        .enumerate()
        .filter_map(|(index, e)| match &e.kind {
            EventKind::FaultPlanned { id, fault, firings, .. } => {
                let fired = began.get(id).copied().unwrap_or(0);
                (fired < *firings).then(|| {
                    let message = format!("fault {id} ({fault}) was planned to fire {firings} times but fired {fired}");
                    Violation::at(history, index, ViolationKind::FaultNotFired, format!("fault {id}"), message)
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::tests::ev;

    fn planned(id: u64, firings: u32) -> EventKind {
        EventKind::FaultPlanned { id, fault: "crash".into(), firings, detail: String::new() }
    }

    fn began(id: u64) -> EventKind {
        EventKind::Fault {
            id,
            fault: "crash".into(),
            phase: FaultPhase::Begin,
            target: "exec-1".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn a_planned_fault_that_never_fired_is_flagged() {
        let end = EventKind::RunEnd { drained: true };
        let h = vec![
            ev(0, "harness", planned(0, 1)),
            ev(0, "harness", planned(1, 2)),
            ev(5, "nemesis", began(1)),
            ev(9, "harness", end),
        ];
        let v = every_fault_fired(&h);
        assert_eq!(v.len(), 2, "{v:?}");
        assert_eq!((v[0].kind, v[0].subject.as_str(), v[0].event_index), (ViolationKind::FaultNotFired, "fault 0", 0));
        assert_eq!(v[1].message, "fault 1 (crash) was planned to fire 2 times but fired 1");
    }

    #[test]
    fn faults_that_fired_as_planned_pass() {
        let end = EventKind::RunEnd { drained: true };
        let h = vec![ev(0, "harness", planned(0, 1)), ev(5, "nemesis", began(0)), ev(9, "harness", end)];
        assert!(every_fault_fired(&h).is_empty());
        assert!(every_fault_fired(&h[..2]).is_empty(), "no verdict before the run ends");
    }
}
