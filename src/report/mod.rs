//! Reports: per-scenario summaries over many seeds, as text for people and JSON for
//! machines. Derived from run outcomes (history + checker verdicts) only.

pub mod compare;
pub mod document;
pub mod junit;
pub mod metrics;
pub mod plots;
pub mod shards;
pub mod suite;

use crate::check::{CheckResult, Violation};
use serde::Serialize;
use std::collections::BTreeMap;

/// What one seed contributed to a summary.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SeedResult {
    pub seed: u64,
    pub passed: bool,
    pub check: CheckResult,
    pub panic: Option<String>,
    pub sim_ms: u64,
    pub wall_ms: u64,
    /// Time from the drain start to the run end, ms.
    pub drain_ms: u64,
    pub hash: u64,
    /// Fault firings that began, by kind.
    pub faults: BTreeMap<String, u64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct TaskCounts {
    pub acked: u64,
    pub succeeded: u64,
    pub dead_lettered: u64,
    pub lost: u64,
}

/// Scheduled fires over the seeds of a scenario.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FireCounts {
    pub fired: u64,
    pub instants_skipped: u64,
    /// The latest any fire started after its instant, over every seed, ms.
    pub lateness_max_ms: u64,
}

impl FireCounts {
    fn is_empty(&self) -> bool {
        self.fired == 0 && self.instants_skipped == 0
    }
}

/// The `--json` schema, one per scenario. Counts are summed over seeds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ScenarioSummary {
    pub name: String,
    pub path: String,
    pub seeds: u64,
    pub failed_seeds: Vec<u64>,
    pub violations: BTreeMap<String, u64>,
    /// The scenario's `tolerate`: violation kinds that do not fail a seed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerated: Vec<String>,
    pub tasks: TaskCounts,
    pub duplicate_applies: u64,
    pub fenced_rejections: u64,
    pub leader_changes: u64,
    pub executors_declared_dead: u64,
    /// Verdicts no fault explains, summed over seeds: live executors declared dead or
    /// quarantined, leaders that stepped down (`check::verdicts`).
    pub false_verdicts: crate::check::FalseVerdicts,
    pub redispatches: u64,
    /// Fires cancelled by overlap `replace` whose effect landed anyway, summed over seeds.
    #[serde(default)]
    pub replaced_with_effect: u64,
    /// Acts of deposed leaders after a newer election, summed over seeds (worst lag: max).
    #[serde(default)]
    pub stale_acts: crate::check::StaleActs,
    /// Scheduled jobs, summed over seeds (absent without jobs).
    #[serde(skip_serializing_if = "FireCounts::is_empty")]
    pub fires: FireCounts,
    /// Fault firings that actually began, by kind, summed over seeds.
    pub faults: BTreeMap<String, u64>,
    /// The recovery bounds computed from the scenario's own settings.
    pub bounds: Option<RecoveryBounds>,
    /// Per fault kind: firings, recovery percentiles and the bound, ms (filled when a
    /// report is asked for: `suite --report`, `report`, `compare`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub recovery: BTreeMap<String, suite::KindSummary>,
    /// Submit-to-success latency over every task of every seed, ms (with a report).
    #[serde(skip_serializing_if = "latency_unset")]
    pub latency: metrics::Percentiles,
    /// Per seed: the time with work pending and nothing dispatched, ms (with a report).
    #[serde(skip_serializing_if = "latency_unset")]
    pub unavailable_ms: metrics::Percentiles,
    /// Failed attempts scheduled again, summed over seeds (with a report).
    pub retries: u64,
    pub drain_ms_max: u64,
    pub sim_seconds: f64,
    pub wall_seconds: f64,
    /// Seeds whose history hash differed between two runs (with --check-determinism).
    pub nondeterministic_seeds: Vec<u64>,
    /// The one-line command that reproduces each failed seed.
    pub reproduce: Vec<String>,
    /// The reproduction files saved for failed seeds (`suite` and `report` save them under
    /// `--failures DIR`); `faultline replay FILE` runs one again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saved: Vec<String>,
    /// Each seed's history hash (16 hex digits): equal hashes, equal histories.
    pub trace_hashes: BTreeMap<u64, String>,
    /// The violation the scenario expects (a known-bug scenario): it passes only if some
    /// seed shows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
    /// With `expect`: the seeds whose history shows the expected violation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caught_seeds: Option<Vec<u64>>,
    /// The first violation of each failed seed (at most [`FIRST_VIOLATIONS`] seeds), so a
    /// report names what failed without any other file.
    pub first_violations: Vec<FirstViolation>,
}

