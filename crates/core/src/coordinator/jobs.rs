//! Scheduled jobs in the leader: commands, and firing (a part of [`Coordinator`]).
//!
//! **A fire is decided, persisted and dispatched exactly once.** When a job's next instant
//! `T` is due by the leader's clock, the leader writes, in ONE txn fenced by its epoch, the
//! fire's task record (key `fire/<job>/<T>`, which the sink's idempotency also keys on)
//! and the job record with its cursor moved past `T`. Until the store confirms, nothing is
//! dispatched and the job decides nothing more. So:
//! - a leader crash before the confirm loses both: the successor loads the old cursor and
//!   decides `T` again, once;
//! - a crash after it keeps both: the successor loads the fire's task (queued like any
//!   pending task) and a cursor past `T`;
//! - a deposed leader's txn fails on the fence, so two leaders never both persist `T`.
//!
//! **Time.** Instants are scheduler ms (`unix - base_unix_ms`), decided by the leader's
//! wall clock (`Now::wall_ms`); every fire's task carries `not_before_ms = T` and the
//! executor starts the body no earlier by its own wall clock, so a leader whose clock runs ahead dispatches early but the fire
//! still starts on time (ARCHITECTURE.md, "Scheduled jobs").
//!
//! **Misfires.** Instants found due more than `misfire_after_ms` late are handled by the
//! job's [`Misfire`] policy; **overlap** (the previous fire's task not terminal, or its
//! terminal write not yet confirmed) by its [`Overlap`] policy. Every skipped instant is
//! written (the cursor moves past it) and recorded (`fire_skipped`).

use super::{Coordinator, Entry, Output, Pending};
use crate::schedule::{Calendar as _, JobCommand, JobSpec, Misfire, Overlap, ValidJob as _};
use crate::{Now, TaskId, TaskRecord, TaskSpec};
use faultline_model::trace::{EventKind, JobCreation};
use serde::{Deserialize, Serialize};

/// Most missed instants one decision looks at (an every-second job after a day down).
const MAX_DUE: usize = 100_000;

/// A fire's task key (the sink's idempotency key): `fire/<job>/<T>`, or
/// `fire/<job>/<from>..<T>` for a fire that stands for several missed instants.
fn fire_key(job: &str, covers_from_ms: u64, scheduled_ms: u64) -> String {
    use crate::task::FIRE_KEY_PREFIX;
    if covers_from_ms == scheduled_ms {
        format!("{FIRE_KEY_PREFIX}{job}/{scheduled_ms}")
    } else {
        format!("{FIRE_KEY_PREFIX}{job}/{covers_from_ms}..{scheduled_ms}")
    }
}

/// The job and instants of a fire's task key.
fn parse_fire_key(key: &str) -> Option<(&str, u64, u64)> {
    let (job, instants) = key.strip_prefix(crate::task::FIRE_KEY_PREFIX)?.rsplit_once('/')?;
    let (from, to) = instants.split_once("..").unwrap_or((instants, instants));
    Some((job, from.parse().ok()?, to.parse().ok()?))
}

/// Scheduled-job settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobsConfig {
    /// The UNIX ms of scheduler time 0 (the simulator's start time; 0 in real mode, whose
    /// clocks read UNIX time).
    pub base_unix_ms: u64,
    /// While the cluster is healthy, a fire starts within this of its instant (checked).
    pub late_bound_ms: u64,
    /// How long after a fault heals the cluster counts as unhealthy for that bound.
    pub settle_ms: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig { base_unix_ms: 0, late_bound_ms: 2_000, settle_ms: 5_000 }
    }
}

/// The durable record of a job (JSON under `/faultline/jobs/`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// With its schedule resolved (`after` pinned to an instant, `every` to its start).
    pub spec: JobSpec,
    /// Scheduler ms the job was created at: its instants are those after it.
    pub from_ms: u64,
    /// The cursor: the next instant not yet fired or skipped (scheduler ms), if any.
    pub next_ms: Option<u64>,
    pub paused: bool,
    pub deleted: bool,
    /// The task of the newest fire (what overlap policies look at).
    pub last_task: Option<TaskId>,
    /// The newest skip: a new leader records it again, since the leader that wrote it may
    /// have lost its confirm (a timed-out write can still land) and never recorded it.
    #[serde(default)]
    pub last_skip: Option<SkipRecord>,
}

