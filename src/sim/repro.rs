//! Reproduction files: a failing seed saved as a self-contained scenario file, the
//! scenario's own text plus a `[reproduce]` table (seed, violation, trace hash), which
//! `faultline replay` runs again and `faultline shrink` minimises.

use crate::check::Violation;
use crate::scenario::Reproduce;
use crate::sim::RunOutcome;
use crate::trace::Event;
use std::path::{Path, PathBuf};

/// The `[reproduce]` table for a failed run (`None` when it passed).
pub fn reproduce_of(source: &Path, outcome: &RunOutcome) -> Option<Reproduce> {
    let (violation, message) = match (outcome.check.violations.first(), &outcome.panic) {
        (Some(v), _) => (v.kind.name().to_string(), v.message.clone()),
        (None, Some(p)) => ("panic".to_string(), p.clone()),
        (None, None) => return None,
    };
    Some(Reproduce {
        seed: outcome.seed,
        violation,
        message,
        trace_hash: format!("{:016x}", outcome.hash),
        source: source.display().to_string(),
    })
}

/// The scenario text with `reproduce` as its `[reproduce]` table (replacing one it had).
pub fn with_reproduce(text: &str, reproduce: &Reproduce) -> String {
    let mut out = without_reproduce(text).trim_end().to_string();
    let table =
        toml::to_string(&ReproduceTable { reproduce: reproduce.clone() }).expect("a reproduce table serializes");
    out += &format!(
        "\n\n# A failing seed, saved by faultline. Run it again: scripts/faultline replay FILE;\n\
         # minimise it: scripts/faultline shrink FILE.\n{table}"
    );
    out
}

#[derive(serde::Serialize)]
struct ReproduceTable {
    reproduce: Reproduce,
}

/// Drops a `[reproduce]` table (from its header to the next table header).
fn without_reproduce(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            skipping = trimmed.starts_with("[reproduce]");
        }
        if !skipping {
            out += line;
        }
    }
    out
}

/// The scenario name a file's outputs are named after: its stem, without the
/// `-seed-N` of a reproduction file.
pub fn stem(path: &Path) -> String {
    let stem = path.file_stem().map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    stem.split("-seed-").next().unwrap_or(&stem).to_string()
}

/// Writes a failed run's reproduction file under `dir`: `<scenario stem>-seed-<N>.toml`,
/// the scenario's `text` with `reproduce` as its `[reproduce]` table. Returns its path.
pub fn write_failure(dir: &Path, source: &Path, text: &str, reproduce: &Reproduce) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}-seed-{}.toml", stem(source), reproduce.seed));
    std::fs::write(&path, with_reproduce(text, reproduce))?;
    Ok(path)
}

/// The events around a violation, one per line, the violating event marked `>>`: the
/// `before` events that precede it and the `after` that follow, plus every fault and
/// leadership event before the window (the context a reader needs).
pub fn timeline(history: &[Event], violation: &Violation, before: usize, after: usize) -> String {
    let at = violation.event_index.min(history.len().saturating_sub(1));
    let start = at.saturating_sub(before);
    let end = (at + after + 1).min(history.len());
    let mut out = format!(
        "violation {} on {} at {} ms (event #{}): {}\n",
        violation.kind.name(),
        violation.subject,
        violation.at_ms,
        violation.event_index,
        violation.message
    );
    out += "context before the window (faults, elections):\n";
    for (i, e) in history[..start].iter().enumerate() {
        if is_context(e) {
            out += &line(i, e, false);
        }
    }
    let about: Vec<(usize, &Event)> =
        history.iter().enumerate().filter(|(_, e)| e.kind.task() == Some(violation.subject.as_str())).collect();
    if !about.is_empty() {
        out += &format!("every event of {}:\n", violation.subject);
        for (i, e) in about {
            out += &line(i, e, i == at);
        }
    }
    out += &format!("events #{start}..#{}:\n", end.saturating_sub(1));
    for (i, e) in history[start..end].iter().enumerate() {
        out += &line(start + i, e, start + i == at);
    }
    out
}

fn is_context(e: &Event) -> bool {
    use crate::trace::EventKind::*;
    matches!(e.kind, Fault { .. } | LeaderElected { .. } | LeaderLost { .. } | ExecutorDead { .. } | SwarmDrawn { .. })
}

fn line(index: usize, e: &Event, mark: bool) -> String {
    let kind = serde_json::to_string(&e.kind).expect("events serialize");
    format!("{} #{index:<6} {:>8} ms {:<8} {kind}\n", if mark { ">>" } else { "  " }, e.at_ms, e.node)
}
