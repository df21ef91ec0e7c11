//! A suite's report: per scenario, the summary (extended with recovery per fault kind and
//! latency), the data behind the plots, and the files `suite --report DIR` writes:
//! `summary.json`, `summary.md`, `index.html` (self-contained: the SVGs are inline),
//! one SVG per plot, and `junit.xml`. Built from histories only (see `metrics`).

use super::metrics::{self, FaultRecovery, Percentiles};
use super::{plots, RecoveryBounds, ScenarioSummary};
use serde::Serialize;
use std::collections::BTreeMap;

/// Recovery of one fault kind over a scenario's seeds, next to its bound (the `recovery`
/// map of `summary.json`). Times in ms; `never_recovered` firings are counted, not timed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindSummary {
    pub count: u64,
    pub recovered: u64,
    pub never_recovered: u64,
    /// Fault begin to back to normal, over the firings that recovered: it includes draining
    /// the backlog the outage built (held to `recovery_bound`, not to detection or failover).
    pub recovery: Percentiles,
    /// What the row's firings hit (`RecoveryBounds::for_hit` picks the bounds from it).
    pub hit: metrics::Hit,
    /// The bounds its detection and failover are held to, from the scenario's settings
    /// (null for a fault that hit neither the leader nor an executor).
    pub detection_bound: Option<u64>,
    pub failover_bound: Option<u64>,
    /// The recovery model's bound (null: it hit neither, or nothing is spare to drain the
    /// backlog: reports/METRICS.md, "Recovery bound").
    pub recovery_bound: Option<u64>,
    pub detection: Percentiles,
    pub failover: Percentiles,
}

/// One run's timeline, for the timeline plot.
#[derive(Clone, Debug, Default)]
pub struct RunTimeline {
    pub seed: u64,
    /// (t s, dispatches per s, backlog tasks)
    pub points: Vec<(f64, f64, f64)>,
    /// (kind, begin s, end s; infinite if never healed)
    pub faults: Vec<(String, f64, f64)>,
    /// (t s, epoch)
    pub epochs: Vec<(f64, u64)>,
    /// A failing seed's first violation: (t s, "kind on subject"), marked on the plot.
    pub violation: Option<(f64, String)>,
}

/// Width of a timeline bucket, ms.
pub const TIMELINE_BUCKET_MS: u64 = 250;

impl RunTimeline {
    /// `violation` is the seed's first, when it failed.
    pub fn of(seed: u64, history: &[crate::trace::Event], violation: Option<&crate::check::Violation>) -> Self {
        let per_s = 1000.0 / TIMELINE_BUCKET_MS as f64;
        let points = metrics::throughput_timeline(history, TIMELINE_BUCKET_MS)
            .into_iter()
            .map(|p| (p.t_ms as f64 / 1000.0, p.dispatches as f64 * per_s, p.backlog as f64))
            .collect();
        let faults = metrics::fault_spans(history)
            .into_iter()
            .map(|f| (f.kind, f.begin_ms as f64 / 1000.0, f.end_ms.map_or(f64::INFINITY, |e| e as f64 / 1000.0)))
            .collect();
        let epochs =
            metrics::leader_epochs(history).into_iter().map(|(at, epoch, _)| (at as f64 / 1000.0, epoch)).collect();
        let violation = violation.map(|v| (v.at_ms as f64 / 1000.0, format!("{} on {}", v.kind.name(), v.subject)));
        RunTimeline { seed, points, faults, epochs, violation }
    }
}

/// What one seed adds to a scenario's report, computed where the history is.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize)]
pub struct SeedMetrics {
    pub recoveries: Vec<FaultRecovery>,
    pub latencies_ms: Vec<u64>,
    pub retries: u64,
    /// Total time with acknowledged work pending and nothing dispatched, in gaps of at
    /// least [`UNAVAILABLE_GAP_MS`].
    pub unavailable_ms: u64,
}

/// The shortest gap in dispatching that counts as unavailability, ms: with the default
/// heartbeat (100 ms) a busy leader dispatches several times a second.
pub const UNAVAILABLE_GAP_MS: u64 = 500;

impl SeedMetrics {
    pub fn of(history: &[crate::trace::Event]) -> Self {
        let windows = metrics::unavailability_windows(history, UNAVAILABLE_GAP_MS);
        SeedMetrics {
            recoveries: metrics::fault_recoveries(history),
            latencies_ms: metrics::latencies_ms(history),
            retries: metrics::retries(history),
            unavailable_ms: windows.iter().map(|(start, end)| end - start).sum(),
        }
    }
}

