//! Scheduled jobs: every instant of a job fires once, on time, on schedule, or is skipped
//! as its policies allow.
//!
//! A job's instants come from its spec (`JobCreated`, the schedule resolved), mapped to the
//! history's time line as `unix - base_unix_ms`; its instants are those after `from_ms`.
//! They are computed by `cron_oracle`, an implementation of the schedule rules separate
//! from the scheduler's own (`schedule::Schedule::next_after`), so a bug there shows.
//! - **FireLost.** While the job is active (from its creation, or from a resume's `next_ms`,
//!   until a pause or delete, or the drain's start, or the history's end), each instant due
//!   `late_bound_ms` before that end must be covered by a fire, or by a skip its policy
//!   justifies: `misfire` under `skip` and `catch_up_bound` under `catch_up`, recorded at
//!   least `misfire_after_ms` after the instant; `overlap` under `forbid`, while an earlier
//!   fire of the job was still running. A fire stands for more than its own instant only
//!   under `fire_once`. Lost instants are reported once per active window, at the event
//!   that ended it. In a drained run, every fire's task must also end terminal.
//! - **FireTwice.** Two fire records (different tasks) of one job whose instants overlap, or
//!   two such tasks whose effects the sink both accepted.
//! - **FireEarly / FireLate.** A fire's task first starts before its instant, or later than
//!   `late_bound_ms` after it while no fault was in progress (a fault counts until
//!   `settle_ms` after its end).
//! - **FireOffSchedule.** A fire's instant (or the first instant it covers) is not an
//!   instant of the job's schedule, or is not after the job's creation.
//! - **FireOverlap.** Under `forbid` or `replace`, a fire recorded before the job's previous
//!   fire was terminal; under `replace`, any skip for overlap.
//!
//! Limits. Nodes judge lateness and earliness by their own clocks: once a clock fault has hit
//! a node (a `clock_*` fault whose begin names it), a skip it recorded too soon after the
//! instant, or a start (or apply) too early on it as the executor, is excused, since a
//! wrong clock misjudges both. A job deleted and created again under its name is judged as a
//! new job from its new creation. The leader's terminal writes and decisions are pipelined in
//! store order, so an overlap skip may be recorded just after the previous fire's terminal
//! state: it is justified when that state was recorded after the job's previous record and
//! no earlier than the last skipped instant (when the decision could first be made). A fire
//! durable in the store whose confirm was lost to a leader crash has no `Fire` event, and
//! its instants look lost. Jobs whose spec does not parse, or whose cron syntax the oracle
//! does not support (croner's `L`, `W`, `#` extensions), are not judged.

use super::cron_oracle;
use super::firings::{firings, nodes};
use super::{NameMap, Violation, ViolationKind};
use faultline_model::job::{JobSpec, Misfire, Overlap};
use faultline_model::trace::{Event, EventKind, JobCreation, Verdict};
use std::collections::{BTreeMap, BTreeSet};

/// Most instants one active window is expanded to.
const MAX_INSTANTS: usize = 100_000;

/// Whether the oracle can evaluate a job's schedule (see the module doc's limits).
fn judged(spec: &JobSpec) -> bool {
    cron_oracle::instants(&spec.schedule, 0, 0, 0).is_some()
}

/// Flags every broken firing rule in `history` (see the module doc), sorted by event index.
pub fn no_fire_violations(history: &[Event]) -> Vec<Violation> {
    let Some(facts) = Facts::gather(history) else {
        return Vec::new();
    };
    let mut violations = lost_instants(history, &facts);
    violations.extend(unfinished_fires(history, &facts));
    violations.extend(fired_twice(history, &facts));
    violations.extend(early_fires(history, &facts));
    violations.extend(late_fires(history, &facts));
    violations.extend(off_schedule(history, &facts));
    violations.extend(overlaps(history, &facts));
    violations.sort_by_key(|violation| (violation.event_index, violation.kind));
    violations
}

/// Instants `first_ms..` up to `end_ms` are active; `end_index` is the event that ended them.
struct Window {
    first_ms: u64,
    end_ms: u64,
    end_index: usize,
    /// Ended by a pause or delete (a command cancels the instants not yet decided).
    by_command: bool,
}

struct Fire<'a> {
    index: usize,
    job: usize,
    task: &'a str,
    covers_from_ms: u64,
    scheduled_ms: u64,
}