/// Instants `from_ms..=to_ms` (`count`) skipped for `reason` by the leader of `epoch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkipRecord {
    pub from_ms: u64,
    pub to_ms: u64,
    pub count: u32,
    pub reason: String,
    pub epoch: u64,
}

/// The answer to a job command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobReply {
    /// Durably applied (or already so).
    Done,
    NotLeader,
    /// Refused: the reason (unknown job, invalid spec, a different job under that name).
    Rejected(String),
}

#[derive(Clone, Debug)]
pub(super) struct JobEntry {
    record: JobRecord,
    /// The op of the job's newest write not yet confirmed: no fire is decided meanwhile.
    writing: Option<u64>,
    /// Commands waiting for that write.
    pub(super) waiters: Vec<u64>,
}

impl JobEntry {
    /// The instant (scheduler ms) at which this job's cursor falls due, while the job may
    /// fire: not paused, deleted or waiting for a write.
    fn next_fire_ms(&self) -> Option<u64> {
        let idle = !self.record.paused && !self.record.deleted && self.writing.is_none();
        self.record.next_ms.filter(|_| idle)
    }
}

/// What the leader does about a job whose cursor is due.
enum Decision {
    /// Fire `scheduled_ms`, standing for every instant from `covers_from_ms`.
    Fire { covers_from_ms: u64, scheduled_ms: u64 },
    /// Skip `count` instants `from..=to`.
    Skip { from_ms: u64, to_ms: u64, count: u32, reason: &'static str },
}

impl Coordinator {
    fn unix_ms(&self, ms: u64) -> u64 {
        ms + self.cfg.jobs.base_unix_ms
    }

    /// Scheduler ms of a UNIX instant (instants before the base clamp to 0).
    fn scheduler_ms(&self, unix_ms: u64) -> u64 {
        unix_ms.saturating_sub(self.cfg.jobs.base_unix_ms)
    }

    fn next_instant(&self, spec: &JobSpec, after_ms: u64) -> Option<u64> {
        #[cfg(madsim)]
        if self.cfg.bugs.on(crate::bugs::Bug::CronFixedOffset) {
            let next = crate::schedule::buggy_next_after_fixed_offset(&spec.schedule, self.unix_ms(after_ms));
            return next.map(|unix| self.scheduler_ms(unix));
        }
        spec.schedule.next_after(self.unix_ms(after_ms)).map(|unix| self.scheduler_ms(unix))
    }

    /// Takes over the jobs read from the store.
    #[cfg_attr(not(madsim), allow(unused_variables, unused_mut))]
    pub(super) fn load_jobs(&mut self, wall_ms: u64, jobs: Vec<JobRecord>) {
        for mut record in jobs {
            #[cfg(madsim)]
            if self.cfg.bugs.on(crate::bugs::Bug::FireCursorFromNow) && record.next_ms.is_some() {
                record.next_ms = self.next_instant(&record.spec, wall_ms); // the old leader's backlog is forgotten
            }
            let name = record.spec.name.clone();
            if let Some(s) = record.last_skip.clone() {
                let (job, reason) = (name.clone(), s.reason);
                self.record(EventKind::FireSkipped {
                    job: job.into(),
                    from_ms: s.from_ms,
                    to_ms: s.to_ms,
                    count: s.count,
                    reason: reason.into(),
                    epoch: s.epoch,
                });
            }
            // Its last command may have landed without its confirm (a write that timed out
            // while the store was paused), so its predecessor never recorded it: the state
            // the store holds is recorded again (the checkers treat a repeat as a no-op).
            let job = name.clone();
            self.record(if record.deleted {
                EventKind::JobDeleted { job: job.into() }
            } else if record.paused {
                EventKind::JobPaused { job: job.into() }
            } else {
                EventKind::JobResumed { job: job.into(), next_ms: record.next_ms }
            });
            self.jobs.insert(name, JobEntry { record, writing: None, waiters: Vec::new() });
        }
    }

    /// Records the fire of each unfinished fire task a new leader loads: its predecessor may
    /// have died between the store's confirm and recording it (the checker must see it).
    pub(super) fn recover_fires(&mut self, epoch: u64) {
        // In id order; only the fires are sorted, not every unfinished task.
        let mut fires: Vec<(&TaskRecord, (&str, u64, u64))> = (self.tasks.values())
            .map(|e| &e.record)
            .filter(|r| !r.state.is_terminal())
            .filter_map(|r| Some((r, parse_fire_key(&r.spec.key)?)))
            .collect();
        fires.sort_unstable_by(|a, b| a.0.id.cmp(&b.0.id));
        let fires: Vec<EventKind> = fires
            .into_iter()
            .map(|(r, (job, covers_from_ms, scheduled_ms))| EventKind::Fire {
                job: job.into(),
                scheduled_ms,
                covers_from_ms,
                task: r.id.clone(),
                epoch,
            })
            .collect();
        for fire in fires {
            self.record(fire);
        }
    }

