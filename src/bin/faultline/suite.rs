//! The simulator's CLI commands: `run` and `suite`. Part of the binary, not the library.

use anyhow::{Context, Result};
use faultline::node::clock::Stopwatch;
use faultline::report::shards;
use faultline::report::suite::{RunTimeline, ScenarioReport, SeedMetrics, SeedRecord};
use faultline::report::{RecoveryBounds, ScenarioSummary, SeedResult};
use faultline::scenario::{collect_files, Reproduce, Scenario};
use faultline::sim::{run_seed, run_seeds, RunOutcome, SeedPlan};
use faultline::trace::{EventKind, FaultPhase};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Clone)]
pub struct SuiteOptions {
    pub seeds: u64,
    pub first_seed: u64,
    pub jobs: usize,
    pub json: Option<PathBuf>,
    /// Run this many seeds of each scenario (the first of its range) twice and compare
    /// their trace hashes (`None`: none; `u64::MAX`: all).
    pub check_determinism: Option<u64>,
    /// Write the report files here (summary.json/md, index.html, SVGs, junit.xml).
    pub report: Option<PathBuf>,
    /// Compute recovery metrics without writing a report (for `compare`).
    pub compare: bool,
    /// Stop a scenario at its first failing seed.
    pub fail_fast: bool,
    /// A wall-time budget for the whole suite, shared evenly by its scenarios (`--for`).
    pub budget: Option<std::time::Duration>,
    /// Where failing seeds are saved as reproduction files (`None`: not saved).
    pub failures: Option<PathBuf>,
    /// Run only shard `I` of `N` (1-based): the seeds whose index in the range is I-1 mod N.
    pub shard: Option<(u64, u64)>,
}

impl SuiteOptions {
    /// The first seed, the stride and the count this shard runs.
    fn plan(&self) -> SeedPlan {
        match self.shard {
            Some((i, n)) => {
                let count = self.seeds.saturating_sub(i - 1).div_ceil(n);
                SeedPlan { first: self.first_seed + (i - 1), stride: n, count }
            }
            None => SeedPlan { first: self.first_seed, stride: 1, count: self.seeds },
        }
    }
}

impl SuiteOptions {
    fn metrics(&self) -> bool {
        self.report.is_some() || self.compare
    }
}

