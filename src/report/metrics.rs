//! Recovery-time and task-loss metrics, derived from a history alone.
//!
//! Every function here is a pure function of `&[Event]` in time order (as the recorder
//! writes it and `faultline check` merges it): no clock, no randomness, only `Vec`s and
//! `BTreeMap`s, so equal histories give equal metrics. Times are the history's true
//! simulated ms. Each definition, with its edge cases, is in reports/METRICS.md; the
//! constants of the recovery test live in [`RecoveryConfig`].

use crate::check::firings::{firings, nodes, Firing};
use crate::trace::{Event, EventKind, FaultPhase};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Fault kinds that silence whole nodes: the ones whose firings are classed by what they
/// hit (the others are `Hit::Other`).
pub const SILENCING_KINDS: [&str; 5] = ["crash", "pause", "isolate", "split", "bridge"];

/// What a firing hit, which decides the bounds its detection and failover are held to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hit {
    /// One or more executors (nodes that ran or were sent a task), not the leader, by a
    /// fault of `SILENCING_KINDS`.
    Executors,
    /// The leader at the begin, no executor.
    Leader,
    /// The leader and executors (a split, a zone).
    Both,
    /// Neither, or a fault outside `SILENCING_KINDS`: a standby, the store, the sink, the
    /// client, task, message, clock and store faults.
    #[default]
    Other,
}

impl Hit {
    /// The report row of a firing of `kind` that hit this: `crash (executors)`, or the
    /// bare kind for `Other`.
    pub fn row(self, kind: &str) -> String {
        match self {
            Hit::Executors => format!("{kind} (executors)"),
            Hit::Leader => format!("{kind} (leader)"),
            Hit::Both => format!("{kind} (leader and executors)"),
            Hit::Other => kind.to_string(),
        }
    }
}

/// What one firing of a fault cost and how the scheduler answered it. Durations are ms
/// from `begin_ms`; `None` means the signal never came (see reports/METRICS.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FaultRecovery {
    pub id: u64,
    pub kind: String,
    /// The nodes hit, comma-separated, as the nemesis recorded them.
    pub target: String,
    pub begin_ms: u64,
    /// `None`: the firing never ended (e.g. a crash without restart).
    pub end_ms: Option<u64>,
    /// Until the scheduler noticed: an `ExecutorDead` of a target executor, or the leader
    /// hit losing or being replaced.
    pub detection_ms: Option<u64>,
    /// Until stranded work moved: a task the target executors held re-dispatched, or a
    /// leader elected after the begin dispatching.
    pub failover_ms: Option<u64>,
    /// Until throughput and backlog were back (see [`RecoveryConfig`]).
    pub recovery_ms: Option<u64>,
    /// `recovery_ms.is_some()`: false counts a firing that never recovered.
    pub recovered: bool,
    /// What it hit (histories measured before this field: `Other`).
    #[serde(default)]
    pub hit: Hit,
    /// How many executors it hit (0 unless `hit` names executors).
    #[serde(default)]
    pub executors_hit: u64,
}

/// The recovery test's constants. [`Default`] is what reports use and METRICS.md states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecoveryConfig {
    /// The sliding window `[t, t + window_ms)` dispatch throughput is measured over.
    pub window_ms: u64,
    /// How far before the begin the baseline throughput is measured.
    pub baseline_ms: u64,
    /// Throughput is back at this percentage of the expected dispatches.
    pub throughput_percent: u64,
    /// The backlog is back at most this many tasks above its level at the begin...
    pub backlog_slack_tasks: u64,
    /// ...or this percentage of that level (rounded up), whichever is larger.
    pub backlog_slack_percent: u64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        RecoveryConfig {
            window_ms: 1_000,
            baseline_ms: 5_000,
            throughput_percent: 90,
            backlog_slack_tasks: 5,
            backlog_slack_percent: 10,
        }
    }
}

/// Nearest-rank percentiles of a sample, ms. An empty sample is all zeros with `count` 0 in
/// memory, and `null` percentiles in JSON (`-` in tables): nothing was measured, which is
/// not 0 ms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    /// One value for a table cell: `-` for an empty sample.
    pub fn cell(&self, value: impl Fn(&Percentiles) -> u64) -> String {
        self.get(value).map_or_else(|| "-".into(), |v| v.to_string())
    }

    /// One value, `None` for an empty sample (never a 0 that was not measured).
    pub fn get(&self, value: impl Fn(&Percentiles) -> u64) -> Option<u64> {
        (self.count > 0).then(|| value(self))
    }
}

