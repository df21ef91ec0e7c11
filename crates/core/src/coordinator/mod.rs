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
//!
//! Fault isolation (see [`IsolationConfig`]) only chooses *which* ready task a beat gets
//! and *whether* a beat gets new work: it never drops, reorders or re-queues a task, so a
//! skipped task stays first in line for the next executor that may take it.

pub use jobs::{JobRecord, JobReply, JobsConfig};
pub use retention::Compaction;
pub use wake::Wake;

use crate::executor::{Assignment, Beat, BeatReply, Completion};
use crate::retry::RetryPolicy;
use crate::task::Holder;
use crate::{Now, Outcome, TaskId, TaskRecord, TaskSpec, TaskState, Token};
use faultline_model::trace::EventKind;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Scheduler settings. Defaults are documented in the scenario format (scenarios/README.md).
#[derive(Clone, Debug, PartialEq)]
pub struct CoordinatorConfig {
    pub heartbeat_interval_ms: u64,
    /// Beats an executor may miss before it is declared dead.
    pub missed_beats: u32,
    /// How long an executor's beat to the previous leader may hang before it looks for
    /// the new one: the executors' RPC deadline. A new leader adds it (and one interval) to
    /// the detection window of the executors it inherits, so an executor stuck in a call
    /// to a paused predecessor is not condemned for it.
    pub takeover_grace_ms: u64,
    pub retry: RetryPolicy,
    /// Times a task may be taken back from dead or forgetful executors before it is
    /// dead-lettered.
    pub max_redispatches: u32,
    /// Non-terminal tasks the leader holds; more submits are refused as overloaded.
    pub max_open_tasks: usize,
    /// Assignments handed out per heartbeat reply.
    pub max_assignments_per_beat: u32,
    /// Quarantine of flapping executors and zone-aware placement.
    pub isolation: IsolationConfig,
    /// Scheduled jobs: the clock base and the firing bounds.
    pub jobs: JobsConfig,
    /// How long a finished task's record and idempotency key stay in the store after its
    /// outcome is durable: the idempotency window (see `retention`).
    pub retention_ms: u64,
    /// Known bugs switched on (simulation only; see `crate::bugs`).
    pub bugs: crate::bugs::BugSet,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            heartbeat_interval_ms: 100,
            missed_beats: 3,
            takeover_grace_ms: 200,
            retry: RetryPolicy::default(),
            max_redispatches: 20,
            max_open_tasks: 100_000,
            max_assignments_per_beat: 64,
            isolation: IsolationConfig::default(),
            jobs: JobsConfig::default(),
            retention_ms: 86_400_000,
            bugs: crate::bugs::BugSet::none(),
        }
    }
}

impl CoordinatorConfig {
    /// Silence after which an executor is declared dead: k missed beats.
    pub fn dead_after_ms(&self) -> u64 {
        self.heartbeat_interval_ms * u64::from(self.missed_beats)
    }

    /// How long a zone counts as recently lost after one of its executors fell silent.
    pub fn zone_lost_for_ms(&self) -> u64 {
        self.dead_after_ms() * 2
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

/// Which queue a ready task waits in: scheduled fires are dispatched before plain tasks,
/// so a task backlog cannot hold a fire past its late bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Lane {
    Fires,
    Tasks,
}

/// A ready task's place: by lane, then by when it became ready, then FIFO.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ready {
    lane: Lane,
    at_ms: u64,
    order: u64,
    task: TaskId,
}

/// A store write the driver must make in one txn, fenced by the leader's epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub op: u64,
    /// The task record to put; absent in a job-only write.
    pub record: Option<TaskRecord>,
    /// Also claim the idempotency key (first write of a task).
    pub create_key: bool,
    /// The job record to put: a fire's record and its job's cursor move together.
    pub job: Option<Box<JobRecord>>,
    /// A finished task to delete, record and key, its retention over (a write of its own).
    pub delete: Option<Compaction>,
}