struct Skip<'a> {
    index: usize,
    at_ms: u64,
    /// The node that decided it: the leader elected with the skip's epoch (a new leader
    /// records again the last skip its predecessor wrote, so the recorder may be another).
    node: &'a str,
    from_ms: u64,
    to_ms: u64,
    reason: &'a str,
    /// Whether an earlier fire of the job may have been running when the skip was decided.
    previous_running: bool,
}

/// One incarnation of a job (a name may be deleted and created again).
struct Job<'a> {
    name: &'a str,
    spec: JobSpec,
    from_ms: u64,
    base_unix_ms: u64,
    late_bound_ms: u64,
    settle_ms: u64,
    windows: Vec<Window>,
    open: Option<u64>,
    /// Indexes into `Facts::fires`, in history order.
    fires: Vec<usize>,
    skips: Vec<Skip<'a>>,
    /// The job's newest event (a decision comes after the write it recorded was confirmed).
    last_event: usize,
}

impl Job<'_> {
    /// A violation about this job; `what` follows the job's name in the message.
    fn violation(&self, history: &[Event], index: usize, kind: ViolationKind, what: String) -> Violation {
        Violation::at(history, index, kind, format!("job {}", self.name), format!("job {}: {what}", self.name))
    }

    /// Whether history ms `ms` is an instant of the schedule.
    fn is_instant(&self, ms: u64) -> bool {
        let unix = ms.saturating_add(self.base_unix_ms);
        unix > 0 && cron_oracle::is_instant(&self.spec.schedule, unix)
    }

    /// The instants a fire accounts for: its range under `fire_once`, else its own instant.
    fn accounted(&self, fire: &Fire) -> (u64, u64) {
        match self.spec.misfire {
            Misfire::FireOnce => (fire.covers_from_ms, fire.scheduled_ms),
            _ => (fire.scheduled_ms, fire.scheduled_ms),
        }
    }
}

/// What one pass over the history learned.
#[derive(Default)]
struct Facts<'a> {
    jobs: Vec<Job<'a>>,
    fires: Vec<Fire<'a>>,
    /// The first fire of each task (index into `fires`).
    fire_of_task: NameMap<'a, usize>,
    /// The first event showing each task terminal, and its time.
    terminal: NameMap<'a, (usize, u64)>,
    first_start: NameMap<'a, usize>,
    first_accepted: NameMap<'a, usize>,
    /// The first clock fault that hit each node.
    clock_faulted: BTreeMap<&'a str, usize>,
    /// The node elected with each epoch.
    leaders: BTreeMap<u64, &'a str>,
    /// Faults in progress: begin ms and end ms (none: until the end of the history).
    faults: Vec<(u64, Option<u64>)>,
    drained: bool,
}

