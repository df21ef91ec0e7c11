//! One leader per epoch, and epochs only move forward.
//!
//! Two leaders at once with different epochs is allowed: the older one may not have
//! heard of the newer epoch yet, and fencing makes its work harmless. Only the same
//! epoch on two nodes, or an election that does not raise the epoch, is a violation.

use super::{Violation, ViolationKind};
use faultline_model::trace::{Event, EventKind};
use std::collections::{BTreeMap, BTreeSet};

/// Flags, over `LeaderElected` events in history order, an epoch elected on a second
/// node (SplitBrain) and an election at or below the highest epoch seen so far that is
/// not a split brain (EpochRegression). Each violation sits at the offending election.
pub fn one_leader_per_epoch(history: &[Event]) -> Vec<Violation> {
    let mut leaders: BTreeMap<u64, BTreeSet<&str>> = BTreeMap::new();
    let mut highest: Option<(u64, &str)> = None;
    let mut violations = Vec::new();
    for (index, event) in history.iter().enumerate() {
        let EventKind::LeaderElected { epoch } = event.kind else {
            continue;
        };
        let node = event.node.as_str();
        let nodes = leaders.entry(epoch).or_default();
        if !nodes.is_empty() && !nodes.contains(node) {
            violations.push(split_brain(history, index, epoch, nodes));
        } else if let Some((top_epoch, top_node)) = highest.filter(|(top, _)| epoch <= *top) {
            let message = format!("epoch {epoch} elected on {node} after epoch {top_epoch} was elected on {top_node}");
            let subject = format!("epoch {epoch}");
            let kind = ViolationKind::EpochRegression;
            violations.push(Violation::at(history, index, kind, subject, message));
        }
        nodes.insert(node);
        if highest.is_none_or(|(top, _)| epoch > top) {
            highest = Some((epoch, node));
        }
    }
    violations
}

fn split_brain(history: &[Event], index: usize, epoch: u64, holders: &BTreeSet<&str>) -> Violation {
    let node = &history[index].node;
    let holders: Vec<&str> = holders.iter().copied().collect();
    let message = format!("epoch {epoch} elected on {node} while already held by {}", holders.join(", "));
    let subject = format!("epoch {epoch}");
    Violation::at(history, index, ViolationKind::SplitBrain, subject, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{elected, ev};

    #[test]
    fn same_epoch_on_two_nodes_is_split_brain_at_the_second_election() {
        let history = vec![ev(0, "node-a", elected(1)), ev(5, "node-a", elected(2)), ev(6, "node-b", elected(2))];
        assert_eq!(
            one_leader_per_epoch(&history),
            vec![Violation {
                kind: ViolationKind::SplitBrain,
                subject: "epoch 2".into(),
                event_index: 2,
                at_ms: 6,
                message: "epoch 2 elected on node-b while already held by node-a".into(),
            }]
        );
    }

    #[test]
    fn epoch_going_backwards_is_regression() {
        let history = vec![ev(0, "node-a", elected(1)), ev(5, "node-b", elected(3)), ev(9, "node-c", elected(2))];
        assert_eq!(
            one_leader_per_epoch(&history),
            vec![Violation {
                kind: ViolationKind::EpochRegression,
                subject: "epoch 2".into(),
                event_index: 2,
                at_ms: 9,
                message: "epoch 2 elected on node-c after epoch 3 was elected on node-b".into(),
            }]
        );
    }

    #[test]
    fn same_node_reelected_at_the_same_epoch_is_regression_not_split_brain() {
        let history = vec![ev(0, "node-a", elected(4)), ev(3, "node-a", elected(4))];
        let violations = one_leader_per_epoch(&history);
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].kind, ViolationKind::EpochRegression);
        assert_eq!(violations[0].event_index, 1);
    }

    #[test]
    fn rising_epochs_with_overlapping_leaders_pass() {
        // node-a still acts as leader of epoch 1 while node-b leads epoch 2: not a violation.
        let history = vec![ev(0, "node-a", elected(1)), ev(5, "node-b", elected(2)), ev(8, "node-a", elected(3))];
        assert_eq!(one_leader_per_epoch(&history), vec![]);
    }
}
