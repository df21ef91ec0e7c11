//! `faultline calibrate`: the simulator's recovery numbers against real processes'. For each
//! row (one fault plan), the histories `scripts/calibrate` recorded on real processes
//! (`<real>/<row>/*.jsonl`: every process's history plus the script's `nemesis.jsonl` of
//! fault begin/end events) and the simulator's runs of `scenarios/calibration/<row>.toml`
//! are measured by the same code (`report::metrics::fault_recoveries`), and the table says
//! per row and metric whether the simulator is within ±20% of real at p50 and p90.

use crate::check::merged_history;
use anyhow::{Context, Result};
use faultline::report::metrics::{fault_recoveries, percentiles, FaultRecovery, Percentiles};
use faultline::scenario::Scenario;
use faultline::sim::{run_seeds, SeedPlan};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub struct CalibrateOptions {
    /// Where `scripts/calibrate` left the real histories, one directory per row.
    pub real: PathBuf,
    pub seeds: u64,
    pub jobs: usize,
    /// Writes `<out>.md` and `<out>.json`.
    pub out: PathBuf,
    /// Only these rows (empty: all).
    pub rows: Vec<String>,
}

/// The agreement the calibration asks for: simulator within this share of real.
const TOLERANCE: f64 = 0.20;

#[derive(Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case")]
enum Metric {
    /// Fault begin -> the scheduler noticed (a new leader, or the executor declared dead).
    Detection,
    /// Fault begin -> stranded work moved (the new leader's first dispatch, or the
    /// executor's task re-dispatched).
    Failover,
    /// Fault begin -> throughput and backlog back (reports/METRICS.md).
    Recovery,
}

impl Metric {
    fn of(self, r: &FaultRecovery) -> Option<u64> {
        match self {
            Metric::Detection => r.detection_ms,
            Metric::Failover => r.failover_ms,
            Metric::Recovery => r.recovery_ms,
        }
    }
}

/// One fault plan: its name (the scenario's and the real directory's), what the script
/// does, and what is compared with what it means for this fault.
struct Row {
    name: &'static str,
    fault: &'static str,
    metrics: &'static [(Metric, &'static str)],
}

const LEADER: &[(Metric, &str)] = &[(Metric::Detection, "-> new leader"), (Metric::Failover, "-> first dispatch")];
const EXECUTOR: &[(Metric, &str)] =
    &[(Metric::Detection, "-> declared dead"), (Metric::Failover, "-> its task re-dispatched")];

const ROWS: &[Row] = &[
    Row { name: "leader-kill", fault: "leader SIGKILL (restart 3 s later)", metrics: LEADER },
    Row { name: "leader-pause", fault: "leader SIGSTOP 4 s (lease 2 s)", metrics: LEADER },
    Row { name: "leader-store-cut", fault: "leader cut from the store 4 s", metrics: LEADER },
    Row { name: "executor-kill", fault: "executor SIGKILL (restart 3 s later)", metrics: EXECUTOR },
    Row { name: "executor-pause", fault: "executor SIGSTOP 1 s", metrics: EXECUTOR },
    Row {
        name: "store-kill",
        fault: "etcd SIGKILL (restart 3 s later)",
        metrics: &[(Metric::Recovery, "-> recovered")],
    },
];

#[derive(Serialize)]
struct Line {
    row: &'static str,
    fault: &'static str,
    metric: Metric,
    what: &'static str,
    real: Option<Percentiles>,
    /// Why there is no real sample (the row's directory is missing, or says why).
    real_missing: Option<String>,
    sim: Percentiles,
    /// (sim - real) / real at p50 and p90.
    delta_p50: Option<f64>,
    delta_p90: Option<f64>,
    within: Option<bool>,
}

fn delta(sim: u64, real: u64) -> Option<f64> {
    (real > 0).then(|| (sim as f64 - real as f64) / real as f64)
}

/// The real firings of `row`, or why there are none.
fn real_firings(dir: &Path) -> std::result::Result<Vec<FaultRecovery>, String> {
    let skipped = dir.join("SKIPPED");
    if let Ok(why) = std::fs::read_to_string(&skipped) {
        return Err(why.trim().to_string());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e} (run scripts/calibrate first)", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let history = merged_history(&files).map_err(|e| e.to_string())?;
    let firings = fault_recoveries(&history);
    if firings.is_empty() {
        return Err(format!("{}: no fault events (nemesis.jsonl missing?)", dir.display()));
    }
    Ok(firings)
}

fn sim_firings(row: &Row, seeds: u64, jobs: usize) -> Result<Vec<FaultRecovery>> {
    let path = PathBuf::from(format!("scenarios/calibration/{}.toml", row.name));
    let scenario = Scenario::load(&path).with_context(|| format!("loading {}", path.display()))?;
    let runs = run_seeds(&scenario, SeedPlan::range(1, seeds), jobs, None, |o| (fault_recoveries(&o.history), false));
    Ok(runs.into_iter().flat_map(|(_, firings)| firings).collect())
}