impl<'a> Facts<'a> {
    /// None for an empty history or one without jobs (nothing to judge).
    fn gather(history: &'a [Event]) -> Option<Self> {
        let last = history.len().checked_sub(1)?;
        if !history.iter().any(|event| matches!(event.kind, EventKind::JobCreated(_))) {
            return None;
        }
        let mut facts = Facts::default();
        // The current incarnation of each name; `None` when its spec does not parse.
        let mut current: BTreeMap<&str, Option<usize>> = BTreeMap::new();
        // Fault windows, and the first clock fault on each node (a node's clock is judged
        // only against events after it).
        for firing in firings(history) {
            if firing.kind.starts_with("clock_") {
                for node in nodes(firing.target) {
                    facts.clock_faulted.entry(node).or_insert(firing.begin);
                }
            }
            facts.faults.push(firing.window_ms(history));
        }
        let mut stop = None;
        for (index, event) in history.iter().enumerate() {
            let (at_ms, node) = (event.at_ms, event.node.as_str());
            let id = match &event.kind {
                EventKind::JobPaused { job }
                | EventKind::JobDeleted { job }
                | EventKind::JobResumed { job, .. }
                | EventKind::Fire { job, .. }
                | EventKind::FireSkipped { job, .. } => current.get(job.as_str()).copied().flatten(),
                _ => None,
            };
            if let Some(task) = event.kind.terminal_task() {
                facts.terminal.entry(task).or_insert((index, at_ms));
            }
            match (&event.kind, id) {
                (EventKind::JobCreated(created), _) => {
                    let JobCreation { job, spec, from_ms, base_unix_ms, late_bound_ms, settle_ms } = &**created;
                    if let Some(&Some(old)) = current.get(job.as_str()) {
                        facts.close(old, at_ms, index);
                    }
                    let parsed = serde_json::from_str::<JobSpec>(spec).ok().filter(judged).map(|spec| Job {
                        name: job,
                        spec,
                        from_ms: *from_ms,
                        base_unix_ms: *base_unix_ms,
                        late_bound_ms: *late_bound_ms,
                        settle_ms: *settle_ms,
                        windows: Vec::new(),
                        open: Some(from_ms + 1),
                        fires: Vec::new(),
                        skips: Vec::new(),
                        last_event: index,
                    });
                    current.insert(job, parsed.map(|job| facts.jobs.push(job)).map(|()| facts.jobs.len() - 1));
                }
                (EventKind::JobPaused { .. } | EventKind::JobDeleted { .. }, Some(id)) => facts.close(id, at_ms, index),
                (EventKind::JobResumed { next_ms, .. }, Some(id)) => {
                    facts.jobs[id].open = facts.jobs[id].open.or(*next_ms);
                }
                (EventKind::Fire { scheduled_ms, covers_from_ms, task, .. }, Some(job)) => {
                    let (covers_from_ms, scheduled_ms) = (*covers_from_ms, *scheduled_ms);
                    facts.fire_of_task.entry(task).or_insert(facts.fires.len());
                    facts.jobs[job].fires.push(facts.fires.len());
                    facts.fires.push(Fire { index, job, task, covers_from_ms, scheduled_ms });
                }
                (EventKind::LeaderElected { epoch }, _) => {
                    facts.leaders.entry(*epoch).or_insert(node);
                }
                (EventKind::FireSkipped { from_ms, to_ms, reason, epoch, .. }, Some(id)) => {
                    let node = facts.leaders.get(epoch).copied().unwrap_or(node);
                    let previous_running = facts.previous_running(id, index, *to_ms, node);
                    let (from_ms, to_ms) = (*from_ms, *to_ms);
                    let skip = Skip { index, at_ms, node, from_ms, to_ms, reason, previous_running };
                    facts.jobs[id].skips.push(skip);
                }
                (EventKind::Persist { task, state, .. }, _) if state == "succeeded" || state == "dead_lettered" => {
                    facts.terminal.entry(task).or_insert((index, at_ms));
                }
                (EventKind::Start { task, .. }, _) => {
                    facts.first_start.entry(task).or_insert(index);
                }
                (EventKind::Apply { task, verdict: Verdict::Accepted, .. }, _) => {
                    facts.first_accepted.entry(task).or_insert(index);
                }
                (EventKind::DrainStart { .. }, _) => stop = stop.or(Some((at_ms, index))),
                (EventKind::RunEnd { drained: true }, _) => facts.drained = true,
                _ => {}
            }
            if let Some(id) = id {
                facts.jobs[id].last_event = index;
            }
        }
        // Nothing is required past the drain's start (or the end of the history).
        let stop = stop.unwrap_or((history[last].at_ms, last));
        for job in &mut facts.jobs {
            if let Some(first_ms) = job.open.take() {
                job.windows.push(Window { first_ms, end_ms: stop.0, end_index: stop.1, by_command: false });
            }
            for window in job.windows.iter_mut().filter(|window| window.end_ms > stop.0) {
                (window.end_ms, window.end_index, window.by_command) = (stop.0, stop.1, false);
            }
        }
        Some(facts)
    }

    fn close(&mut self, job: usize, end_ms: u64, end_index: usize) {
        let job = &mut self.jobs[job];
        if let Some(first_ms) = job.open.take() {
            job.windows.push(Window { first_ms, end_ms, end_index, by_command: true });
        }
    }

    /// Whether an earlier fire of `job` may still have run when the leader decided the skip
    /// recorded at `index` (see the module doc: terminal writes are pipelined with it).
    fn previous_running(&self, job: usize, index: usize, to_ms: u64, node: &str) -> bool {
        let job = &self.jobs[job];
        job.fires.iter().any(|&fire| match self.terminal.get(self.fires[fire].task) {
            None => true,
            Some(&(terminal, at_ms)) => terminal > job.last_event && (at_ms >= to_ms || self.clock_hit(node, index)),
        })
    }

    /// Whether no fault was in progress at any moment of `from_ms..=to_ms` (a fault counts
    /// until `settle_ms` after its end).
    fn healthy(&self, job: &Job, from_ms: u64, to_ms: u64) -> bool {
        let settled = |end: u64| end.saturating_add(job.settle_ms) < from_ms;
        self.faults.iter().all(|&(begin, end)| begin > to_ms || end.is_some_and(settled))
    }

