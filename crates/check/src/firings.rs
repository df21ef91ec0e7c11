//! Fault firings as a history shows them: each `fault` begin paired with its end. Shared by
//! the checkers that excuse what a fault explains and by the report's recovery metrics.

use faultline_model::trace::{Event, EventKind, FaultPhase};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// One firing: indices of its Begin and End events in the history.
pub struct Firing<'h> {
    pub id: u64,
    pub kind: &'h str,
    pub target: &'h str,
    pub begin: usize,
    pub end: Option<usize>,
}

impl Firing<'_> {
    /// When it began and ended (none: still in progress at the end of the history), ms.
    pub fn window_ms(&self, history: &[Event]) -> (u64, Option<u64>) {
        (history[self.begin].at_ms, self.end.map(|end| history[end].at_ms))
    }
}

/// Whether a firing with `window` (from [`Firing::window_ms`]) was in progress at some
/// moment of `from_ms ..= to_ms`.
pub fn in_progress_during((begin, end): (u64, Option<u64>), from_ms: u64, to_ms: u64) -> bool {
    begin <= to_ms && end.is_none_or(|end| end >= from_ms)
}

/// Every firing in begin order. An End closes the oldest open firing of its id; an End
/// with none open (a firing that never fired) is skipped.
pub fn firings(history: &[Event]) -> Vec<Firing<'_>> {
    let mut out: Vec<Firing<'_>> = Vec::new();
    let mut open: BTreeMap<u64, VecDeque<usize>> = BTreeMap::new();
    for (index, event) in history.iter().enumerate() {
        let EventKind::Fault { id, fault, phase, target, .. } = &event.kind else { continue };
        match phase {
            FaultPhase::Begin => {
                open.entry(*id).or_default().push_back(out.len());
                out.push(Firing { id: *id, kind: fault, target, begin: index, end: None });
            }
            FaultPhase::End => {
                if let Some(k) = open.get_mut(id).and_then(VecDeque::pop_front) {
                    out[k].end = Some(index);
                }
            }
        }
    }
    out
}

/// The node names of a fault's `target` (the nemesis joins them with commas).
pub fn nodes(target: &str) -> BTreeSet<&str> {
    target.split(',').map(str::trim).filter(|n| !n.is_empty()).collect()
}
