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
        build: Some(crate::BUILD.to_string()),
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

/// Saves each of `records` (failed runs of the scenario file `source`) as a reproduction
/// file under `dir`; returns the paths written. Stops at the first file it cannot write.
pub fn save_failures<'a>(
    dir: &Path,
    source: &Path,
    records: impl IntoIterator<Item = &'a Reproduce>,
) -> std::io::Result<Vec<PathBuf>> {
    let mut records = records.into_iter().peekable();
    if records.peek().is_none() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(source)?;
    records.map(|r| write_failure(dir, source, &text, r)).collect()
}

/// A reader's view of a violation, one event per line, the violating event marked `>>`:
/// the life of its subject (every event naming the task, from its submit to its last
/// word) with every fault, election, leader loss and executor death that overlaps that
/// life (a fault overlaps when it is in progress at any point of it, so a partition that
/// began earlier is there), then the `before` events preceding the violation and the
/// `after` following it.
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
    let life = life_of(history, &violation.subject);
    let (from_ms, to_ms) = match (life.first(), life.last()) {
        (Some(&first), Some(&last)) => (history[first].at_ms, history[last].at_ms.max(violation.at_ms)),
        _ => (history.get(start).map_or(0, |e| e.at_ms), violation.at_ms),
    };
    let context = overlapping_context(history, from_ms, to_ms);
    let mut shown: Vec<usize> = life.iter().copied().chain(context).collect();
    shown.sort_unstable();
    shown.dedup();
    if life.is_empty() {
        out += &format!("faults, elections and executor deaths in progress {from_ms}..{to_ms} ms:\n");
    } else {
        out += &format!(
            "the life of {} ({from_ms}..{to_ms} ms, {} events) and every fault, election and executor death overlapping it:\n",
            violation.subject,
            life.len()
        );
    }
    for i in shown {
        out += &line(i, &history[i], i == at);
    }
    out += &format!("events #{start}..#{} around the violation:\n", end.saturating_sub(1));
    for (i, e) in history[start..end].iter().enumerate() {
        out += &line(start + i, e, start + i == at);
    }
    out
}

/// The indices of every event naming `subject` as its task, and of the submit of the key
/// its acknowledgement names.
fn life_of(history: &[Event], subject: &str) -> Vec<usize> {
    use crate::trace::EventKind::{Ack, Submit};
    let key = history.iter().find_map(|e| match &e.kind {
        Ack { key, task } if task == subject => Some(key.as_str()),
        _ => None,
    });
    history
        .iter()
        .enumerate()
        .filter(|(_, e)| match &e.kind {
            Submit { key: k } => Some(k.as_str()) == key,
            kind => kind.task() == Some(subject),
        })
        .map(|(i, _)| i)
        .collect()
}

/// The indices of the context events (faults, elections, leader losses, executor deaths,
/// swarm draws) that overlap `from_ms..=to_ms`: a fault's begin and end are both shown when
/// the fault is in progress at any point of the span, the others when they happen in it,
/// plus the last election before it.
fn overlapping_context(history: &[Event], from_ms: u64, to_ms: u64) -> Vec<usize> {
    use crate::trace::{
        EventKind::{Fault, LeaderElected},
        FaultPhase,
    };
    // Each fault's begin and end (None while still in progress at the end of the run).
    let mut faults: std::collections::BTreeMap<u64, (usize, Option<usize>)> = Default::default();
    for (i, e) in history.iter().enumerate() {
        if let Fault { id, phase, .. } = &e.kind {
            match phase {
                FaultPhase::Begin => {
                    faults.insert(*id, (i, None));
                }
                FaultPhase::End => {
                    faults.entry(*id).and_modify(|f| f.1 = Some(i)).or_insert((i, Some(i)));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (begin, end) in faults.into_values() {
        let ends_ms = end.map_or(u64::MAX, |i| history[i].at_ms);
        if history[begin].at_ms <= to_ms && ends_ms >= from_ms {
            out.push(begin);
            out.extend(end);
        }
    }
    out.extend(
        history
            .iter()
            .enumerate()
            .filter(|(_, e)| is_context(e) && !matches!(e.kind, Fault { .. }))
            .filter(|(_, e)| (from_ms..=to_ms).contains(&e.at_ms))
            .map(|(i, _)| i),
    );
    // And the election that put the leader of `from_ms` in office.
    let in_office = history.iter().enumerate().take_while(|(_, e)| e.at_ms < from_ms);
    out.extend(in_office.filter(|(_, e)| matches!(e.kind, LeaderElected { .. })).map(|(i, _)| i).last());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::ViolationKind;
    use crate::trace::{EventKind, FaultPhase};

    fn event(at_ms: u64, kind: EventKind) -> Event {
        Event { at_ms, node: "n".into(), kind }
    }

    fn fault(id: u64, at_ms: u64, phase: FaultPhase) -> Event {
        let kind = EventKind::Fault {
            id,
            fault: format!("fault-{id}").into(),
            phase,
            target: "x".into(),
            detail: Default::default(),
        };
        event(at_ms, kind)
    }

    fn persist(at_ms: u64, task: &str) -> Event {
        event(at_ms, EventKind::Persist { task: task.into(), state: "pending".into(), epoch: 1 })
    }

    /// The timeline shows the task's whole life from its submit, a partition that began
    /// long before it and is still in progress, the election in office, and nothing of
    /// faults that ended before the life began or began after it ended.
    #[test]
    fn the_timeline_covers_the_life_of_the_task_and_every_fault_overlapping_it() {
        let mut history = vec![
            event(0, EventKind::LeaderElected { epoch: 1 }),
            fault(0, 10, FaultPhase::Begin),
            fault(0, 20, FaultPhase::End),
            fault(1, 100, FaultPhase::Begin),
            event(1_000, EventKind::Submit { key: "k".into() }),
            event(1_001, EventKind::Ack { key: "k".into(), task: "t1".into() }),
            persist(1_002, "t1"),
        ];
        // Enough unrelated events that the violation's window does not reach the start.
        history.extend((0..100).map(|i| persist(1_010 + i, "other")));
        history.push(persist(1_200, "t1"));
        history.push(fault(2, 5_000, FaultPhase::Begin));
        let violation = Violation {
            kind: ViolationKind::LostTask,
            subject: "t1".into(),
            event_index: 5,
            at_ms: 1_001,
            message: "lost".into(),
        };
        let text = timeline(&history, &violation, 2, 2);
        let life = text.split("around the violation").next().unwrap();
        for (i, shown) in [(0, true), (1, false), (2, false), (3, true), (4, true), (5, true), (6, true), (107, true)] {
            assert_eq!(life.contains(&format!(" #{i:<6} ")), shown, "event #{i} in\n{text}");
        }
        assert!(!life.contains("#108"), "a fault after the life is not shown:\n{text}");
        assert!(life.contains(">> #5 "), "the violating event is marked:\n{text}");
        assert!(text.contains("(1000..1200 ms, 4 events)"), "{text}");
    }
}