/// Failed seeds whose first violation a summary keeps.
pub const FIRST_VIOLATIONS: usize = 20;

/// One failed seed's first violation.
#[derive(Clone, Debug, Serialize)]
pub struct FirstViolation {
    pub seed: u64,
    pub kind: String,
    pub at_ms: u64,
    pub message: String,
}

/// The version of `summary.json`'s shape (`suite --json` and a report's summary.json).
pub const SUMMARY_SCHEMA: u32 = 3;

/// A suite's JSON summary: a schema version, the overall verdict and totals, then each
/// scenario with its own `passed`; a known-bug scenario lists `caught_on` (the seeds that
/// showed its bug) instead of `failed_seeds`.
pub fn summary_json(suite: &str, summaries: &[&ScenarioSummary]) -> serde_json::Value {
    let scenarios: Vec<serde_json::Value> = summaries
        .iter()
        .map(|s| {
            let mut v = serde_json::to_value(s).expect("summaries serialize");
            let map = v.as_object_mut().expect("a summary is an object");
            map.insert("passed".into(), s.passed().into());
            if let Some(caught) = map.remove("caught_seeds") {
                map.remove("failed_seeds");
                map.insert("caught_on".into(), caught);
            }
            v
        })
        .collect();
    let passed = summaries.iter().filter(|s| s.passed()).count();
    serde_json::json!({
        "schema": SUMMARY_SCHEMA,
        "suite": suite,
        "passed": passed == summaries.len(),
        "totals": {
            "scenarios": summaries.len(),
            "passed": passed,
            "failed": summaries.len() - passed,
            "seeds": summaries.iter().map(|s| s.seeds).sum::<u64>(),
            "failed_seeds": summaries.iter().filter(|s| s.expect.is_none()).map(|s| s.failed_seeds.len()).sum::<usize>(),
        },
        "scenarios": scenarios,
    })
}

impl ScenarioSummary {
    pub fn new(scenario: &crate::scenario::Scenario, path: &str) -> Self {
        let bounds = Some(RecoveryBounds::of(scenario));
        let expect = scenario.expect.map(|k| k.name().to_string());
        let tolerated = scenario.tolerate.iter().map(|k| k.name().to_string()).collect();
        let caught_seeds = expect.as_ref().map(|_| Vec::new());
        ScenarioSummary {
            name: scenario.name.clone(),
            path: path.into(),
            bounds,
            expect,
            caught_seeds,
            tolerated,
            ..Default::default()
        }
    }

    /// Adds one seed's result; `reproduce` is its reproduce command.
    pub fn add(&mut self, r: &SeedResult, reproduce: String) {
        self.seeds += 1;
        self.trace_hashes.insert(r.seed, format!("{:016x}", r.hash));
        let c = &r.check.counts;
        self.tasks.acked += c.acked;
        self.tasks.succeeded += c.succeeded;
        self.tasks.dead_lettered += c.dead_lettered;
        self.tasks.lost += c.lost;
        self.duplicate_applies += c.duplicate_applies;
        self.fenced_rejections += c.fenced_rejections;
        self.leader_changes += c.leader_changes;
        self.executors_declared_dead += c.executors_declared_dead;
        let (mine, seed) = (&mut self.false_verdicts, &c.false_verdicts);
        mine.false_deaths += seed.false_deaths;
        mine.false_quarantines += seed.false_quarantines;
        mine.unforced_failovers += seed.unforced_failovers;
        self.redispatches += c.redispatches;
        self.replaced_with_effect += c.replaced_with_effect;
        let (mine, seed) = (&mut self.stale_acts, &c.stale_acts);
        mine.stale_acts += seed.stale_acts;
        mine.stale_acts_clock_explained += seed.stale_acts_clock_explained;
        mine.stale_act_lag_max_ms = mine.stale_act_lag_max_ms.max(seed.stale_act_lag_max_ms);
        self.fires.fired += c.fires;
        self.fires.instants_skipped += c.instants_skipped;
        self.fires.lateness_max_ms = self.fires.lateness_max_ms.max(c.fire_lateness_max_ms);
        for (kind, n) in &r.faults {
            *self.faults.entry(kind.clone()).or_default() += n;
        }
        self.drain_ms_max = self.drain_ms_max.max(r.drain_ms);
        self.sim_seconds += r.sim_ms as f64 / 1000.0;
        self.wall_seconds += r.wall_ms as f64 / 1000.0;
        for v in &r.check.violations {
            *self.violations.entry(v.kind.name().to_string()).or_default() += 1;
        }
        if r.panic.is_some() {
            *self.violations.entry("panic".into()).or_default() += 1;
        }
        if !r.passed {
            self.failed_seeds.push(r.seed);
            self.reproduce.push(reproduce);
            let first = r.check.violations.first().map(|v| (v.kind.name().to_string(), v.at_ms, v.message.clone()));
            let first = first.or_else(|| r.panic.as_ref().map(|p| ("panic".into(), r.sim_ms, p.clone())));
            if let (Some((kind, at_ms, message)), true) = (first, self.first_violations.len() < FIRST_VIOLATIONS) {
                self.first_violations.push(FirstViolation { seed: r.seed, kind, at_ms, message });
            }
        }
        if let (Some(expect), Some(caught)) = (&self.expect, &mut self.caught_seeds) {
            if r.check.violations.iter().any(|v| v.kind.name() == expect) {
                caught.push(r.seed);
            }
        }
    }

