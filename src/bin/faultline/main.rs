//! The faultline CLI. `run` and `suite` drive the simulator (a `--cfg madsim` build, which
//! `scripts/faultline` makes); `serve` and `submit` run real nodes (the plain build);
//! `check` judges recorded histories in either. anyhow is used only here.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "faultline",
    version = faultline::BUILD,
    about = "A fault-tolerant task scheduler and the deterministic chaos simulator that proves it"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Which seeds to run, and on how many threads.
#[derive(clap::Args)]
struct SeedRange {
    /// Seeds per scenario (default 20; `suite --for` lifts the default cap).
    #[arg(long)]
    seeds: Option<u64>,
    /// The quick suite: 5 seeds per scenario (`suite scenarios --quick` takes under a
    /// minute on 2 cores once built); --seeds overrides it.
    #[arg(long)]
    quick: bool,
    #[arg(long, default_value_t = 1)]
    first_seed: u64,
    /// Worker threads (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
}

#[derive(Subcommand)]
enum ReportCmd {
    /// Combine report folders written by `suite --shard I/N --report DIR` into the report
    /// of all their seeds, identical to running them on one machine (wall times aside).
    Merge {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write (default: reports/merged).
        #[arg(long, default_value = "reports/merged")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum Cmd {
    /// Run one scenario on one seed and check its history (simulator build).
    Run {
        scenario: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the history as JSON Lines to this file.
        #[arg(long)]
        trace: Option<PathBuf>,
    },
    /// Run scenario files (or folders of them) on many seeds, in parallel (simulator build).
    Suite {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        range: SeedRange,
        /// Write the summary as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Run seeds twice and require identical histories: every seed, or with
        /// `--check-determinism=N` the first N seeds of each scenario.
        #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "all", require_equals = true,
              value_parser = parse_seed_count)]
        check_determinism: Option<u64>,
        /// Write the report (summary.json/md, index.html, SVG plots, junit.xml) to DIR;
        /// without DIR, to reports/<suite name>/.
        #[arg(long, value_name = "DIR", num_args = 0..=1)]
        report: Option<Option<PathBuf>>,
        /// Stop each scenario at its first failing seed (default: keep going).
        #[arg(long)]
        fail_fast: bool,
        /// A wall-time budget for the whole suite, e.g. 90s, 10m, 2h: seeds run until it is
        /// spent (with --seeds as a cap), shared evenly by the scenarios.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        budget: Option<std::time::Duration>,
        /// Where each failing seed is saved as a reproduction file.
        #[arg(long, value_name = "DIR", default_value = "reports/failures")]
        failures: PathBuf,
        /// Run shard I of N (1-based) of the seed range: the seeds whose index is I-1 mod N.
        /// Combine the shards' --report folders with `report merge`.
        #[arg(long, value_name = "I/N", value_parser = parse_shard)]
        shard: Option<(u64, u64)>,
    },
    /// Run a failure again (simulator build): a reproduction file from reports/failures/, or
    /// --seed N with a scenario. Writes the history (JSON Lines) and a timeline of the first
    /// violation (its task's whole life with every fault, election and executor death
    /// overlapping it), and says whether the failure was reproduced (same trace hash),
    /// passes now, or was saved by a different build.
    Replay {
        /// A reproduction file (its [reproduce] table names the seed), or any scenario.
        file: PathBuf,
        /// The seed (default: the reproduction file's).
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write <file stem>[-seed-<N>].jsonl and .timeline.txt.
        #[arg(long, default_value = "reports/replay")]
        out: PathBuf,
        /// Log the run (info, and debug for faultline) on stderr; FAULTLINE_LOG sets any
        /// filter instead.
        #[arg(short, long)]
        verbose: bool,
    },
    /// Minimise a failing reproduction file (simulator build): fewer faults, shorter fault
    /// windows, fewer tasks and nodes, an earlier stop, keeping the same violation kind.
    Shrink {
        /// A reproduction file (its [reproduce] table names the seed and violation).
        file: PathBuf,
        /// Where to write the minimal file (default: <file stem>-min.toml next to it).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run scenarios on many seeds and write their report (`suite --report`; simulator build),
    /// or `report merge DIR...`: combine shards' report folders into one.
    #[command(args_conflicts_with_subcommands = true)]
    Report {
        #[command(subcommand)]
        merge: Option<ReportCmd>,
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        range: SeedRange,
        /// Where to write (default: reports/<suite name>/).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Where each failing seed is saved as a reproduction file.
        #[arg(long, value_name = "DIR", default_value = "reports/failures")]
        failures: PathBuf,
    },
    /// Run two settings of one scenario on the same seeds and compare recovery, safety and
    /// throughput (simulator build). Settings are `section.key=value`, e.g.
    /// `--set scheduler.heartbeat_interval_ms=100 --vs scheduler.heartbeat_interval_ms=1000`.
    Compare {
        scenario: PathBuf,
        /// Setting A (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// Setting B (repeatable).
        #[arg(long = "vs", value_name = "KEY=VALUE")]
        vs: Vec<String>,
        #[command(flatten)]
        range: SeedRange,
    },
    /// The known-bug catch table: switch each catalog entry on, one at a time, in a generic
    /// scenario and measure seeds and wall seconds to the first failing seed (simulator
    /// build). Writes <OUT>.json and <OUT>.md.
    Bugs {
        /// The generic scenario (it must switch no bug on).
        #[arg(long, default_value = "scenarios/chaos/swarm.toml")]
        scenario: PathBuf,
        /// Seeds tried from each starting seed before giving up.
        #[arg(long, default_value_t = 1000)]
        budget: u64,
        /// Starting seeds (the medians are over these).
        #[arg(long, default_value_t = 5)]
        starts: u64,
        /// Only these entries (repeatable; default: the whole catalog).
        #[arg(long, value_parser = bug_parser())]
        only: Vec<faultline::bugs::Bug>,
        /// Worker threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Output path without extension (default: reports/out/bug-catalog; the checked-in
        /// table is reports/bug-catalog).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The simulator against real processes (simulator build): for each fault plan of
    /// scenarios/calibration/, the real histories scripts/calibrate recorded and the
    /// simulator's seeds, measured by the same metric code, side by side with a verdict
    /// (within ±20% at p50 and p90). Writes <OUT>.md and <OUT>.json. Run it through
    /// scripts/calibrate, which records the real side first.
    Calibrate {
        /// The real histories, one directory per row (scripts/calibrate writes them).
        #[arg(long)]
        real: PathBuf,
        /// Simulator seeds per row.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// Worker threads (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Output path without extension (the checked-in table is reports/calibration).
        #[arg(long, default_value = "reports/out/calibration")]
        out: PathBuf,
        /// Only these rows, comma-separated (default: all of scenarios/calibration/).
        #[arg(long, value_delimiter = ',')]
        rows: Vec<String>,
    },
    /// The simulator's speed (simulator build): simulated-to-wall ratio and seeds/s on one
    /// and all cores for smoke-1k and the reference scenario, and how the cost and peak
    /// memory grow with tasks and nodes. Writes <OUT>.md and <OUT>.json.
    Bench {
        /// Seeds per smoke-1k throughput row (the reference runs a quarter of them).
        #[arg(long, default_value_t = 40)]
        seeds: u64,
        /// Worker threads for the all-cores rows (default: one per core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Output path without extension (default: reports/out/bench, or reports/out/scale with
        /// --scale; the checked-in tables are reports/bench and reports/scale).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Internal: measure one row in this process and print it as JSON.
        #[arg(long, hide = true)]
        row: Option<usize>,
        /// Measure load instead of speed: 10,000 tasks with 64, 200 and 1,000 executors
        /// (perf/executors-200.toml), the leader's and the sink's busiest second.
        /// Writes reports/out/scale.md unless --out says otherwise.
        #[arg(long)]
        scale: bool,
        /// Another simulator build to measure side by side, row by row (baseline first, then
        /// this one, each in its own process): the table gives this build's speed and memory
        /// as ratios of the baseline's, robust to a noisy machine. It must know the same rows
        /// and find their scenario files from the current directory. With --scale, the load
        /// table is this build's and the side-by-side table follows it.
        #[arg(long, value_name = "BINARY")]
        baseline: Option<PathBuf>,
        /// With --baseline: run each row this many times on each build, alternating, and
        /// keep each side's median (by simulated-to-wall ratio).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=20), requires = "baseline")]
        repeat: u32,
    },
    /// Check recorded histories (JSON Lines, e.g. one per real process) as one run.
    Check {
        #[arg(required = true)]
        histories: Vec<PathBuf>,
    },
    /// Run one real node (plain build: real gRPC, real etcd).
    #[cfg(not(madsim))]
    Serve {
        #[command(subcommand)]
        role: serve::Role,
        #[command(flatten)]
        common: serve::Common,
    },
    /// Submit a scenario's workload to a real cluster; returns when all is acknowledged.
    #[cfg(not(madsim))]
    Submit {
        /// Coordinators as name=host:port, comma-separated.
        #[arg(long, value_delimiter = ',', required = true, value_parser = serve::parse_peer)]
        coordinators: Vec<(String, String)>,
        #[command(flatten)]
        common: serve::Common,
    },
    /// Submit one task that runs a command (`-- PROGRAM ARGS`) or calls a URL (`--http URL`) to a real cluster; prints its
    /// task id once a leader made it durable. The executor runs it in its own process group,
    /// at least once: see the README's "Real task bodies".
    #[cfg(not(madsim))]
    Task(serve::TaskArgs),
    /// Create, pause, resume or delete scheduled jobs on a real cluster (the same gRPC call
    /// the simulator's client makes); returns once the leader made the command durable.
    #[cfg(not(madsim))]
    Job {
        /// Coordinators as name=host:port, comma-separated.
        #[arg(long, value_delimiter = ',', required = true, value_parser = serve::parse_peer)]
        coordinators: Vec<(String, String)>,
        /// Give up on a command no leader made durable within this long.
        #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(subcommand)]
        op: serve::JobOp,
        #[command(flatten)]
        security: serve::Security,
    },
    /// Send one heartbeat or apply in an executor's name, as an impostor would, and print
    /// what the real cluster answers (with TLS it must refuse one that names another
    /// executor than the certificate's). Exit status 0 if the request was taken.
    #[cfg(not(madsim))]
    Probe(probe::ProbeArgs),
    /// Measure a real etcd's call latency under a scheduler-like load (plain build): fenced
    /// txns from concurrent writers, lease keep-alives and prefix gets.
    #[cfg(not(madsim))]
    StoreBench(store_bench::Args),
    /// Tabulate what one leader handled at each load level `scripts/leader-limit` ran on real
    /// processes (beats/s, dispatches/s, ack latency, CPU), and fit its CPU per beat and per
    /// task. Writes <OUT>.md and <OUT>.json.
    LeaderLimit {
        /// The directory of level-* directories scripts/leader-limit wrote.
        #[arg(long)]
        real: PathBuf,
        /// Output path without extension.
        #[arg(long, default_value = "reports/out/leader-limit")]
        out: PathBuf,
    },
}

/// mimalloc, called as `alloc.rs` says.
#[global_allocator]
static ALLOCATOR: alloc::MiMalloc = alloc::MiMalloc;

/// Commands of the other build, and how to reach them there.
#[cfg(madsim)]
const OTHER_BUILD: (&[&str], &str) = (
    &["serve", "submit", "job", "task", "probe", "store-bench"],
    "runs real nodes and exists in the real (plain tokio) build only: \
     cargo build --release --bin faultline && target/release/faultline",
);
#[cfg(not(madsim))]
const OTHER_BUILD: (&[&str], &str) = (
    &["run", "suite", "report", "compare", "bugs", "replay", "shrink", "calibrate", "bench"],
    "runs the simulator and exists in the simulator build only: scripts/faultline",
);

fn main() {
    if let Some(cmd) = std::env::args().nth(1).filter(|a| OTHER_BUILD.0.contains(&a.as_str())) {
        eprintln!("error: `{cmd}` {} {cmd} ...", OTHER_BUILD.1);
        std::process::exit(2);
    }
    let args = match config::expand(std::env::args().collect()) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let cli = Cli::parse_from(args);
    // Logs only on request (`replay -v`, any filter in FAULTLINE_LOG), and from `serve`.
    #[cfg(madsim)]
    let default = if matches!(cli.cmd, Cmd::Replay { verbose: true, .. }) { "info,faultline=debug" } else { "" };
    // A real node logs what an operator needs (elections, deaths, quarantines, dead letters,
    // stops) at info; FAULTLINE_LOG=debug shows every history event, FAULTLINE_LOG=warn less.
    #[cfg(not(madsim))]
    let default = if matches!(cli.cmd, Cmd::Serve { .. }) { "info" } else { "" };
    let filter = std::env::var("FAULTLINE_LOG").unwrap_or_else(|_| default.to_string());
    // The simulator without logs installs no subscriber at all: madsim opens a span for every
    // task it spawns, and a subscriber, even one that prints nothing, keeps each (5-6% of a
    // run in the profile). The simulation is the same either way.
    if !(cfg!(madsim) && filter.is_empty()) {
        let logs = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter));
        #[cfg(madsim)]
        let logs = logs.with_timer(faultline::node::clock::SimTimer);
        use std::io::IsTerminal as _;
        logs.with_ansi(std::io::stderr().is_terminal()).with_writer(std::io::stderr).init();
    }
    faultline::node::executor::quiet_injected_panics();
    match run(cli) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn run(cli: Cli) -> Result<bool> {
    match cli.cmd {
        Cmd::Check { histories } => check::run(&histories),
        #[cfg(madsim)]
        Cmd::Run { scenario, seed, trace } => suite::run_one(&scenario, seed, trace.as_deref()),
        #[cfg(madsim)]
        Cmd::Suite { paths, range, json, check_determinism, report, fail_fast, budget, failures, shard } => {
            let report = report.map(|dir| dir.unwrap_or_else(|| suite::default_report_dir(&paths)));
            let seeds = range.seeds.or(budget.map(|_| u64::MAX));
            let range = SeedRange { seeds, ..range };
            let opts = suite::SuiteOptions {
                fail_fast,
                budget,
                failures: Some(failures),
                shard,
                json,
                check_determinism,
                report,
                ..options(range)
            };
            suite::suite(&paths, &opts)
        }
        #[cfg(madsim)]
        Cmd::Replay { file, seed, out, .. } => replay::replay(&file, seed, &out),
        #[cfg(madsim)]
        Cmd::Shrink { file, out } => replay::shrink(&file, out.as_deref()),
        #[cfg(madsim)]
        Cmd::Report { merge: Some(ReportCmd::Merge { dirs, out }), .. } => suite::merge(&dirs, &out),
        #[cfg(madsim)]
        Cmd::Report { paths, range, out, failures, .. } => {
            let report = Some(out.unwrap_or_else(|| suite::default_report_dir(&paths)));
            suite::suite(&paths, &suite::SuiteOptions { report, failures: Some(failures), ..options(range) })
        }
        #[cfg(madsim)]
        Cmd::Compare { scenario, set, vs, range } => {
            suite::compare(&scenario, &set, &vs, &suite::SuiteOptions { compare: true, ..options(range) })
        }
        #[cfg(madsim)]
        Cmd::Bugs { scenario, budget, starts, only, jobs, out } => {
            let opts = bugs::BugsOptions {
                scenario,
                budget,
                starts,
                only,
                jobs: jobs.unwrap_or_else(default_jobs).max(1),
                out: out.unwrap_or_else(bugs::default_out),
            };
            let command: Vec<String> = std::env::args().skip(1).collect();
            bugs::run(&opts, &format!("scripts/faultline {}", command.join(" ")))
        }
        #[cfg(madsim)]
        Cmd::Calibrate { real, seeds, jobs, out, rows } => {
            let opts =
                calibrate::CalibrateOptions { real, seeds, jobs: jobs.unwrap_or_else(default_jobs).max(1), out, rows };
            let command: Vec<String> = std::env::args().skip(1).collect();
            calibrate::run(&opts, &format!("scripts/faultline {}", command.join(" ")))
        }
        #[cfg(madsim)]
        Cmd::Bench { seeds, jobs, out, row, scale, baseline, repeat } => {
            let out = out.unwrap_or_else(|| PathBuf::from(GENERATED).join(if scale { "scale" } else { "bench" }));
            let jobs = jobs.unwrap_or_else(default_jobs).max(1);
            let opts = bench::BenchOptions { seeds, jobs, out, row, scale, baseline, repeat };
            let command: Vec<String> = std::env::args().skip(1).collect();
            bench::run(&opts, &format!("scripts/faultline {}", command.join(" ")))
        }
        #[cfg(not(madsim))]
        Cmd::Run { .. }
        | Cmd::Bench { .. }
        | Cmd::Calibrate { .. }
        | Cmd::Suite { .. }
        | Cmd::Report { .. }
        | Cmd::Compare { .. }
        | Cmd::Bugs { .. }
        | Cmd::Replay { .. }
        | Cmd::Shrink { .. } => {
            anyhow::bail!("this build has no simulator: build with RUSTFLAGS=\"--cfg madsim\" (scripts/faultline does)")
        }
        #[cfg(not(madsim))]
        Cmd::Serve { role, common } => serve::serve(role, common),
        #[cfg(not(madsim))]
        Cmd::Submit { coordinators, common } => serve::submit(coordinators, common),
        #[cfg(not(madsim))]
        Cmd::Job { coordinators, timeout, op, security } => serve::job(coordinators, timeout, op, &security),
        #[cfg(not(madsim))]
        Cmd::Task(args) => serve::task(args),
        #[cfg(not(madsim))]
        Cmd::Probe(args) => probe::run(args),
        #[cfg(not(madsim))]
        Cmd::StoreBench(args) => store_bench::run(args),
        Cmd::LeaderLimit { real, out } => {
            let command: Vec<String> = std::env::args().skip(1).collect();
            leader_limit::run(&real, &out, &format!("faultline {}", command.join(" ")))
        }
    }
}

