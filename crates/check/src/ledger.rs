//! Outcomes against the sink's ledger: a task's recorded end must agree with what the sink
//! accepted. The lost-task checker trusts the coordinator's outcome events; this one does
//! not. It reads the sink's `apply` verdicts, which the sink records itself, and holds each
//! terminal outcome against them:
//!
//! - **DeadLetteredWithEffect.** A task dead-lettered (or recovered as dead-lettered) whose
//!   effect the sink accepted, before or after the dead-letter. A dead-letter tells the
//!   operator the effect did not happen; replaying it would apply it twice.
//! - **SucceededWithoutEffect.** A task recorded succeeded (or recovered as succeeded) with
//!   no accepted apply before it (by time: an apply in the same millisecond counts, since a
//!   real run's merged histories order one millisecond's events of different processes
//!   arbitrarily). Every task body ends with one apply at the sink (the built-in body
//!   does, in both modes), so a success the sink never saw is a lie.
//!
//! A restarted sink's `apply_recovered` (an effect its ledger committed just before the
//! process died, whose `apply` may never have been recorded) counts as a landing too.
//!
//! One violation per task, at its first terminal event. A fire that overlap `replace`
//! cancelled (dead-lettered with a reason starting `REPLACED_REASON_PREFIX`) is told to stop
//! at its executor's next beat, so its effect may still land: the scheduler documents that
//! race, so such a task is counted (`replaced_with_effect`, shown in every summary) rather
//! than flagged.

use super::{NameMap, NameSet, Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind, Verdict, REPLACED_REASON_PREFIX};

/// The first accepted apply of a task: where and by whom.
struct Landed<'a> {
    at_ms: u64,
    executor: &'a str,
    epoch: u64,
    attempt: u32,
}