    /// Whether a clock fault had hit `node` before the event at `index`.
    fn clock_hit(&self, node: &str, index: usize) -> bool {
        self.clock_faulted.get(node).is_some_and(|&begin| begin < index)
    }

    /// The fires of the history, each task once (its first fire record), in history order.
    fn first_fires(&self) -> impl Iterator<Item = (&Fire<'a>, &Job<'a>)> {
        self.fires
            .iter()
            .enumerate()
            .filter(|(n, fire)| self.fire_of_task[fire.task] == *n)
            .map(|(_, fire)| (fire, &self.jobs[fire.job]))
    }
}

/// The instants of `window` due `late_bound_ms` before its end, in history ms. A pause or
/// delete cancels the instants not yet decided, and while a fault is in progress a fire may
/// be late past the bound (once the cluster is healthy again, its backlog is decided within
/// the bound): so an instant before a command is not required if a fault was in progress
/// (or settling) within the bound before the command, after the instant.
fn required(facts: &Facts, job: &Job, window: &Window) -> Vec<u64> {
    let Some(until) = window.end_ms.checked_sub(job.late_bound_ms).filter(|until| *until >= window.first_ms) else {
        return Vec::new();
    };
    let base = job.base_unix_ms;
    let after = (window.first_ms + base).saturating_sub(1);
    let instants = cron_oracle::instants(&job.spec.schedule, after, until + base, MAX_INSTANTS).unwrap_or_default();
    let recent = window.end_ms.saturating_sub(job.late_bound_ms);
    let healthy = |t: u64| !window.by_command || facts.healthy(job, t.max(recent), window.end_ms);
    instants
        .into_iter()
        .filter_map(|unix| unix.checked_sub(base))
        .filter(|t| *t >= window.first_ms && healthy(*t))
        .collect()
}

/// Whether `skip` may leave `instant` unfired under the job's policies. A skip for lateness
/// recorded by a node whose clock was faulted is not held to the time condition: a wrong
/// clock misjudges lateness.
fn justified(facts: &Facts, job: &Job, skip: &Skip, instant: u64) -> bool {
    let timely =
        || skip.at_ms >= instant.saturating_add(job.spec.misfire_after_ms) || facts.clock_hit(skip.node, skip.index);
    match (skip.reason, job.spec.misfire, job.spec.overlap) {
        ("misfire", Misfire::Skip, _) | ("catch_up_bound", Misfire::CatchUp { .. }, _) => timely(),
        ("overlap", _, Overlap::Forbid) => skip.previous_running,
        _ => false,
    }
}

/// FireLost: required instants of each active window that no fire or justified skip
/// accounts for, reported once per window at the event that ended it.
fn lost_instants(history: &[Event], facts: &Facts) -> Vec<Violation> {
    let mut violations = Vec::new();
    for job in &facts.jobs {
        // Every record that may account for an instant: its range, and the skip if one.
        let fires = job.fires.iter().map(|&fire| job.accounted(&facts.fires[fire]));
        let skips = job.skips.iter().map(|skip| (skip.from_ms, skip.to_ms, Some(skip)));
        let mut claims: Vec<_> = fires.map(|(from, to)| (from, to, None)).chain(skips).collect();
        claims.sort_by_key(|claim| claim.0);
        for window in &job.windows {
            let (mut next, mut active, mut lost) = (0, Vec::new(), Vec::new());
            for instant in required(facts, job, window) {
                while next < claims.len() && claims[next].0 <= instant {
                    active.push(next);
                    next += 1;
                }
                active.retain(|&claim| claims[claim].1 >= instant);
                let accounts = |&claim: &usize| claims[claim].2.is_none_or(|skip| justified(facts, job, skip, instant));
                if !active.iter().any(accounts) {
                    lost.push((instant, active.iter().find_map(|&claim| claims[claim].2)));
                }
            }
            let (Some(&(first, seen)), Some(&(last, _))) = (lost.first(), lost.last()) else {
                continue;
            };
            let mut what = match lost.len() {
                1 => format!("instant {first} ms was never fired nor skipped as its policy allows"),
                n => format!(
                    "{n} instants from {first} ms to {last} ms were never fired nor skipped as its policy allows"
                ),
            };
            if let Some(skip) = seen {
                let policy =
                    format!("misfire {}, overlap {}", misfire_name(job.spec.misfire), overlap_name(job.spec.overlap));
                what += &format!(
                    " ({first} ms was skipped for {} at {} ms, unjustified under {policy})",
                    skip.reason, skip.at_ms
                );
            }
            violations.push(job.violation(history, window.end_index, ViolationKind::FireLost, what));
        }
    }
    violations
}

