//! `faultline check`: judges recorded histories. Several files (one per real process) are
//! merged into one time line by their wall-clock stamps. A history without a run end (a
//! real cluster has no harness) gets one: drained iff every acknowledged task is terminal.

use anyhow::{anyhow, Result};
use faultline::check::{check_all, CheckResult};
use faultline::record::read_jsonl;
use faultline::trace::{Event, EventKind};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The histories in `paths` (one per real process) merged into one time line by their
/// wall-clock stamps.
pub fn merged_history(paths: &[PathBuf]) -> Result<Vec<Event>> {
    let mut history = Vec::new();
    for path in paths {
        history.extend(read_jsonl(path).map_err(|e| anyhow!(e))?);
    }
    history.sort_by_key(|e| e.at_ms); // stable: one process's events keep their order
    Ok(history)
}

/// The merged histories of `paths` (with a run end added if none) and every checker's
/// verdict on them.
pub fn judge(paths: &[PathBuf]) -> Result<(Vec<Event>, CheckResult)> {
    let mut history = merged_history(paths)?;
    if !history.iter().any(|e| matches!(e.kind, EventKind::RunEnd { .. })) {
        let drained = all_acked_terminal(&history);
        let at_ms = history.last().map_or(0, |e| e.at_ms);
        history.push(Event { at_ms, node: "check".into(), kind: EventKind::RunEnd { drained } });
    }
    let result = check_all(&history);
    Ok((history, result))
}

pub fn run(paths: &[PathBuf]) -> Result<bool> {
    let (history, result) = judge(paths)?;
    let c = &result.counts;
    println!(
        "{}: {} events; tasks: {} acked, {} succeeded, {} dead-lettered, {} lost; {} duplicate applies, \
         {} fenced rejections; {} leader elections, {} executors declared dead",
        if result.passed() { "PASS" } else { "FAIL" },
        history.len(),
        c.acked,
        c.succeeded,
        c.dead_lettered,
        c.lost,
        c.duplicate_applies,
        c.fenced_rejections,
        c.leader_changes,
        c.executors_declared_dead,
    );
    // Real histories carry no fault events, so every verdict counts here as unexplained: read
    // them against the faults the operator injected.
    let v = &c.false_verdicts;
    println!(
        "verdicts no recorded fault explains: {} executor deaths, {} quarantines, {} leader step-downs",
        v.false_deaths, v.false_quarantines, v.unforced_failovers
    );
    print!("{}", faultline::report::render_violations(&result.violations));
    Ok(result.passed())
}

fn all_acked_terminal(history: &[Event]) -> bool {
    let terminal: BTreeSet<&str> = history.iter().filter_map(|e| e.kind.terminal_task()).collect();
    history.iter().all(|e| match &e.kind {
        EventKind::Ack { task, .. } => terminal.contains(task.as_str()),
        _ => true,
    })
}
