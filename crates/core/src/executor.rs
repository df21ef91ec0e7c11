//! The executor state machine: which attempts this process holds, what it has finished
//! and not yet had acknowledged, and the highest leader epoch it has seen (to reject
//! stale leaders). The driver runs task bodies and the heartbeat loop around it.
//!
//! Like the coordinator, it answers through a queue: `on_reply` queues [`Action`]s and
//! the driver takes them with [`Executor::poll_output`], in order.

use crate::{Outcome, TaskId, TaskSpec, Token};
use std::collections::{BTreeMap, VecDeque};

/// An attempt handed to this executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub task: TaskId,
    pub token: Token,
    pub spec: TaskSpec,
    /// An earlier attempt's effect may have landed: ask the sink before running the body.
    pub check_first: bool,
    /// Ask the sink and never run the body (the task was taken back too often): an effect
    /// that landed makes the attempt succeed, none makes it fail. Implies `check_first`.
    pub check_only: bool,
}

/// The state an executor sends in each heartbeat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Beat {
    pub executor: String,
    pub incarnation: u64,
    pub seq: u64,
    pub capacity: u32,
    pub held: Vec<(TaskId, Token)>,
    pub completed: Vec<Completion>,
    /// The executor's failure zone.
    pub zone: String,
}

/// A finished attempt, reported until the leader says it is durably recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    pub task: TaskId,
    pub token: Token,
    pub outcome: Outcome,
}

/// The leader's answer to a beat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BeatReply {
    pub epoch: u64,
    pub assignments: Vec<Assignment>,
    /// Held attempts that were taken back: abandon them.
    pub cancel: Vec<TaskId>,
    /// Completions the leader has recorded durably (or found stale): stop reporting them.
    pub done: Vec<TaskId>,
    /// Assignments for this executor still being written: beat again soon to get them.
    pub pending: u32,
}

/// What the driver must do after a reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Run(Assignment),
    Abort(TaskId),
    Reject { assignment: Assignment, reason: String },
}

pub struct Executor {
    name: String,
    zone: String,
    incarnation: u64,
    capacity: u32,
    seq: u64,
    max_epoch: u64,
    held: BTreeMap<TaskId, Token>,
    completed: BTreeMap<TaskId, Completion>,
    /// A planned stop: no new work; done once what it holds finished and was acknowledged.
    draining: bool,
    out: VecDeque<Action>,
}

impl Executor {
    /// A fresh process. `incarnation` must differ on every start (the driver draws it).
    pub fn new(name: String, incarnation: u64, capacity: u32) -> Self {
        assert!(capacity > 0, "executor capacity must be positive");
        Executor {
            name,
            zone: String::new(),
            incarnation,
            capacity,
            seq: 0,
            max_epoch: 0,
            held: BTreeMap::new(),
            completed: BTreeMap::new(),
            draining: false,
            out: VecDeque::new(),
        }
    }