impl Write {
    /// The task record of a task write.
    pub fn task(&self) -> &TaskRecord {
        self.record.as_ref().expect("a task write")
    }

    /// Store operations this write takes in a txn.
    pub fn ops(&self) -> usize {
        usize::from(self.record.is_some())
            + usize::from(self.create_key)
            + usize::from(self.job.is_some())
            + 2 * usize::from(self.delete.is_some())
    }
}

/// What the core asks its driver to do, in order: the one way anything leaves the core.
/// Every request that expects an answer (`submit`, `heartbeat`, `job_command`) names a
/// `req` that the matching reply carries back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Make this store write, fenced by the epoch; confirm it with `persisted`.
    Write(Write),
    /// Answer submit `req`.
    Reply { req: u64, reply: SubmitReply },
    /// Answer heartbeat `req`; `None` when not leading.
    BeatReply { req: u64, reply: Option<BeatReply> },
    /// Answer job command `req`.
    JobReply { req: u64, reply: JobReply },
    /// Record this event in the history.
    Record(EventKind),
}

#[derive(Clone, Debug)]
enum Pending {
    Create {
        task: TaskId,
    },
    Assign {
        task: TaskId,
        token: Token,
    },
    Outcome {
        task: TaskId,
        event: EventKind,
        ready_at_ms: u64,
    },
    /// A fire: its task record and its job's cursor.
    Fire {
        task: TaskId,
        job: String,
        event: EventKind,
    },
    /// A finished task's deletion, its retention over.
    Compact {
        task: TaskId,
    },
    /// A job-only write: a command (answered on confirm), a skip.
    Job {
        job: String,
        event: Option<EventKind>,
        req: Option<u64>,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    record: TaskRecord,
    /// The op of a state-changing write not yet confirmed.
    writing: Option<u64>,
    /// The beat whose reply delivered the current assignment; `Some(0)` when an earlier
    /// leader delivered it.
    delivered_at_seq: Option<u64>,
    /// The create write is confirmed (always true for records loaded from the store).
    created: bool,
    /// What few entries need, boxed apart (see [`Rare`]).
    rare: Option<Box<Rare>>,
}

/// The parts of a task's entry that few tasks use. Inline they made every entry 288 bytes
/// (a 320-byte allocation); boxed apart, 248 (256): 64 MB less for a million retained tasks.
#[derive(Clone, Debug, Default)]
struct Rare {
    /// Submits waiting for the create write.
    waiters: Vec<u64>,
    /// Zones where an attempt of this task failed, timed out or was lost with its executor.
    avoid_zones: BTreeSet<String>,
}

impl Entry {
    fn waiters(&self) -> &[u64] {
        self.rare.as_ref().map_or(&[], |rare| &rare.waiters)
    }

    fn avoids(&self, zone: &str) -> bool {
        self.rare.as_ref().is_some_and(|rare| rare.avoid_zones.contains(zone))
    }

    fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Default::default)
    }

    /// The waiting submits, leaving none; the box goes when nothing else is in it (every
    /// new task has its submit waiting until the create is durable).
    fn take_waiters(&mut self) -> Vec<u64> {
        let Some(rare) = self.rare.as_mut() else {
            return Vec::new();
        };
        let waiters = std::mem::take(&mut rare.waiters);
        if rare.avoid_zones.is_empty() {
            self.rare = None;
        }
        waiters
    }
}

#[derive(Clone, Debug)]
struct ExecutorEntry {
    incarnation: u64,
    last_seen_ms: u64,
    alive: bool,
    holding: BTreeSet<TaskId>,
    outbox: Vec<TaskId>,
    /// From its last beat; empty (unknown) and 0 until it beats to this leader.
    zone: String,
    capacity: u32,
    /// The highest beat sequence number handled from this incarnation.
    last_seq: u64,
}

