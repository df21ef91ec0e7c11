//! `faultline replay` and `faultline shrink`: a failing seed run again with tracing, and a
//! failing reproduction minimised. Part of the binary (simulator build).

use anyhow::{bail, Context, Result};
use faultline::scenario::Scenario;
use faultline::sim::repro::{self, timeline, with_reproduce};
use faultline::sim::{run_seed, shrink};
use std::path::Path;

/// Events shown before and after the violating one in the timeline.
const BEFORE: usize = 40;
const AFTER: usize = 10;

/// Exit status: true when the run reproduces the recorded one (same trace hash), or, for
/// a plain scenario, when it passes.
pub fn replay(file: &Path, seed: Option<u64>, out: &Path) -> Result<bool> {
    let scenario = Scenario::load(file)?;
    let recorded = scenario.reproduce.clone();
    let Some(seed) = seed.or(recorded.as_ref().map(|r| r.seed)) else {
        bail!("{}: no [reproduce] table: give the seed with --seed N", file.display());
    };
    println!("replaying {} on seed {seed} (-v logs the run on stderr)", file.display());
    let outcome = run_seed(&scenario, seed);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let name = output_name(file, seed);
    let jsonl = out.join(format!("{name}.jsonl"));
    let mut w = std::io::BufWriter::new(
        std::fs::File::create(&jsonl).with_context(|| format!("creating {}", jsonl.display()))?,
    );
    faultline::record::write_jsonl(&outcome.history, &mut w).with_context(|| format!("writing {}", jsonl.display()))?;
    println!("history: {} ({} events)", jsonl.display(), outcome.history.len());
    if let Some(v) = outcome.check.violations.first() {
        let path = out.join(format!("{name}.timeline.txt"));
        let text = timeline(&outcome.history, v, BEFORE, AFTER);
        std::fs::write(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        print!("{text}");
        println!("timeline: {}", path.display());
    }
    if let Some(p) = &outcome.panic {
        println!("the run panicked: {p}");
    }
    print!("{}", faultline::report::render_violations(&outcome.check.violations));
    let hash = format!("{:016x}", outcome.hash);
    let now = match (outcome.check.violations.first(), &outcome.panic) {
        (Some(v), _) => format!("fails with {}", v.kind.name()),
        (None, Some(_)) => "panics".to_string(),
        (None, None) => "passes".to_string(),
    };
    let Some(r) = recorded.filter(|r| r.seed == seed) else {
        println!("{now} (trace hash {hash})");
        return Ok(outcome.passed());
    };
    let saved_by = r.build.as_deref().unwrap_or("an unrecorded build");
    if r.trace_hash == hash {
        println!("reproduced: trace hash {hash} is the failing run's ({}: {})", r.violation, r.message);
        return Ok(true);
    }
    if saved_by != faultline::BUILD {
        println!(
            "different build: saved by {saved_by}, this is {}; the run differs (trace hash {hash}, saved {}) and now {now}",
            faultline::BUILD,
            r.trace_hash
        );
    } else if outcome.passed() {
        println!(
            "passes now: same build ({saved_by}) but the run differs (trace hash {hash}, saved {}): was the file edited after it was saved?",
            r.trace_hash
        );
    } else {
        println!(
            "not reproduced: same build ({saved_by}), the run {now} but differs (trace hash {hash}, saved {}): was the file edited after it was saved?",
            r.trace_hash
        );
    }
    Ok(false)
}

/// The name a replay's outputs take: the file's stem, with `-seed-N` added unless the stem
/// already names that seed (a reproduction file, or a shrunk one: `X-seed-3-min`), so
/// replaying two files never overwrites one's outputs with the other's.
fn output_name(file: &Path, seed: u64) -> String {
    let stem = file.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    let tag = format!("-seed-{seed}");
    if stem.ends_with(&tag) || stem.contains(&format!("{tag}-")) {
        stem
    } else {
        stem + &tag
    }
}

/// Exit status: true when a minimal file that still fails was written.
pub fn shrink(file: &Path, out: Option<&Path>) -> Result<bool> {
    let scenario = Scenario::load(file)?;
    let Some(recorded) = scenario.reproduce.clone() else {
        bail!(
            "{}: not a reproduction file (no [reproduce] table); suite saves them under reports/failures/",
            file.display()
        );
    };
    println!("shrinking {} (seed {}, {})", file.display(), recorded.seed, recorded.violation);
    let mut log = |line: &str| println!("{line}");
    let Some(shrunk) = shrink::shrink(file, &scenario, recorded.seed, &recorded.violation, &mut log) else {
        println!("seed {} no longer shows {}: nothing to shrink (another build?)", recorded.seed, recorded.violation);
        return Ok(false);
    };
    let stem = file.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    let default = file.with_file_name(format!("{stem}-min.toml"));
    let path = out.unwrap_or(&default);
    let reproduce = repro::reproduce_of(Path::new(&recorded.source), &shrunk.outcome)
        .map(|mut r| {
            // Keep the original violation kind first in the record even if another shows first.
            if let Some(v) = shrunk.outcome.check.violations.iter().find(|v| v.kind.name() == recorded.violation) {
                r.violation = recorded.violation.clone();
                r.message = v.message.clone();
            }
            r
        })
        .expect("a shrunk scenario still fails");
    std::fs::write(path, with_reproduce(&shrunk.text, &reproduce))
        .with_context(|| format!("writing {}", path.display()))?;
    println!("before: {}", shrunk.before);
    println!("after:  {}  ({} runs)", shrunk.after, shrunk.runs);
    println!(
        "minimal scenario: {} (seed {}; replay: scripts/faultline replay {})",
        path.display(),
        shrunk.seed,
        path.display()
    );
    Ok(true)
}