    /// A job command; the reply comes as an [`Output::JobReply`] once it is durable.
    pub fn job_command(&mut self, now: Now, req: u64, command: JobCommand) {
        self.wall_ms = now.wall_ms;
        let wall_ms = now.wall_ms;
        if self.epoch.is_none() {
            return self.job_reply(req, JobReply::NotLeader);
        }
        let name = command.job().to_string();
        let live = self.jobs.get(&name).filter(|j| !j.record.deleted).map(|j| j.record.clone());
        let (record, event) = match (command, live) {
            (JobCommand::Create { spec }, None) => {
                if let Err(e) = spec.validate() {
                    return self.job_reply(req, JobReply::Rejected(e.to_string()));
                }
                let spec = JobSpec { schedule: spec.schedule.resolve(self.unix_ms(wall_ms)), ..spec };
                let next_ms = self.next_instant(&spec, wall_ms);
                let record = JobRecord {
                    spec,
                    from_ms: wall_ms,
                    next_ms,
                    paused: false,
                    deleted: false,
                    last_task: None,
                    last_skip: None,
                };
                let event = EventKind::JobCreated(Box::new(JobCreation {
                    job: name.as_str().into(),
                    spec: serde_json::to_string(&record.spec).expect("job specs serialize").into(),
                    from_ms: wall_ms,
                    base_unix_ms: self.cfg.jobs.base_unix_ms,
                    late_bound_ms: self.cfg.jobs.late_bound_ms,
                    settle_ms: self.cfg.jobs.settle_ms,
                }));
                (record, event)
            }
            (JobCommand::Create { spec }, Some(existing)) => {
                let same = spec.schedule.resolves_to(&existing.spec.schedule)
                    && JobSpec { schedule: existing.spec.schedule.clone(), ..spec } == existing.spec;
                let reply = if same {
                    JobReply::Done
                } else {
                    JobReply::Rejected(format!("job `{name}` exists with a different spec"))
                };
                return self.job_reply(req, reply);
            }
            (_, None) => return self.job_reply(req, JobReply::Rejected(format!("no job named `{name}`"))),
            (JobCommand::Pause { .. }, Some(mut record)) => {
                if record.paused {
                    return self.job_reply(req, JobReply::Done);
                }
                record.paused = true;
                (record, EventKind::JobPaused { job: name.as_str().into() })
            }
            (JobCommand::Resume { .. }, Some(mut record)) => {
                if !record.paused {
                    return self.job_reply(req, JobReply::Done);
                }
                // Instants while paused never fire: the job goes on after now.
                record.paused = false;
                record.next_ms = self.next_instant(&record.spec, wall_ms);
                let next_ms = record.next_ms;
                (record, EventKind::JobResumed { job: name.as_str().into(), next_ms })
            }
            (JobCommand::Delete { .. }, Some(mut record)) => {
                record.deleted = true;
                record.next_ms = None;
                (record, EventKind::JobDeleted { job: name.as_str().into() })
            }
        };
        let entry = self.jobs.entry(name.clone()).or_insert_with(|| JobEntry {
            record: record.clone(),
            writing: None,
            waiters: Vec::new(),
        });
        entry.record.clone_from(&record);
        entry.waiters.push(req);
        let op = self.put(
            None,
            false,
            Some(Box::new(record)),
            Pending::Job { job: name.clone(), event: Some(event), req: Some(req) },
        );
        self.jobs.get_mut(&name).expect("just inserted").writing = Some(op);
    }

    /// The store confirmed a job-only write.
    pub(super) fn job_persisted(
        &mut self,
        wall_ms: u64,
        op: u64,
        job: &str,
        event: Option<EventKind>,
        req: Option<u64>,
    ) {
        if let Some(event) = event {
            self.record(event);
        }
        if let Some(req) = req {
            self.jobs.get_mut(job).expect("a job write names a known job").waiters.retain(|r| *r != req);
            self.job_reply(req, JobReply::Done);
        }
        self.job_write_done(wall_ms, op, job);
    }

