//! The coordinator state machine (the leader's brain): durable submission, capacity-aware
//! assignment over heartbeats, dead-executor detection, lost-assignment detection, retries.
//!
//! Sans-IO: inputs are method calls with `now_ms` (the node's own clock); outputs are
//! queued [`Output`]s the driver must carry out in order. Invariants:
//! - a submit is acknowledged only after the store confirmed its create write;
//! - an assignment is delivered only after the store confirmed it, and each delivery
//!   carries a fresh token (this leader's epoch, the next attempt number);
//! - every write is issued under this leader's epoch; the driver must fence it in the store
//!   and step down on any failed write.

use crate::core::executor::{Assignment, Beat, BeatReply, Completion};
use crate::core::retry::RetryPolicy;
use crate::core::task::Holder;
use crate::core::{Outcome, TaskId, TaskRecord, TaskSpec, TaskState, Token};
use crate::trace::EventKind;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Scheduler settings. Defaults are documented in the scenario format (scenarios/README.md).
#[derive(Clone, Debug, PartialEq)]
pub struct CoordinatorConfig {
    pub heartbeat_interval_ms: u64,
    /// Beats an executor may miss before it is declared dead.
    pub missed_beats: u32,
    pub retry: RetryPolicy,
    /// Times a task may be taken back from dead or forgetful executors before it is
    /// dead-lettered.
    pub max_redispatches: u32,
    /// Non-terminal tasks the leader holds; more submits are refused as overloaded.
    pub max_open_tasks: usize,
    /// Assignments handed out per heartbeat reply.
    pub max_assignments_per_beat: u32,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            heartbeat_interval_ms: 100,
            missed_beats: 3,
            retry: RetryPolicy::default(),
            max_redispatches: 20,
            max_open_tasks: 100_000,
            max_assignments_per_beat: 64,
        }
    }
}

impl CoordinatorConfig {
    /// Silence after which an executor is declared dead: k missed beats.
    pub fn dead_after_ms(&self) -> u64 {
        self.heartbeat_interval_ms * u64::from(self.missed_beats)
    }
}

/// The answer to a submit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitReply {
    /// Durably recorded; `created` is false when the key already named a task.
    Accepted {
        task: TaskId,
        created: bool,
    },
    NotLeader,
    Overloaded,
}

/// A store write the driver must make, fenced by the leader's epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub op: u64,
    pub record: TaskRecord,
    /// Also claim the idempotency key (first write of a task).
    pub create_key: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Write(Write),
    Reply { req: u64, reply: SubmitReply },
    Record(EventKind),
}

#[derive(Clone, Debug)]
enum Pending {
    Create { task: TaskId },
    Assign { task: TaskId, token: Token },
    Outcome { task: TaskId, event: EventKind, ready_at_ms: u64 },
}

#[derive(Clone, Debug)]
struct Entry {
    record: TaskRecord,
    /// The op of a state-changing write not yet confirmed.
    writing: Option<u64>,
    /// The beat whose reply delivered the current assignment; `Some(0)` when an earlier
    /// leader delivered it.
    delivered_at_seq: Option<u64>,
    /// Submits waiting for the create write.
    waiters: Vec<u64>,
    /// The create write is confirmed (always true for records loaded from the store).
    created: bool,
}

#[derive(Clone, Debug)]
struct ExecutorEntry {
    incarnation: u64,
    last_seen_ms: u64,
    alive: bool,
    holding: BTreeSet<TaskId>,
    outbox: Vec<TaskId>,
}

pub struct Coordinator {
    cfg: CoordinatorConfig,
    epoch: Option<u64>,
    next_seq: u64,
    next_op: u64,
    tasks: BTreeMap<TaskId, Entry>,
    keys: BTreeMap<String, TaskId>,
    ready: BTreeSet<(u64, u64, TaskId)>,
    ready_order: u64,
    open: usize,
    executors: BTreeMap<String, ExecutorEntry>,
    retired: BTreeSet<(String, u64)>,
    writes: BTreeMap<u64, Pending>,
    out: VecDeque<Output>,
    rng: SmallRng,
}