    /// Places the executor in a failure zone (reported on every beat).
    pub fn in_zone(mut self, zone: &str) -> Self {
        self.zone = zone.to_string();
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The next heartbeat. Call once per heartbeat round; sequence numbers increase.
    pub fn beat(&mut self) -> Beat {
        self.seq += 1;
        Beat {
            executor: self.name.clone(),
            incarnation: self.incarnation,
            seq: self.seq,
            capacity: if self.draining { 0 } else { self.capacity },
            held: self.held.iter().map(|(t, k)| (t.clone(), *k)).collect(),
            completed: self.completed.values().cloned().collect(),
            zone: self.zone.clone(),
        }
    }

    /// Applies the leader's reply to the beat just sent; what to do about it is queued.
    pub fn on_reply(&mut self, reply: BeatReply) {
        if reply.epoch < self.max_epoch {
            // A deposed leader answered: nothing it says may act on us.
            let refused = reply.assignments.into_iter();
            self.out.extend(refused.map(|assignment| Action::Reject { assignment, reason: "stale epoch".into() }));
            return;
        }
        self.max_epoch = reply.epoch;
        for task in reply.done {
            self.completed.remove(&task);
        }
        for task in reply.cancel {
            if self.held.remove(&task).is_some() {
                self.out.push_back(Action::Abort(task));
            }
        }
        for assignment in reply.assignments {
            let action = self.accept(assignment);
            self.out.push_back(action);
        }
    }

    /// The next thing the driver must do, in order.
    pub fn poll_output(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    fn accept(&mut self, assignment: Assignment) -> Action {
        let reason = if assignment.token.epoch < self.max_epoch {
            Some("stale epoch")
        } else if self.held.contains_key(&assignment.task) {
            Some("already held")
        } else if self.draining {
            Some("draining")
        } else if self.held.len() >= self.capacity as usize {
            Some("over capacity")
        } else {
            None
        };
        match reason {
            Some(reason) => Action::Reject { assignment, reason: reason.into() },
            None => {
                self.held.insert(assignment.task.clone(), assignment.token);
                Action::Run(assignment)
            }
        }
    }

    /// An attempt's body (and its apply) finished. Returns false if the attempt was
    /// cancelled meanwhile, in which case nothing is reported.
    pub fn finished(&mut self, task: &TaskId, token: Token, outcome: Outcome) -> bool {
        if self.held.get(task) != Some(&token) {
            return false;
        }
        self.held.remove(task);
        self.completed.insert(task.clone(), Completion { task: task.clone(), token, outcome });
        true
    }

    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// A planned stop: from the next beat on, the executor asks for no work (capacity 0) and
    /// refuses assignments; what it holds runs to its end and is reported as usual.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    pub fn draining(&self) -> bool {
        self.draining
    }

    /// Draining, and nothing left: every attempt it held finished and the leader
    /// acknowledged its completion, so stopping now hands nothing back.
    pub fn drained(&self) -> bool {
        self.draining && self.held.is_empty() && self.completed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test shorthand: applies a reply and takes every action it queued.
    fn answer(ex: &mut Executor, reply: BeatReply) -> Vec<Action> {
        ex.on_reply(reply);
        std::iter::from_fn(|| ex.poll_output()).collect()
    }

    fn spec() -> TaskSpec {
        TaskSpec { key: "k".into(), payload: vec![], max_attempts: 3, timeout_ms: 1_000, not_before_ms: 0 }
    }

    fn assign(task: &str, epoch: u64, attempt: u32) -> Assignment {
        Assignment {
            task: task.into(),
            token: Token { epoch, attempt },
            spec: spec(),
            check_first: false,
            check_only: false,
        }
    }

    #[test]
    fn runs_assignments_and_reports_them_until_done() {
        let mut ex = Executor::new("ex-1".into(), 7, 2);
        let beat = ex.beat();
        assert_eq!((beat.seq, beat.incarnation, beat.held.len()), (1, 7, 0));
        let reply = BeatReply { epoch: 5, assignments: vec![assign("t5-1", 5, 1)], ..Default::default() };
        assert_eq!(answer(&mut ex, reply), vec![Action::Run(assign("t5-1", 5, 1))]);
        assert_eq!(ex.beat().held, vec![("t5-1".into(), Token { epoch: 5, attempt: 1 })]);
        assert!(ex.finished(&"t5-1".into(), Token { epoch: 5, attempt: 1 }, Outcome::Succeeded));
        let beat = ex.beat();
        assert!(beat.held.is_empty());
        assert_eq!(beat.completed.len(), 1);
        // Still reported until the leader says it is durable.
        answer(&mut ex, BeatReply { epoch: 5, ..Default::default() });
        assert_eq!(ex.beat().completed.len(), 1);
        answer(&mut ex, BeatReply { epoch: 5, done: vec!["t5-1".into()], ..Default::default() });
        assert!(ex.beat().completed.is_empty());
    }

    #[test]
    fn a_draining_executor_takes_no_work_and_is_drained_once_its_completion_is_durable() {
        let mut ex = Executor::new("ex-1".into(), 7, 2);
        ex.beat();
        answer(&mut ex, BeatReply { epoch: 5, assignments: vec![assign("t5-1", 5, 1)], ..Default::default() });
        ex.drain();
        let beat = ex.beat();
        assert_eq!((beat.capacity, beat.held.len()), (0, 1), "asks for nothing, still holds its attempt");
        let refused =
            answer(&mut ex, BeatReply { epoch: 5, assignments: vec![assign("t5-2", 5, 1)], ..Default::default() });
        assert_eq!(refused, vec![Action::Reject { assignment: assign("t5-2", 5, 1), reason: "draining".into() }]);
        assert!(!ex.drained(), "its attempt still runs");
        assert!(ex.finished(&"t5-1".into(), Token { epoch: 5, attempt: 1 }, Outcome::Succeeded));
        assert!(!ex.drained(), "its completion is not yet durable");
        ex.beat();
        answer(&mut ex, BeatReply { epoch: 5, done: vec!["t5-1".into()], ..Default::default() });
        assert!(ex.drained());
    }

    #[test]
    fn rejects_stale_epochs_and_excess_work() {
        let mut ex = Executor::new("ex-1".into(), 1, 1);
        answer(&mut ex, BeatReply { epoch: 9, ..Default::default() });
        let actions = answer(
            &mut ex,
            BeatReply {
                epoch: 9,
                assignments: vec![assign("a", 8, 1), assign("b", 9, 1), assign("c", 9, 1)],
                ..Default::default()
            },
        );
        assert_eq!(
            actions,
            vec![
                Action::Reject { assignment: assign("a", 8, 1), reason: "stale epoch".into() },
                Action::Run(assign("b", 9, 1)),
                Action::Reject { assignment: assign("c", 9, 1), reason: "over capacity".into() },
            ]
        );
        // A deposed leader's whole reply is refused.
        let actions = answer(&mut ex, BeatReply { epoch: 8, cancel: vec!["b".into()], ..Default::default() });
        assert!(actions.is_empty());
        assert_eq!(ex.held_count(), 1);
    }

    #[test]
    fn cancelled_attempts_report_nothing() {
        let mut ex = Executor::new("ex-1".into(), 1, 4);
        answer(&mut ex, BeatReply { epoch: 1, assignments: vec![assign("a", 1, 1)], ..Default::default() });
        let actions = answer(&mut ex, BeatReply { epoch: 1, cancel: vec!["a".into()], ..Default::default() });
        assert_eq!(actions, vec![Action::Abort("a".into())]);
        assert!(!ex.finished(&"a".into(), Token { epoch: 1, attempt: 1 }, Outcome::Succeeded));
        assert!(ex.beat().completed.is_empty());
    }
}