    /// No seed failed, or, for a scenario that expects a violation, some seed showed it;
    /// and every seed was deterministic.
    pub fn passed(&self) -> bool {
        let verdict = match &self.caught_seeds {
            Some(caught) => !caught.is_empty(),
            None => self.failed_seeds.is_empty(),
        };
        verdict && self.nondeterministic_seeds.is_empty()
    }

    /// The human summary: a few lines per scenario.
    pub fn render(&self) -> String {
        let status = if self.passed() { "PASS" } else { "FAIL" };
        // A scenario that expects a violation counts its failing seeds as catches.
        let (ok, bad) = if self.expect.is_some() { ("clean", "caught") } else { ("passed", "failed") };
        let mut out = format!(
            "{status} {} ({}): {} seeds, {} {ok}, {} {bad}\n  tasks: {} acked, {} succeeded, {} dead-lettered, {} lost; \
             {} duplicate applies, {} fenced rejections\n  {} leader elections, {} executors declared dead, {} re-dispatches, \
             slowest drain {:.1} s\n  false verdicts (no fault explains them): {} deaths, {} quarantines, {} failovers\n  \
             {:.1} simulated s in {:.1} wall s ({:.0}x)\n",
            self.name,
            self.path,
            self.seeds,
            self.seeds - self.failed_seeds.len() as u64,
            self.failed_seeds.len(),
            self.tasks.acked,
            self.tasks.succeeded,
            self.tasks.dead_lettered,
            self.tasks.lost,
            self.duplicate_applies,
            self.fenced_rejections,
            self.leader_changes,
            self.executors_declared_dead,
            self.redispatches,
            self.drain_ms_max as f64 / 1000.0,
            self.false_verdicts.false_deaths,
            self.false_verdicts.false_quarantines,
            self.false_verdicts.unforced_failovers,
            self.sim_seconds,
            self.wall_seconds,
            if self.wall_seconds > 0.0 { self.sim_seconds / self.wall_seconds } else { 0.0 },
        );
        if self.stale_acts.stale_acts > 0 {
            let s = &self.stale_acts;
            out += &format!(
                "  deposed leaders acted {} times after a newer election ({} explained by a clock fault on them), \
                 the latest {} ms after it; fencing must absorb these\n",
                s.stale_acts, s.stale_acts_clock_explained, s.stale_act_lag_max_ms
            );
        }
        if !self.fires.is_empty() {
            let f = &self.fires;
            out += &format!(
                "  fires: {} fired, {} instants skipped by policy, latest start {} ms after its instant; \
                 {} replaced fires applied their effect anyway\n",
                f.fired, f.instants_skipped, f.lateness_max_ms, self.replaced_with_effect
            );
        }
        if let (Some(expect), Some(caught)) = (&self.expect, &self.caught_seeds) {
            out += &match caught.first() {
                Some(first) => format!("  expected {expect}: caught on seed {first} ({} seeds tried)\n", self.seeds),
                None => format!("  expected {expect}: NOT caught in {} seeds\n", self.seeds),
            };
        }
        if !self.faults.is_empty() {
            let list: Vec<String> = self.faults.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            out += &format!("  faults fired: {}\n", list.join(", "));
        }
        if let Some(b) = &self.bounds {
            out += &format!(
                "  recovery bounds: executor death <= {} ms, executor failover <= {} ms, leader failover <= {} ms ({})\n",
                b.executor_death_ms, b.executor_failover_ms, b.leader_failover_ms, b.inputs
            );
        }
        // A known-bug scenario's violations are its catches: named as such, not as failures.
        let (seen, replay) =
            if self.expect.is_some() { ("caught", "replay a catch") } else { ("violations", "reproduce") };
        if !self.violations.is_empty() {
            let list: Vec<String> = self.violations.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            out += &format!("  {seen}: {}\n", list.join(", "));
        }
        if !self.tolerated.is_empty() {
            out += &format!("  tolerated by the scenario (do not fail a seed): {}\n", self.tolerated.join(", "));
        }
        for seed in &self.nondeterministic_seeds {
            out += &format!("  NONDETERMINISTIC: seed {seed} gave two different histories\n");
        }
        for cmd in self.reproduce.iter().take(5) {
            out += &format!("  {replay}: {cmd}\n");
        }
        if self.reproduce.len() > 5 {
            out += &format!("  ... and {} more failed seeds\n", self.reproduce.len() - 5);
        }
        out
    }
}