/// A scenario's report in the making: its summary plus what the plots need.
pub struct ScenarioReport {
    pub summary: ScenarioSummary,
    bounds: RecoveryBounds,
    runs: Vec<(u64, Vec<FaultRecovery>)>,
    latencies_ms: Vec<u64>,
    unavailable_ms: Vec<u64>,
    retries: u64,
    /// The run the timeline plot shows (the caller picks it, see [`Self::worst_seed`]).
    pub timeline: Option<RunTimeline>,
    /// Every seed's result and metrics, saved as `seeds.json` for `report merge`.
    pub records: Vec<SeedRecord>,
}

/// One seed's contribution to a report, as `suite --report` saves it in `seeds.json`, so
/// that `report merge` can rebuild the report of several shards exactly.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SeedRecord {
    /// The scenario file's path.
    pub scenario: String,
    pub result: super::SeedResult,
    /// With --check-determinism: whether the second run gave the same history.
    pub same: Option<bool>,
    pub metrics: SeedMetrics,
}

impl ScenarioReport {
    pub fn new(summary: ScenarioSummary, bounds: RecoveryBounds) -> Self {
        ScenarioReport {
            summary,
            bounds,
            runs: Vec::new(),
            latencies_ms: Vec::new(),
            unavailable_ms: Vec::new(),
            retries: 0,
            timeline: None,
            records: Vec::new(),
        }
    }

    pub fn add(&mut self, seed: u64, m: SeedMetrics) {
        self.latencies_ms.extend(m.latencies_ms);
        self.unavailable_ms.push(m.unavailable_ms);
        self.retries += m.retries;
        self.runs.push((seed, m.recoveries));
    }

    /// The seed whose slowest recovery (a never-recovered firing counts as slowest) is the
    /// largest: the run worth a timeline. Ties go to the lower seed.
    /// The seed the timeline plots: the first failing seed when there is one (a scenario
    /// that expects a violation has none), else the worst.
    pub fn timeline_seed(&self) -> Option<u64> {
        let failing = self.summary.expect.is_none().then(|| self.summary.failed_seeds.first().copied()).flatten();
        failing.or_else(|| self.worst_seed())
    }

    pub fn worst_seed(&self) -> Option<u64> {
        let cost = |r: &FaultRecovery| r.recovery_ms.unwrap_or(u64::MAX);
        let worst = |rs: &[FaultRecovery]| rs.iter().map(cost).max();
        let mut best: Option<(u64, u64)> = None;
        for (seed, rs) in &self.runs {
            if let Some(c) = worst(rs) {
                if best.is_none_or(|(bc, bs)| c > bc || (c == bc && *seed < bs)) {
                    best = Some((c, *seed));
                }
            }
        }
        best.map(|(_, seed)| seed).or_else(|| self.runs.first().map(|(seed, _)| *seed))
    }

    /// Fills the summary's `recovery` and `latency` from the seeds added.
    pub fn finish(&mut self) {
        let all: Vec<Vec<FaultRecovery>> = self.runs.iter().map(|(_, rs)| rs.clone()).collect();
        let mut recovery = BTreeMap::new();
        for (row_name, k) in metrics::by_kind(&all) {
            let bounds = self.bounds.for_hit(k.hit, k.executors_hit);
            let row = KindSummary {
                count: k.count,
                recovered: k.recovered,
                never_recovered: k.never_recovered,
                recovery: k.recovery,
                hit: k.hit,
                detection_bound: bounds.detection_ms,
                failover_bound: bounds.failover_ms,
                recovery_bound: bounds.recovery_ms,
                detection: k.detection,
                failover: k.failover,
            };
            recovery.insert(row_name, row);
        }
        self.summary.recovery = recovery;
        self.summary.latency = metrics::percentiles(&self.latencies_ms);
        self.summary.unavailable_ms = metrics::percentiles(&self.unavailable_ms);
        self.summary.retries = self.retries;
    }

