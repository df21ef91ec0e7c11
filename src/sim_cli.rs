//! The simulator's CLI commands: `run` and `suite`. Part of the binary, not the library.

use anyhow::{Context, Result};
use faultline::report::suite::{RunTimeline, ScenarioReport, SeedMetrics};
use faultline::report::{RecoveryBounds, ScenarioSummary, SeedResult};
use faultline::scenario::{collect_files, Scenario};
use faultline::sim::{run_seed, RunOutcome};
use faultline::trace::{EventKind, FaultPhase};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Clone)]
pub struct SuiteOptions {
    pub seeds: u64,
    pub first_seed: u64,
    pub jobs: usize,
    pub json: Option<PathBuf>,
    pub check_determinism: bool,
    /// Write the report files here (summary.json/md, index.html, SVGs, junit.xml).
    pub report: Option<PathBuf>,
    /// Compute recovery metrics without writing a report (for `compare`).
    pub compare: bool,
}

impl SuiteOptions {
    fn metrics(&self) -> bool {
        self.report.is_some() || self.compare
    }
}

/// `faultline compare`: setting A (`set`) against setting B (`vs`) on the same seeds.
pub fn compare(path: &Path, set: &[String], vs: &[String], opts: &SuiteOptions) -> Result<bool> {
    anyhow::ensure!(!set.is_empty() || !vs.is_empty(), "give --set and/or --vs settings (section.key=value)");
    let a = Scenario::load_with(path, set)?;
    let b = Scenario::load_with(path, vs)?;
    let opts = SuiteOptions { compare: true, ..opts.clone() };
    let (ra, rb) = (run_scenario(path, &a, &opts), run_scenario(path, &b, &opts));
    let label = |s: &[String]| if s.is_empty() { "the scenario as written".to_string() } else { s.join(", ") };
    print!("{}", faultline::report::compare::render(&label(set), &ra.summary, &label(vs), &rb.summary));
    Ok(ra.summary.passed() && rb.summary.passed())
}

/// The default report folder: `reports/<suite name>/`, the suite named after its first path.
pub fn default_report_dir(paths: &[PathBuf]) -> PathBuf {
    PathBuf::from("reports").join(suite_name(paths))
}

fn suite_name(paths: &[PathBuf]) -> String {
    paths.first().and_then(|p| p.file_stem()).map_or("suite".into(), |s| s.to_string_lossy().into_owned())
}

fn reproduce(path: &Path, seed: u64) -> String {
    format!("scripts/faultline run {} --seed {seed}", path.display())
}

fn seed_result(o: &RunOutcome) -> SeedResult {
    let at = |pred: &dyn Fn(&EventKind) -> bool| o.history.iter().find(|e| pred(&e.kind)).map(|e| e.at_ms);
    let drain_start = at(&|k| matches!(k, EventKind::DrainStart { .. }));
    let run_end = at(&|k| matches!(k, EventKind::RunEnd { .. }));
    let mut faults = std::collections::BTreeMap::new();
    for e in &o.history {
        if let EventKind::Fault { fault, phase: FaultPhase::Begin, .. } = &e.kind {
            *faults.entry(fault.clone()).or_default() += 1;
        }
    }
    SeedResult {
        seed: o.seed,
        passed: o.passed(),
        check: o.check.clone(),
        panic: o.panic.clone(),
        sim_ms: o.sim_ms,
        wall_ms: o.wall_ms,
        drain_ms: run_end.zip(drain_start).map_or(0, |(e, s)| e.saturating_sub(s)),
        hash: o.hash,
        faults,
    }
}

/// `faultline run`: one seed, its verdict, its trace hash.
pub fn run_one(path: &Path, seed: u64, trace: Option<&Path>) -> Result<bool> {
    let scenario = Scenario::load(path)?;
    let outcome = run_seed(&scenario, seed);
    if let Some(file) = trace {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?,
        );
        faultline::trace::write_jsonl(&outcome.history, &mut out)
            .with_context(|| format!("writing {}", file.display()))?;
    }
    let r = seed_result(&outcome);
    let mut summary = ScenarioSummary::new(&scenario, &path.display().to_string());
    summary.add(&r, reproduce(path, seed));
    print!("{}", summary.render());
    for e in outcome.history.iter().filter(|e| {
        matches!(
            e.kind,
            EventKind::LeaderElected { .. }
                | EventKind::LeaderLost { .. }
                | EventKind::ExecutorDead { .. }
                | EventKind::Fault { .. }
                | EventKind::SwarmDrawn { .. }
                | EventKind::ExecutorQuarantined { .. }
                | EventKind::ExecutorReleased { .. }
        )
    }) {
        println!("  {:>8} ms {:<8} {}", e.at_ms, e.node, serde_json::to_string(&e.kind)?);
    }
    if let Some(p) = &outcome.panic {
        println!("  the run panicked: {p}");
    }
    print!("{}", faultline::report::render_violations(&outcome.check.violations));
    println!("seed {seed}: {} events, trace hash {:016x}", outcome.history.len(), outcome.hash);
    Ok(outcome.passed())
}