impl Serialize for Percentiles {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let value = |v: u64| (self.count > 0).then_some(v);
        let mut out = s.serialize_struct("Percentiles", 5)?;
        out.serialize_field("count", &self.count)?;
        out.serialize_field("p50", &value(self.p50))?;
        out.serialize_field("p90", &value(self.p90))?;
        out.serialize_field("p99", &value(self.p99))?;
        out.serialize_field("max", &value(self.max))?;
        out.end()
    }
}

/// One bucket `[t_ms, t_ms + bucket_ms)` of [`throughput_timeline`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimelinePoint {
    pub t_ms: u64,
    pub dispatches: u64,
    /// Tasks whose first terminal event falls in the bucket.
    pub completions: u64,
    /// Acknowledged, not yet terminal tasks at the bucket's end.
    pub backlog: u64,
}

/// One firing of a fault, for plots. `end_ms` is `None` if it never ended: draw it to the
/// run end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FaultSpan {
    pub id: u64,
    pub kind: String,
    pub target: String,
    pub begin_ms: u64,
    pub end_ms: Option<u64>,
}

/// Recovery of every firing of one fault kind, over a suite's runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KindRecovery {
    pub kind: String,
    pub hit: Hit,
    /// The most executors one firing hit.
    pub executors_hit: u64,
    /// Firings of this kind.
    pub count: u64,
    pub recovered: u64,
    /// Firings that never recovered: counted here, left out of `recovery`.
    pub never_recovered: u64,
    /// Over the firings with a detection.
    pub detection: Percentiles,
    /// Over the firings with a failover.
    pub failover: Percentiles,
    /// Over the firings that recovered.
    pub recovery: Percentiles,
}

/// Acknowledged tasks not yet terminal, updated event by event.
#[derive(Default)]
struct Backlog<'h> {
    open: BTreeSet<&'h str>,
    terminal: BTreeSet<&'h str>,
}

impl<'h> Backlog<'h> {
    fn apply(&mut self, kind: &'h EventKind) {
        if let EventKind::Ack { task, .. } = kind {
            if !self.terminal.contains(task.as_str()) {
                self.open.insert(task);
            }
        } else if let Some(task) = kind.terminal_task() {
            self.terminal.insert(task);
            self.open.remove(task);
        }
    }

    fn len(&self) -> u64 {
        self.open.len() as u64
    }
}

/// The history as step functions of time: dispatches, acks and the backlog.
struct Load {
    /// Time of every Dispatch, ascending.
    dispatch_ms: Vec<u64>,
    /// Time of every Ack, ascending.
    ack_ms: Vec<u64>,
    /// `(t, backlog after every event at or before t)`, one entry per distinct time.
    backlog: Vec<(u64, u64)>,
    /// The last event's time.
    end_ms: u64,
}

impl Load {
    fn of(history: &[Event]) -> Load {
        let mut load = Load { dispatch_ms: Vec::new(), ack_ms: Vec::new(), backlog: Vec::new(), end_ms: 0 };
        let mut backlog = Backlog::default();
        for event in history {
            match event.kind {
                EventKind::Dispatch { .. } => load.dispatch_ms.push(event.at_ms),
                EventKind::Ack { .. } => load.ack_ms.push(event.at_ms),
                _ => {}
            }
            backlog.apply(&event.kind);
            match load.backlog.last_mut() {
                Some((t, n)) if *t == event.at_ms => *n = backlog.len(),
                _ => load.backlog.push((event.at_ms, backlog.len())),
            }
            load.end_ms = load.end_ms.max(event.at_ms);
        }
        load
    }

    /// Dispatches with `from_ms <= at_ms < to_ms`.
    fn dispatches_in(&self, from_ms: u64, to_ms: u64) -> u64 {
        count_in(&self.dispatch_ms, from_ms, to_ms)
    }

    fn backlog_at(&self, t_ms: u64) -> u64 {
        let k = self.backlog.partition_point(|&(at, _)| at <= t_ms);
        k.checked_sub(1).map_or(0, |k| self.backlog[k].1)
    }
}

/// How many of the ascending `times` lie in `[from_ms, to_ms)`.
fn count_in(times: &[u64], from_ms: u64, to_ms: u64) -> u64 {
    let lo = times.partition_point(|&t| t < from_ms);
    let hi = times.partition_point(|&t| t < to_ms);
    hi.saturating_sub(lo) as u64
}

