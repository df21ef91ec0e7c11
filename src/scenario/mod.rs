//! The scenario file format (TOML): topology, scheduler settings, workload, limits and
//! faults. Parsing is strict: unknown keys and out-of-range values are errors that carry
//! `file:line:col` and what was expected. Every key and its default is documented in
//! `scenarios/README.md`; keep the two in step.

mod bounds;
mod error;
mod fault;
mod jobs;

pub use error::ScenarioError;
pub use fault::{Direction, Fault, FaultKind, Repeat, Target, Trigger, FAULT_EVENTS, TRIGGER_EVENTS};
pub use jobs::{JobOp, JobText, MisfireText, OpKind, ScheduleSettings};

use crate::core::coordinator::{CoordinatorConfig, IsolationConfig, JobsConfig};
use crate::core::retry::RetryPolicy;
use bounds::{drift_bound, in_range, probability, some_in_range, stall_rate};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A whole scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Defaults to the file's stem.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub topology: Topology,
    #[serde(default)]
    pub scheduler: Scheduler,
    #[serde(default)]
    pub retry: Retry,
    #[serde(default)]
    pub isolation: Isolation,
    #[serde(default)]
    pub workload: Workload,
    #[serde(default)]
    pub limits: Limits,
    /// Bounds on false verdicts (see `check::verdicts`).
    #[serde(default)]
    pub checks: Checks,
    /// The simulated store's latency when healthy.
    #[serde(default)]
    pub store: StoreModel,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Scheduled jobs: the clock base, the firing bounds, how long jobs run.
    #[serde(default)]
    pub schedule: ScheduleSettings,
    /// Jobs the client creates at the start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobText>,
    /// Job commands the client sends later (pause, resume, delete).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub job_ops: Vec<JobOp>,
    /// Swarm mode: the seed draws which fault kinds run, how often and how hard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<Swarm>,
    /// Known-bug catalog entries switched on (simulation builds only; see `crate::bugs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bugs: Vec<crate::bugs::Bug>,
    /// The violation this scenario must find: the suite fails unless some seed shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<crate::verdict::ViolationKind>,
    /// Violation kinds that do not fail a seed; they are still counted and shown. A scenario
    /// that switches a lease bug on to show that fencing alone keeps the run safe tolerates
    /// `stale_leader` and nothing else.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerate: Vec<crate::verdict::ViolationKind>,
    /// Set in a reproduction file (`reports/failures/`): the failing seed and what it showed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproduce: Option<Reproduce>,
}

/// What a reproduction file records about the run it reproduces.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reproduce {
    pub seed: u64,
    /// The first violation's kind (`lost_task`...), or `panic`.
    pub violation: String,
    pub message: String,
    /// The failing run's trace hash: a replay must produce the same.
    pub trace_hash: String,
    /// The scenario file the failure came from.
    pub source: String,
    /// The build that saw it (`faultline::BUILD`: version, commit, kind); files saved
    /// before builds were recorded have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
}

/// Bounds on the scheduler's false verdicts: executors declared dead or quarantined, and
/// leaders stepping down, with no fault on them (or, for a leader, on the store) in the
/// `settle_ms` before. Unset: counted and reported, not judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Checks {
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "some_in_range::<_, 0, 1_000_000>")]
    pub max_false_deaths: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "some_in_range::<_, 0, 1_000_000>")]
    pub max_false_quarantines: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "some_in_range::<_, 0, 1_000_000>")]
    pub max_unforced_failovers: Option<u64>,
    /// The least share of acknowledged tasks that must succeed, percent (default
    /// `DEFAULT_MIN_GOODPUT_PERCENT`; 0 turns the check off).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "some_in_range::<_, 0, 100>")]
    pub min_goodput_percent: Option<u64>,
    /// How long after an executor crash the leader must have declared it dead, ms (default
    /// `k*h + h`: the dead-after window and one beat of slack; 0 turns it off).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "some_in_range::<_, 0, 3_600_000>")]
    pub max_detection_ms: Option<u64>,
    /// How long after a fault ends it still explains a verdict (default 2000).
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "some_in_range::<_, 0, 600_000>")]
    pub settle_ms: Option<u64>,
    /// `false`: the checkers judge the history without the executors' own events, as
    /// `faultline check` does for a real cluster whose executors keep no history (`history`
    /// is optional per process). They must still find what the coordinators' and the
    /// sink's events show. The trace hash covers the whole history either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor_histories: Option<bool>,
}