/// `faultline suite`: every scenario under `paths` on `opts.seeds` seeds.
pub fn suite(paths: &[PathBuf], opts: &SuiteOptions) -> Result<bool> {
    let files = collect_files(paths)?;
    anyhow::ensure!(!files.is_empty(), "no scenario files (*.toml) under the given paths");
    let scenarios = files.iter().map(|f| Scenario::load(f)).collect::<Result<Vec<_>, _>>()?;
    let mut reports = Vec::new();
    for (file, scenario) in files.iter().zip(&scenarios) {
        let report = run_scenario(file, scenario, opts);
        print!("{}", report.summary.render());
        reports.push(report);
    }
    if let Some(dir) = &opts.report {
        let written = faultline::report::suite::write(dir, &suite_name(paths), &reports)
            .with_context(|| format!("writing the report under {}", dir.display()))?;
        println!("report: {} files under {} (open {})", written.len(), dir.display(), dir.join("index.html").display());
    }
    let summaries: Vec<&ScenarioSummary> = reports.iter().map(|r| &r.summary).collect();
    if let Some(json) = &opts.json {
        let text = serde_json::to_string_pretty(&serde_json::json!({ "scenarios": summaries }))?;
        std::fs::write(json, text + "\n").with_context(|| format!("writing {}", json.display()))?;
    }
    let failed = summaries.iter().filter(|s| !s.passed()).count();
    println!("suite: {} scenarios, {} passed, {} failed", summaries.len(), summaries.len() - failed, failed);
    Ok(failed == 0)
}

/// Runs one scenario's seeds; with `opts.metrics()`, also computes each seed's recovery
/// metrics and the timeline of the seed with the slowest recovery (run again: a seed is
/// deterministic).
pub fn run_scenario(file: &Path, scenario: &Scenario, opts: &SuiteOptions) -> ScenarioReport {
    let bar = ProgressBar::new(opts.seeds);
    bar.set_style(
        ProgressStyle::with_template("{msg:30} [{bar:30}] {pos}/{len} seeds {elapsed}").expect("valid template"),
    );
    bar.set_message(scenario.name.clone());
    let expect = scenario.expect;
    let results = run_seeds(scenario, opts.first_seed, opts.seeds, opts.jobs, |outcome| {
        let same = opts.check_determinism.then(|| run_seed(scenario, outcome.seed).hash == outcome.hash);
        let metrics = if opts.metrics() { SeedMetrics::of(&outcome.history) } else { SeedMetrics::default() };
        bar.inc(1);
        let caught = expect.is_some_and(|k| outcome.check.violations.iter().any(|v| v.kind == k));
        ((seed_result(&outcome), same, metrics), caught)
    });
    bar.finish_and_clear();
    let mut summary = ScenarioSummary::new(scenario, &file.display().to_string());
    for (_, (r, same, _)) in &results {
        summary.add(r, reproduce(file, r.seed));
        if *same == Some(false) {
            summary.nondeterministic_seeds.push(r.seed);
        }
    }
    let mut report = ScenarioReport::new(summary, RecoveryBounds::of(scenario));
    if !opts.metrics() {
        return report;
    }
    for (_, (r, _, m)) in results {
        report.add(r.seed, m);
    }
    report.finish();
    if let Some(seed) = report.worst_seed() {
        report.timeline = Some(RunTimeline::of(seed, &run_seed(scenario, seed).history));
    }
    report
}

/// Runs seeds `first, first + 1, ...` (at most `count`) on `jobs` threads; `judge` turns
/// each outcome into a result and says whether to stop there. Seeds are handed out in
/// order and every seed before the first stop has run, so the results (sorted by seed,
/// none past the first stop) are the same on any number of threads.
pub fn run_seeds<T: Send>(
    scenario: &Scenario,
    first: u64,
    count: u64,
    jobs: usize,
    judge: impl Fn(RunOutcome) -> (T, bool) + Sync,
) -> Vec<(u64, T)> {
    let next = AtomicU64::new(0);
    let stop_at = AtomicU64::new(u64::MAX);
    let results: Mutex<Vec<(u64, T)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count || i > stop_at.load(Ordering::SeqCst) {
                    return;
                }
                let (result, stop) = judge(run_seed(scenario, first + i));
                if stop {
                    stop_at.fetch_min(i, Ordering::SeqCst);
                }
                results.lock().expect("results poisoned").push((i, result));
            });
        }
    });
    let stop = stop_at.into_inner();
    let mut results = results.into_inner().expect("results poisoned");
    results.retain(|(i, _)| *i <= stop);
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(i, r)| (first + i, r)).collect()
}