/// Measures every fault firing of `history` with the default [`RecoveryConfig`].
pub fn fault_recoveries(history: &[Event]) -> Vec<FaultRecovery> {
    fault_recoveries_with(history, &RecoveryConfig::default())
}

/// Measures every fault firing of `history`, in begin order, each on its own from its
/// own begin (overlapping firings do not shorten or exclude one another).
pub fn fault_recoveries_with(history: &[Event], config: &RecoveryConfig) -> Vec<FaultRecovery> {
    let load = Load::of(history);
    let movers = leadership_movers(history);
    let executors = executor_names(history);
    firings(history).iter().map(|firing| measure(history, &load, &movers, &executors, firing, config)).collect()
}

/// Every node that ran a task or was sent one, or was declared dead as an executor.
fn executor_names(history: &[Event]) -> BTreeSet<&str> {
    history
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::Dispatch { executor, .. } | EventKind::ExecutorDead { executor, .. } => Some(executor.as_str()),
            EventKind::Start { .. } => Some(event.node.as_str()),
            _ => None,
        })
        .collect()
}

fn measure(
    history: &[Event],
    load: &Load,
    movers: &BTreeSet<&str>,
    executors: &BTreeSet<&str>,
    firing: &Firing<'_>,
    config: &RecoveryConfig,
) -> FaultRecovery {
    let targets = nodes(firing.target);
    let begin_ms = history[firing.begin].at_ms;
    let after = &history[firing.begin + 1..horizon(history, firing, &targets, movers)];
    let leader_hit = leader_before(history, firing.begin).filter(|leader| targets.contains(leader));
    let held = held_tasks(&history[..firing.begin], &targets);
    let since_begin = |at_ms: u64| at_ms.saturating_sub(begin_ms);
    let detection_ms = first_detection(after, &targets, leader_hit).map(since_begin);
    let failover_ms = first_failover(after, &held, leader_hit.is_some()).map(since_begin);
    let from_ms = begin_ms + detection_ms.unwrap_or(0).max(failover_ms.unwrap_or(0));
    let recovery_ms = recovery_at(load, begin_ms, from_ms, config).map(since_begin);
    // Only faults that silence whole nodes are held to the detection and failover bounds:
    // message, clock, task and store faults have their own timing (retry backoff, lost
    // beats by chance) that those bounds do not model.
    let silences = SILENCING_KINDS.contains(&firing.kind);
    let executors_hit =
        if silences { targets.iter().filter(|node| executors.contains(*node)).count() as u64 } else { 0 };
    let hit = match (silences && leader_hit.is_some(), executors_hit > 0) {
        (true, true) => Hit::Both,
        (true, false) => Hit::Leader,
        (false, true) => Hit::Executors,
        (false, false) => Hit::Other,
    };
    FaultRecovery {
        id: firing.id,
        kind: firing.kind.to_string(),
        target: firing.target.to_string(),
        begin_ms,
        end_ms: firing.end.map(|end| history[end].at_ms),
        detection_ms,
        failover_ms,
        recovery_ms,
        recovered: recovery_ms.is_some(),
        hit,
        executors_hit,
    }
}

/// The nodes a fault on which can move leadership (and so make a new leader declare any
/// executor dead): every node that ever won or lost it, and the store.
fn leadership_movers(history: &[Event]) -> BTreeSet<&str> {
    let leaders = history
        .iter()
        .filter(|event| matches!(event.kind, EventKind::LeaderElected { .. } | EventKind::LeaderLost { .. }));
    leaders.map(|event| event.node.as_str()).chain(["store"]).collect()
}

/// The index up to which signals are attributed to `firing`: the first Begin, after the
/// firing's End, of a firing that hits one of its nodes or a leadership mover (the
/// history's end if none, or if the firing never ended). Firings that overlap it share
/// its signals.
fn horizon(history: &[Event], firing: &Firing<'_>, targets: &BTreeSet<&str>, movers: &BTreeSet<&str>) -> usize {
    let Some(end) = firing.end else { return history.len() };
    let may_signal = |event: &Event| match &event.kind {
        EventKind::Fault { phase: FaultPhase::Begin, target, .. } => {
            nodes(target).iter().any(|node| targets.contains(node) || movers.contains(node))
        }
        _ => false,
    };
    history[end + 1..].iter().position(may_signal).map_or(history.len(), |k| end + 1 + k)
}