fn latency_unset(p: &metrics::Percentiles) -> bool {
    p.count == 0
}

/// The recovery-time bounds of FAULT-HANDLING.md, from a scenario's own settings: h the
/// heartbeat interval, k the missed beats tolerated, L the lease, rho the clock drift bound,
/// d the worst one-way delay (the simulator's 10 ms plus any injected delay), RTT = 2d, R
/// etcd's expired-lease scan, S the longest stall of the healthy store (`[store]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecoveryBounds {
    /// k*h + 2*RTT + d + 3*rho*k*h: from an executor's death to it being declared dead.
    pub executor_death_ms: u64,
    /// executor death + h + D + RTT + S + d: from an executor's death to one of its tasks
    /// re-dispatched: the next beat of a live executor (h) with a free slot (a busy one
    /// frees within the longest task, D), the assignment's store write (RTT + S), and the
    /// dispatch reaching it (d). Taken-back tasks go to the front of the queue, so the
    /// backlog does not add to it.
    pub executor_failover_ms: u64,
    /// L/(1-rho) + R + 2*RTT + 2d + 3S: from a leader's death to a successor elected and
    /// loaded. The last keep-alive may reach etcd up to d + S after the death and renew the
    /// lease for L from there; etcd revokes it at its next scan (R); the revocation wakes a
    /// campaign (d); the successor fences and loads the queue (two store calls, RTT + S
    /// each). Its first dispatch comes with the next executor beat after that.
    pub leader_failover_ms: u64,
    /// The inputs, e.g. `h=100 k=3 L=2000 rho=0.01 d=10 R=500 S=600`.
    pub inputs: String,
    /// The recovery model's load: arrivals (`arrival_rate_per_s`) and the dispatch
    /// capacity E*c / (mean task + h/2 + 4d), tasks/s (see `recovery_ms`).
    pub arrivals_per_s: f64,
    pub capacity_per_s: f64,
    /// Executors, the longest task, h and S (ms): a running task still counts in the
    /// backlog until its outcome is reported and written.
    pub executors: u64,
    pub longest_task_ms: u64,
    pub heartbeat_ms: u64,
    pub stall_ms: u64,
}

/// What a firing that hit something is held to (`RecoveryBounds::for_hit`); `None`: no
/// bound applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HitBounds {
    pub detection_ms: Option<u64>,
    pub failover_ms: Option<u64>,
    /// Back to normal: see `RecoveryBounds::recovery_ms`.
    pub recovery_ms: Option<u64>,
}

impl RecoveryBounds {
    /// The simulator's own worst one-way latency, ms (madsim: 1-10 ms a message).
    pub const BASE_DELAY_MS: u64 = 10;

    /// How often etcd looks for expired leases (`lessor.runLoop`): a lease outlives its TTL
    /// by up to this much.
    pub const LEASE_REVOKE_SCAN_MS: u64 = 500;