    /// The four plots as (file stem, SVG).
    pub fn plots(&self) -> Vec<(&'static str, String)> {
        // One curve per table row (kind and what it hit), with the row's recovery bound.
        let mut series: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut per_seed = Vec::new();
        for (seed, rs) in &self.runs {
            for r in rs {
                if let Some(ms) = r.recovery_ms {
                    let row = r.hit.row(&r.kind);
                    series.entry(row.clone()).or_default().push(ms as f64);
                    per_seed.push((row, *seed, ms as f64));
                }
            }
        }
        let bounds: Vec<(String, f64)> = series
            .keys()
            .filter_map(|row| Some((row.clone(), self.summary.recovery.get(row)?.recovery_bound? as f64)))
            .collect();
        let series: Vec<(String, Vec<f64>)> = series.into_iter().collect();
        let latencies: Vec<f64> = self.latencies_ms.iter().map(|&ms| ms as f64).collect();
        let t = self.timeline.clone().unwrap_or_default();
        vec![
            ("recovery-cdf", plots::recovery_cdf(&series, &bounds)),
            ("timeline", plots::timeline(&t.points, &t.faults, &t.epochs, t.violation.as_ref())),
            ("latency", plots::latency_histogram(&latencies)),
            ("recovery-per-seed", plots::recovery_per_seed(&per_seed)),
        ]
    }
}

/// A file name for a scenario: its name with anything but letters, digits, `-` and `_`
/// replaced.
pub fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn firing(kind: &str, target: &str, recovery_ms: Option<u64>) -> FaultRecovery {
        FaultRecovery {
            id: 0,
            kind: kind.into(),
            target: target.into(),
            begin_ms: 1_000,
            end_ms: Some(2_000),
            detection_ms: Some(300),
            failover_ms: Some(350),
            recovery_ms,
            recovered: recovery_ms.is_some(),
            hit: if target.starts_with("exec-") { metrics::Hit::Executors } else { metrics::Hit::Leader },
            executors_hit: target.split(',').filter(|n| n.starts_with("exec-")).count() as u64,
        }
    }

    /// A report of three seeds with crash and pause firings (also the documents' fixture).
    pub(in crate::report) fn report() -> ScenarioReport {
        let summary =
            ScenarioSummary { name: "s/x".into(), path: "scenarios/x.toml".into(), seeds: 3, ..Default::default() };
        let bounds = RecoveryBounds {
            executor_death_ms: 359,
            executor_failover_ms: 1_289,
            leader_failover_ms: 2051,
            inputs: "h=100".into(),
            arrivals_per_s: 10.0,
            capacity_per_s: 20.0,
            executors: 4,
            longest_task_ms: 100,
            heartbeat_ms: 100,
            stall_ms: 600,
        };
        let mut r = ScenarioReport::new(summary, bounds);
        let seed = |recoveries, latencies_ms: Vec<u64>| SeedMetrics {
            recoveries,
            latencies_ms,
            retries: 2,
            unavailable_ms: 600,
        };
        r.add(
            1,
            seed(vec![firing("crash", "exec-1", Some(400)), firing("pause", "coord-2", Some(2_500))], vec![10, 20]),
        );
        r.add(2, seed(vec![firing("crash", "exec-3", Some(800))], vec![30]));
        r.add(3, seed(vec![firing("crash", "exec-2,exec-4", None)], vec![]));
        r.finish();
        r
    }

    #[test]
    fn recovery_rows_carry_percentiles_never_recovered_and_the_right_bound() {
        let r = report();
        let crash = &r.summary.recovery["crash (executors)"];
        assert_eq!((crash.count, crash.recovered, crash.never_recovered), (3, 2, 1));
        assert_eq!((crash.recovery.p50, crash.recovery.max), (400, 800));
        assert_eq!(
            (crash.detection_bound, crash.failover_bound),
            (Some(359), Some(1_289)),
            "executor firings are held to the executor bounds"
        );
        let pause = &r.summary.recovery["pause (leader)"];
        assert_eq!((pause.detection_bound, pause.failover_bound), (Some(2051), Some(2051)), "a leader fault's");
        // Recovery: the last task (longest 100, its report h/2 = 50, its write S = 600), the
        // 1 s window, and the drain. Two of 4 executors hit (exec-2,exec-4) leave 10 of 20
        // tasks/s: nothing spare against 10 arriving, so no bound. A leader outage stops
        // dispatch: 10/s x 2.051 s of backlog drained at 10/s spare.
        assert_eq!(crash.recovery_bound, None, "two executors down leave nothing spare");
        let last = 1_000 + 100 + 50 + 600;
        assert_eq!(pause.recovery_bound, Some(2_051 + 2_051 + last));
        let one = r.bounds.for_hit(metrics::Hit::Executors, 1);
        assert_eq!(one.recovery_ms, Some(1_289 + last), "15/s outrun 10/s: no backlog builds");
        assert_eq!((r.summary.latency.count, r.summary.latency.max), (3, 30));
        assert_eq!((r.summary.retries, r.summary.unavailable_ms.p50), (6, 600));
        assert_eq!(r.worst_seed(), Some(3), "a firing that never recovered is the worst");
    }
}