/// The simulated etcd's healthy latency: stall classes (see `sim::store_latency`). The
/// first two are fitted to Debian's etcd 3.4 measured on a 2-core host under load
/// (reports/store-latency.md), the third to what real processes saw under the scheduler's
/// own load (store calls beyond 200 ms at ~0.16/s); `stalls = []` never stalls.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreModel {
    pub stalls: Vec<StallClass>,
}

impl Default for StoreModel {
    fn default() -> Self {
        StoreModel {
            stalls: vec![
                StallClass { rate_per_s: 3.0, ms: DurationRange { min: 5, max: 50 } },
                StallClass { rate_per_s: 0.25, ms: DurationRange { min: 50, max: 150 } },
                StallClass { rate_per_s: 0.16, ms: DurationRange { min: 200, max: 600 } },
            ],
        }
    }
}

/// Stalls that begin `rate_per_s` times a second on average (Poisson), each lasting a
/// log-uniform time in `ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StallClass {
    #[serde(deserialize_with = "stall_rate")]
    pub rate_per_s: f64,
    pub ms: DurationRange,
}

/// Swarm mode (TigerBeetle's `options_swarm`): each seed enables a random subset of
/// `kinds`, draws a rate, a size and an intensity for each, and schedules up to
/// `max_faults` faults between `start_ms` and `end_ms`. Every fault heals by itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Swarm {
    /// The kinds a seed may enable (default: all).
    pub kinds: Vec<FaultKind>,
    #[serde(deserialize_with = "in_range::<_, 0, 86_400_000>")]
    pub start_ms: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 86_400_000>")]
    pub end_ms: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 1_000>")]
    pub max_faults: u64,
    /// The longest any drawn fault lasts.
    #[serde(deserialize_with = "in_range::<_, 10, 600_000>")]
    pub max_duration_ms: u64,
}

