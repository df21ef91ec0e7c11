//! `faultline bench`: the simulator's speed, in the release build it runs in. For two
//! scenarios, `smoke-1k` (scenarios/smoke/three-coordinators-1k.toml) and `reference`
//! (perf/reference.toml: 3 coordinators, 8 executors, the store, the sink, 10k
//! tasks, swarm faults), it measures the simulated-to-wall time ratio and seeds per second
//! on one core and on all cores; the swarm (scenarios/chaos/swarm.toml) likewise, from which
//! it projects a 100,000-seed sweep's wall time here and on 64 cores; then how one seed's
//! cost grows with tasks (1k, 10k, 100k) and with nodes (5, 20, 50), with each run's peak
//! memory.
//!
//! `bench --scale` measures load instead: `perf/executors-200.toml` (10,000 tasks
//! submitted at 2,000/s) with 64, 200 and 1,000 executors, one seed each; per row, whether
//! it passed, how long the 10,000 tasks took to drain, and the busiest simulated second's
//! dispatches (the leader's assignments) and sink calls, beside the heartbeats the leader
//! takes per second (executors / h); and one seed of the smoke scenario with 1,000,000 tasks
//! (time and peak memory).
//!
//! Each row runs in its own child process (the same binary, `bench --row K`), so its peak
//! memory is that process's resident high-water mark (`VmHWM`, Linux): an allocator keeps
//! freed memory, so rows measured in one process would inherit each other's peaks.

use anyhow::{Context, Result};
use faultline::node::clock::Stopwatch;
use faultline::scenario::Scenario;
use faultline::sim::{run_seeds, SeedPlan};
use serde::Serialize;
use std::path::{Path, PathBuf};

pub struct BenchOptions {
    /// Seeds per throughput measurement of smoke-1k (the reference runs a quarter).
    pub seeds: u64,
    pub jobs: usize,
    /// Writes `<out>.md` and `<out>.json`.
    pub out: PathBuf,
    /// Internal: measure only this row and print it as JSON (the child process).
    pub row: Option<usize>,
    /// Measure load at scale (64, 200, 1,000 executors) instead of speed.
    pub scale: bool,
    /// Another build whose rows run beside this one's (`bench --baseline BINARY`).
    pub baseline: Option<PathBuf>,
    /// Runs per row and build with a baseline, alternating; each side keeps its median.
    pub repeat: u32,
}

#[derive(Serialize, serde::Deserialize)]
struct Row {
    what: String,
    scenario: String,
    threads: usize,
    seeds: u64,
    wall_s: f64,
    seeds_per_s: f64,
    /// Simulated seconds per wall second, per thread (summed over seeds and threads).
    sim_per_wall_per_core: f64,
    simulated_s_per_seed: f64,
    events_per_seed: f64,
    /// Seeds whose checks passed (a row measures cost; it does not require passing).
    passed: u64,
    peak_rss_mb: Option<f64>,
    /// The last seed's load (the scale rows print it).
    load: Load,
}

/// What one run asked of the leader and the sink (from its history).
#[derive(Default, Serialize, serde::Deserialize)]
struct Load {
    executors: u64,
    /// Heartbeats the leader takes per second: executors * 1000 / h.
    beats_per_s: u64,
    /// Dispatches (assignments handed out) in the busiest simulated second.
    peak_dispatches_per_s: u64,
    /// Sink calls (applies and checks) in the busiest simulated second.
    peak_sink_calls_per_s: u64,
    /// From the first submit to the last task's terminal event, simulated s.
    drain_s: f64,
    succeeded: u64,
    dead_lettered: u64,
    duplicate_applies: u64,
    fenced_rejections: u64,
    violations: u64,
}