/// `faultline compare`: setting A (`set`) against setting B (`vs`) on the same seeds.
pub fn compare(path: &Path, set: &[String], vs: &[String], opts: &SuiteOptions) -> Result<bool> {
    anyhow::ensure!(!set.is_empty() || !vs.is_empty(), "give --set and/or --vs settings (section.key=value)");
    let a = warn(path, Scenario::load_with(path, set)?);
    let b = warn(path, Scenario::load_with(path, vs)?);
    let opts = SuiteOptions { compare: true, ..opts.clone() };
    let (ra, rb) = (run_scenario(path, &a, &opts, "A: "), run_scenario(path, &b, &opts, "B: "));
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
            *faults.entry(fault.to_string()).or_default() += 1;
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

/// `scenario`, after printing its `warnings()` on stderr (`warning: FILE: ...`).
fn warn(path: &Path, scenario: Scenario) -> Scenario {
    for w in scenario.warnings() {
        eprintln!("warning: {}: {w}", path.display());
    }
    scenario
}

/// `faultline run`: one seed, its verdict, its trace hash.
pub fn run_one(path: &Path, seed: u64, trace: Option<&Path>) -> Result<bool> {
    let scenario = warn(path, Scenario::load(path)?);
    let outcome = run_seed(&scenario, seed);
    if let Some(file) = trace {
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(file).with_context(|| format!("creating {}", file.display()))?,
        );
        faultline::record::write_jsonl(&outcome.history, &mut out)
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
    let scenarios = files.iter().map(|f| Ok(warn(f, Scenario::load(f)?))).collect::<Result<Vec<_>>>()?;
    let opts = &SuiteOptions { budget: opts.budget.map(|b| b / files.len() as u32), ..opts.clone() };
    let mut reports = Vec::new();
    for (i, (file, scenario)) in files.iter().zip(&scenarios).enumerate() {
        let report = run_scenario(file, scenario, opts, &format!("[{}/{}] ", i + 1, files.len()));
        print!("{}", report.summary.render());
        reports.push(report);
    }
    let ran: u64 = reports.iter().map(|r| r.summary.seeds).sum();
    if ran == 0 {
        let shard = opts.shard.map_or(String::new(), |(i, n)| format!(" --shard {i}/{n}"));
        anyhow::bail!(
            "no seed ran in {} scenarios (--seeds {}{shard}{}): a suite that checks nothing does not pass",
            reports.len(),
            opts.seeds,
            if opts.budget.is_some() { ", --for" } else { "" },
        );
    }
    if let Some(dir) = &opts.report {
        write_report(dir, &suite_name(paths), &reports)?;
    }
    let summaries: Vec<&ScenarioSummary> = reports.iter().map(|r| &r.summary).collect();
    if let Some(json) = &opts.json {
        let text = serde_json::to_string_pretty(&faultline::report::summary_json(&suite_name(paths), &summaries))?;
        std::fs::write(json, text + "\n").with_context(|| format!("writing {}", json.display()))?;
    }
    let failed = summaries.iter().filter(|s| !s.passed()).count();
    print!("{}", recap(&summaries));
    println!("suite: {} scenarios, {} passed, {} failed", summaries.len(), summaries.len() - failed, failed);
    Ok(failed == 0)
}

/// Reproduce commands the recap lists per failing scenario (the summaries have them all).
const RECAP_REPRODUCE: usize = 3;

/// The end of a suite's output: each failing scenario by name, what failed, and how to
/// reproduce it, so a long log need not be searched.
fn recap(summaries: &[&ScenarioSummary]) -> String {
    let failing: Vec<&&ScenarioSummary> = summaries.iter().filter(|s| !s.passed()).collect();
    if failing.is_empty() {
        return String::new();
    }
    let mut out = format!("\nfailed ({} of {} scenarios):\n", failing.len(), summaries.len());
    for s in failing {
        let why = if let (Some(expect), Some(caught)) = (&s.expect, &s.caught_seeds) {
            if caught.is_empty() {
                format!("expected {expect}, not caught in {} seeds", s.seeds)
            } else {
                "nondeterministic".into()
            }
        } else {
            let kinds: Vec<String> = s.violations.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            let seeds: Vec<String> = s.failed_seeds.iter().take(10).map(u64::to_string).collect();
            let more = if s.failed_seeds.len() > 10 { ", ..." } else { "" };
            format!("seeds {}{more} of {}; {}", seeds.join(", "), s.seeds, kinds.join(", "))
        };
        let why = if s.nondeterministic_seeds.is_empty() {
            why
        } else {
            format!("{why}; nondeterministic seeds {:?}", s.nondeterministic_seeds)
        };
        out += &format!("  {} ({}): {why}\n", s.name, s.path);
        for command in s.reproduce.iter().take(RECAP_REPRODUCE) {
            out += &format!("    {command}\n");
        }
        if s.reproduce.len() > RECAP_REPRODUCE {
            out += &format!("    ... {} more in the summary above\n", s.reproduce.len() - RECAP_REPRODUCE);
        }
    }
    out
}

/// Runs one scenario's seeds; with `opts.metrics()`, also computes each seed's recovery
/// metrics and the timeline of the seed with the slowest recovery (run again: a seed is
/// deterministic). `place` prefixes its progress line (`[3/59] `).
pub fn run_scenario(file: &Path, scenario: &Scenario, opts: &SuiteOptions, place: &str) -> ScenarioReport {
    let progress = Progress::new(&format!("{place}{}", scenario.name), opts.seeds, opts.budget);
    let expect = scenario.expect;
    let deadline = opts.budget.map(|b| (Stopwatch::start(), b.as_millis() as u64));
    let results = run_seeds(scenario, opts.plan(), opts.jobs, deadline, |outcome| {
        let twice = opts.check_determinism.is_some_and(|n| outcome.seed - opts.first_seed < n);
        let same = twice.then(|| run_seed(scenario, outcome.seed).hash == outcome.hash);
        let metrics = if opts.metrics() { SeedMetrics::of(&outcome.history) } else { SeedMetrics::default() };
        progress.seed_done(outcome.passed());
        let caught = expect.is_some_and(|k| outcome.check.violations.iter().any(|v| v.kind == k));
        let stop = caught || (opts.fail_fast && expect.is_none() && !outcome.passed());
        let repro = if expect.is_none() { faultline::sim::repro::reproduce_of(file, &outcome) } else { None };
        (SeedRun { result: seed_result(&outcome), same, metrics, repro }, stop)
    });
    progress.finish();
    let saved = save_failures(file, opts, &results);
    let mut summary = ScenarioSummary { saved, ..ScenarioSummary::new(scenario, &file.display().to_string()) };
    for (_, run) in &results {
        summary.add(&run.result, reproduce(file, run.result.seed));
        if run.same == Some(false) {
            summary.nondeterministic_seeds.push(run.result.seed);
        }
    }
    let records: Vec<SeedRecord> = results
        .iter()
        .map(|(_, run)| SeedRecord {
            scenario: file.display().to_string(),
            result: run.result.clone(),
            same: run.same,
            metrics: run.metrics.clone(),
        })
        .collect();
    let mut report = ScenarioReport::new(summary, RecoveryBounds::of(scenario));
    report.records = records;
    if !opts.metrics() {
        return report;
    }
    for (seed, run) in results {
        report.add(seed, run.metrics);
    }
    report.finish();
    plot_timeline(&mut report, scenario);
    report
}

/// Runs the report's timeline seed again (a seed is deterministic) for its timeline: the
/// first failing seed with its first violation marked, or the slowest recovery.
fn plot_timeline(report: &mut ScenarioReport, scenario: &Scenario) {
    if let Some(seed) = report.timeline_seed() {
        let outcome = run_seed(scenario, seed);
        let violation = outcome.check.violations.first().filter(|_| !outcome.passed());
        report.timeline = Some(RunTimeline::of(seed, &outcome.history, violation));
    }
}

/// One seed of a scenario run.
struct SeedRun {
    result: SeedResult,
    /// With --check-determinism: whether the second run gave the same history.
    same: Option<bool>,
    metrics: SeedMetrics,
    /// A failing seed's reproduction record (not for a scenario that expects a violation).
    repro: Option<Reproduce>,
}

/// Saves each failing seed kept in `results` as a reproduction file; returns their paths.
fn save_failures(file: &Path, opts: &SuiteOptions, results: &[(u64, SeedRun)]) -> Vec<String> {
    let Some(dir) = &opts.failures else { return Vec::new() };
    let records = results.iter().filter_map(|(_, run)| run.repro.as_ref());
    match faultline::sim::repro::save_failures(dir, file, records) {
        Ok(paths) => paths
            .into_iter()
            .map(|path| {
                println!("  saved: {} (replay: scripts/faultline replay {})", path.display(), path.display());
                path.display().to_string()
            })
            .collect(),
        Err(e) => {
            eprintln!("cannot save reproductions of {} under {}: {e}", file.display(), dir.display());
            Vec::new()
        }
    }
}

/// Progress of one scenario's seeds: an indicatif bar on a terminal; plain lines every
/// 10 s (and at the end) when stderr is not a terminal or under `CI=true`.
struct Progress {
    bar: Option<ProgressBar>,
    name: String,
    total: u64,
    budget: Option<std::time::Duration>,
    done: AtomicU64,
    failed: AtomicU64,
    watch: Stopwatch,
    last_line_ms: AtomicU64,
}

/// Plain progress lines come at most this often.
const PLAIN_EVERY_MS: u64 = 10_000;

impl Progress {
    fn new(name: &str, total: u64, budget: Option<std::time::Duration>) -> Self {
        use std::io::IsTerminal as _;
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        let bar = (std::io::stderr().is_terminal() && !ci).then(|| {
            let bar = ProgressBar::new(if budget.is_some() { 0 } else { total });
            let template = if budget.is_some() {
                "{msg} {pos} seeds {per_sec} {elapsed} (time budget)"
            } else {
                "{msg} [{bar:25}] {pos}/{len} seeds {per_sec} ETA {eta}"
            };
            bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
            bar.set_message(format!("{name}: 0 failed"));
            bar
        });
        Progress {
            bar,
            name: name.to_string(),
            total,
            budget,
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            watch: Stopwatch::start(),
            last_line_ms: AtomicU64::new(0),
        }
    }

    fn seed_done(&self, passed: bool) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        let failed = self.failed.fetch_add(u64::from(!passed), Ordering::SeqCst) + u64::from(!passed);
        match &self.bar {
            Some(bar) => {
                bar.inc(1);
                if !passed {
                    bar.set_message(format!("{}: {failed} failed", self.name));
                }
            }
            None => {
                let now = self.watch.elapsed_ms();
                let last = self.last_line_ms.load(Ordering::SeqCst);
                if now >= last + PLAIN_EVERY_MS
                    && self.last_line_ms.compare_exchange(last, now, Ordering::SeqCst, Ordering::SeqCst).is_ok()
                {
                    eprintln!("{}", self.line(done, failed));
                }
            }
        }
    }

    fn line(&self, done: u64, failed: u64) -> String {
        let secs = self.watch.elapsed_ms().max(1) as f64 / 1000.0;
        let rate = done as f64 / secs;
        let left = match self.budget {
            Some(b) => format!("{:.0} s of {} s budget", secs, b.as_secs()),
            None => format!("ETA {:.0} s", self.total.saturating_sub(done) as f64 / rate.max(1e-9)),
        };
        format!("{}: {done}/{} seeds, {failed} failed, {rate:.1} seeds/s, {left}", self.name, self.total)
    }

    fn finish(&self) {
        match &self.bar {
            Some(bar) => bar.finish_and_clear(),
            None if self.watch.elapsed_ms() >= PLAIN_EVERY_MS => {
                eprintln!("{}", self.line(self.done.load(Ordering::SeqCst), self.failed.load(Ordering::SeqCst)))
            }
            None => {}
        }
    }
}