/// The leader just before event `index`: of the nodes whose newest `LeaderElected` was not
/// followed by their own `LeaderLost` of that epoch, the one with the highest epoch.
fn leader_before(history: &[Event], index: usize) -> Option<&str> {
    let mut leading: BTreeMap<&str, u64> = BTreeMap::new();
    for event in &history[..index] {
        match &event.kind {
            EventKind::LeaderElected { epoch } => {
                leading.insert(&event.node, *epoch);
            }
            EventKind::LeaderLost { epoch, .. } if leading.get(event.node.as_str()) == Some(epoch) => {
                leading.remove(event.node.as_str());
            }
            _ => {}
        }
    }
    leading.into_iter().max_by_key(|&(_, epoch)| epoch).map(|(node, _)| node)
}

/// The tasks `executors` held at the end of `before`: their last Dispatch went to one of
/// them, and no terminal event, `Retry` (the attempt failed) or `ExecutorDead` of that
/// executor (its attempts were queued again) followed.
fn held_tasks<'h>(before: &'h [Event], executors: &BTreeSet<&str>) -> BTreeSet<&'h str> {
    let mut holder: BTreeMap<&str, &str> = BTreeMap::new();
    for event in before {
        match &event.kind {
            EventKind::Dispatch { task, executor, .. } => {
                holder.insert(task, executor);
            }
            EventKind::Retry { task, .. } => {
                holder.remove(task.as_str());
            }
            EventKind::ExecutorDead { executor, .. } => holder.retain(|_, held_by| held_by != executor),
            kind => {
                if let Some(task) = kind.terminal_task() {
                    holder.remove(task);
                }
            }
        }
    }
    holder.into_iter().filter(|(_, executor)| executors.contains(executor)).map(|(task, _)| task).collect()
}

/// When the scheduler first noticed: an `ExecutorDead` of a target, or (if the leader was
/// hit) its `LeaderLost` or another node's `LeaderElected`.
fn first_detection(after: &[Event], targets: &BTreeSet<&str>, leader_hit: Option<&str>) -> Option<u64> {
    let detects = |event: &&Event| match &event.kind {
        EventKind::ExecutorDead { executor, .. } => targets.contains(executor.as_str()),
        EventKind::LeaderLost { .. } => leader_hit == Some(event.node.as_str()),
        EventKind::LeaderElected { .. } => leader_hit.is_some_and(|leader| leader != event.node),
        _ => false,
    };
    after.iter().find(detects).map(|event| event.at_ms)
}

/// When stranded work first moved: a Dispatch of a `held` task, or (if the leader was
/// hit) a Dispatch by a node elected after the begin.
fn first_failover(after: &[Event], held: &BTreeSet<&str>, leader_hit: bool) -> Option<u64> {
    let mut elected: BTreeSet<&str> = BTreeSet::new();
    for event in after {
        match &event.kind {
            EventKind::LeaderElected { .. } if leader_hit => {
                elected.insert(&event.node);
            }
            EventKind::Dispatch { task, .. }
                if held.contains(task.as_str()) || elected.contains(event.node.as_str()) =>
            {
                return Some(event.at_ms);
            }
            _ => {}
        }
    }
    None
}

/// The dispatch throughput before `begin_ms`, as (dispatches, window length ms): the
/// `baseline_ms` before the begin, cut at the first Dispatch; if that window holds no
/// Dispatch, the same length ending just after the last Dispatch before the begin. (0, 0)
/// if nothing was dispatched before the begin.
fn baseline(load: &Load, begin_ms: u64, config: &RecoveryConfig) -> (u64, u64) {
    let before = load.dispatch_ms.partition_point(|&t| t < begin_ms);
    if before == 0 {
        return (0, 0);
    }
    let recent = load.dispatches_in(begin_ms.saturating_sub(config.baseline_ms), begin_ms) > 0;
    let to_ms = if recent { begin_ms } else { load.dispatch_ms[before - 1] + 1 };
    let from_ms = to_ms.saturating_sub(config.baseline_ms).max(load.dispatch_ms[0]);
    (load.dispatches_in(from_ms, to_ms), to_ms - from_ms)
}