    pub fn of(s: &crate::scenario::Scenario) -> Self {
        let h = s.scheduler.heartbeat_interval_ms as f64;
        let k = s.scheduler.missed_beats as f64;
        let l = (s.scheduler.lease_ttl_s * 1000) as f64;
        let rho = s.scheduler.clock_drift_bound;
        let injected = s.faults.iter().filter_map(|f| f.delay_ms.map(|d| d.max)).max().unwrap_or(0);
        let d = (Self::BASE_DELAY_MS + injected) as f64;
        let rtt = 2.0 * d;
        let r = Self::LEASE_REVOKE_SCAN_MS as f64;
        let stall = s.store.stalls.iter().map(|c| c.ms.max).max().unwrap_or(0) as f64;
        let longest_task = s.workload.duration_ms.max as f64;
        let mean_task = (s.workload.duration_ms.min + s.workload.duration_ms.max) as f64 / 2.0;
        let executor_death = (k * h + 2.0 * rtt + d + 3.0 * rho * k * h).ceil();
        let slots = (s.topology.executors * s.topology.executor_capacity) as f64;
        RecoveryBounds {
            executor_death_ms: executor_death as u64,
            executor_failover_ms: (executor_death + h + longest_task + rtt + stall + d).ceil() as u64,
            leader_failover_ms: (l / (1.0 - rho) + r + 2.0 * rtt + 2.0 * d + 3.0 * stall).ceil() as u64,
            inputs: format!("h={h} k={k} L={l} rho={rho} d={d} R={r} S={stall} D={longest_task}"),
            arrivals_per_s: s.workload.arrival_rate_per_s as f64,
            // A slot's cycle: the task runs, its end is reported at an early beat (within
            // h/4), the next assignment's write and its delivery at the next early beat
            // (h/4), two round trips (2d each).
            capacity_per_s: slots * 1000.0 / (mean_task + h / 2.0 + 4.0 * d),
            executors: s.topology.executors,
            longest_task_ms: longest_task as u64,
            heartbeat_ms: h as u64,
            stall_ms: stall as u64,
        }
    }

    /// The recovery model (reports/METRICS.md, "Recovery bound"): an outage of `outage_ms`
    /// during which the cluster dispatches at `during_per_s` builds a backlog of
    /// (arrivals - during) * outage; after it, the spare capacity (`after_per_s` - arrivals)
    /// drains it; the measurement adds its window (1 s), a task still running (D), and
    /// the outcome's report (h/2) and store write (S). `None`
    /// when nothing spare is left after the outage: the backlog drains only when the
    /// workload ends, which no setting bounds.
    fn recovery_ms(&self, outage_ms: u64, during_per_s: f64, after_per_s: f64) -> Option<u64> {
        let spare = after_per_s - self.arrivals_per_s;
        if spare <= 0.0 {
            return None;
        }
        let backlog = (self.arrivals_per_s - during_per_s).max(0.0) * outage_ms as f64 / 1000.0;
        let window = metrics::RecoveryConfig::default().window_ms as f64;
        let last_task = (self.longest_task_ms + self.heartbeat_ms / 2 + self.stall_ms) as f64;
        Some((outage_ms as f64 + backlog / spare * 1000.0 + window + last_task).ceil() as u64)
    }

    /// The detection and failover bounds a firing that hit `hit` is held to (none for a
    /// firing that hit neither the leader nor an executor). Detection of a leader's loss is
    /// held to the failover bound, which contains it. The bounds assume one fault at a
    /// time: a firing overlapped by another (a leader cut while an executor crashes) may
    /// read over them, and the table says so.
    pub fn for_hit(&self, hit: metrics::Hit, executors_hit: u64) -> HitBounds {
        use metrics::Hit;
        // Without the executors hit (they may not come back within the run).
        let left = self.executors.saturating_sub(executors_hit.max(1));
        let fewer = self.capacity_per_s * left as f64 / self.executors.max(1) as f64;
        match hit {
            Hit::Executors => HitBounds {
                detection_ms: Some(self.executor_death_ms),
                failover_ms: Some(self.executor_failover_ms),
                recovery_ms: self.recovery_ms(self.executor_failover_ms, fewer, fewer),
            },
            Hit::Leader => HitBounds {
                detection_ms: Some(self.leader_failover_ms),
                failover_ms: Some(self.leader_failover_ms),
                recovery_ms: self.recovery_ms(self.leader_failover_ms, 0.0, self.capacity_per_s),
            },
            // A new leader must be in office before it declares the cut executors dead and
            // re-dispatches their tasks: the two failovers in sequence.
            Hit::Both => {
                let failover = self.executor_failover_ms + self.leader_failover_ms;
                HitBounds {
                    detection_ms: Some(self.executor_death_ms.max(self.leader_failover_ms)),
                    failover_ms: Some(failover),
                    recovery_ms: self.recovery_ms(failover, 0.0, fewer),
                }
            }
            Hit::Other => HitBounds::default(),
        }
    }