fn sample(firings: &[FaultRecovery], metric: Metric) -> Percentiles {
    percentiles(&firings.iter().filter_map(|r| metric.of(r)).collect::<Vec<_>>())
}

pub fn run(opts: &CalibrateOptions, command: &str) -> Result<bool> {
    if let Some(unknown) = opts.rows.iter().find(|r| !ROWS.iter().any(|row| row.name == r.as_str())) {
        let names: Vec<&str> = ROWS.iter().map(|r| r.name).collect();
        anyhow::bail!("no calibration row `{unknown}`, expected one of: {}", names.join(", "));
    }
    let mut lines = Vec::new();
    for row in ROWS.iter().filter(|r| opts.rows.is_empty() || opts.rows.iter().any(|n| n == r.name)) {
        eprintln!("calibrate: {} ({} simulator seeds)", row.name, opts.seeds);
        let real = real_firings(&opts.real.join(row.name));
        let sim = sim_firings(row, opts.seeds, opts.jobs)?;
        for &(metric, what) in row.metrics {
            let sim = sample(&sim, metric);
            let real_p = real.as_ref().ok().map(|firings| sample(firings, metric)).filter(|p| p.count > 0);
            let (delta_p50, delta_p90) = match &real_p {
                Some(r) => (delta(sim.p50, r.p50), delta(sim.p90, r.p90)),
                None => (None, None),
            };
            let within = match (delta_p50, delta_p90) {
                (Some(a), Some(b)) => Some(a.abs() <= TOLERANCE && b.abs() <= TOLERANCE),
                _ => None,
            };
            let real_missing = match &real {
                Err(why) => Some(why.clone()),
                Ok(_) if real_p.is_none() => Some("no real firing gave this signal".into()),
                Ok(_) => None,
            };
            lines.push(Line {
                row: row.name,
                fault: row.fault,
                metric,
                what,
                real: real_p,
                real_missing,
                sim,
                delta_p50,
                delta_p90,
                within,
            });
        }
    }
    let md = markdown(&lines, command, opts.seeds);
    print!("{md}");
    if let Some(dir) = opts.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (md_path, json_path) = (opts.out.with_extension("md"), opts.out.with_extension("json"));
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    let json = serde_json::json!({ "command": command, "tolerance": TOLERANCE, "lines": lines });
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("wrote {} and {}", md_path.display(), json_path.display());
    Ok(lines.iter().all(|l| l.within != Some(false)))
}

fn triple(p: &Percentiles) -> String {
    format!("{} / {} / {} ({})", p.p50, p.p90, p.max, p.count)
}

fn percent(d: Option<f64>) -> String {
    d.map_or("-".into(), |d| format!("{:+.0}%", d * 100.0))
}

fn markdown(lines: &[Line], command: &str, seeds: u64) -> String {
    let mut out = format!(
        "# Calibration: the simulator against real processes\n\n\
         Each row is one fault plan (`scenarios/calibration/<row>.toml`), fired on real processes by \
         `scripts/calibrate` (Debian's etcd-server, the sink, 3 coordinators and 4 executors of the plain \
         build, each its own process on this machine; 100 tasks/s of 10-100 ms; h = 100 ms, k = 3, \
         L = 2 s) and run in the simulator on {seeds} seeds. Both sides are measured by the same code, \
         `report::metrics::fault_recoveries` over the merged histories, from the fault's begin \
         (reports/METRICS.md says what each signal is). The verdict asks the simulator to be within \
         ±{:.0}% of real at p50 and at p90. n counts firings that gave the signal: an executor holding \
         no task when it was hit gives no re-dispatch.\n\n\
         | fault | ms, from the fault's begin | real p50 / p90 / max (n) | simulator p50 / p90 / max (n, {seeds} seeds) | sim vs real p50 / p90 | within ±{:.0}% |\n\
         |---|---|---|---|---|---|\n",
        TOLERANCE * 100.0,
        TOLERANCE * 100.0
    );
    for l in lines {
        let real = l.real.as_ref().map_or_else(|| "-".into(), triple);
        let verdict = match l.within {
            Some(true) => "yes".to_string(),
            Some(false) => "**no**".to_string(),
            None => format!("not measured: {}", l.real_missing.as_deref().unwrap_or("-")),
        };
        out += &format!(
            "| {} | {} | {} | {} | {} / {} | {} |\n",
            l.fault,
            l.what,
            real,
            triple(&l.sim),
            percent(l.delta_p50),
            percent(l.delta_p90),
            verdict
        );
    }
    out += &format!(
        "\nMade by `{command}`, from the real histories `scripts/calibrate` recorded (it ends by \
         running this command; `scripts/calibrate --firings 10` redoes both sides, about 15 minutes).\n"
    );
    out
}