/// The first time `t >= from_ms` at which the run is recovered from a fault that began at
/// `begin_ms` (see [`recovered_at`]). The test only changes at event times and where a
/// Dispatch enters or leaves the window, so those are the only times tried.
fn recovery_at(load: &Load, begin_ms: u64, from_ms: u64, config: &RecoveryConfig) -> Option<u64> {
    let base = baseline(load, begin_ms, config);
    let at_begin = load.backlog_at(begin_ms);
    let slack = config.backlog_slack_tasks.max((at_begin * config.backlog_slack_percent).div_ceil(100));
    let mut tried: BTreeSet<u64> = load.backlog.iter().map(|&(t, _)| t).collect();
    for &d in &load.dispatch_ms {
        tried.extend([d + 1, (d + 1).saturating_sub(config.window_ms)]);
    }
    tried.insert(from_ms);
    tried.range(from_ms..).copied().find(|&t| recovered_at(load, t, at_begin + slack, base, config))
}

/// Recovered at `t`: the backlog is at most `backlog_limit`, and the window `[t, t + W)`
/// holds at least `throughput_percent` of the expected dispatches, the smaller of the
/// baseline's rate over W and the demand (the backlog at `t` plus the acks in the window).
fn recovered_at(load: &Load, t: u64, backlog_limit: u64, base: (u64, u64), config: &RecoveryConfig) -> bool {
    let backlog = load.backlog_at(t);
    if backlog > backlog_limit {
        return false;
    }
    let to_ms = t.saturating_add(config.window_ms);
    let dispatched = u128::from(load.dispatches_in(t, to_ms)) * 100;
    let demand = u128::from(backlog + count_in(&load.ack_ms, t, to_ms));
    let (base_count, base_ms) = base;
    let percent = u128::from(config.throughput_percent);
    let rate_ok = dispatched * u128::from(base_ms) >= percent * u128::from(base_count) * u128::from(config.window_ms);
    rate_ok || dispatched >= percent * demand
}

/// Maximal intervals `[start, end)` of at least `min_gap_ms` during which acknowledged work
/// was pending (backlog > 0) and nothing was dispatched. One starts at a Dispatch or when
/// the backlog turns positive, and ends at the next Dispatch, when the backlog falls to 0,
/// or at the history's last event.
pub fn unavailability_windows(history: &[Event], min_gap_ms: u64) -> Vec<(u64, u64)> {
    let mut windows = Vec::new();
    let mut push = |start: u64, end: u64| {
        if end.saturating_sub(start) >= min_gap_ms {
            windows.push((start, end));
        }
    };
    let mut backlog = Backlog::default();
    let mut quiet_since: Option<u64> = None;
    for event in history {
        backlog.apply(&event.kind);
        let dispatch = matches!(event.kind, EventKind::Dispatch { .. });
        if let Some(start) = quiet_since.filter(|_| dispatch || backlog.len() == 0) {
            push(start, event.at_ms);
            quiet_since = None;
        }
        if quiet_since.is_none() && backlog.len() > 0 {
            quiet_since = Some(event.at_ms);
        }
    }
    if let (Some(start), Some(last)) = (quiet_since, history.last()) {
        push(start, last.at_ms);
    }
    windows
}

/// Failed attempts scheduled again (`retry` events).
pub fn retries(history: &[Event]) -> u64 {
    history.iter().filter(|event| matches!(event.kind, EventKind::Retry { .. })).count() as u64
}

/// Submit-to-success latency, ms, per task with a `Succeeded`: its first `Succeeded` minus
/// the first `Submit` of its key (the key's first `Ack` names the task), in key order.
/// Tasks known succeeded only through `Recovered` have no success time and are left out.
/// Pool these over seeds and call [`percentiles`] for a suite's latency.
pub fn latencies_ms(history: &[Event]) -> Vec<u64> {
    let mut submitted_ms: BTreeMap<&str, u64> = BTreeMap::new();
    let mut task_of: BTreeMap<&str, &str> = BTreeMap::new();
    let mut succeeded_ms: BTreeMap<&str, u64> = BTreeMap::new();
    for event in history {
        match &event.kind {
            EventKind::Submit { key } => {
                submitted_ms.entry(key).or_insert(event.at_ms);
            }
            EventKind::Ack { key, task } => {
                task_of.entry(key).or_insert(task);
            }
            EventKind::Succeeded { task, .. } => {
                succeeded_ms.entry(task).or_insert(event.at_ms);
            }
            _ => {}
        }
    }
    let latency = |(key, submit_ms): (&&str, &u64)| {
        let done_ms = succeeded_ms.get(task_of.get(key)?)?;
        Some(done_ms.saturating_sub(*submit_ms))
    };
    submitted_ms.iter().filter_map(latency).collect()
}