impl Load {
    fn of(scenario: &Scenario, o: &faultline::sim::RunOutcome) -> Load {
        use faultline::trace::EventKind;
        let busiest = |hit: &dyn Fn(&EventKind) -> bool| -> u64 {
            let mut per_s = std::collections::BTreeMap::<u64, u64>::new();
            for e in o.history.iter().filter(|e| hit(&e.kind)) {
                *per_s.entry(e.at_ms / 1000).or_default() += 1;
            }
            per_s.values().copied().max().unwrap_or(0)
        };
        let first_submit = o.history.iter().find(|e| matches!(e.kind, EventKind::Submit { .. })).map(|e| e.at_ms);
        let last_terminal = o
            .history
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Succeeded { .. } | EventKind::DeadLettered { .. }))
            .map(|e| e.at_ms)
            .max();
        let c = &o.check.counts;
        Load {
            executors: scenario.topology.executors,
            beats_per_s: scenario.topology.executors * 1000 / scenario.scheduler.heartbeat_interval_ms.max(1),
            peak_dispatches_per_s: busiest(&|k| matches!(k, EventKind::Dispatch { .. })),
            peak_sink_calls_per_s: busiest(&|k| matches!(k, EventKind::Apply { .. } | EventKind::SinkCheck { .. })),
            drain_s: match (first_submit, last_terminal) {
                (Some(a), Some(b)) => b.saturating_sub(a) as f64 / 1000.0,
                _ => 0.0,
            },
            succeeded: c.succeeded,
            dead_lettered: c.dead_lettered,
            duplicate_applies: c.duplicate_applies,
            fenced_rejections: c.fenced_rejections,
            violations: o.check.violations.len() as u64,
        }
    }
}

/// The process's peak resident memory since the last reset, MB.
fn peak_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn measure(what: &str, path: &Path, scenario: &Scenario, seeds: u64, threads: usize, with_load: bool) -> Row {
    let watch = Stopwatch::start();
    // Load is read off the history only where it is reported, outside the speed rows' time.
    let runs = run_seeds(scenario, SeedPlan::range(1, seeds), threads, None, |o| {
        let load = with_load.then(|| Load::of(scenario, &o));
        ((o.sim_ms, o.wall_ms, o.history.len(), o.passed(), load), false)
    });
    let wall_s = watch.elapsed_ms() as f64 / 1000.0;
    let n = runs.len() as f64;
    let sim_s: f64 = runs.iter().map(|(_, (sim, ..))| *sim as f64 / 1000.0).sum();
    let busy_s: f64 = runs.iter().map(|(_, (_, wall, ..))| *wall as f64 / 1000.0).sum();
    let events: usize = runs.iter().map(|(_, (_, _, e, ..))| *e).sum();
    let passed = runs.iter().filter(|(_, (_, _, _, ok, _))| *ok).count() as u64;
    let seeds = runs.len() as u64;
    let load = runs.into_iter().last().and_then(|(_, (.., load))| load).unwrap_or_default();
    Row {
        what: what.to_string(),
        scenario: path.display().to_string(),
        threads,
        seeds,
        wall_s,
        seeds_per_s: n / wall_s.max(1e-9),
        sim_per_wall_per_core: sim_s / busy_s.max(1e-9),
        simulated_s_per_seed: sim_s / n,
        events_per_seed: events as f64 / n,
        passed,
        peak_rss_mb: peak_mb(),
        load,
    }
}

const SMOKE: &str = "scenarios/smoke/three-coordinators-1k.toml";
const REFERENCE: &str = "perf/reference.toml";
const SCALE: &str = "perf/executors-200.toml";
const SWARM: &str = "scenarios/chaos/swarm.toml";
/// The sweep the projection row prices: seeds of the swarm, and the cores of a big machine.
const SWEEP_SEEDS: f64 = 100_000.0;
const BIG_MACHINE_CORES: f64 = 64.0;

