//! `faultline bugs`: the catch table. Runs every known-bug catalog entry against one
//! generic scenario (by default the swarm, `scenarios/chaos/swarm.toml`, not the targeted
//! scenarios of `scenarios/bugs/`) and measures how fast the checkers catch it: seeds and
//! wall seconds to the first failing seed, from several starting seeds.

use anyhow::{Context, Result};
use faultline::bugs::{Bug, CATALOG};
use faultline::node::clock::Stopwatch;
use faultline::scenario::Scenario;
use faultline::sim::{run_seeds, SeedPlan};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct BugsOptions {
    pub scenario: PathBuf,
    /// Seeds tried from each start before giving up.
    pub budget: u64,
    /// Starting seeds: start k tries seeds `1 + k * budget ..`, disjoint ranges.
    pub starts: u64,
    pub only: Vec<Bug>,
    pub jobs: usize,
    /// Writes `<out>.json` and `<out>.md`.
    pub out: PathBuf,
}

/// One start's search: the first failing seed, if any within the budget.
#[derive(Clone, Debug, Serialize)]
struct Search {
    first_seed: u64,
    /// Seeds run up to and including the first catch (the whole budget if none).
    seeds: u64,
    caught: bool,
    /// The first violation of the catching seed (by history order), or `panic`.
    caught_by: Option<String>,
    wall_s: f64,
}

#[derive(Clone, Debug, Serialize)]
struct Row {
    bug: &'static str,
    mirrors: &'static str,
    class: u8,
    /// What the targeted scenario expects.
    expect: &'static str,
    /// The checkers that caught it, with how many starts each caught it first in.
    caught_by: BTreeMap<String, u64>,
    /// Median over the starts of the seeds to the first catch (`None`: most starts missed).
    median_seeds: Option<u64>,
    median_wall_s: Option<f64>,
    caught_starts: u64,
    searches: Vec<Search>,
}

#[derive(Serialize)]
struct Table {
    scenario: String,
    budget: u64,
    starts: u64,
    command: String,
    rows: Vec<Row>,
}

pub fn run(opts: &BugsOptions, command: &str) -> Result<bool> {
    let base = Scenario::load(&opts.scenario)?;
    anyhow::ensure!(base.bugs.is_empty(), "{}: the generic scenario must switch no bug on", opts.scenario.display());
    // Firing bugs need jobs: a generic scenario without any cannot show them.
    // Bounded liveness bugs need the bound: a generic scenario without it cannot catch them.
    let fits = |bug: Bug| {
        (!bug.fires_jobs() || !base.jobs.is_empty())
            && (!bug.needs_bound() || base.checks.max_unforced_failovers.is_some())
    };
    let entries: Vec<_> =
        CATALOG.iter().filter(|e| (opts.only.is_empty() || opts.only.contains(&e.bug)) && fits(e.bug)).collect();
    println!(
        "bug catalog: {} entries against {} ({} starts x up to {} seeds, {} threads)",
        entries.len(),
        opts.scenario.display(),
        opts.starts,
        opts.budget,
        opts.jobs
    );
    let mut rows = Vec::new();
    for entry in entries {
        let scenario = Scenario { bugs: vec![entry.bug], expect: None, ..base.clone() };
        let searches: Vec<Search> =
            (0..opts.starts).map(|k| search(&scenario, 1 + k * opts.budget, opts.budget, opts.jobs)).collect();
        let row = row(entry, searches);
        println!("{}", line(&row, opts.budget));
        rows.push(row);
    }
    let table = Table {
        scenario: opts.scenario.display().to_string(),
        budget: opts.budget,
        starts: opts.starts,
        command: command.to_string(),
        rows,
    };
    let (all, fast) = targets(&table);
    let markdown = markdown(&table);
    print!("\n{}", summary_lines(&table, all, fast));
    let json_path = opts.out.with_extension("json");
    let md_path = opts.out.with_extension("md");
    if let Some(dir) = opts.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&table)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    std::fs::write(&md_path, markdown).with_context(|| format!("writing {}", md_path.display()))?;
    println!("wrote {} and {}", json_path.display(), md_path.display());
    Ok(all == table.rows.len())
}

/// Seeds from `first` until one fails (any violation, or a panic), at most `budget`.
fn search(scenario: &Scenario, first: u64, budget: u64, jobs: usize) -> Search {
    let wall = Stopwatch::start();
    let results = run_seeds(scenario, SeedPlan::range(first, budget), jobs, None, |o| {
        let caught_by = match (&o.panic, o.check.violations.first()) {
            (_, Some(v)) => Some(v.kind.name().to_string()),
            (Some(_), None) => Some("panic".to_string()),
            (None, None) => None,
        };
        let stop = caught_by.is_some();
        (caught_by, stop)
    });
    let caught_by = results.last().and_then(|(_, c)| c.clone());
    Search {
        first_seed: first,
        seeds: results.len() as u64,
        caught: caught_by.is_some(),
        caught_by,
        wall_s: wall.elapsed_ms() as f64 / 1000.0,
    }
}