/// `all` or a count of seeds.
fn parse_seed_count(text: &str) -> Result<u64, String> {
    match text {
        "all" => Ok(u64::MAX),
        _ => text.parse().map_err(|_| format!("expected a number of seeds or `all`, found `{text}`")),
    }
}

/// Where generated tables go unless `--out` says otherwise: untracked (.gitignore), so a
/// run never rewrites the checked-in measurements under reports/ without being asked.
#[cfg(madsim)]
const GENERATED: &str = "reports/out";

/// Seeds per scenario of `--quick`.
#[cfg(madsim)]
const QUICK_SEEDS: u64 = 5;

/// The simulator's run options for `range`, everything else off; worker threads default
/// to one per core. Callers name what they switch on.
#[cfg(madsim)]
fn options(range: SeedRange) -> suite::SuiteOptions {
    suite::SuiteOptions {
        seeds: range.seeds.unwrap_or(if range.quick { QUICK_SEEDS } else { 20 }),
        first_seed: range.first_seed,
        jobs: range.jobs.unwrap_or_else(default_jobs).max(1),
        json: None,
        check_determinism: None,
        report: None,
        compare: false,
        fail_fast: false,
        budget: None,
        failures: None,
        shard: None,
    }
}

/// One worker thread per core.
#[cfg(madsim)]
fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// `I/N` with 1 <= I <= N.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text.split_once('/').ok_or_else(|| format!("expected I/N, e.g. 2/4, found `{text}`"))?;
    let parse = |s: &str| s.trim().parse::<u64>().map_err(|e| format!("`{s}` in `{text}`: {e}"));
    let (i, n) = (parse(i)?, parse(n)?);
    if i == 0 || i > n {
        return Err(format!("expected 1 <= I <= N in `{text}`"));
    }
    Ok((i, n))
}

/// `--only`'s parser: one of the catalog's names, listed by `bugs --help`.
fn bug_parser() -> impl clap::builder::TypedValueParser<Value = faultline::bugs::Bug> {
    use clap::builder::TypedValueParser as _;
    let names = faultline::bugs::CATALOG.iter().map(|e| e.bug.name());
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| faultline::bugs::CATALOG.iter().map(|e| e.bug).find(|b| b.name() == name).expect("a listed name"))
}

mod alloc;
#[cfg(madsim)]
mod bench;
#[cfg(madsim)]
mod bugs;
#[cfg(madsim)]
mod calibrate;
mod check;
mod config;
mod leader_limit;
#[cfg(not(madsim))]
mod probe;
#[cfg(madsim)]
mod replay;
#[cfg(not(madsim))]
mod serve;
#[cfg(not(madsim))]
mod store_bench;
#[cfg(madsim)]
mod suite;

#[cfg(test)]
mod tests {
    /// clap checks a command line's definition (no two flags of one name, every `requires`
    /// names a flag) only when it parses that subcommand in a debug build; this checks all.
    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