/// Every row: what it measures, its scenario file, its adjustment, seeds, threads.
type Plan = Vec<(String, &'static str, Box<dyn Fn(&mut Scenario)>, u64, usize)>;

fn plan(opts: &BenchOptions) -> Plan {
    if opts.scale {
        let mut rows: Plan = [64u64, 200, 1_000]
            .into_iter()
            .map(|n| {
                let adjust: Box<dyn Fn(&mut Scenario)> = Box::new(move |s: &mut Scenario| s.topology.executors = n);
                (format!("{n} executors"), SCALE, adjust, 1, 1)
            })
            .collect();
        rows.push(("smoke, 1000000 tasks".into(), SMOKE, Box::new(with_tasks(1_000_000)), 1, 1));
        return rows;
    }
    let all = opts.jobs;
    let reference_seeds = (opts.seeds / 4).max(2);
    let keep = || -> Box<dyn Fn(&mut Scenario)> { Box::new(|_| {}) };
    let mut rows: Plan = vec![
        ("smoke-1k, one core".into(), SMOKE, keep(), opts.seeds, 1),
        ("smoke-1k, all cores".into(), SMOKE, keep(), opts.seeds, all),
        ("reference, one core".into(), REFERENCE, keep(), reference_seeds, 1),
        ("reference, all cores".into(), REFERENCE, keep(), reference_seeds, all),
    ];
    rows.push(("swarm, one core".into(), SWARM, keep(), opts.seeds, 1));
    rows.push(("swarm, all cores".into(), SWARM, keep(), opts.seeds, all));
    for tasks in [1_000u64, 10_000, 100_000] {
        rows.push((format!("smoke, {tasks} tasks"), SMOKE, Box::new(with_tasks(tasks)), 1, 1));
    }
    for nodes in [5u64, 20, 50] {
        let adjust = move |s: &mut Scenario| s.topology.executors = nodes - s.topology.coordinators;
        rows.push((format!("smoke-1k, {nodes} nodes"), SMOKE, Box::new(adjust), 1, 1));
    }
    rows
}

/// The smoke scenario with `tasks` tasks (and the time to submit them).
fn with_tasks(tasks: u64) -> impl Fn(&mut Scenario) {
    move |s: &mut Scenario| {
        s.workload.tasks = tasks;
        s.limits.workload_s = s.limits.workload_s.max(tasks / s.workload.arrival_rate_per_s * 2 + 60);
    }
}

/// What a 100,000-seed swarm sweep would take, from the swarm rows: on this machine's cores
/// as measured, and on 64 cores if each added core gives what the added cores gave here.
fn sweep_projection(one: &Row, all: &Row, cores: usize) -> String {
    let hours = |seeds_per_s: f64| SWEEP_SEEDS / seeds_per_s.max(1e-9) / 3600.0;
    let per_core = if cores > 1 { (all.seeds_per_s - one.seeds_per_s) / (cores - 1) as f64 } else { one.seeds_per_s };
    let big = one.seeds_per_s + per_core.max(0.0) * (BIG_MACHINE_CORES - 1.0);
    format!(
        "A 100,000-seed swarm sweep (`suite {SWARM} --seeds 100000`), projected from the swarm rows: \
         {:.1} h on these {cores} cores ({:.2} seeds/s), {:.1} h on one core, and {:.2} h on 64 cores \
         if each added core gives what the added cores gave here ({:.2} seeds/s each; {:.0} seeds/s).\n",
        hours(all.seeds_per_s),
        all.seeds_per_s,
        hours(one.seeds_per_s),
        hours(big),
        per_core,
        big
    )
}

fn print_row(row: &Row) {
    println!(
        "  {:<24} {:>2} threads {:>4} seeds ({} passed) {:>7.1} s wall {:>7.2} seeds/s {:>6.0}x per core {:>7.1} MB peak",
        row.what,
        row.threads,
        row.seeds,
        row.passed,
        row.wall_s,
        row.seeds_per_s,
        row.sim_per_wall_per_core,
        row.peak_rss_mb.unwrap_or(0.0)
    );
}

fn print_load(row: &Row) {
    let l = &row.load;
    println!(
        "  {:<15} {} ({} violations) drained in {:.1} simulated s: {} succeeded, {} dead-lettered, {} duplicate applies; \
         {} beats/s, peak {} dispatches/s, peak {} sink calls/s; {:.1} s wall, {:.0} MB peak",
        row.what,
        if row.passed == row.seeds { "PASS" } else { "FAIL" },
        l.violations,
        l.drain_s,
        l.succeeded,
        l.dead_lettered,
        l.duplicate_applies,
        l.beats_per_s,
        l.peak_dispatches_per_s,
        l.peak_sink_calls_per_s,
        row.wall_s,
        row.peak_rss_mb.unwrap_or(0.0)
    );
}

fn scale_markdown(rows: &[Row], command: &str) -> String {
    let mut out = format!(
        "# Load at scale\n\nMade by `{command}` (release simulator build, seed 1 per row): \
         `{SCALE}` (3 coordinators, 8 slots per executor, 10,000 tasks submitted at 2,000/s) with \
         the executor count of each row, and `{SMOKE}` with 1,000,000 tasks (its time and peak \
         memory). Beats/s is what the leader takes (executors / h); the peaks are the busiest \
         simulated second in the run's history.\n\n\
         | row | executors | verdict (violations) | drained in, simulated s | succeeded | dead-lettered | duplicate applies | fenced | beats/s | peak dispatches/s | peak sink calls/s | wall s | peak MB |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let l = &r.load;
        out += &format!(
            "| {} | {} | {} ({}) | {:.1} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |\n",
            r.what,
            l.executors,
            if r.passed == r.seeds { "PASS" } else { "FAIL" },
            l.violations,
            l.drain_s,
            l.succeeded,
            l.dead_lettered,
            l.duplicate_applies,
            l.fenced_rejections,
            l.beats_per_s,
            l.peak_dispatches_per_s,
            l.peak_sink_calls_per_s,
            r.wall_s,
            r.peak_rss_mb.map_or("-".into(), |m| format!("{m:.0}"))
        );
    }
    out
}

pub fn run(opts: &BenchOptions, command: &str) -> Result<bool> {
    let plan = plan(opts);
    if let Some(k) = opts.row {
        let (what, path, adjust, seeds, threads) = plan.get(k).context("no such row")?;
        let path = Path::new(path);
        let mut scenario = Scenario::load(path)?;
        adjust(&mut scenario);
        println!("{}", serde_json::to_string(&measure(what, path, &scenario, *seeds, *threads, opts.scale))?);
        return Ok(true);
    }
    let all = opts.jobs;
    println!("faultline bench ({all} cores; release simulator build; one child process per row)");
    let exe = std::env::current_exe().context("finding this binary")?;
    let mut rows = Vec::new();
    let mut baseline_rows = Vec::new();
    for k in 0..plan.len() {
        if let Some(baseline) = &opts.baseline {
            let (mut theirs, mut ours) = (Vec::new(), Vec::new());
            for _ in 0..opts.repeat {
                theirs
                    .push(run_row(baseline, k, opts).with_context(|| format!("the baseline {}", baseline.display()))?);
                ours.push(run_row(&exe, k, opts)?);
            }
            let show = if opts.scale { print_load } else { print_row };
            let row = median(theirs);
            print!("  baseline");
            show(&row);
            baseline_rows.push(row);
            let row = median(ours);
            show(&row);
            rows.push(row);
            continue;
        }
        let row = run_row(&exe, k, opts)?;
        if opts.scale {
            print_load(&row);
        } else {
            print_row(&row);
        }
        rows.push(row);
    }
    let md = match &opts.baseline {
        Some(baseline) if opts.scale => {
            scale_versus_markdown(&rows, &baseline_rows, &baseline.display().to_string(), command, all)
        }
        Some(baseline) => versus_markdown(&rows, &baseline_rows, &baseline.display().to_string(), command, all),
        None if opts.scale => scale_markdown(&rows, command),
        None => markdown(&rows, command, all),
    };
    let json = serde_json::to_string_pretty(
        &serde_json::json!({ "command": command, "cores": all, "rows": rows, "baseline_rows": baseline_rows }),
    )?;
    if let Some(dir) = opts.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (md_path, json_path) = (opts.out.with_extension("md"), opts.out.with_extension("json"));
    std::fs::write(&md_path, md).with_context(|| format!("writing {}", md_path.display()))?;
    std::fs::write(&json_path, json + "\n").with_context(|| format!("writing {}", json_path.display()))?;
    println!("wrote {} and {}", md_path.display(), json_path.display());
    Ok(true)
}

/// The run with the median simulated-to-wall ratio (the lower middle of an even count).
fn median(mut runs: Vec<Row>) -> Row {
    runs.sort_by(|a, b| a.sim_per_wall_per_core.total_cmp(&b.sim_per_wall_per_core));
    let middle = (runs.len() - 1) / 2;
    runs.swap_remove(middle)
}

/// Measures row `k` in a child process of `exe` (this build or a baseline).
fn run_row(exe: &Path, k: usize, opts: &BenchOptions) -> Result<Row> {
    let mut child = std::process::Command::new(exe);
    child.args([
        "bench",
        "--row",
        &k.to_string(),
        "--jobs",
        &opts.jobs.to_string(),
        "--seeds",
        &opts.seeds.to_string(),
    ]);
    if opts.scale {
        child.arg("--scale");
    }
    let out =
        child.stderr(std::process::Stdio::null()).output().with_context(|| format!("running {}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("bench row {k} of {} printed `{line}`", exe.display()))
}

/// `bench --scale --baseline`: this build's load table, then both builds side by side.
fn scale_versus_markdown(rows: &[Row], baseline: &[Row], baseline_name: &str, command: &str, cores: usize) -> String {
    let table = versus_titled("## Beside the baseline", rows, baseline, baseline_name, command, cores);
    format!("{}\n{table}", scale_markdown(rows, command))
}

/// This build's rows beside the baseline's, as ratios: speed (x per core) and peak memory.
fn versus_markdown(rows: &[Row], baseline: &[Row], baseline_name: &str, command: &str, cores: usize) -> String {
    versus_titled("# Simulator benchmark against a baseline", rows, baseline, baseline_name, command, cores)
}

fn versus_titled(
    title: &str,
    rows: &[Row],
    baseline: &[Row],
    baseline_name: &str,
    command: &str,
    cores: usize,
) -> String {
    let mut out = format!(
        "{title}\n\nMade by `{command}` on {cores} cores (release simulator \
         builds). Each row ran the baseline (`{baseline_name}`) and then this build, each in its own \
         process, so both saw the same machine at nearly the same time (with `--repeat N`, N times \
         alternating, keeping each side's median run). `speed` is this build's \
         simulated-to-wall ratio per core over the baseline's; `memory` its peak resident memory over \
         the baseline's.\n\n\
         | measurement | threads | baseline x per core | this x per core | speed | baseline seeds/s | this seeds/s | baseline peak MB | this peak MB | memory | events per seed (baseline, this) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n"
    );
    let mb = |r: &Row| r.peak_rss_mb.map_or("-".into(), |m| format!("{m:.0}"));
    for (r, b) in rows.iter().zip(baseline) {
        let memory = match (r.peak_rss_mb, b.peak_rss_mb) {
            (Some(x), Some(y)) if y > 0.0 => format!("{:.2}x", x / y),
            _ => "-".into(),
        };
        out += &format!(
            "| {} | {} | {:.0}x | {:.0}x | {} | {:.2} | {:.2} | {} | {} | {} | {:.0}, {:.0} |\n",
            r.what,
            r.threads,
            b.sim_per_wall_per_core,
            r.sim_per_wall_per_core,
            ratio(r.sim_per_wall_per_core, b.sim_per_wall_per_core),
            b.seeds_per_s,
            r.seeds_per_s,
            mb(b),
            mb(r),
            memory,
            b.events_per_seed,
            r.events_per_seed
        );
    }
    for (side, rows) in [("This build", rows), ("The baseline", baseline)] {
        let swarm = |what: &str| rows.iter().find(|r| r.what == what);
        if let (Some(one), Some(all)) = (swarm("swarm, one core"), swarm("swarm, all cores")) {
            out += &format!("\n{side}: {}", sweep_projection(one, all, cores));
        }
    }
    out
}

/// `this / baseline` as `1.23x`, or `-` without a baseline value.
fn ratio(this: f64, baseline: f64) -> String {
    if baseline > 0.0 && this.is_finite() {
        format!("{:.2}x", this / baseline)
    } else {
        "-".into()
    }
}

fn markdown(rows: &[Row], command: &str, cores: usize) -> String {
    let mut out = format!(
        "# Simulator benchmark\n\nMade by `{command}` on {cores} cores (release simulator build). \
         `x per core` is simulated seconds per wall second of one thread; peak memory is the \
         process's resident high-water mark during that row.\n\n\
         | measurement | threads | seeds (passed) | wall s | seeds/s | x per core | simulated s per seed | events per seed | peak MB |\n\
         |---|---|---|---|---|---|---|---|---|\n"
    );
    for r in rows {
        out += &format!(
            "| {} | {} | {} ({}) | {:.1} | {:.2} | {:.0}x | {:.1} | {:.0} | {} |\n",
            r.what,
            r.threads,
            r.seeds,
            r.passed,
            r.wall_s,
            r.seeds_per_s,
            r.sim_per_wall_per_core,
            r.simulated_s_per_seed,
            r.events_per_seed,
            r.peak_rss_mb.map_or("-".into(), |m| format!("{m:.0}"))
        );
    }
    let swarm = |what: &str| rows.iter().find(|r| r.what == what);
    if let (Some(one), Some(all)) = (swarm("swarm, one core"), swarm("swarm, all cores")) {
        out += "\n";
        out += &sweep_projection(one, all, cores);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(x_per_core: f64, peak_mb: Option<f64>) -> Row {
        Row {
            what: "smoke-1k, one core".into(),
            scenario: SMOKE.into(),
            threads: 1,
            seeds: 4,
            wall_s: 1.0,
            seeds_per_s: 4.0,
            sim_per_wall_per_core: x_per_core,
            simulated_s_per_seed: 5.0,
            events_per_seed: 1_000.0,
            passed: 4,
            peak_rss_mb: peak_mb,
            load: Load::default(),
        }
    }

    /// Side by side, the table gives this build over the baseline: speed and memory ratios.
    #[test]
    fn a_baseline_row_gives_speed_and_memory_as_ratios() {
        let md = versus_markdown(&[row(450.0, Some(50.0))], &[row(90.0, Some(100.0))], "old", "bench", 2);
        assert!(
            md.contains(
                "| smoke-1k, one core | 1 | 90x | 450x | 5.00x | 4.00 | 4.00 | 100 | 50 | 0.50x | 1000, 1000 |"
            ),
            "{md}"
        );
        assert_eq!(ratio(1.0, 0.0), "-");
        let md = versus_markdown(&[row(90.0, None)], &[row(90.0, Some(100.0))], "old", "bench", 2);
        assert!(md.contains("| 1.00x | 4.00 | 4.00 | 100 | - | - |"), "{md}");
        // With swarm rows on both sides, the sweep is projected for each build.
        let swarm = |what: &str, seeds_per_s: f64| Row { what: what.into(), seeds_per_s, ..row(90.0, None) };
        let this = [swarm("swarm, one core", 10.0), swarm("swarm, all cores", 20.0)];
        let old = [swarm("swarm, one core", 2.0), swarm("swarm, all cores", 4.0)];
        let md = versus_markdown(&this, &old, "old", "bench", 2);
        assert!(md.contains("This build: A 100,000-seed swarm sweep") && md.contains("(20.00 seeds/s)"), "{md}");
        assert!(md.contains("The baseline: A 100,000-seed swarm sweep") && md.contains("(4.00 seeds/s)"), "{md}");
    }

    /// `--scale --baseline` keeps the load table and adds the side-by-side one under it.
    #[test]
    fn a_scale_baseline_report_has_the_load_table_then_the_ratios() {
        let md = scale_versus_markdown(&[row(450.0, Some(50.0))], &[row(90.0, Some(100.0))], "old", "bench", 2);
        let (load, versus) = (md.find("# Load at scale"), md.find("## Beside the baseline"));
        assert!(load.is_some() && versus.is_some() && load < versus, "{md}");
        assert!(md.contains("| 5.00x |") && md.contains("| 0.50x |"), "{md}");
        assert!(!md.contains("# Simulator benchmark against a baseline"), "{md}");
    }

    #[test]
    fn a_sweep_is_projected_from_one_core_and_all_cores() {
        let (mut one, mut all) = (row(90.0, None), row(90.0, None));
        one.seeds_per_s = 4.0;
        all.seeds_per_s = 7.0; // the second core added 3 seeds/s
        let text = sweep_projection(&one, &all, 2);
        // 100,000 / 7 s = 3.97 h; 100,000 / 4 = 6.94 h; 4 + 3 x 63 = 193 seeds/s: 0.14 h
        assert!(
            text.contains("4.0 h on these 2 cores (7.00 seeds/s), 6.9 h on one core, and 0.14 h on 64 cores"),
            "{text}"
        );
        assert!(text.contains("(3.00 seeds/s each; 193 seeds/s)"), "{text}");
    }

    #[test]
    fn repeated_runs_keep_the_median() {
        let runs = vec![row(90.0, None), row(30.0, None), row(60.0, None)];
        assert_eq!(median(runs).sim_per_wall_per_core, 60.0);
        assert_eq!(median(vec![row(10.0, None), row(20.0, None)]).sim_per_wall_per_core, 10.0);
    }
}