impl ExecutorEntry {
    /// A live incarnation last heard of at `last_seen_ms`, holding nothing yet.
    fn new(incarnation: u64, last_seen_ms: u64) -> Self {
        ExecutorEntry {
            incarnation,
            last_seen_ms,
            alive: true,
            holding: BTreeSet::new(),
            outbox: Vec::new(),
            zone: String::new(),
            capacity: 0,
            last_seq: 0,
        }
    }
}

/// What the leader knows of one executor name's health, across its incarnations.
#[derive(Clone, Debug, Default)]
struct Health {
    /// When each recent restart was seen, oldest first.
    restarts_ms: VecDeque<u64>,
    /// Its last finished attempts, oldest first: `true` when the attempt failed.
    attempts: VecDeque<bool>,
    /// Quarantines so far: each one doubles the next backoff.
    quarantines: u32,
    /// While quarantined: when the quarantine ends.
    quarantined_until_ms: Option<u64>,
}

pub struct Coordinator {
    cfg: CoordinatorConfig,
    epoch: Option<u64>,
    next_seq: u64,
    next_op: u64,
    /// By id. A hash map: beats look tasks up dozens of times each (a B-tree of ids spent
    /// 5% of a run comparing strings), and nothing walks it where order decides anything
    /// but in id order, sorted first (`step_down`, `recover_fires`). Entries are boxed: a
    /// hash table's slots are up to half empty and it moves every slot when it grows, so
    /// inline entries of ~300 bytes would cost far more memory than the B-tree did.
    tasks: FxHashMap<TaskId, Box<Entry>>,
    /// Idempotency keys to their tasks: only looked up, inserted into and removed from,
    /// never walked, so a hash map (a submit's B-tree search compared ~30 keys).
    keys: FxHashMap<String, TaskId>,
    ready: BTreeSet<Ready>,
    ready_order: u64,
    open: usize,
    executors: BTreeMap<String, ExecutorEntry>,
    retired: BTreeSet<(String, u64)>,
    /// Per executor name, kept across incarnations (see [`IsolationConfig`]).
    health: BTreeMap<String, Health>,
    /// Per zone: when an executor of it was last declared dead for silence.
    zone_lost_ms: BTreeMap<String, u64>,
    writes: BTreeMap<u64, Pending>,
    out: VecDeque<Output>,
    rng: SmallRng,
    /// Scheduled jobs by name (deleted ones stay as tombstones).
    jobs: BTreeMap<String, jobs::JobEntry>,
    /// The earliest pending deadline by each clock (see [`Coordinator::poll_timeout`]).
    wake: Wake,
    /// Finished tasks by when their retention ends (see `retention`).
    expiring: BTreeSet<(u64, TaskId)>,
    /// The wall clock of the latest input that carried the time: what a task that becomes
    /// terminal records as its finish.
    wall_ms: u64,
}