    /// The job's write `op` is durable: unless a newer one is in flight, the job may decide
    /// its next instants.
    fn job_write_done(&mut self, wall_ms: u64, op: u64, job: &str) {
        let entry = self.jobs.get_mut(job).expect("a write names a known job");
        if entry.writing == Some(op) {
            entry.writing = None;
        }
        self.fire_due(wall_ms);
        if let Some(next) = self.jobs.get(job).and_then(|j| j.next_fire_ms()) {
            self.wake_wall(next);
        }
    }

    /// When the first job's next instant is due.
    pub(super) fn next_fire_ms(&self) -> Option<u64> {
        self.jobs.values().filter_map(JobEntry::next_fire_ms).min()
    }

    /// The store confirmed a fire (its task record and its job's cursor).
    pub(super) fn fire_persisted(&mut self, wall_ms: u64, op: u64, job: &str) {
        #[cfg(madsim)]
        if self.cfg.bugs.on(crate::bugs::Bug::FireBeforePersist) {
            return self.buggy_write_cursor(job);
        }
        self.job_write_done(wall_ms, op, job);
    }

    /// Decides every due instant it can: one decision per job per confirmed write.
    pub(super) fn fire_due(&mut self, wall_ms: u64) {
        let Some(epoch) = self.epoch else {
            return;
        };
        let due: Vec<String> = self
            .jobs
            .iter()
            .filter(|(_, j)| j.next_fire_ms().is_some_and(|t| t <= wall_ms))
            .map(|(name, _)| name.clone())
            .collect();
        for name in due {
            let decision = self.decide(wall_ms, &name);
            self.carry_out(epoch, &name, decision);
        }
    }

    /// Applies the misfire and overlap policies to the job's due instants.
    fn decide(&self, wall_ms: u64, name: &str) -> Decision {
        let record = &self.jobs[name].record;
        let spec = &record.spec;
        let first = record.next_ms.expect("a due job has a cursor");
        let mut due = vec![first];
        while due.len() < MAX_DUE {
            match self.next_instant(spec, *due.last().expect("not empty")) {
                Some(t) if t <= wall_ms => due.push(t),
                _ => break,
            }
        }
        let misfired = due.iter().filter(|t| wall_ms - **t > spec.misfire_after_ms).count();
        let fire = if misfired == 0 {
            Decision::Fire { covers_from_ms: first, scheduled_ms: first }
        } else {
            let last_missed = due[misfired - 1];
            match spec.misfire {
                Misfire::FireOnce => Decision::Fire { covers_from_ms: first, scheduled_ms: last_missed },
                Misfire::Skip => {
                    let count = misfired as u32;
                    return Decision::Skip { from_ms: first, to_ms: last_missed, count, reason: "misfire" };
                }
                Misfire::CatchUp { max } if misfired > max as usize => {
                    let older = misfired - max as usize;
                    let (to_ms, count) = (due[older - 1], older as u32);
                    return Decision::Skip { from_ms: first, to_ms, count, reason: "catch_up_bound" };
                }
                Misfire::CatchUp { .. } => Decision::Fire { covers_from_ms: first, scheduled_ms: first },
            }
        };
        let running = record.last_task.as_ref().is_some_and(|t| self.is_running(t));
        match (fire, spec.overlap) {
            (Decision::Fire { covers_from_ms, scheduled_ms }, Overlap::Forbid) if running => {
                let count = self.instants_between(spec, covers_from_ms, scheduled_ms);
                Decision::Skip { from_ms: covers_from_ms, to_ms: scheduled_ms, count, reason: "overlap" }
            }
            (fire, _) => fire,
        }
    }

    fn instants_between(&self, spec: &JobSpec, from_ms: u64, to_ms: u64) -> u32 {
        let mut count = 1;
        let mut t = from_ms;
        while let Some(next) = self.next_instant(spec, t).filter(|n| *n <= to_ms) {
            count += 1;
            t = next;
        }
        count
    }

    /// A fire's task is running until its terminal state is durable.
    fn is_running(&self, task: &TaskId) -> bool {
        self.tasks.get(task).is_some_and(|e| !e.record.state.is_terminal() || e.writing.is_some())
    }