/// Flags terminal outcomes the sink's ledger contradicts (see the module doc); also returns
/// how many replaced fires had their effect land.
pub fn outcomes_match_ledger(history: &[Event]) -> (Vec<Violation>, u64) {
    let mut landed: NameMap<Landed> = NameMap::default();
    for event in history {
        let (EventKind::Apply { task, executor, epoch, attempt, verdict: Verdict::Accepted, .. }
        | EventKind::ApplyRecovered { task, executor, epoch, attempt, .. }) = &event.kind
        else {
            continue;
        };
        let first = Landed { at_ms: event.at_ms, executor, epoch: *epoch, attempt: *attempt };
        landed.entry(task.as_str()).or_insert(first);
    }
    let mut judged = NameSet::default();
    let mut violations = Vec::new();
    let mut replaced_with_effect = 0;
    for (index, event) in history.iter().enumerate() {
        let (task, succeeded, reason) = match &event.kind {
            EventKind::Succeeded { task, .. } => (task, true, None),
            EventKind::DeadLettered { task, reason } => (task, false, Some(reason.as_str())),
            EventKind::Recovered { task, state, reason } => (task, state == "succeeded", reason.as_deref()),
            _ => continue,
        };
        if !judged.insert(task.as_str()) {
            continue;
        }
        let effect = landed.get(task.as_str());
        let message = match (succeeded, effect) {
            (true, Some(effect)) if effect.at_ms <= event.at_ms => continue,
            (true, _) => format!("task {task} was recorded succeeded but the sink had accepted no effect of it"),
            (false, None) => continue,
            (false, Some(_)) if reason.is_some_and(|r| r.starts_with(REPLACED_REASON_PREFIX)) => {
                replaced_with_effect += 1;
                continue;
            }
            (false, Some(effect)) => format!(
                "task {task} was dead-lettered ({}) but the sink accepted its effect at {} ms \
                 (by {} with token epoch {}, attempt {})",
                reason.unwrap_or("found dead-lettered by a new leader"),
                effect.at_ms,
                effect.executor,
                effect.epoch,
                effect.attempt,
            ),
        };
        let kind =
            if succeeded { ViolationKind::SucceededWithoutEffect } else { ViolationKind::DeadLetteredWithEffect };
        violations.push(Violation::at(history, index, kind, task.as_str(), message));
    }
    (violations, replaced_with_effect)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{apply, dead_lettered, ev, succeeded};

    fn recovered_dead(task: &str, reason: Option<&str>) -> EventKind {
        EventKind::Recovered { task: task.into(), state: "dead_lettered".into(), reason: reason.map(Into::into) }
    }

    #[test]
    fn dead_letter_of_a_landed_effect_is_flagged_whenever_it_landed() {
        let history = vec![
            ev(1, "sink", apply("t1", "exec-1", 1, 1, Verdict::Accepted)),
            ev(2, "node-a", dead_lettered("t1", "3 of 3 attempts failed")),
            ev(3, "node-a", dead_lettered("t2", "3 of 3 attempts failed")),
            ev(4, "sink", apply("t2", "exec-2", 1, 3, Verdict::Accepted)),
            ev(5, "node-a", dead_lettered("t3", "3 of 3 attempts failed")),
            ev(6, "sink", apply("t3", "exec-2", 1, 3, Verdict::Stale)),
            ev(7, "node-a", dead_lettered("t4", "replaced by the job's fire at 7 ms (overlap: replace)")),
            ev(8, "sink", apply("t4", "exec-2", 1, 1, Verdict::Accepted)),
            // A replaced fire whose dead-letter only a new leader recorded, from its record.
            ev(9, "sink", apply("t5", "exec-2", 1, 1, Verdict::Accepted)),
            ev(10, "node-b", recovered_dead("t5", Some("replaced by the job's fire at 9 ms (overlap: replace)"))),
            ev(11, "sink", apply("t6", "exec-2", 1, 1, Verdict::Accepted)),
            ev(12, "node-b", recovered_dead("t6", None)),
        ];
        let (found, replaced) = outcomes_match_ledger(&history);
        assert_eq!(replaced, 2, "t4 and t5 are counted, not flagged");
        let kinds: Vec<_> = found.iter().map(|v| (v.subject.as_str(), v.kind, v.event_index)).collect();
        assert_eq!(
            kinds,
            vec![
                ("t1", ViolationKind::DeadLetteredWithEffect, 1),
                ("t2", ViolationKind::DeadLetteredWithEffect, 2),
                ("t6", ViolationKind::DeadLetteredWithEffect, 11),
            ]
        );
        assert_eq!(
            found[0].message,
            "task t1 was dead-lettered (3 of 3 attempts failed) but the sink accepted its effect at 1 ms \
             (by exec-1 with token epoch 1, attempt 1)"
        );
    }

    #[test]
    fn success_needs_an_accepted_apply_before_it() {
        let history = vec![
            ev(1, "sink", apply("t1", "exec-1", 1, 1, Verdict::Accepted)),
            ev(2, "node-a", succeeded("t1")),
            ev(3, "sink", apply("t2", "exec-1", 1, 1, Verdict::Duplicate)),
            ev(4, "node-a", succeeded("t2")),
            ev(5, "node-a", succeeded("t3")),
            ev(6, "sink", apply("t3", "exec-1", 1, 1, Verdict::Accepted)),
            ev(7, "node-b", EventKind::Recovered { task: "t4".into(), state: "succeeded".into(), reason: None }),
            ev(8, "node-b", EventKind::Recovered { task: "t1".into(), state: "succeeded".into(), reason: None }),
            // Merged real histories order one millisecond's events arbitrarily: a tie counts.
            ev(9, "coord-1", succeeded("t7")),
            ev(9, "sink", apply("t7", "exec-1", 1, 1, Verdict::Accepted)),
        ];
        let found: Vec<_> = outcomes_match_ledger(&history).0.into_iter().map(|v| (v.subject, v.kind)).collect();
        let want = [("t2", ViolationKind::SucceededWithoutEffect), ("t3", ViolationKind::SucceededWithoutEffect)];
        let mut want: Vec<_> = want.iter().map(|(t, k)| (t.to_string(), *k)).collect();
        want.push(("t4".into(), ViolationKind::SucceededWithoutEffect));
        assert_eq!(found, want);
    }

    /// A restarted sink's `apply_recovered` is the ledger's word that the effect landed: it
    /// backs a success and convicts a dead-letter like an accepted apply.
    #[test]
    fn a_recovered_apply_counts_as_a_landing() {
        let recovered = |task: &str| EventKind::ApplyRecovered {
            task: task.into(),
            key: format!("key-{task}").into(),
            executor: "exec-1".into(),
            epoch: 1,
            attempt: 1,
        };
        let history = vec![
            ev(1, "sink", recovered("t1")),
            ev(2, "node-a", succeeded("t1")),
            ev(3, "sink", recovered("t2")),
            ev(4, "node-a", dead_lettered("t2", "3 of 3 attempts failed")),
        ];
        let found: Vec<_> = outcomes_match_ledger(&history).0.into_iter().map(|v| (v.subject, v.kind)).collect();
        assert_eq!(found, vec![("t2".to_string(), ViolationKind::DeadLetteredWithEffect)]);
    }
}
