//! A suite's report: per scenario, the summary (extended with recovery per fault kind and
//! latency), the data behind the plots, and the files `suite --report DIR` writes:
//! `summary.json`, `summary.md`, `index.html` (self-contained: the SVGs are inline),
//! one SVG per plot, and `junit.xml`. Built from histories only (see `metrics`).

use super::metrics::{self, FaultRecovery, Percentiles};
use super::{plots, RecoveryBounds, ScenarioSummary};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Recovery of one fault kind over a scenario's seeds, next to its bound (the `recovery`
/// map of `summary.json`). Times in ms; `never_recovered` firings are counted, not timed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct KindSummary {
    pub count: u64,
    pub recovered: u64,
    pub never_recovered: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    /// The bound for this kind from the scenario's settings: the executor-death bound when
    /// every firing hit executors only, else the leader-failover bound.
    pub bound: u64,
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
}

/// Width of a timeline bucket, ms.
pub const TIMELINE_BUCKET_MS: u64 = 250;

impl RunTimeline {
    pub fn of(seed: u64, history: &[crate::trace::Event]) -> Self {
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
        RunTimeline { seed, points, faults, epochs }
    }
}

/// What one seed adds to a scenario's report, computed where the history is.
#[derive(Clone, Debug, Default)]
pub struct SeedMetrics {
    pub recoveries: Vec<FaultRecovery>,
    pub latencies_ms: Vec<u64>,
}

impl SeedMetrics {
    pub fn of(history: &[crate::trace::Event]) -> Self {
        SeedMetrics { recoveries: metrics::fault_recoveries(history), latencies_ms: metrics::latencies_ms(history) }
    }
}

/// A scenario's report in the making: its summary plus what the plots need.
pub struct ScenarioReport {
    pub summary: ScenarioSummary,
    bounds: RecoveryBounds,
    runs: Vec<(u64, Vec<FaultRecovery>)>,
    latencies_ms: Vec<u64>,
    /// The run the timeline plot shows (the caller picks it, see [`Self::worst_seed`]).
    pub timeline: Option<RunTimeline>,
}

impl ScenarioReport {
    pub fn new(summary: ScenarioSummary, bounds: RecoveryBounds) -> Self {
        ScenarioReport { summary, bounds, runs: Vec::new(), latencies_ms: Vec::new(), timeline: None }
    }

    pub fn add(&mut self, seed: u64, m: SeedMetrics) {
        self.latencies_ms.extend(m.latencies_ms);
        self.runs.push((seed, m.recoveries));
    }

    /// The seed whose slowest recovery (a never-recovered firing counts as slowest) is the
    /// largest: the run worth a timeline. Ties go to the lower seed.
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
        for (kind, k) in metrics::by_kind(&all) {
            let executors_only = all
                .iter()
                .flatten()
                .filter(|r| r.kind == kind)
                .all(|r| r.target.split(',').all(|n| n.starts_with("exec-")));
            let bound = if executors_only { self.bounds.executor_death_ms } else { self.bounds.leader_failover_ms };
            let row = KindSummary {
                count: k.count,
                recovered: k.recovered,
                never_recovered: k.never_recovered,
                p50: k.recovery.p50,
                p90: k.recovery.p90,
                p99: k.recovery.p99,
                max: k.recovery.max,
                bound,
                detection: k.detection,
                failover: k.failover,
            };
            recovery.insert(kind, row);
        }
        self.summary.recovery = recovery;
        self.summary.latency = metrics::percentiles(&self.latencies_ms);
    }

    /// The four plots as (file stem, SVG).
    pub fn plots(&self) -> Vec<(&'static str, String)> {
        let mut series: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
        let mut per_seed = Vec::new();
        for (seed, rs) in &self.runs {
            for r in rs {
                if let Some(ms) = r.recovery_ms {
                    series.entry(&r.kind).or_default().push(ms as f64);
                    per_seed.push((r.kind.clone(), *seed, ms as f64));
                }
            }
        }
        let series: Vec<(String, Vec<f64>)> = series.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let bounds: Vec<(String, f64)> =
            self.summary.recovery.iter().map(|(k, row)| (k.clone(), row.bound as f64)).collect();
        let latencies: Vec<f64> = self.latencies_ms.iter().map(|&ms| ms as f64).collect();
        let t = self.timeline.clone().unwrap_or_default();
        vec![
            ("recovery-cdf", plots::recovery_cdf(&series, &bounds)),
            ("timeline", plots::timeline(&t.points, &t.faults, &t.epochs)),
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

/// Writes every report file under `dir`; returns the paths written.
pub fn write(dir: &Path, suite: &str, reports: &[ScenarioReport]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut put = |name: String, text: &str| -> std::io::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    let summaries: Vec<&ScenarioSummary> = reports.iter().map(|r| &r.summary).collect();
    let json = serde_json::to_string_pretty(&serde_json::json!({ "suite": suite, "scenarios": summaries }))
        .expect("summaries serialize");
    put("summary.json".into(), &(json + "\n"))?;
    let mut plots = Vec::new();
    for r in reports {
        let stem = slug(&r.summary.name);
        let svgs = r.plots();
        for (plot, svg) in &svgs {
            put(format!("{stem}-{plot}.svg"), svg)?;
        }
        plots.push(svgs);
    }
    put("summary.md".into(), &super::document::markdown(suite, reports))?;
    put("index.html".into(), &super::document::html(suite, reports, &plots))?;
    let owned: Vec<ScenarioSummary> = summaries.into_iter().cloned().collect();
    put("junit.xml".into(), &super::junit::render(suite, &owned))?;
    Ok(written)
}