    fn carry_out(&mut self, epoch: u64, name: &str, decision: Decision) {
        let mut record = self.jobs[name].record.clone();
        let (last, pending, task) = match decision {
            Decision::Skip { from_ms, to_ms, count, reason } => {
                record.last_skip = Some(SkipRecord { from_ms, to_ms, count, reason: reason.into(), epoch });
                let job = name.to_string();
                let event = EventKind::FireSkipped {
                    job: job.as_str().into(),
                    from_ms,
                    to_ms,
                    count,
                    reason: reason.into(),
                    epoch,
                };
                (to_ms, Pending::Job { job, event: Some(event), req: None }, None)
            }
            Decision::Fire { covers_from_ms, scheduled_ms } => {
                if record.spec.overlap == Overlap::Replace {
                    if let Some(previous) = record.last_task.clone().filter(|t| self.is_running(t)) {
                        self.replace(&previous, scheduled_ms);
                    }
                }
                let id = crate::task::task_id(epoch, self.next_seq);
                self.next_seq += 1;
                let spec = &record.spec;
                let task_spec = TaskSpec {
                    key: fire_key(name, covers_from_ms, scheduled_ms),
                    payload: spec.payload.clone(),
                    max_attempts: spec.max_attempts,
                    timeout_ms: spec.timeout_ms,
                    not_before_ms: scheduled_ms,
                };
                let event = EventKind::Fire { job: name.into(), scheduled_ms, covers_from_ms, task: id.clone(), epoch };
                record.last_task = Some(id.clone());
                (
                    scheduled_ms,
                    Pending::Fire { task: id.clone(), job: name.to_string(), event },
                    Some(TaskRecord::new(id, task_spec)),
                )
            }
        };
        record.next_ms = self.next_instant(&record.spec, last);
        self.jobs.get_mut(name).expect("known job").record = record.clone();
        let op = match task {
            Some(task) => self.persist_fire(task, record, pending),
            None => self.put(None, false, Some(Box::new(record)), pending),
        };
        self.jobs.get_mut(name).expect("known job").writing = Some(op);
    }

    /// Writes a fire's task and its job's cursor in one txn, and tracks the task like a
    /// submitted one whose create is in flight (nothing dispatches it before the confirm).
    fn persist_fire(&mut self, task: TaskRecord, job: JobRecord, pending: Pending) -> u64 {
        let id = task.id.clone();
        self.keys.insert(task.spec.key.clone(), id.clone());
        self.open += 1;
        #[cfg(madsim)]
        let (task, job) = self.buggy_fire_record(task, job);
        #[cfg(not(madsim))]
        let job = Some(job);
        let op = self.put(Some(task.clone()), true, job.map(Box::new), pending);
        let entry = Entry { record: task, writing: Some(op), delivered_at_seq: None, created: false, rare: None };
        self.tasks.insert(id, Box::new(entry));
        op
    }

    /// Overlap `replace`: dead-letters the running fire; its executor is told to cancel it
    /// at its next beat (it no longer holds the assignment).
    fn replace(&mut self, task: &TaskId, by_ms: u64) {
        let holder = self.tasks[task].record.holder.clone();
        if let Some(ex) = holder.and_then(|h| self.executors.get_mut(&h.executor)) {
            ex.holding.remove(task);
            ex.outbox.retain(|t| t != task);
        }
        self.ready.retain(|item| item.task != *task);
        Self::clear_assignment(&mut self.tasks.get_mut(task).expect("a running fire is known").record);
        let reason = format!("{} at {by_ms} ms (overlap: replace)", faultline_model::trace::REPLACED_REASON_PREFIX);
        self.dead_letter(task, reason);
    }

    fn job_reply(&mut self, req: u64, reply: JobReply) {
        self.out.push_back(Output::JobReply { req, reply });
    }
}

/// The catalog's firing bugs (simulation builds only; see `crate::bugs`).
#[cfg(madsim)]
impl Coordinator {
    /// `FireBeforePersist`: the fire is written as an ordinary task keyed by its own id, and
    /// the job's cursor is left for a later write (after the fire is durable and queued).
    fn buggy_fire_record(&self, mut task: TaskRecord, job: JobRecord) -> (TaskRecord, Option<JobRecord>) {
        if !self.cfg.bugs.on(crate::bugs::Bug::FireBeforePersist) {
            return (task, Some(job));
        }
        task.spec.key = task.id.to_string();
        (task, None)
    }

    /// `FireBeforePersist`: the cursor write that trails the fire.
    fn buggy_write_cursor(&mut self, job: &str) {
        let record = self.jobs[job].record.clone();
        let op = self.put(
            None,
            false,
            Some(Box::new(record)),
            Pending::Job { job: job.to_string(), event: None, req: None },
        );
        self.jobs.get_mut(job).expect("known job").writing = Some(op);
    }
}

#[cfg(test)]
mod tests;