impl Coordinator {
    /// `seed` feeds the retry jitter; the driver draws it from the seeded RNG.
    pub fn new(cfg: CoordinatorConfig, seed: u64) -> Self {
        Coordinator {
            cfg,
            epoch: None,
            next_seq: 1,
            next_op: 1,
            tasks: FxHashMap::default(),
            keys: FxHashMap::default(),
            ready: BTreeSet::new(),
            ready_order: 0,
            open: 0,
            executors: BTreeMap::new(),
            retired: BTreeSet::new(),
            health: BTreeMap::new(),
            zone_lost_ms: BTreeMap::new(),
            writes: BTreeMap::new(),
            out: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            jobs: BTreeMap::new(),
            wake: Wake::default(),
            expiring: BTreeSet::new(),
            wall_ms: 0,
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
    /// heartbeat interval (one may be asleep between beats when the election completes) and
    /// the takeover grace (one may be stuck in a call to the old leader).
    pub fn become_leader(&mut self, now: Now, epoch: u64, records: Vec<TaskRecord>, jobs: Vec<JobRecord>) {
        self.step_down();
        self.wall_ms = now.wall_ms;
        self.epoch = Some(epoch);
        self.load_jobs(now.wall_ms, jobs);
        let now_ms = now.mono_ms;
        for record in records {
            self.keys.insert(record.spec.key.clone(), record.id.clone());
            if !record.state.is_terminal() {
                self.open += 1;
            }
            let id = record.id.clone();
            let mut entry = Entry { record, writing: None, delivered_at_seq: None, created: true, rare: None };
            #[cfg(madsim)]
            if self.buggy_load(&entry.record) {
                self.tasks.insert(id, Box::new(entry));
                continue;
            }
            match (entry.record.state, entry.record.holder.clone()) {
                (TaskState::Assigned | TaskState::Running, Some(holder)) => {
                    entry.delivered_at_seq = Some(0);
                    let grace_ms = now_ms + self.cfg.heartbeat_interval_ms + self.cfg.takeover_grace_ms;
                    let ex = self
                        .executors
                        .entry(holder.executor.clone())
                        .or_insert(ExecutorEntry::new(holder.incarnation, grace_ms));
                    // The records may name two incarnations of one executor (a leader's
                    // take-backs are not written): every task stays held until the executor
                    // beats, and the beating incarnation keeps its own (`register`); the
                    // other's are taken back then, or all of them if it stays silent.
                    ex.holding.insert(id.clone());
                }
                (TaskState::Pending | TaskState::Assigned | TaskState::Running, _) => {
                    Self::clear_assignment(&mut entry.record);
                    self.queue(now_ms, &id, entry.record.spec.is_fire());
                }
                (state, _) => {
                    // Its terminal write may have outlived the leader that made it.
                    let reason = (state == TaskState::DeadLettered).then(|| entry.record.reason.clone()).flatten();
                    let state = state.name().to_string();
                    self.record(EventKind::Recovered {
                        task: id.clone(),
                        state: state.into(),
                        reason: reason.map(Into::into),
                    });
                    self.retain_loaded(now, &id, entry.record.finished_at_ms);
                }
            }
            self.tasks.insert(id, Box::new(entry));
        }
        // After the terminal tasks' `recovered`: a fire may have replaced one of them.
        self.recover_fires(epoch);
        self.plan_wake();
    }

    /// Stops acting as leader: forgets everything (the store is the truth) and refuses
    /// the submits still waiting for a write.
    pub fn step_down(&mut self) {
        // In id order; only the few tasks with a submit waiting are sorted, not the map.
        let mut with_waiters: Vec<_> = self.tasks.iter().filter(|(_, e)| !e.waiters().is_empty()).collect();
        with_waiters.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let waiting: Vec<u64> = with_waiters.into_iter().flat_map(|(_, e)| e.waiters().iter().copied()).collect();
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
        self.health.clear();
        self.zone_lost_ms.clear();
        self.writes.clear();
        self.expiring.clear();
        let waiting: Vec<u64> = self.jobs.values().flat_map(|j| j.waiters.iter().copied()).collect();
        for req in waiting {
            self.out.push_back(Output::JobReply { req, reply: JobReply::NotLeader });
        }
        self.jobs.clear();
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
            entry.rare_mut().waiters.push(req);
            return;
        }
        if self.open >= self.cfg.max_open_tasks {
            return self.reply(req, SubmitReply::Overloaded);
        }
        let id = crate::task::task_id(epoch, self.next_seq);
        self.next_seq += 1;
        self.open += 1;
        let record = TaskRecord::new(id.clone(), spec);
        self.keys.insert(record.spec.key.clone(), id.clone());
        let op = self.write(record.clone(), true, Pending::Create { task: id.clone() });
        #[allow(unused_mut)]
        let mut waiters = vec![req];
        #[cfg(madsim)]
        if self.cfg.bugs.on(crate::bugs::Bug::AckBeforePersist) {
            waiters.clear();
            self.reply(req, SubmitReply::Accepted { task: id.clone(), created: true });
        }
        let entry = Entry {
            record,
            writing: Some(op),
            delivered_at_seq: None,
            created: false,
            rare: (!waiters.is_empty()).then(|| Box::new(Rare { waiters, ..Rare::default() })),
        };
        self.tasks.insert(id, Box::new(entry));
    }

    /// The store confirmed write `op`.
    pub fn persisted(&mut self, now: Now, op: u64) {
        self.wall_ms = now.wall_ms;
        let now_ms = now.mono_ms;
        let Some(pending) = self.writes.remove(&op) else {
            return;
        };
        let epoch = self.epoch.expect("writes exist only while leading");
        let task = match &pending {
            Pending::Create { task } | Pending::Assign { task, .. } | Pending::Outcome { task, .. } => task.clone(),
            Pending::Fire { task, .. } => task.clone(),
            Pending::Job { job, event, req } => return self.job_persisted(now.wall_ms, op, job, event.clone(), *req),
            Pending::Compact { task } => return self.compacted(epoch, &task.clone()),
        };
        let entry = self.tasks.get_mut(&task).expect("a write names a known task");
        if entry.writing == Some(op) {
            entry.writing = None;
        }
        let state = entry.record.state.name().to_string();
        self.record(EventKind::Persist { task: task.clone(), state: state.into(), epoch });
        match pending {
            Pending::Create { task } => self.created(now_ms, &task),
            Pending::Fire { task, job, event } => {
                self.record(event);
                self.created(now_ms, &task);
                self.fire_persisted(now.wall_ms, op, &job);
            }
            Pending::Assign { task, token } => self.assigned(&task, token),
            Pending::Job { .. } | Pending::Compact { .. } => unreachable!("these writes return above"),
            Pending::Outcome { task, event, ready_at_ms } => {
                let state = self.tasks[&task].record.state;
                if state == TaskState::Pending {
                    self.push_ready(ready_at_ms, &task);
                }
                self.record(event);
                if state.is_terminal() {
                    self.retain(now_ms, &task);
                }
            }
        }
    }

    fn created(&mut self, now_ms: u64, task: &TaskId) {
        let entry = self.tasks.get_mut(task).expect("created task");
        entry.created = true;
        let waiters = entry.take_waiters();
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

    /// Queues `task` in its lane (for a task not yet in `tasks`, whose spec the caller has).
    fn queue(&mut self, at_ms: u64, task: &TaskId, fire: bool) {
        self.ready_order += 1;
        let lane = if fire { Lane::Fires } else { Lane::Tasks };
        self.ready.insert(Ready { lane, at_ms, order: self.ready_order, task: task.clone() });
    }

    fn write(&mut self, record: TaskRecord, create_key: bool, pending: Pending) -> u64 {
        self.put(Some(record), create_key, None, pending)
    }

    fn put(
        &mut self,
        record: Option<TaskRecord>,
        create_key: bool,
        job: Option<Box<JobRecord>>,
        pending: Pending,
    ) -> u64 {
        self.issue(Write { op: 0, record, create_key, job, delete: None }, pending)
    }

    /// Queues `write` under the next op number (its own `op` is ignored) and returns it.
    fn issue(&mut self, mut write: Write, pending: Pending) -> u64 {
        let epoch = self.epoch.expect("a write is issued only while leading");
        if let Some(token) = write.record.as_ref().and_then(|r| r.token) {
            assert!(token.epoch <= epoch, "a record carries a token from a later term than {epoch}: {token:?}");
        }
        write.op = self.next_op;
        self.next_op += 1;
        self.writes.insert(write.op, pending);
        let op = write.op;
        self.out.push_back(Output::Write(write));
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

    /// Tasks in the ready queue (due, or waiting out a backoff).
    pub fn ready_tasks(&self) -> usize {
        self.ready.len()
    }
}

mod beats;
#[cfg(madsim)]
mod buggy;
mod detection;
mod isolation;
mod jobs;
mod retention;
mod wake;

#[cfg(test)]
mod tests;

pub use isolation::IsolationConfig;
