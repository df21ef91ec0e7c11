//! Honesty: a fault the run planned must have fired, and a job it created must have come
//! due. A scenario that passes because its faults never happened (no node matched the
//! target, the trigger event never came) or its jobs never fired (a yearly cron in a
//! two-minute run) proves nothing, so it fails.

use super::{Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind, FaultPhase};
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

/// Flags each job created in the run that has no fire and no skipped instant by the run's
/// end, at its creation. Histories without a run end are left to the convergence checker.
pub fn every_job_fired(history: &[Event]) -> Vec<Violation> {
    let Some(end) = history.iter().find(|e| matches!(e.kind, EventKind::RunEnd { .. })) else {
        return Vec::new();
    };
    let mut came_due: std::collections::BTreeSet<&str> = Default::default();
    for e in history {
        if let EventKind::Fire { job, .. } | EventKind::FireSkipped { job, .. } = &e.kind {
            came_due.insert(job);
        }
    }
    let mut flagged: std::collections::BTreeSet<&str> = Default::default();
    history
        .iter()
        .enumerate()
        .filter_map(|(index, e)| match &e.kind {
            // A name created again after a delete is judged once.
            EventKind::JobCreated(created) if !came_due.contains(created.job.as_str()) && flagged.insert(&created.job) => {
                let job = &created.job;
                let message = format!(
                    "job {job} was created at {} ms but neither fired nor skipped an instant before the run ended at {} ms",
                    e.at_ms, end.at_ms
                );
                Some(Violation::at(history, index, ViolationKind::JobNotFired, format!("job {job}"), message))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::ev;
    use faultline_model::trace::JobCreation;

    fn planned(id: u64, firings: u32) -> EventKind {
        EventKind::FaultPlanned { id, fault: "crash".into(), firings, detail: Default::default() }
    }

    fn began(id: u64) -> EventKind {
        EventKind::Fault {
            id,
            fault: "crash".into(),
            phase: FaultPhase::Begin,
            target: "exec-1".into(),
            detail: Default::default(),
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

    fn created(job: &str) -> EventKind {
        EventKind::JobCreated(Box::new(JobCreation {
            job: job.into(),
            spec: Default::default(),
            from_ms: 0,
            base_unix_ms: 0,
            late_bound_ms: 100,
            settle_ms: 600,
        }))
    }

    #[test]
    fn a_job_that_never_came_due_is_flagged() {
        let fire =
            EventKind::Fire { job: "a".into(), scheduled_ms: 10, covers_from_ms: 10, task: "t1".into(), epoch: 1 };
        let skip = EventKind::FireSkipped {
            job: "b".into(),
            from_ms: 10,
            to_ms: 10,
            count: 1,
            reason: "misfire".into(),
            epoch: 1,
        };
        let end = EventKind::RunEnd { drained: true };
        let h = vec![
            ev(1, "coord-1", created("a")),
            ev(2, "coord-1", created("b")),
            ev(3, "coord-1", created("yearly")),
            ev(10, "coord-1", fire),
            ev(11, "coord-1", skip),
            ev(900, "harness", end),
        ];
        let v = every_job_fired(&h);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!((v[0].kind, v[0].subject.as_str(), v[0].event_index), (ViolationKind::JobNotFired, "job yearly", 2));
        assert_eq!(
            v[0].message,
            "job yearly was created at 3 ms but neither fired nor skipped an instant before the run ended at 900 ms"
        );
        assert!(every_job_fired(&h[..5]).is_empty(), "no verdict before the run ends");
    }
}
