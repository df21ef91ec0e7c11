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

use crate::core::executor::{Assignment, Beat, BeatReply, Completion};
use crate::core::retry::RetryPolicy;
use crate::core::task::Holder;
use crate::core::{Now, Outcome, TaskId, TaskRecord, TaskSpec, TaskState, Token};
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
            bugs: crate::bugs::BugSet::none(),
        }
    }
}

/// Fault isolation: which executors get new work, and where a task should run next.
///
/// - **Quarantine.** An executor *name* (across its incarnations) is quarantined when it
///   crash-loops (`flap_restarts` restarts within `flap_window_ms`) or when at least
///   `failure_ratio` of its last `failure_window` finished attempts failed (failed, timed out,
///   or lost when it was declared dead). A quarantined executor keeps beating and its held
///   attempts and completions are handled as usual, but it gets no new assignments for
///   `quarantine_base_ms`, doubled on each later quarantine of the name, at most
///   `quarantine_max_ms`. On release its failure window is cleared: a fresh chance.
/// - **The half-usable cap** (Envoy's `max_ejection_percent`): a quarantine that would leave
///   fewer than half (rounded up) of the live executor names usable is not made, counting the
///   name itself as live even while it restarts. If deaths later push the usable count below
///   that cap, the quarantines ending soonest are lifted early, so quarantine alone can never
///   stall the queue.
/// - **Zone avoidance.** A task remembers the zones where its attempts failed, timed out or
///   were lost with a dead executor. A beat from zone Z passes over such a task while a usable
///   (live, not quarantined) executor exists in a zone the task does not avoid; otherwise the
///   task runs in Z, so losing every other zone never stalls it.
/// - **Recently lost zones.** For `2 * missed_beats * heartbeat_interval_ms` after an
///   executor of zone Z was declared dead for silence, executors of Z get no new work while a
///   usable executor of another zone has a free slot (it pulls the work at its next beat).
///   Restarts do not count here: a process crash-looping is quarantine's business.
///
/// The leader keeps all of this in memory only; a new leader starts with a clean slate.
#[derive(Clone, Debug, PartialEq)]
pub struct IsolationConfig {
    /// Switches all of the above on (default) or off.
    pub enabled: bool,
    /// Restarts (a new incarnation replacing a known one; the first incarnation a leader
    /// sees is not a restart) within `flap_window_ms` that quarantine a name. 3; 0 disables.
    pub flap_restarts: u32,
    /// The crash-loop window. 10_000 ms.
    pub flap_window_ms: u64,
    /// Finished attempts per name the failure ratio is judged over; the ratio is judged only
    /// once this many were seen. 8; 0 disables.
    pub failure_window: u32,
    /// Fraction of the window that must have failed to quarantine. 0.75.
    pub failure_ratio: f64,
    /// The first quarantine of a name. 2_000 ms.
    pub quarantine_base_ms: u64,
    /// The longest quarantine. 60_000 ms.
    pub quarantine_max_ms: u64,
    /// Ready tasks one beat may pass over because they avoid its zone, which bounds the work
    /// per beat; the tasks after them wait for the next beat. 1_024.
    pub max_skips_per_beat: u32,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig {
            enabled: true,
            flap_restarts: 3,
            flap_window_ms: 10_000,
            failure_window: 8,
            failure_ratio: 0.75,
            quarantine_base_ms: 2_000,
            quarantine_max_ms: 60_000,
            max_skips_per_beat: 1_024,
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
}

impl Write {
    /// The task record of a task write.
    pub fn task(&self) -> &TaskRecord {
        self.record.as_ref().expect("a task write")
    }