    /// One sentence naming the bounds and their inputs, for reports.
    pub fn sentence(&self) -> String {
        format!(
            "Bounds from the scenario's settings ({}): executor death {} ms (detection of an executor \
             fault) and executor failover {} ms (its tasks re-dispatched), leader failover {} ms \
             (detection and failover of a leader fault). Recovery, back to normal, also drains the \
             backlog the outage built: modelled from {:.0} arrivals/s against a capacity of {:.0} \
             tasks/s (none when nothing is spare).",
            self.inputs,
            self.executor_death_ms,
            self.executor_failover_ms,
            self.leader_failover_ms,
            self.arrivals_per_s,
            self.capacity_per_s
        )
    }
}

/// Violations a person is shown at once; the counts cover them all.
pub const MAX_SHOWN_VIOLATIONS: usize = 20;

/// One line per violation (at most [`MAX_SHOWN_VIOLATIONS`]), naming what it broke, where,
/// and the first event that shows it.
pub fn render_violations(violations: &[Violation]) -> String {
    let mut out = String::new();
    for v in violations.iter().take(MAX_SHOWN_VIOLATIONS) {
        out += &format!(
            "  violation {} on {} at {} ms (event #{}): {}\n",
            v.kind.name(),
            v.subject,
            v.at_ms,
            v.event_index,
            v.message
        );
    }
    if violations.len() > MAX_SHOWN_VIOLATIONS {
        out += &format!(
            "  ... and {} more violations (the full history shows them all)\n",
            violations.len() - MAX_SHOWN_VIOLATIONS
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::check_all;
    use faultline_model::fixtures::{ack, ev, run_end, submit};

    fn seed(seed: u64, lost: bool) -> SeedResult {
        let mut history = vec![ev(0, "client", submit("k")), ev(1, "client", ack("k", "t1"))];
        if !lost {
            let applied = faultline_model::fixtures::apply("t1", "exec-1", 1, 1, crate::trace::Verdict::Accepted);
            history.push(ev(2, "sink", applied));
            history.push(ev(2, "coord-1", faultline_model::fixtures::succeeded("t1")));
        }
        history.push(ev(3, "harness", run_end(true)));
        let check = check_all(&history);
        let passed = check.passed();
        SeedResult {
            seed,
            passed,
            check,
            panic: None,
            sim_ms: 3,
            wall_ms: 1,
            drain_ms: 0,
            hash: seed,
            faults: BTreeMap::new(),
        }
    }

    fn summary(expect: Option<&str>) -> ScenarioSummary {
        let caught_seeds = expect.map(|_| Vec::new());
        ScenarioSummary { expect: expect.map(String::from), caught_seeds, ..Default::default() }
    }

    #[test]
    fn a_scenario_that_expects_a_violation_passes_only_when_a_seed_shows_it() {
        let mut s = summary(Some("lost_task"));
        s.add(&seed(1, false), "run 1".into());
        assert!(!s.passed(), "no seed caught it yet");
        assert!(s.render().contains("expected lost_task: NOT caught in 1 seeds"));
        s.add(&seed(2, true), "run 2".into());
        assert!(s.passed());
        assert_eq!(s.caught_seeds, Some(vec![2]));
        assert!(s.render().starts_with("PASS"), "{}", s.render());
        // Another kind does not count as the expected one.
        let mut other = summary(Some("duplicate_apply"));
        other.add(&seed(1, true), "run 1".into());
        assert!(!other.passed());
    }

    #[test]
    fn a_plain_scenario_fails_on_any_failing_seed() {
        let mut s = summary(None);
        s.add(&seed(1, false), "run 1".into());
        assert!(s.passed());
        s.add(&seed(2, true), "run 2".into());
        assert!(!s.passed());
        assert_eq!(s.failed_seeds, vec![2]);
    }
}