/// Writes the report files and `seeds.json` (what `report merge` reads).
fn write_report(dir: &Path, suite: &str, reports: &[ScenarioReport]) -> Result<()> {
    let written = faultline::report::document::write(dir, suite, reports)
        .with_context(|| format!("writing the report under {}", dir.display()))?;
    shards::write_seeds(dir, suite, reports)
        .with_context(|| format!("writing {}", dir.join("seeds.json").display()))?;
    println!("report: {} files under {} (open {})", written.len() + 1, dir.display(), dir.join("index.html").display());
    Ok(())
}

/// `faultline report merge`: the report of several shards' folders, as if their seeds had
/// run on one machine. Each scenario file is read again (names, bounds, the slowest seed's
/// timeline, which is re-run).
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<bool> {
    let shards::Shards { suite, by_scenario } = shards::read_shards(dirs)?;
    let mut reports = Vec::new();
    for (path, records) in by_scenario {
        let file = PathBuf::from(&path);
        let scenario = Scenario::load(&file)?;
        let mut summary = ScenarioSummary::new(&scenario, &path);
        for r in &records {
            summary.add(&r.result, reproduce(&file, r.result.seed));
            if r.same == Some(false) {
                summary.nondeterministic_seeds.push(r.result.seed);
            }
        }
        let mut report = ScenarioReport::new(summary, RecoveryBounds::of(&scenario));
        for r in &records {
            report.add(r.result.seed, r.metrics.clone());
        }
        report.records = records;
        report.finish();
        plot_timeline(&mut report, &scenario);
        print!("{}", report.summary.render());
        reports.push(report);
    }
    write_report(out, &suite, &reports)?;
    Ok(reports.iter().all(|r| r.summary.passed()))
}