/// FireLost: in a drained run, a fire whose task never reached a terminal state.
fn unfinished_fires(history: &[Event], facts: &Facts) -> Vec<Violation> {
    if !facts.drained {
        return Vec::new(); // a run cut short is `converges`' to judge
    }
    let unfinished = facts.first_fires().filter(|(fire, _)| !facts.terminal.contains_key(fire.task));
    let violation = |(fire, job): (&Fire, &Job)| {
        let what =
            format!("fire of instant {} ms (task {}) never reached a terminal state", fire.scheduled_ms, fire.task);
        job.violation(history, fire.index, ViolationKind::FireLost, what)
    };
    unfinished.map(violation).collect()
}

/// Ranges of instants claimed by tasks, to find another task's overlapping range.
#[derive(Default)]
struct Ranges<'a> {
    by_from: BTreeMap<(u64, usize), (u64, &'a str)>,
    widest: u64,
}

impl<'a> Ranges<'a> {
    /// The first ms of `fire`'s range shared with a range of another task, and that task;
    /// then adds `fire`'s range.
    fn claim(&mut self, fire: &Fire<'a>) -> Option<(u64, &'a str)> {
        let (from, to) = (fire.covers_from_ms.min(fire.scheduled_ms), fire.scheduled_ms);
        let mut candidates = self.by_from.range((from.saturating_sub(self.widest), 0)..=(to, usize::MAX));
        let found = candidates.find(|(_, (end, other))| *end >= from && *other != fire.task);
        let found = found.map(|((start, _), (_, other))| ((*start).max(from), *other));
        self.widest = self.widest.max(to.saturating_sub(from));
        self.by_from.insert((from, self.by_from.len()), (to, fire.task));
        found
    }
}

/// FireTwice: two fire records of one job with overlapping instants (at the second), and
/// two such fires accepted by the sink (at the second accept, once per instant).
fn fired_twice(history: &[Event], facts: &Facts) -> Vec<Violation> {
    let mut violations = Vec::new();
    let mut recorded: BTreeMap<usize, Ranges> = BTreeMap::new();
    for fire in &facts.fires {
        if let Some((instant, other)) = recorded.entry(fire.job).or_default().claim(fire) {
            let what = format!("instant {instant} ms fired twice, by task {other} and task {}", fire.task);
            violations.push(facts.jobs[fire.job].violation(history, fire.index, ViolationKind::FireTwice, what));
        }
    }
    let (mut accepted, mut flagged): (BTreeMap<usize, Ranges>, _) = (BTreeMap::new(), BTreeSet::new());
    for (index, event) in history.iter().enumerate() {
        let EventKind::Apply { task, verdict: Verdict::Accepted, .. } = &event.kind else {
            continue;
        };
        let Some(fire) = facts.fire_of_task.get(task.as_str()).map(|&fire| &facts.fires[fire]) else {
            continue;
        };
        let claimed = accepted.entry(fire.job).or_default().claim(fire);
        if let Some((instant, other)) = claimed.filter(|(instant, _)| flagged.insert((fire.job, *instant))) {
            let what = format!("instant {instant} ms took effect twice, by task {other} and task {task}");
            violations.push(facts.jobs[fire.job].violation(history, index, ViolationKind::FireTwice, what));
        }
    }
    violations
}

/// FireEarly: a fire's task first started (or, with no early start seen, took effect)
/// before its instant, on an executor no clock fault had hit.
fn early_fires(history: &[Event], facts: &Facts) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (fire, job) in facts.first_fires() {
        let early = |index: &&usize| history[**index].at_ms < fire.scheduled_ms;
        let (index, did) = match (facts.first_start.get(fire.task), facts.first_accepted.get(fire.task)) {
            (Some(&index), _) if early(&&index) => (index, "started"),
            (_, Some(&index)) if early(&&index) => (index, "took effect"),
            _ => continue,
        };
        let executor: &str = match &history[index].kind {
            EventKind::Apply { executor, .. } => executor,
            _ => &history[index].node,
        };
        if !facts.clock_hit(executor, index) {
            let (instant, task, at_ms) = (fire.scheduled_ms, fire.task, history[index].at_ms);
            let what = format!("fire of instant {instant} ms (task {task}) {did} at {at_ms} ms");
            violations.push(job.violation(history, index, ViolationKind::FireEarly, what));
        }
    }
    violations
}