fn row(entry: &faultline::bugs::Entry, searches: Vec<Search>) -> Row {
    let mut caught_by = BTreeMap::new();
    for s in &searches {
        if let Some(kind) = &s.caught_by {
            *caught_by.entry(kind.clone()).or_default() += 1;
        }
    }
    // A start that missed counts as infinitely slow: the median exists while most caught.
    let mut seeds: Vec<Option<u64>> = searches.iter().map(|s| s.caught.then_some(s.seeds)).collect();
    seeds.sort_by_key(|s| s.unwrap_or(u64::MAX));
    let mut walls: Vec<Option<f64>> = searches.iter().map(|s| s.caught.then_some(s.wall_s)).collect();
    walls.sort_by(|a, b| a.unwrap_or(f64::INFINITY).total_cmp(&b.unwrap_or(f64::INFINITY)));
    let mid = searches.len() / 2;
    Row {
        bug: entry.bug.name(),
        mirrors: entry.mirrors,
        class: entry.class,
        expect: entry.expect,
        caught_by,
        median_seeds: seeds.get(mid).copied().flatten(),
        median_wall_s: walls.get(mid).copied().flatten(),
        caught_starts: searches.iter().filter(|s| s.caught).count() as u64,
        searches,
    }
}

/// Entries caught from every start within the budget, and those whose median is <= 100.
fn targets(table: &Table) -> (usize, usize) {
    let all = table.rows.iter().filter(|r| r.caught_starts == table.starts).count();
    let fast = table.rows.iter().filter(|r| r.median_seeds.is_some_and(|s| s <= 100)).count();
    (all, fast)
}

fn checkers(row: &Row) -> String {
    let list: Vec<String> = row.caught_by.iter().map(|(k, n)| format!("{k} ({n})")).collect();
    if list.is_empty() {
        "-".into()
    } else {
        list.join(", ")
    }
}

fn median_text(row: &Row, budget: u64) -> (String, String) {
    match (row.median_seeds, row.median_wall_s) {
        (Some(s), Some(w)) => (s.to_string(), format!("{w:.1}")),
        _ => (format!("> {budget}"), "-".into()),
    }
}

fn line(row: &Row, budget: u64) -> String {
    let (seeds, wall) = median_text(row, budget);
    format!(
        "  {:<26} {:<38} caught by {:<32} median {:>6} seeds {:>7} s  caught in {}/{} starts",
        row.bug,
        row.mirrors,
        checkers(row),
        seeds,
        wall,
        row.caught_starts,
        row.searches.len()
    )
}

fn summary_lines(table: &Table, all: usize, fast: usize) -> String {
    let n = table.rows.len();
    format!(
        "caught from every start within {} seeds: {all} of {n}\ncaught within 100 seeds (median): {fast} of {n}\n",
        table.budget
    )
}

fn markdown(table: &Table) -> String {
    let (all, fast) = targets(table);
    let mut out = String::from("# The known-bug catch table\n\n");
    out += &format!(
        "Every entry of the known-bug catalog (`crates/core/src/bugs.rs`) switched on, one at a time, in the \
         generic swarm scenario `{}`: how many seeds until a checker flags a seed, the median over \
         {} starting seeds (start k tries seeds `1 + k*{}` onward, at most {} seeds each), and the \
         wall seconds that took on this machine. Made by:\n\n```sh\n{}\n```\n\n",
        table.scenario, table.starts, table.budget, table.budget, table.command
    );
    out +=
        "| bug | mirrors | class | caught by (starts) | seeds to first catch (median) | wall s (median) | caught |\n";
    out += "|---|---|---|---|---|---|---|\n";
    for row in &table.rows {
        let (seeds, wall) = median_text(row, table.budget);
        out += &format!(
            "| `{}` | {} | {} | {} | {} | {} | {}/{} |\n",
            row.bug,
            row.mirrors,
            row.class,
            checkers(row),
            seeds,
            wall,
            row.caught_starts,
            row.searches.len()
        );
    }
    out += &format!("\n{}\n", summary_lines(table, all, fast).replace('\n', "  \n").trim_end());
    out += "\nPer start, seeds to the first catch (`-` = not caught within the budget):\n\n";
    for row in &table.rows {
        let per: Vec<String> = row
            .searches
            .iter()
            .map(|s| if s.caught { format!("{} (from {})", s.seeds, s.first_seed) } else { "-".into() })
            .collect();
        out += &format!("- `{}`: {}\n", row.bug, per.join(", "));
    }
    out += "\n## The catalog\n\n";
    for e in CATALOG {
        out += &format!(
            "- **`{}`** (class {}, mirrors {}; targeted scenario expects `{}`): {}\n",
            e.bug.name(),
            e.class,
            e.mirrors,
            e.expect,
            e.explanation
        );
    }
    out
}

/// The default output, without extension: `reports/out/bug-catalog`, untracked (the
/// checked-in table is rewritten only when asked: `--out reports/bug-catalog`).
pub fn default_out() -> PathBuf {
    Path::new(crate::GENERATED).join("bug-catalog")
}