    /// Store operations this write takes in a txn.
    pub fn ops(&self) -> usize {
        usize::from(self.record.is_some()) + usize::from(self.create_key) + usize::from(self.job.is_some())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    Write(Write),
    Reply { req: u64, reply: SubmitReply },
    JobReply { req: u64, reply: JobReply },
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
    /// Submits waiting for the create write.
    waiters: Vec<u64>,
    /// The create write is confirmed (always true for records loaded from the store).
    created: bool,
    /// Zones where an attempt of this task failed, timed out or was lost with its executor.
    avoid_zones: BTreeSet<String>,
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
    tasks: BTreeMap<TaskId, Entry>,
    keys: BTreeMap<String, TaskId>,
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
            health: BTreeMap::new(),
            zone_lost_ms: BTreeMap::new(),
            writes: BTreeMap::new(),
            out: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            jobs: BTreeMap::new(),
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
        self.epoch = Some(epoch);
        self.load_jobs(now.wall_ms, jobs);
        let now_ms = now.mono_ms;
        for record in records {
            self.keys.insert(record.spec.key.clone(), record.id.clone());
            if !record.state.is_terminal() {
                self.open += 1;
            }
            let id = record.id.clone();
            let mut entry = Entry {
                record,
                writing: None,
                delivered_at_seq: None,
                waiters: Vec::new(),
                created: true,
                avoid_zones: BTreeSet::new(),
            };
            #[cfg(madsim)]
            if self.buggy_load(&entry.record) {
                self.tasks.insert(id, entry);
                continue;
            }
            match (entry.record.state, entry.record.holder.clone()) {
                (TaskState::Assigned | TaskState::Running, Some(holder)) => {
                    entry.delivered_at_seq = Some(0);
                    let ex = self.executors.entry(holder.executor.clone()).or_insert(ExecutorEntry {
                        incarnation: holder.incarnation,
                        last_seen_ms: now_ms + self.cfg.heartbeat_interval_ms + self.cfg.takeover_grace_ms,
                        alive: true,
                        holding: BTreeSet::new(),
                        outbox: Vec::new(),
                        zone: String::new(),
                        capacity: 0,
                        last_seq: 0,
                    });
                    if ex.incarnation == holder.incarnation {
                        ex.holding.insert(id.clone());
                    } else {
                        Self::clear_assignment(&mut entry.record);
                        self.queue(now_ms, &id, entry.record.spec.is_fire());
                    }
                }
                (TaskState::Pending | TaskState::Assigned | TaskState::Running, _) => {
                    Self::clear_assignment(&mut entry.record);
                    self.queue(now_ms, &id, entry.record.spec.is_fire());
                }
                (state, _) => {
                    // Its terminal write may have outlived the leader that made it.
                    let reason = (state == TaskState::DeadLettered).then(|| entry.record.reason.clone()).flatten();
                    let state = state.name().to_string();
                    self.record(EventKind::Recovered { task: id.clone(), state, reason });
                }
            }
            self.tasks.insert(id, entry);
        }
        // After the terminal tasks' `recovered`: a fire may have replaced one of them.
        self.recover_fires(epoch);
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
        self.health.clear();
        self.zone_lost_ms.clear();
        self.writes.clear();
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
            waiters,
            created: false,
            avoid_zones: BTreeSet::new(),
        };
        self.tasks.insert(id, entry);
    }