/// Nearest-rank percentiles: the p-th is the value of rank `ceil(p * n / 100)` (at least
/// 1) in ascending order, so it is always a value of the sample.
pub fn percentiles(values: &[u64]) -> Percentiles {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let Some(&max) = sorted.last() else { return Percentiles::default() };
    let n = sorted.len() as u64;
    let rank = |p: u64| sorted[((p * n).div_ceil(100).max(1) - 1) as usize];
    Percentiles { count: n, p50: rank(50), p90: rank(90), p99: rank(99), max }
}

/// Dispatches, completions and backlog per `bucket_ms`, for plots: buckets aligned to
/// multiples of `bucket_ms`, from the first event's bucket (0 in the simulator; real-mode
/// stamps are UNIX ms) to the last event's.
pub fn throughput_timeline(history: &[Event], bucket_ms: u64) -> Vec<TimelinePoint> {
    assert!(bucket_ms > 0, "a timeline needs a positive bucket");
    let Some(first_ms) = history.iter().map(|event| event.at_ms).min() else { return Vec::new() };
    let load = Load::of(history);
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let completed_ms: Vec<u64> = history
        .iter()
        .filter(|event| event.kind.terminal_task().is_some_and(|task| done.insert(task)))
        .map(|event| event.at_ms)
        .collect();
    (first_ms / bucket_ms..=load.end_ms / bucket_ms)
        .map(|k| {
            let (from_ms, to_ms) = (k * bucket_ms, (k + 1) * bucket_ms);
            TimelinePoint {
                t_ms: from_ms,
                dispatches: load.dispatches_in(from_ms, to_ms),
                completions: count_in(&completed_ms, from_ms, to_ms),
                backlog: load.backlog_at(to_ms - 1),
            }
        })
        .collect()
}

/// Every `LeaderElected`, in history order, as `(at_ms, epoch, node)`.
pub fn leader_epochs(history: &[Event]) -> Vec<(u64, u64, String)> {
    history
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::LeaderElected { epoch } => Some((event.at_ms, epoch, event.node.to_string())),
            _ => None,
        })
        .collect()
}

/// Every fault firing, in begin order, with its Begin and End paired per id.
pub fn fault_spans(history: &[Event]) -> Vec<FaultSpan> {
    firings(history)
        .into_iter()
        .map(|firing| FaultSpan {
            id: firing.id,
            kind: firing.kind.to_string(),
            target: firing.target.to_string(),
            begin_ms: history[firing.begin].at_ms,
            end_ms: firing.end.map(|end| history[end].at_ms),
        })
        .collect()
}

/// Groups the firings of a suite's runs by fault kind and what they hit, keyed by the row
/// name (`Hit::row`: `crash (leader)`, `crash (executors)`, `store_slow`).
pub fn by_kind(runs: &[Vec<FaultRecovery>]) -> BTreeMap<String, KindRecovery> {
    let mut grouped: BTreeMap<(&str, Hit), Vec<&FaultRecovery>> = BTreeMap::new();
    for firing in runs.iter().flatten() {
        grouped.entry((&firing.kind, firing.hit)).or_default().push(firing);
    }
    grouped.into_iter().map(|((kind, hit), firings)| (hit.row(kind), kind_recovery(kind, hit, &firings))).collect()
}

fn kind_recovery(kind: &str, hit: Hit, firings: &[&FaultRecovery]) -> KindRecovery {
    let of = |field: fn(&FaultRecovery) -> Option<u64>| {
        percentiles(&firings.iter().filter_map(|firing| field(firing)).collect::<Vec<u64>>())
    };
    let recovered = firings.iter().filter(|firing| firing.recovered).count() as u64;
    KindRecovery {
        kind: kind.to_string(),
        hit,
        executors_hit: firings.iter().map(|firing| firing.executors_hit).max().unwrap_or(0),
        count: firings.len() as u64,
        recovered,
        never_recovered: firings.len() as u64 - recovered,
        detection: of(|firing| firing.detection_ms),
        failover: of(|firing| firing.failover_ms),
        recovery: of(|firing| firing.recovery_ms),
    }
}

#[cfg(test)]
mod tests;