/// FireLate: a fire's task first started more than `late_bound_ms` after its instant while
/// no fault was in progress from the instant to the start (a fault counts until `settle_ms`
/// after its end).
fn late_fires(history: &[Event], facts: &Facts) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (fire, job) in facts.first_fires() {
        let Some(&index) = facts.first_start.get(fire.task) else {
            continue;
        };
        let (instant, start, bound) = (fire.scheduled_ms, history[index].at_ms, job.late_bound_ms);
        if start > instant.saturating_add(bound) && facts.healthy(job, instant, start) {
            let (late, task) = (start - instant, fire.task);
            let what = format!(
                "fire of instant {instant} ms (task {task}) started at {start} ms, {late} ms late (bound {bound} ms) \
                 while no fault was in progress"
            );
            violations.push(job.violation(history, index, ViolationKind::FireLate, what));
        }
    }
    violations
}

/// FireOffSchedule: a fire record whose instant, or the first instant it covers, is not an
/// instant of the job's schedule or not after the job's creation.
fn off_schedule(history: &[Event], facts: &Facts) -> Vec<Violation> {
    let mut violations = Vec::new();
    for fire in &facts.fires {
        let job = &facts.jobs[fire.job];
        let (at, from, task) = (fire.scheduled_ms, fire.covers_from_ms, fire.task);
        let why = if !job.is_instant(at) {
            "which is not an instant of its schedule".to_string()
        } else if from > at {
            format!("covering from {from} ms, after its instant")
        } else if from != at && !job.is_instant(from) {
            format!("covering from {from} ms, which is not an instant of its schedule")
        } else if from <= job.from_ms {
            format!("covering from {from} ms, not after the job's creation at {} ms", job.from_ms)
        } else {
            continue;
        };
        let what = format!("fire at {at} ms (task {task}), {why}");
        violations.push(job.violation(history, fire.index, ViolationKind::FireOffSchedule, what));
    }
    violations
}

/// FireOverlap: under overlap `forbid` or `replace`, a fire recorded before the job's
/// previous fire was terminal; under `replace`, a skip for overlap.
fn overlaps(history: &[Event], facts: &Facts) -> Vec<Violation> {
    let mut violations = Vec::new();
    for job in facts.jobs.iter().filter(|job| job.spec.overlap != Overlap::Allow) {
        let fires: Vec<&Fire> = job.fires.iter().map(|&fire| &facts.fires[fire]).collect();
        for pair in fires.windows(2).filter(|pair| pair[0].task != pair[1].task) {
            let (prev, fire) = (pair[0], pair[1]);
            if facts.terminal.get(prev.task).is_none_or(|&(terminal, _)| terminal >= fire.index) {
                let what = format!(
                    "fire of instant {} ms (task {}) was recorded while the previous fire (task {}, instant {} ms) \
                     was not terminal, under overlap {}",
                    fire.scheduled_ms,
                    fire.task,
                    prev.task,
                    prev.scheduled_ms,
                    overlap_name(job.spec.overlap)
                );
                violations.push(job.violation(history, fire.index, ViolationKind::FireOverlap, what));
            }
        }
        for skip in job.skips.iter().filter(|skip| skip.reason == "overlap" && job.spec.overlap == Overlap::Replace) {
            let (from, to) = (skip.from_ms, skip.to_ms);
            let what =
                format!("instants {from} ms to {to} ms were skipped for overlap, which overlap replace never does");
            violations.push(job.violation(history, skip.index, ViolationKind::FireOverlap, what));
        }
    }
    violations
}

fn misfire_name(misfire: Misfire) -> &'static str {
    match misfire {
        Misfire::FireOnce => "fire_once",
        Misfire::Skip => "skip",
        Misfire::CatchUp { .. } => "catch_up",
    }
}

fn overlap_name(overlap: Overlap) -> &'static str {
    match overlap {
        Overlap::Allow => "allow",
        Overlap::Forbid => "forbid",
        Overlap::Replace => "replace",
    }
}

#[cfg(test)]
mod tests;