    /// The store confirmed write `op`.
    pub fn persisted(&mut self, now: Now, op: u64) {
        let now_ms = now.mono_ms;
        let Some(pending) = self.writes.remove(&op) else {
            return;
        };
        let epoch = self.epoch.expect("writes exist only while leading");
        let task = match &pending {
            Pending::Create { task } | Pending::Assign { task, .. } | Pending::Outcome { task, .. } => task.clone(),
            Pending::Fire { task, .. } => task.clone(),
            Pending::Job { job, event, req } => return self.job_persisted(now.wall_ms, op, job, event.clone(), *req),
        };
        let entry = self.tasks.get_mut(&task).expect("a write names a known task");
        if entry.writing == Some(op) {
            entry.writing = None;
        }
        let state = entry.record.state.name().to_string();
        self.record(EventKind::Persist { task: task.clone(), state, epoch });
        match pending {
            Pending::Create { task } => self.created(now_ms, &task),
            Pending::Fire { task, job, event } => {
                self.record(event);
                self.created(now_ms, &task);
                self.fire_persisted(now.wall_ms, op, &job);
            }
            Pending::Assign { task, token } => self.assigned(&task, token),
            Pending::Job { .. } => unreachable!("job-only writes return above"),
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
    pub fn heartbeat(&mut self, now: Now, beat: Beat) -> Option<BeatReply> {
        let now_ms = now.mono_ms;
        let epoch = self.epoch?;
        let mut reply = BeatReply { epoch, ..BeatReply::default() };
        self.take_completions(now_ms, &beat, &mut reply);
        if self.retired.contains(&(beat.executor.clone(), beat.incarnation)) {
            reply.cancel = beat.held.iter().map(|(t, _)| t.clone()).collect();
            return Some(reply);
        }
        let seen = self.executors.get(&beat.executor).filter(|e| e.incarnation == beat.incarnation);
        if seen.is_some_and(|e| beat.seq <= e.last_seq) {
            // A duplicated or overtaken beat: its view of what the executor holds is not the
            // newest, and whatever its reply carried would likely never be read.
            return Some(reply);
        }
        self.register(now_ms, &beat);
        self.release_quarantines(now_ms);
        self.reconcile_held(&beat, &mut reply);
        self.assign(now_ms, &beat);
        self.deliver(&beat, &mut reply);
        let holding = &self.executors[&beat.executor].holding;
        reply.pending = holding.iter().filter(|t| self.tasks[*t].delivered_at_seq.is_none()).count() as u32;
        Some(reply)
    }

    fn register(&mut self, now_ms: u64, beat: &Beat) {
        let known = self.executors.get(&beat.executor).map(|e| (e.incarnation, e.alive));
        let restarted = known.filter(|(old, _)| *old != beat.incarnation);
        if let Some((old, alive)) = restarted {
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
            zone: String::new(),
            capacity: 0,
            last_seq: 0,
        });
        ex.alive = true;
        ex.last_seq = beat.seq;
        ex.last_seen_ms = now_ms;
        ex.zone.clone_from(&beat.zone);
        ex.capacity = beat.capacity;
        if restarted.is_some() {
            self.note_restart(now_ms, &beat.executor);
        }
    }

    /// Records the beat's live completions; the beat's zone is where they ran.
    fn take_completions(&mut self, now_ms: u64, beat: &Beat, reply: &mut BeatReply) {
        for c in &beat.completed {
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
                self.finish_attempt(now_ms, c, &beat.zone);
            } else {
                reply.done.push(c.task.clone()); // recorded already, or stale
            }
        }
    }

    fn finish_attempt(&mut self, now_ms: u64, c: &Completion, zone: &str) {
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
                let attempt = c.token.attempt;
                let reason = match failed {
                    Outcome::Failed(why) => format!("attempt {attempt} failed: {why}"),
                    Outcome::Unknown(why) => format!("attempt {attempt} has no verdict from the sink: {why}"),
                    _ => format!("attempt {attempt} timed out after {} ms", entry.record.spec.timeout_ms),
                };
                // An unknown outcome is not a failure of the task: its effect may have landed.
                // Any other outcome of an attempt told to check first settles it: the sink
                // answered that no effect had landed, and fenced every older attempt.
                #[allow(unused_mut)]
                let mut unknown = matches!(failed, Outcome::Unknown(_));
                #[cfg(madsim)]
                if self.cfg.bugs.on(crate::bugs::Bug::DeadLetterUnknownOutcome) {
                    unknown = false;
                }
                entry.record.effect_unknown = unknown;
                if !unknown {
                    entry.record.failures += 1;
                }
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
                    // Retries of unknown outcomes back off by attempts, so they slow down too.
                    let tries = if unknown { entry.record.attempt } else { entry.record.failures };
                    let backoff_ms = self.cfg.retry.backoff_ms(tries, unit);
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
        let failed = c.outcome != Outcome::Succeeded;
        if failed {
            self.avoid_zone(&c.task, zone);
        }
        self.note_attempt(now_ms, &holder.executor, failed);
    }