impl Coordinator {
    /// `seed` feeds the retry jitter; the driver draws it from the seeded RNG.
    pub fn new(cfg: CoordinatorConfig, seed: u64) -> Self {
        Coordinator {
            cfg,
            epoch: None,
            next_seq: 1,
            next_op: 1,
            tasks: BTreeMap::new(),
            keys: BTreeMap::new(),
            ready: BTreeSet::new(),
            ready_order: 0,
            open: 0,
            executors: BTreeMap::new(),
            retired: BTreeSet::new(),
            writes: BTreeMap::new(),
            out: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    pub fn epoch(&self) -> Option<u64> {
        self.epoch
    }

    /// The next thing the driver must do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Takes over as leader of `epoch` with every task record read from the store.
    /// Executors named by live assignments get a full detection window to check in, plus one
    /// heartbeat interval: one may be asleep between beats when the election completes.
    pub fn become_leader(&mut self, now_ms: u64, epoch: u64, records: Vec<TaskRecord>) {
        self.step_down();
        self.epoch = Some(epoch);
        for record in records {
            self.keys.insert(record.spec.key.clone(), record.id.clone());
            if !record.state.is_terminal() {
                self.open += 1;
            }
            let id = record.id.clone();
            let mut entry = Entry { record, writing: None, delivered_at_seq: None, waiters: Vec::new(), created: true };
            match (entry.record.state, entry.record.holder.clone()) {
                (TaskState::Assigned | TaskState::Running, Some(holder)) => {
                    entry.delivered_at_seq = Some(0);
                    let ex = self.executors.entry(holder.executor.clone()).or_insert(ExecutorEntry {
                        incarnation: holder.incarnation,
                        last_seen_ms: now_ms + self.cfg.heartbeat_interval_ms,
                        alive: true,
                        holding: BTreeSet::new(),
                        outbox: Vec::new(),
                    });
                    if ex.incarnation == holder.incarnation {
                        ex.holding.insert(id.clone());
                    } else {
                        Self::clear_assignment(&mut entry.record);
                        self.push_ready(now_ms, &id);
                    }
                }
                (TaskState::Pending | TaskState::Assigned | TaskState::Running, _) => {
                    Self::clear_assignment(&mut entry.record);
                    self.push_ready(now_ms, &id);
                }
                (state, _) => {
                    // Its terminal write may have outlived the leader that made it.
                    let state = state.name().to_string();
                    self.record(EventKind::Recovered { task: id.clone(), state });
                }
            }
            self.tasks.insert(id, entry);
        }
    }

    /// Stops acting as leader: forgets everything (the store is the truth) and refuses
    /// the submits still waiting for a write.
    pub fn step_down(&mut self) {
        let waiting: Vec<u64> = self.tasks.values().flat_map(|e| e.waiters.iter().copied()).collect();
        for req in waiting {
            self.out.push_back(Output::Reply { req, reply: SubmitReply::NotLeader });
        }
        self.epoch = None;
        self.tasks.clear();
        self.keys.clear();
        self.ready.clear();
        self.open = 0;
        self.executors.clear();
        self.retired.clear();
        self.writes.clear();
    }

    /// A client's submit; the reply comes as an [`Output::Reply`] once it is durable.
    pub fn submit(&mut self, req: u64, spec: TaskSpec) {
        let Some(epoch) = self.epoch else {
            return self.reply(req, SubmitReply::NotLeader);
        };
        if let Some(id) = self.keys.get(&spec.key) {
            let entry = self.tasks.get_mut(id).expect("key index points at a task");
            // Answer at once if the create is durable, whatever else is being written.
            if entry.created {
                let task = id.clone();
                return self.reply(req, SubmitReply::Accepted { task, created: false });
            }
            entry.waiters.push(req);
            return;
        }
        if self.open >= self.cfg.max_open_tasks {
            return self.reply(req, SubmitReply::Overloaded);
        }
        let id = format!("t{epoch}-{}", self.next_seq);
        self.next_seq += 1;
        self.open += 1;
        let record = TaskRecord::new(id.clone(), spec);
        self.keys.insert(record.spec.key.clone(), id.clone());
        let op = self.write(record.clone(), true, Pending::Create { task: id.clone() });
        let entry = Entry { record, writing: Some(op), delivered_at_seq: None, waiters: vec![req], created: false };
        self.tasks.insert(id, entry);
    }

    /// The store confirmed write `op`.
    pub fn persisted(&mut self, now_ms: u64, op: u64) {
        let Some(pending) = self.writes.remove(&op) else {
            return;
        };
        let epoch = self.epoch.expect("writes exist only while leading");
        let task = match &pending {
            Pending::Create { task } | Pending::Assign { task, .. } | Pending::Outcome { task, .. } => task.clone(),
        };
        let entry = self.tasks.get_mut(&task).expect("a write names a known task");
        if entry.writing == Some(op) {
            entry.writing = None;
        }
        let state = entry.record.state.name().to_string();
        self.record(EventKind::Persist { task: task.clone(), state, epoch });
        match pending {
            Pending::Create { task } => self.created(now_ms, &task),
            Pending::Assign { task, token } => self.assigned(&task, token),
            Pending::Outcome { task, event, ready_at_ms } => {
                if self.tasks[&task].record.state == TaskState::Pending {
                    self.push_ready(ready_at_ms, &task);
                }
                self.record(event);
            }
        }
    }

    fn created(&mut self, now_ms: u64, task: &TaskId) {
        let entry = self.tasks.get_mut(task).expect("created task");
        entry.created = true;
        let waiters = std::mem::take(&mut entry.waiters);
        for (i, req) in waiters.into_iter().enumerate() {
            self.reply(req, SubmitReply::Accepted { task: task.clone(), created: i == 0 });
        }
        self.push_ready(now_ms, task);
    }

    fn assigned(&mut self, task: &TaskId, token: Token) {
        let record = &self.tasks[task].record;
        if record.token != Some(token) || record.state != TaskState::Assigned {
            return; // taken back while the write was in flight
        }
        let holder = record.holder.clone().expect("assigned tasks have a holder");
        if let Some(ex) = self.executors.get_mut(&holder.executor) {
            if ex.alive && ex.incarnation == holder.incarnation {
                ex.outbox.push(task.clone());
            }
        }
    }

    /// An executor's heartbeat. Returns `None` when not leading.
    pub fn heartbeat(&mut self, now_ms: u64, beat: Beat) -> Option<BeatReply> {
        let epoch = self.epoch?;
        let mut reply = BeatReply { epoch, ..BeatReply::default() };
        self.take_completions(now_ms, &beat.completed, &mut reply);
        if self.retired.contains(&(beat.executor.clone(), beat.incarnation)) {
            reply.cancel = beat.held.iter().map(|(t, _)| t.clone()).collect();
            return Some(reply);
        }
        self.register(now_ms, &beat);
        self.reconcile_held(now_ms, &beat, &mut reply);
        self.assign(now_ms, &beat);
        self.deliver(&beat, &mut reply);
        let holding = &self.executors[&beat.executor].holding;
        reply.pending = holding.iter().filter(|t| self.tasks[*t].delivered_at_seq.is_none()).count() as u32;
        Some(reply)
    }

    fn register(&mut self, now_ms: u64, beat: &Beat) {
        let known = self.executors.get(&beat.executor).map(|e| (e.incarnation, e.alive));
        if let Some((old, alive)) = known.filter(|(old, _)| *old != beat.incarnation) {
            if alive {
                self.declare_dead(now_ms, &beat.executor, "restarted with a new incarnation");
            }
            self.retired.insert((beat.executor.clone(), old));
            self.executors.remove(&beat.executor);
        }
        let ex = self.executors.entry(beat.executor.clone()).or_insert_with(|| ExecutorEntry {
            incarnation: beat.incarnation,
            last_seen_ms: now_ms,
            alive: true,
            holding: BTreeSet::new(),
            outbox: Vec::new(),
        });
        ex.alive = true;
        ex.last_seen_ms = now_ms;
    }

    fn take_completions(&mut self, now_ms: u64, completed: &[Completion], reply: &mut BeatReply) {
        for c in completed {
            let Some(entry) = self.tasks.get(&c.task) else {
                reply.done.push(c.task.clone());
                continue;
            };
            if entry.writing.is_some() {
                // Not durable yet: the executor must keep reporting it, or a leader crash
                // now would lose the outcome.
                continue;
            }
            let live = entry.record.token == Some(c.token)
                && matches!(entry.record.state, TaskState::Assigned | TaskState::Running);
            if live {
                self.finish_attempt(now_ms, c);
            } else {
                reply.done.push(c.task.clone()); // recorded already, or stale
            }
        }
    }

    fn finish_attempt(&mut self, now_ms: u64, c: &Completion) {
        let entry = self.tasks.get_mut(&c.task).expect("completion of a known task");
        let holder = entry.record.holder.take().expect("live attempts have a holder");
        entry.record.token = None;
        let (event, ready_at_ms) = match &c.outcome {
            Outcome::Succeeded => {
                entry.record.state = TaskState::Succeeded;
                entry.record.reason = None;
                (EventKind::Succeeded { task: c.task.clone(), epoch: c.token.epoch, attempt: c.token.attempt }, 0)
            }
            failed => {
                let reason = match failed {
                    Outcome::Failed(why) => format!("attempt {} failed: {why}", c.token.attempt),
                    _ => format!("attempt {} timed out after {} ms", c.token.attempt, entry.record.spec.timeout_ms),
                };
                entry.record.failures += 1;
                entry.record.reason = Some(reason.clone());
                if entry.record.failures >= entry.record.spec.max_attempts {
                    entry.record.state = TaskState::DeadLettered;
                    let reason = format!(
                        "{} of {} attempts failed; last: {reason}",
                        entry.record.failures, entry.record.spec.max_attempts
                    );
                    entry.record.reason = Some(reason.clone());
                    (EventKind::DeadLettered { task: c.task.clone(), reason }, 0)
                } else {
                    entry.record.state = TaskState::Pending;
                    let unit: f64 = self.rng.gen_range(0.0..1.0);
                    let backoff_ms = self.cfg.retry.backoff_ms(entry.record.failures, unit);
                    let failures = entry.record.failures;
                    (EventKind::Retry { task: c.task.clone(), failures, backoff_ms, reason }, now_ms + backoff_ms)
                }
            }
        };
        if entry.record.state.is_terminal() {
            self.open -= 1;
        }
        if let Some(ex) = self.executors.get_mut(&holder.executor) {
            ex.holding.remove(&c.task);
        }
        let record = entry.record.clone();
        let op = self.write(record, false, Pending::Outcome { task: c.task.clone(), event, ready_at_ms });
        self.tasks.get_mut(&c.task).expect("known task").writing = Some(op);
    }

    /// Compares what the executor says it holds with what this leader gave it: cancels
    /// what it should not hold, takes back delivered assignments it does not hold.
    fn reconcile_held(&mut self, now_ms: u64, beat: &Beat, reply: &mut BeatReply) {
        let me = Holder { executor: beat.executor.clone(), incarnation: beat.incarnation };
        for (task, token) in &beat.held {
            match self.tasks.get_mut(task) {
                Some(e) if e.record.holder.as_ref() == Some(&me) && e.record.token == Some(*token) => {
                    if e.record.state == TaskState::Assigned {
                        e.record.state = TaskState::Running;
                    }
                }
                _ => reply.cancel.push(task.clone()),
            }
        }
        let holding: Vec<TaskId> = self.executors[&beat.executor].holding.iter().cloned().collect();
        for task in holding {
            let entry = &self.tasks[&task];
            let delivered_before = entry.delivered_at_seq.is_some_and(|s| s < beat.seq);
            let reported = beat.held.iter().any(|(t, _)| *t == task) || beat.completed.iter().any(|c| c.task == task);
            if delivered_before && !reported {
                self.take_back(now_ms, &beat.executor, &task, "assignment lost");
            }
        }
    }

    fn assign(&mut self, now_ms: u64, beat: &Beat) {
        let epoch = self.epoch.expect("assigning while leading");
        let ex = &self.executors[&beat.executor];
        let busy = ex.holding.len();
        let free = (beat.capacity as usize).saturating_sub(busy).min(self.cfg.max_assignments_per_beat as usize);
        for _ in 0..free {
            let Some(first) = self.ready.first().cloned() else {
                break;
            };
            if first.0 > now_ms {
                break;
            }
            self.ready.remove(&first);
            let task = first.2;
            let entry = self.tasks.get_mut(&task).expect("ready task is known");
            entry.record.attempt += 1;
            let token = Token { epoch, attempt: entry.record.attempt };
            entry.record.state = TaskState::Assigned;
            entry.record.token = Some(token);
            entry.record.holder = Some(Holder { executor: beat.executor.clone(), incarnation: beat.incarnation });
            entry.delivered_at_seq = None;
            let record = entry.record.clone();
            self.executors.get_mut(&beat.executor).expect("registered").holding.insert(task.clone());
            let op = self.write(record, false, Pending::Assign { task: task.clone(), token });
            self.tasks.get_mut(&task).expect("known task").writing = Some(op);
        }
    }

    fn deliver(&mut self, beat: &Beat, reply: &mut BeatReply) {
        let outbox = std::mem::take(&mut self.executors.get_mut(&beat.executor).expect("registered").outbox);
        for task in outbox {
            let entry = self.tasks.get_mut(&task).expect("outbox task is known");
            let token = entry.record.token.expect("outbox tasks are assigned");
            entry.delivered_at_seq = Some(beat.seq);
            reply.assignments.push(Assignment { task: task.clone(), token, spec: entry.record.spec.clone() });
            self.record(EventKind::Dispatch {
                task,
                executor: beat.executor.clone(),
                incarnation: beat.incarnation,
                epoch: token.epoch,
                attempt: token.attempt,
            });
        }
    }

    /// Time passes: declares silent executors dead.
    pub fn tick(&mut self, now_ms: u64) {
        if self.epoch.is_none() {
            return;
        }
        let dead_after = self.cfg.dead_after_ms();
        let silent: Vec<String> = self
            .executors
            .iter()
            .filter(|(_, e)| e.alive && now_ms.saturating_sub(e.last_seen_ms) > dead_after)
            .map(|(name, _)| name.clone())
            .collect();
        for name in silent {
            let reason = format!("missed {} heartbeats", self.cfg.missed_beats);
            self.declare_dead(now_ms, &name, &reason);
        }
    }

    fn declare_dead(&mut self, now_ms: u64, name: &str, reason: &str) {
        let ex = self.executors.get_mut(name).expect("declaring a known executor dead");
        ex.alive = false;
        ex.outbox.clear();
        let incarnation = ex.incarnation;
        let holding: Vec<TaskId> = ex.holding.iter().cloned().collect();
        self.record(EventKind::ExecutorDead {
            executor: name.to_string(),
            incarnation,
            reason: reason.to_string(),
            tasks: holding.len() as u32,
        });
        for task in holding {
            self.take_back(now_ms, name, &task, reason);
        }
    }

    /// Takes an assignment back and queues the task again. Not written to the store: a
    /// new leader re-derives it from the holder's silence or its heartbeat.
    fn take_back(&mut self, now_ms: u64, executor: &str, task: &TaskId, why: &str) {
        if let Some(ex) = self.executors.get_mut(executor) {
            ex.holding.remove(task);
            ex.outbox.retain(|t| t != task);
        }
        let entry = self.tasks.get_mut(task).expect("taking back a known task");
        Self::clear_assignment(&mut entry.record);
        entry.record.redispatches += 1;
        if entry.record.redispatches > self.cfg.max_redispatches {
            entry.record.state = TaskState::DeadLettered;
            let reason = format!("taken back {} times (last: {why})", entry.record.redispatches);
            entry.record.reason = Some(reason.clone());
            self.open -= 1;
            let record = entry.record.clone();
            let event = EventKind::DeadLettered { task: task.clone(), reason };
            let op = self.write(record, false, Pending::Outcome { task: task.clone(), event, ready_at_ms: 0 });
            self.tasks.get_mut(task).expect("known task").writing = Some(op);
        } else {
            self.push_ready(now_ms, task);
        }
    }

    fn clear_assignment(record: &mut TaskRecord) {
        record.state = TaskState::Pending;
        record.token = None;
        record.holder = None;
    }

    fn push_ready(&mut self, at_ms: u64, task: &TaskId) {
        self.ready_order += 1;
        self.ready.insert((at_ms, self.ready_order, task.clone()));
    }

    fn write(&mut self, record: TaskRecord, create_key: bool, pending: Pending) -> u64 {
        let op = self.next_op;
        self.next_op += 1;
        self.writes.insert(op, pending);
        self.out.push_back(Output::Write(Write { op, record, create_key }));
        op
    }

    fn reply(&mut self, req: u64, reply: SubmitReply) {
        self.out.push_back(Output::Reply { req, reply });
    }

    fn record(&mut self, event: EventKind) {
        self.out.push_back(Output::Record(event));
    }

    /// Non-terminal tasks this leader holds.
    pub fn open_tasks(&self) -> usize {
        self.open
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