impl Default for Swarm {
    fn default() -> Self {
        Swarm {
            kinds: FaultKind::ALL.to_vec(),
            start_ms: 2_000,
            end_ms: 30_000,
            max_faults: 12,
            max_duration_ms: 4_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Topology {
    #[serde(deserialize_with = "in_range::<_, 1, 7>")]
    pub coordinators: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 1024>")]
    pub executors: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 1024>")]
    pub executor_capacity: u64,
    /// Zone names; nodes are spread over them round-robin.
    pub zones: Vec<String>,
}

impl Default for Topology {
    fn default() -> Self {
        Topology { coordinators: 3, executors: 4, executor_capacity: 8, zones: vec!["z1".into()] }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Scheduler {
    #[serde(deserialize_with = "in_range::<_, 10, 60_000>")]
    pub heartbeat_interval_ms: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 100>")]
    pub missed_beats: u64,
    /// The leader's etcd lease; etcd grants at least 2 s.
    #[serde(deserialize_with = "in_range::<_, 2, 600>")]
    pub lease_ttl_s: u64,
    /// Deadline of every peer RPC (beats, submits, applies).
    #[serde(deserialize_with = "in_range::<_, 10, 60_000>")]
    pub rpc_timeout_ms: u64,
    /// Deadline of every store (etcd) call. Separate from `rpc_timeout_ms`: a healthy etcd's
    /// tail (fsync stalls) is far longer than a peer's, and a leader retries a timed-out write
    /// while its lease is provably alive rather than stepping down.
    #[serde(deserialize_with = "in_range::<_, 10, 60_000>")]
    pub store_timeout_ms: u64,
    #[serde(deserialize_with = "in_range::<_, 0, 1_000>")]
    pub max_redispatches: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 10_000_000>")]
    pub max_open_tasks: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 10_000>")]
    pub max_assignments_per_beat: u64,
    /// The clock drift bound rho (e.g. 0.01 = 1%) that lease arithmetic and the recovery
    /// bound assume. Clock faults may exceed it, to test what fencing does when it is wrong.
    #[serde(deserialize_with = "drift_bound")]
    pub clock_drift_bound: f64,
    /// How long a finished task stays in the store (record and idempotency key) before the
    /// leader compacts it: the idempotency window.
    #[serde(deserialize_with = "in_range::<_, 100, 31_536_000_000>")]
    pub retention_ms: u64,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler {
            heartbeat_interval_ms: 100,
            missed_beats: 3,
            lease_ttl_s: 2,
            rpc_timeout_ms: 200,
            store_timeout_ms: 1_000,
            max_redispatches: 20,
            max_open_tasks: 100_000,
            max_assignments_per_beat: 64,
            clock_drift_bound: 0.01,
            retention_ms: 86_400_000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    #[serde(deserialize_with = "in_range::<_, 1, 100>")]
    pub max_attempts: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 3_600_000>")]
    pub backoff_base_ms: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 3_600_000>")]
    pub backoff_max_ms: u64,
    #[serde(deserialize_with = "probability")]
    pub jitter: f64,
}

impl Default for Retry {
    fn default() -> Self {
        Retry { max_attempts: 3, backoff_base_ms: 100, backoff_max_ms: 5_000, jitter: 0.5 }
    }
}

/// Fault isolation: quarantine of flapping executors (see `IsolationConfig`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Isolation {
    pub enabled: bool,
    #[serde(deserialize_with = "in_range::<_, 0, 1_000>")]
    pub flap_restarts: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 86_400_000>")]
    pub flap_window_ms: u64,
    #[serde(deserialize_with = "in_range::<_, 0, 1_000>")]
    pub failure_window: u64,
    #[serde(deserialize_with = "probability")]
    pub failure_ratio: f64,
    #[serde(deserialize_with = "in_range::<_, 1, 86_400_000>")]
    pub quarantine_base_ms: u64,
    #[serde(deserialize_with = "in_range::<_, 1, 86_400_000>")]
    pub quarantine_max_ms: u64,
}

impl Default for Isolation {
    fn default() -> Self {
        let d = IsolationConfig::default();
        Isolation {
            enabled: d.enabled,
            flap_restarts: d.flap_restarts.into(),
            flap_window_ms: d.flap_window_ms,
            failure_window: d.failure_window.into(),
            failure_ratio: d.failure_ratio,
            quarantine_base_ms: d.quarantine_base_ms,
            quarantine_max_ms: d.quarantine_max_ms,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Workload {
    #[serde(deserialize_with = "in_range::<_, 0, 1_000_000>")]
    pub tasks: u64,
    /// Submissions per simulated second (a steady rate).
    #[serde(deserialize_with = "in_range::<_, 1, 100_000>")]
    pub arrival_rate_per_s: u64,
    /// Task body duration, uniform in [min, max] ms.
    pub duration_ms: DurationRange,
    /// Chance that one attempt's body fails.
    #[serde(deserialize_with = "probability")]
    pub fail_probability: f64,
    #[serde(deserialize_with = "in_range::<_, 1, 3_600_000>")]
    pub task_timeout_ms: u64,
    /// Submits the client keeps in flight at once.
    #[serde(deserialize_with = "in_range::<_, 1, 10_000>")]
    pub client_concurrency: u64,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            tasks: 1_000,
            arrival_rate_per_s: 200,
            duration_ms: DurationRange { min: 10, max: 100 },
            fail_probability: 0.05,
            task_timeout_ms: 5_000,
            client_concurrency: 64,
        }
    }
}

/// An inclusive range of milliseconds, `{ min = .., max = .. }`, with `min <= max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct DurationRange {
    pub min: u64,
    pub max: u64,
}

impl<'de> Deserialize<'de> for DurationRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            min: u64,
            max: u64,
        }
        let raw = Raw::deserialize(d)?;
        if raw.min > raw.max || raw.max > 3_600_000 {
            return Err(serde::de::Error::custom(format!(
                "expected min <= max <= 3600000, found min = {}, max = {}",
                raw.min, raw.max
            )));
        }
        Ok(DurationRange { min: raw.min, max: raw.max })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Longest the workload phase may last (simulated seconds).
    #[serde(deserialize_with = "in_range::<_, 1, 86_400>")]
    pub workload_s: u64,
    /// After the workload, every acknowledged task must be terminal within this.
    #[serde(deserialize_with = "in_range::<_, 1, 86_400>")]
    pub drain_s: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { workload_s: 300, drain_s: 60 }
    }
}

impl Scenario {
    /// Parses scenario text; `path` only labels errors and names the scenario.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let mut scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::from_toml(path, text, &e))?;
        if scenario.name.is_empty() {
            scenario.name = path.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
        }
        scenario.validate(path, text)?;
        Ok(scenario)
    }

    /// Reads one file and applies `sets` (`section.key=value`, value in TOML syntax, a bare
    /// word taken as a string) before parsing, so `faultline compare` can vary one setting.
    /// Errors in a setting name the setting.
    pub fn load_with(path: &Path, sets: &[String]) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::io(path, &e))?;
        if sets.is_empty() {
            return Self::parse(path, &text);
        }
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| ScenarioError::from_toml(path, &text, &e))?;
        for set in sets {
            apply_set(&mut table, set).map_err(|message| ScenarioError::setting(path, set, &message))?;
        }
        let edited = toml::to_string(&table).expect("a TOML table serializes");
        let mut scenario =
            Self::parse(path, &edited).map_err(|e| ScenarioError::setting(path, &sets.join(" "), &e.message))?;
        scenario.name = format!("{} [{}]", scenario.name, sets.join(", "));
        Ok(scenario)
    }

    /// Reads and parses one file.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::io(path, &e))?;
        Self::parse(path, &text)
    }

    fn validate(&self, path: &Path, text: &str) -> Result<(), ScenarioError> {
        if self.topology.zones.is_empty() {
            return Err(ScenarioError::at_key(path, text, "zones", "expected at least one zone name"));
        }
        let ordered = [
            ("backoff_base_ms", self.retry.backoff_base_ms, "backoff_max_ms", self.retry.backoff_max_ms),
            (
                "quarantine_base_ms",
                self.isolation.quarantine_base_ms,
                "quarantine_max_ms",
                self.isolation.quarantine_max_ms,
            ),
        ];
        for (low_key, low, high_key, high) in ordered {
            if low > high {
                return Err(ScenarioError::at_key(path, text, low_key, &format!("expected {low_key} <= {high_key}")));
            }
        }
        if let Some(swarm) = &self.swarm {
            if swarm.kinds.is_empty() {
                return Err(ScenarioError::at_key(path, text, "kinds", "expected at least one fault kind"));
            }
            if swarm.start_ms >= swarm.end_ms {
                return Err(ScenarioError::at_key(path, text, "end_ms", "expected start_ms < end_ms"));
            }
        }
        let mut zones = self.topology.zones.clone();
        zones.sort();
        zones.dedup();
        if zones.len() != self.topology.zones.len() {
            return Err(ScenarioError::at_key(path, text, "zones", "expected distinct zone names"));
        }
        let names: Vec<&str> = self.faults.iter().filter_map(|f| f.name.as_deref()).collect();
        for (index, fault) in self.faults.iter().enumerate() {
            fault.validate(index, path, text, &self.node_names(), &self.topology.zones, &names)?;
            if let Some(name) = &fault.name {
                if names.iter().filter(|n| *n == name).count() > 1 {
                    let message = format!("expected distinct fault names, `{name}` twice");
                    return Err(ScenarioError::in_fault(path, text, index, "name", &message));
                }
            }
        }
        if let Err(e) = crate::schedule::parse_instant(&self.schedule.start_time) {
            return Err(ScenarioError::at_key(path, text, "start_time", &e));
        }
        let mut names = std::collections::BTreeSet::new();
        for job in &self.jobs {
            let name = format!("\"{}\"", job.name);
            if let Err(e) = job.spec(Vec::new()) {
                return Err(ScenarioError::at_text(path, text, &name, &format!("job `{}`: {e}", job.name)));
            }
            if !names.insert(job.name.as_str()) {
                let message = format!("expected distinct job names, `{}` twice", job.name);
                return Err(ScenarioError::at_text(path, text, &name, &message));
            }
        }
        for op in &self.job_ops {
            if !names.contains(op.job.as_str()) {
                let key = format!("\"{}\"", op.job);
                return Err(ScenarioError::at_text(
                    path,
                    text,
                    &key,
                    &format!("no job named `{}` in [[jobs]]", op.job),
                ));
            }
        }
        Ok(())
    }

    /// Settings that parse but cannot meet the bounds they imply, each a sentence naming
    /// the keys: shown as warnings by the commands that run scenarios.
    pub fn warnings(&self) -> Vec<String> {
        let s = &self.scheduler;
        let (h, k, lease_ms) = (s.heartbeat_interval_ms, s.missed_beats, s.lease_ttl_s * 1000);
        let mut out = Vec::new();
        if h * k >= lease_ms {
            out.push(format!(
                "heartbeat_interval_ms x missed_beats = {} ms is not below the leader's lease \
                 (lease_ttl_s = {} s): the executor-death bound ({} ms) exceeds a whole leader \
                 failover, so tasks on a dead executor wait longer than a lost leader does",
                h * k,
                s.lease_ttl_s,
                self.default_detection_bound_ms()
            ));
        }
        if s.rpc_timeout_ms >= h * k {
            out.push(format!(
                "rpc_timeout_ms = {} ms is not below heartbeat_interval_ms x missed_beats = {} ms: \
                 one slow heartbeat call outlasts the death window, so a live executor can be \
                 declared dead",
                s.rpc_timeout_ms,
                h * k
            ));
        }
        out
    }

    /// The detection bound when `[checks] max_detection_ms` is not set: `k*h + h` (the
    /// dead-after window, at whose end the leader wakes, and a beat of slack for the last
    /// beat's latency and a busy leader).
    pub fn default_detection_bound_ms(&self) -> u64 {
        (self.scheduler.missed_beats + 1) * self.scheduler.heartbeat_interval_ms
    }

    /// The longest the workload phase may last: `workload_s`, or with jobs, long enough for
    /// them to run `run_s` and be deleted.
    pub fn workload_limit_s(&self) -> u64 {
        if self.jobs.is_empty() {
            self.limits.workload_s
        } else {
            self.limits.workload_s.max(self.schedule.run_s + 60)
        }
    }

    /// Every node's name: store, sink, client, coord-N, exec-N.
    pub fn node_names(&self) -> Vec<String> {
        let mut names = vec!["store".to_string(), "sink".to_string(), "client".to_string()];
        names.extend((1..=self.topology.coordinators).map(|i| format!("coord-{i}")));
        names.extend((1..=self.topology.executors).map(|i| format!("exec-{i}")));
        names
    }

    /// The zone a node runs in: coordinators and executors are spread over the zones
    /// round-robin (`coord-1` and `exec-1` in the first); the store, the sink and the client
    /// are in no zone.
    pub fn zone_of(&self, node: &str) -> Option<&str> {
        let index: usize = node.strip_prefix("coord-").or_else(|| node.strip_prefix("exec-"))?.parse().ok()?;
        let zones = &self.topology.zones;
        zones.get((index.checked_sub(1)?) % zones.len()).map(String::as_str)
    }

    /// The coordinator's settings from this scenario.
    pub fn coordinator_config(&self) -> CoordinatorConfig {
        let s = &self.scheduler;
        CoordinatorConfig {
            heartbeat_interval_ms: s.heartbeat_interval_ms,
            missed_beats: s.missed_beats as u32,
            takeover_grace_ms: s.rpc_timeout_ms,
            retry: RetryPolicy {
                base_ms: self.retry.backoff_base_ms,
                max_ms: self.retry.backoff_max_ms,
                jitter: self.retry.jitter,
            },
            max_redispatches: s.max_redispatches as u32,
            max_open_tasks: s.max_open_tasks as usize,
            max_assignments_per_beat: s.max_assignments_per_beat as u32,
            isolation: IsolationConfig {
                enabled: self.isolation.enabled,
                flap_restarts: self.isolation.flap_restarts as u32,
                flap_window_ms: self.isolation.flap_window_ms,
                failure_window: self.isolation.failure_window as u32,
                failure_ratio: self.isolation.failure_ratio,
                quarantine_base_ms: self.isolation.quarantine_base_ms,
                quarantine_max_ms: self.isolation.quarantine_max_ms,
                ..IsolationConfig::default()
            },
            jobs: JobsConfig {
                base_unix_ms: self.schedule.base_unix_ms(),
                late_bound_ms: self.schedule.late_bound_ms,
                settle_ms: self.schedule.settle_ms,
            },
            retention_ms: s.retention_ms,
            // The node's context carries the run's bugs; its driver puts them here.
            bugs: crate::bugs::BugSet::none(),
        }
    }
}

/// Sets `a.b.c=value` in a TOML table, creating tables on the way.
fn apply_set(table: &mut toml::Table, set: &str) -> Result<(), String> {
    let (path, raw) = set.split_once('=').ok_or("expected section.key=value")?;
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) => t.remove("v").expect("just parsed"),
        Err(_) => toml::Value::String(raw.trim().to_string()),
    };
    let keys: Vec<&str> = path.trim().split('.').collect();
    let (last, parents) = keys.split_last().expect("split gives one item");
    let mut at = table;
    for key in parents {
        let next = at.entry(key.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        at = next.as_table_mut().ok_or_else(|| format!("`{key}` is not a table"))?;
    }
    at.insert(last.to_string(), value);
    Ok(())
}

/// Expands files and directories (recursively, sorted) into scenario files.
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| ScenarioError::io(path, &e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            let nested: Vec<PathBuf> =
                entries.into_iter().filter(|p| p.is_dir() || p.extension().is_some_and(|e| e == "toml")).collect();
            files.extend(collect_files(&nested)?);
        } else if path.exists() {
            files.push(path.clone());
        } else {
            return Err(ScenarioError::io(path, &std::io::Error::from(std::io::ErrorKind::NotFound)));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests;