    /// Compares what the executor says it holds with what this leader gave it: cancels
    /// what it should not hold, takes back delivered assignments it does not hold.
    fn reconcile_held(&mut self, beat: &Beat, reply: &mut BeatReply) {
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
        #[cfg(madsim)]
        if self.cfg.bugs.on(crate::bugs::Bug::LostReplyHoldsTask) {
            return; // a beating executor is trusted to hold what it was given
        }
        let holding: Vec<TaskId> = self.executors[&beat.executor].holding.iter().cloned().collect();
        for task in holding {
            let entry = &self.tasks[&task];
            let delivered_before = entry.delivered_at_seq.is_some_and(|s| s < beat.seq);
            let reported = beat.held.iter().any(|(t, _)| *t == task) || beat.completed.iter().any(|c| c.task == task);
            if delivered_before && !reported {
                self.take_back(&beat.executor, &task, "assignment lost");
            }
        }
    }

    /// Fills the beating executor's free slots from the ready queue, unless it is quarantined
    /// or its zone just lost an executor and another zone has room (see [`IsolationConfig`]).
    fn assign(&mut self, now_ms: u64, beat: &Beat) {
        let epoch = self.epoch.expect("assigning while leading");
        if self.is_quarantined(&beat.executor) || self.zone_recently_lost(now_ms, &beat.zone) {
            return;
        }
        let ex = &self.executors[&beat.executor];
        let busy = ex.holding.len();
        let free = (beat.capacity as usize).saturating_sub(busy).min(self.cfg.max_assignments_per_beat as usize);
        #[cfg(madsim)]
        self.buggy_misfires(now_ms);
        for first in self.pick_ready(now_ms, &beat.zone, free) {
            self.ready.remove(&first);
            let task = first.task;
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
            let (spec, check_first) = (entry.record.spec.clone(), entry.record.effect_unknown);
            reply.assignments.push(Assignment { task: task.clone(), token, spec, check_first });
            self.record(EventKind::Dispatch {
                task,
                executor: beat.executor.clone(),
                incarnation: beat.incarnation,
                epoch: token.epoch,
                attempt: token.attempt,
            });
        }
    }

    /// Time passes: declares silent executors dead and lifts quarantines that ended.
    pub fn tick(&mut self, now: Now) {
        let now_ms = now.mono_ms;
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
            let zone = &self.executors[&name].zone;
            if self.cfg.isolation.enabled && !zone.is_empty() {
                self.zone_lost_ms.insert(zone.clone(), now_ms);
            }
        }
        self.release_quarantines(now_ms);
        self.fire_due(now.wall_ms);
    }

    fn declare_dead(&mut self, now_ms: u64, name: &str, reason: &str) {
        let ex = self.executors.get_mut(name).expect("declaring a known executor dead");
        ex.alive = false;
        ex.outbox.clear();
        let incarnation = ex.incarnation;
        let zone = ex.zone.clone();
        let holding: Vec<TaskId> = ex.holding.iter().cloned().collect();
        self.record(EventKind::ExecutorDead {
            executor: name.to_string(),
            incarnation,
            reason: reason.to_string(),
            tasks: holding.len() as u32,
        });
        for task in &holding {
            self.avoid_zone(task, &zone);
            #[cfg(madsim)]
            if self.buggy_drop_unconfirmed(name, task) {
                continue;
            }
            self.take_back(name, task, reason);
        }
        for _ in &holding {
            self.note_attempt(now_ms, name, true);
        }
    }

    /// Takes an assignment back and queues the task again. Not written to the store: a
    /// new leader re-derives it from the holder's silence or its heartbeat.
    fn take_back(&mut self, executor: &str, task: &TaskId, why: &str) {
        if let Some(ex) = self.executors.get_mut(executor) {
            ex.holding.remove(task);
            ex.outbox.retain(|t| t != task);
        }
        let entry = self.tasks.get_mut(task).expect("taking back a known task");
        Self::clear_assignment(&mut entry.record);
        // The holder may have applied the effect before it fell silent.
        entry.record.effect_unknown = true;
        #[cfg(madsim)]
        if self.cfg.bugs.on(crate::bugs::Bug::DeadLetterUnknownOutcome) {
            entry.record.effect_unknown = false;
        }
        entry.record.redispatches += 1;
        if entry.record.redispatches > self.cfg.max_redispatches {
            let reason = format!("taken back {} times (last: {why})", entry.record.redispatches);
            self.dead_letter(task, reason);
        } else {
            // It keeps its place in line: at the front of its lane, not behind the backlog
            // that built up while its holder was silent.
            let fire = entry.record.spec.is_fire();
            self.queue(0, task, fire);
        }
    }

    /// Dead-letters an open task (its assignment already cleared) and writes it.
    fn dead_letter(&mut self, task: &TaskId, reason: String) {
        let entry = self.tasks.get_mut(task).expect("dead-lettering a known task");
        entry.record.state = TaskState::DeadLettered;
        entry.record.reason = Some(reason.clone());
        self.open -= 1;
        let record = entry.record.clone();
        let event = EventKind::DeadLettered { task: task.clone(), reason };
        let op = self.write(record, false, Pending::Outcome { task: task.clone(), event, ready_at_ms: 0 });
        self.tasks.get_mut(task).expect("known task").writing = Some(op);
    }

    fn clear_assignment(record: &mut TaskRecord) {
        record.state = TaskState::Pending;
        record.token = None;
        record.holder = None;
    }

    fn push_ready(&mut self, at_ms: u64, task: &TaskId) {
        let fire = self.tasks[task].record.spec.is_fire();
        self.queue(at_ms, task, fire);
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
        let op = self.next_op;
        self.next_op += 1;
        self.writes.insert(op, pending);
        self.out.push_back(Output::Write(Write { op, record, create_key, job }));
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

/// Fault isolation: quarantine and zone-aware placement (see [`IsolationConfig`]).
impl Coordinator {
    /// The due ready tasks, in queue order, that a beat from `zone` with `free` slots gets:
    /// scheduled fires first, then plain tasks. It passes over a task that avoids `zone`
    /// while a usable executor exists in a zone the task does not avoid; passed-over tasks
    /// keep their place in the queue.
    fn pick_ready(&self, now_ms: u64, zone: &str, free: usize) -> Vec<Ready> {
        let elsewhere = self.usable_zones_except(zone, false);
        let max_skips = self.cfg.isolation.max_skips_per_beat;
        let mut picked = Vec::new();
        let mut skipped = 0;
        let due = |lane: Lane| self.ready.iter().skip_while(move |i| i.lane < lane).take_while(move |i| i.lane == lane);
        let due = due(Lane::Fires).take_while(|i| i.at_ms <= now_ms).chain(due(Lane::Tasks));
        for item in due {
            if picked.len() == free || item.at_ms > now_ms {
                break;
            }
            let avoid = &self.tasks[&item.task].avoid_zones;
            if avoid.contains(zone) && elsewhere.iter().any(|z| !avoid.contains(*z)) {
                if skipped == max_skips {
                    break;
                }
                skipped += 1;
                continue;
            }
            picked.push(item.clone());
        }
        picked
    }

    /// Known zones other than `zone` with a live, non-quarantined executor (with a free slot,
    /// if `with_free_slot`). Empty while isolation is off or `zone` is unknown.
    fn usable_zones_except(&self, zone: &str, with_free_slot: bool) -> BTreeSet<&str> {
        if !self.cfg.isolation.enabled || zone.is_empty() {
            return BTreeSet::new();
        }
        self.executors
            .iter()
            .filter(|(name, e)| e.alive && !e.zone.is_empty() && e.zone != zone && !self.is_quarantined(name))
            .filter(|(_, e)| !with_free_slot || e.holding.len() < e.capacity as usize)
            .map(|(_, e)| e.zone.as_str())
            .collect()
    }

    /// An executor of `zone` fell silent recently and another zone has room for the work.
    fn zone_recently_lost(&self, now_ms: u64, zone: &str) -> bool {
        let Some(&lost_at_ms) = self.zone_lost_ms.get(zone) else {
            return false;
        };
        now_ms.saturating_sub(lost_at_ms) <= self.cfg.zone_lost_for_ms()
            && !self.usable_zones_except(zone, true).is_empty()
    }

    fn is_quarantined(&self, name: &str) -> bool {
        self.health.get(name).is_some_and(|h| h.quarantined_until_ms.is_some())
    }

    /// An attempt of `task` failed, timed out or was lost in `zone` (empty: unknown).
    fn avoid_zone(&mut self, task: &TaskId, zone: &str) {
        if !self.cfg.isolation.enabled || zone.is_empty() {
            return;
        }
        let entry = self.tasks.get_mut(task).expect("avoiding a zone for a known task");
        if entry.avoid_zones.insert(zone.to_string()) {
            self.record(EventKind::ZoneAvoided { task: task.clone(), zone: zone.to_string() });
        }
    }

    /// A new incarnation of `name` replaced a known one.
    fn note_restart(&mut self, now_ms: u64, name: &str) {
        let iso = &self.cfg.isolation;
        let (limit, window_ms) = (iso.flap_restarts as usize, iso.flap_window_ms);
        if !iso.enabled || limit == 0 {
            return;
        }
        let h = self.health.entry(name.to_string()).or_default();
        h.restarts_ms.push_back(now_ms);
        while h.restarts_ms.len() > limit
            || h.restarts_ms.front().is_some_and(|t| now_ms.saturating_sub(*t) > window_ms)
        {
            h.restarts_ms.pop_front();
        }
        if h.restarts_ms.len() == limit {
            let reason = format!("crash loop: {limit} restarts within {window_ms} ms");
            if self.quarantine(now_ms, name, reason) {
                self.health.get_mut(name).expect("just quarantined").restarts_ms.clear();
            }
        }
    }

    /// An attempt held by `name` finished (or was lost with it).
    fn note_attempt(&mut self, now_ms: u64, name: &str, failed: bool) {
        let iso = &self.cfg.isolation;
        let (window, ratio) = (iso.failure_window as usize, iso.failure_ratio);
        if !iso.enabled || window == 0 {
            return;
        }
        let h = self.health.entry(name.to_string()).or_default();
        h.attempts.push_back(failed);
        if h.attempts.len() > window {
            h.attempts.pop_front();
        }
        let failures = h.attempts.iter().filter(|f| **f).count();
        if h.attempts.len() == window && failures as f64 >= ratio * window as f64 {
            let reason = format!("{failures} of its last {window} attempts failed");
            self.quarantine(now_ms, name, reason);
        }
    }

    /// Quarantines `name` unless it already is or the half-usable cap forbids it.
    fn quarantine(&mut self, now_ms: u64, name: &str, reason: String) -> bool {
        if self.is_quarantined(name) || !self.may_quarantine(name) {
            return false;
        }
        let iso = &self.cfg.isolation;
        let h = self.health.entry(name.to_string()).or_default();
        let doubling = 1u64 << h.quarantines.min(32);
        let backoff_ms = iso.quarantine_base_ms.saturating_mul(doubling).min(iso.quarantine_max_ms);
        h.quarantines = h.quarantines.saturating_add(1);
        h.quarantined_until_ms = Some(now_ms.saturating_add(backoff_ms));
        self.record(EventKind::ExecutorQuarantined { executor: name.to_string(), reason, backoff_ms });
        true
    }

    /// The half-usable cap: with `name` quarantined, at least half (rounded up) of the live
    /// names must stay usable. `name` counts as live even while it restarts.
    fn may_quarantine(&self, name: &str) -> bool {
        let mut live: BTreeSet<&str> =
            self.executors.iter().filter(|(_, e)| e.alive).map(|(n, _)| n.as_str()).collect();
        live.insert(name);
        let usable = live.iter().filter(|n| **n != name && !self.is_quarantined(n)).count();
        usable >= live.len().div_ceil(2)
    }

    /// Lifts the quarantines that ended; then, while deaths have left fewer than half
    /// (rounded up) of the live names usable, the ones ending soonest.
    fn release_quarantines(&mut self, now_ms: u64) {
        if !self.cfg.isolation.enabled {
            return;
        }
        let ended: Vec<String> = self
            .health
            .iter()
            .filter(|(_, h)| h.quarantined_until_ms.is_some_and(|until| until <= now_ms))
            .map(|(name, _)| name.clone())
            .collect();
        for name in ended {
            self.release(&name);
        }
        loop {
            let live: Vec<&String> = self.executors.iter().filter(|(_, e)| e.alive).map(|(n, _)| n).collect();
            let held_back: Vec<&String> = live.iter().copied().filter(|n| self.is_quarantined(n)).collect();
            if live.len() - held_back.len() >= live.len().div_ceil(2) {
                return;
            }
            let soonest = held_back.into_iter().min_by_key(|n| (self.health[*n].quarantined_until_ms, *n));
            let name = soonest.expect("below the cap, some live name is quarantined").clone();
            self.release(&name);
        }
    }

    /// Ends `name`'s quarantine with a fresh failure window.
    fn release(&mut self, name: &str) {
        let h = self.health.get_mut(name).expect("releasing a known name");
        h.quarantined_until_ms = None;
        h.attempts.clear();
        self.record(EventKind::ExecutorReleased { executor: name.to_string() });
    }
}

/// The catalog's coordinator bugs (simulation builds only; see `crate::bugs`).
#[cfg(madsim)]
impl Coordinator {
    /// Whether a record loaded at failover is left alone instead of queued or watched:
    /// a retry waiting in the old leader's memory (`RetryRingInMemory`), or an assignment
    /// whose holder nobody watches (`FailoverForgetsHolders`).
    fn buggy_load(&self, record: &TaskRecord) -> bool {
        use crate::bugs::Bug;
        let bugs = self.cfg.bugs;
        let on = |bug| bugs.on(bug);
        let waiting_retry = record.state == TaskState::Pending && record.failures > 0;
        let held = matches!(record.state, TaskState::Assigned | TaskState::Running) && record.holder.is_some();
        (waiting_retry && on(Bug::RetryRingInMemory)) || (held && on(Bug::FailoverForgetsHolders))
    }

    /// `MisfireSkip`: drops the retries found later than the misfire threshold.
    fn buggy_misfires(&mut self, now_ms: u64) {
        use crate::bugs::{Bug, MISFIRE_THRESHOLD_MS};
        if !self.cfg.bugs.on(Bug::MisfireSkip) {
            return;
        }
        let late: Vec<Ready> = self
            .ready
            .iter()
            .filter(|item| item.at_ms + MISFIRE_THRESHOLD_MS < now_ms)
            .filter(|item| self.tasks[&item.task].record.failures > 0)
            .cloned()
            .collect();
        for item in late {
            self.ready.remove(&item);
        }
    }

    /// `RequeueRunningOnly`: forgets an unconfirmed assignment of a dead executor.
    fn buggy_drop_unconfirmed(&mut self, executor: &str, task: &TaskId) -> bool {
        use crate::bugs::Bug;
        let bugs = self.cfg.bugs;
        let on = |bug| bugs.on(bug);
        let entry = self.tasks.get_mut(task).expect("a held task is known");
        if !on(Bug::RequeueRunningOnly) || entry.record.state != TaskState::Assigned {
            return false;
        }
        Self::clear_assignment(&mut entry.record);
        if let Some(ex) = self.executors.get_mut(executor) {
            ex.holding.remove(task);
        }
        true
    }
}

#[path = "jobs.rs"]
mod jobs;

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
