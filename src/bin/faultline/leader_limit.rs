//! `faultline leader-limit`: what one leader can take, measured on real processes.
//! `scripts/leader-limit` runs load levels against one coordinator (the leader) on a real
//! etcd: a fleet of N executors in one process, each heartbeating every h, and a client
//! submitting R tasks/s. For each level it records the histories, the fleet's beat counts
//! (`beats: ...` lines on its stderr) and every process's CPU ticks at the start and end of
//! a steady window. This command reads those directories and writes the table: beats and
//! dispatches per second the leader handled, how many beats went unanswered, ack latency,
//! executors declared dead, the leader's CPU, and a least-squares fit of the leader's CPU
//! per beat and per task, from which the limit of one core follows.

use crate::check::judge;
use anyhow::{bail, Context, Result};
use faultline::report::metrics::{percentiles, Percentiles};
use faultline::trace::EventKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The processes whose CPU each level records (`cpu_<name>_0`, `cpu_<name>_1` in level.env).
const PROCESSES: [&str; 5] = ["coord", "etcd", "fleet", "sink", "client"];

/// A level kept up when at most this share of its beats went unanswered...
const MAX_UNANSWERED: f64 = 0.01;
/// ... it dispatched at least this share of the offered tasks per second...
const MIN_DISPATCHED: f64 = 0.95;
/// ... and its acks' p99 stayed under this, ms (no executor may be declared dead either).
const MAX_ACK_P99_MS: u64 = 1_000;

#[derive(Debug, Serialize)]
pub struct Row {
    pub executors: u64,
    pub offered_tasks_per_s: u64,
    pub window_ms: u64,
    pub beats_per_s: f64,
    pub unanswered_beats_per_s: f64,
    pub dispatches_per_s: f64,
    pub ack_ms: Percentiles,
    pub executors_declared_dead: u64,
    /// Per process: share of one core over the window, %.
    pub cpu_percent: BTreeMap<String, f64>,
    /// Every checker on the merged histories (the run was stopped after a short drain).
    pub verdict: String,
    pub kept_up: bool,
}

/// The leader's CPU, ms per second, fitted as `per_beat * beats/s + per_task * tasks/s +
/// idle` over the levels (least squares).
#[derive(Debug, Serialize)]
pub struct Fit {
    pub per_beat_us: f64,
    pub per_task_us: f64,
    pub idle_ms_per_s: f64,
    /// Beats per second one core takes with no task.
    pub core_beats_per_s: f64,
    /// Tasks per second one core takes besides 1,000 beats per second.
    pub core_tasks_per_s_at_1000_beats: f64,
    /// The largest relative error of the fit over the levels.
    pub worst_error: f64,
}

fn read_env(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut env = BTreeMap::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let Some((k, v)) = line.split_once('=') else {
            bail!("{}:{}: expected key=value, found `{line}`", path.display(), n + 1);
        };
        env.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(env)
}

fn number(env: &BTreeMap<String, String>, key: &str, path: &Path) -> Result<u64> {
    let value = env.get(key).with_context(|| format!("{}: no `{key}`", path.display()))?;
    value.parse().with_context(|| format!("{}: `{key}` = `{value}` is not a whole number", path.display()))
}

/// The fleet's `(unix_ms, answered, unanswered)` lines.
fn beat_lines(path: &Path) -> Result<Vec<(u64, u64, u64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let field = |part: Option<&str>, key: &str| part.and_then(|p| p.strip_prefix(key)).and_then(|v| v.parse().ok());
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut parts = line.strip_prefix("beats: ")?.split(' ');
            let at = parts.next()?.parse().ok()?;
            Some((at, field(parts.next(), "answered=")?, field(parts.next(), "unanswered=")?))
        })
        .collect())
}

/// The beat line nearest `at_ms`.
fn nearest(lines: &[(u64, u64, u64)], at_ms: u64) -> Option<(u64, u64, u64)> {
    lines.iter().copied().min_by_key(|(t, _, _)| t.abs_diff(at_ms))
}

fn level(dir: &Path) -> Result<Row> {
    let env_path = dir.join("level.env");
    let env = read_env(&env_path)?;
    let num = |key: &str| number(&env, key, &env_path);
    let (t0, t1, clk_tck) = (num("t0_ms")?, num("t1_ms")?, num("clk_tck")?.max(1));
    if t1 <= t0 {
        bail!("{}: expected t0_ms < t1_ms", env_path.display());
    }
    let window_ms = t1 - t0;
    let per_s = |count: f64| count * 1000.0 / window_ms as f64;
    let beats = beat_lines(&dir.join("fleet.log"))?;
    let (Some(a), Some(b)) = (nearest(&beats, t0), nearest(&beats, t1)) else {
        bail!("{}: no `beats:` line", dir.join("fleet.log").display());
    };
    let beat_window = b.0.saturating_sub(a.0).max(1) as f64;
    let beats_per_s = b.1.saturating_sub(a.1) as f64 * 1000.0 / beat_window;
    let unanswered_beats_per_s = b.2.saturating_sub(a.2) as f64 * 1000.0 / beat_window;
    let mut cpu_percent = BTreeMap::new();
    for name in PROCESSES {
        if let (Some(c0), Some(c1)) = (env.get(&format!("cpu_{name}_0")), env.get(&format!("cpu_{name}_1"))) {
            let (Ok(c0), Ok(c1)) = (c0.parse::<u64>(), c1.parse::<u64>()) else { continue };
            let ms = c1.saturating_sub(c0) as f64 * 1000.0 / clk_tck as f64;
            cpu_percent.insert(name.to_string(), ms * 100.0 / window_ms as f64);
        }
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    paths.sort();
    let (history, result) = judge(&paths)?;
    let inside = |at: u64| at >= t0 && at < t1;
    let dispatches = history.iter().filter(|e| inside(e.at_ms) && matches!(e.kind, EventKind::Dispatch { .. })).count();
    let mut sent = BTreeMap::new();
    let mut acks = Vec::new();
    for e in &history {
        match &e.kind {
            EventKind::Submit { key } if inside(e.at_ms) => {
                sent.entry(key.clone()).or_insert(e.at_ms);
            }
            EventKind::Ack { key, .. } => acks.extend(sent.remove(key).map(|at| e.at_ms - at)),
            _ => {}
        }
    }
    let deaths = history.iter().filter(|e| matches!(e.kind, EventKind::ExecutorDead { .. })).count() as u64;
    let offered = num("rate")?;
    let ack_ms = percentiles(&acks);
    let dispatches_per_s = per_s(dispatches as f64);
    let kept_up = unanswered_beats_per_s <= MAX_UNANSWERED * (beats_per_s + unanswered_beats_per_s)
        && deaths == 0
        && dispatches_per_s >= MIN_DISPATCHED * offered as f64
        && ack_ms.p99 < MAX_ACK_P99_MS;
    let verdict = if result.passed() {
        "PASS".to_string()
    } else {
        let kinds: std::collections::BTreeSet<&str> = result.violations.iter().map(|v| v.kind.name()).collect();
        format!("FAIL ({})", kinds.into_iter().collect::<Vec<_>>().join(", "))
    };
    Ok(Row {
        executors: num("executors")?,
        offered_tasks_per_s: offered,
        window_ms,
        beats_per_s,
        unanswered_beats_per_s,
        dispatches_per_s,
        ack_ms,
        executors_declared_dead: deaths,
        cpu_percent,
        verdict,
        kept_up,
    })
}

/// Least squares for `y = a x1 + b x2 + c`, by the normal equations.
fn fit3(points: &[(f64, f64, f64)]) -> Option<(f64, f64, f64)> {
    if points.len() < 3 {
        return None;
    }
    let mut m = [[0.0f64; 4]; 3];
    for &(x1, x2, y) in points {
        let row = [x1, x2, 1.0];
        for i in 0..3 {
            for j in 0..3 {
                m[i][j] += row[i] * row[j];
            }
            m[i][3] += row[i] * y;
        }
    }
    for col in 0..3 {
        let pivot = (col..3).max_by(|&a, &b| m[a][col].abs().total_cmp(&m[b][col].abs()))?;
        if m[pivot][col].abs() < 1e-9 {
            return None;
        }
        m.swap(col, pivot);
        for r in 0..3 {
            if r != col {
                let f = m[r][col] / m[col][col];
                for c in col..4 {
                    m[r][c] -= f * m[col][c];
                }
            }
        }
    }
    Some((m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]))
}

fn fit(rows: &[Row]) -> Option<Fit> {
    let leader = |r: &Row| r.cpu_percent.get("coord").map(|p| p * 10.0); // ms per s
    let points: Vec<(f64, f64, f64)> =
        rows.iter().filter_map(|r| Some((r.beats_per_s, r.dispatches_per_s, leader(r)?))).collect();
    let (a, b, c) = fit3(&points)?;
    let worst_error = points
        .iter()
        .map(|&(x1, x2, y)| ((a * x1 + b * x2 + c) - y).abs() / y.max(1.0))
        .fold(0.0, f64::max);
    Some(Fit {
        per_beat_us: a * 1000.0,
        per_task_us: b * 1000.0,
        idle_ms_per_s: c,
        core_beats_per_s: (1000.0 - c) / a,
        core_tasks_per_s_at_1000_beats: (1000.0 - c - a * 1000.0) / b,
        worst_error,
    })
}

fn markdown(rows: &[Row], fit: Option<&Fit>, command: &str) -> String {
    let mut out = String::from(
        "# The limit of one leader, on real processes\n\n\
         `scripts/leader-limit` starts, for each level, a fresh Debian etcd, the sink, one coordinator \
         (the leader), one process running a fleet of N executors (`faultline serve executor --count N`; \
         8 slots each, h = 100 ms) and, when R > 0, a client submitting R tasks/s of 10-50 ms bodies \
         that never fail, all on this 2-core machine. After a settling time it measures a steady window: \
         beats the fleet got answered (and not), dispatches the leader recorded, submit-to-ack latency, \
         every process's CPU (share of one core, from /proc). A level *kept up* when under 1% of its \
         beats went unanswered, no executor was declared dead, it dispatched at least 95% of the \
         offered tasks per second and acks stayed under 1 s at p99. The verdict is every checker on \
         the merged histories; the run is stopped a few seconds after the window, so a level whose \
         backlog had not drained shows `no_convergence`.\n\n",
    );
    out.push_str(
        "| executors | offered tasks/s | beats/s answered | unanswered/s | dispatches/s | ack p50 / p99 ms | \
         deaths | leader CPU | etcd CPU | fleet CPU | kept up | verdict |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let cpu = |r: &Row, n: &str| r.cpu_percent.get(n).map_or("-".into(), |p| format!("{p:.0}%"));
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} / {} | {} | {} | {} | {} | {} | {} |\n",
            r.executors,
            r.offered_tasks_per_s,
            r.beats_per_s,
            r.unanswered_beats_per_s,
            r.dispatches_per_s,
            r.ack_ms.p50,
            r.ack_ms.p99,
            r.executors_declared_dead,
            cpu(r, "coord"),
            cpu(r, "etcd"),
            cpu(r, "fleet"),
            if r.kept_up { "yes" } else { "**no**" },
            r.verdict,
        ));
    }
    match fit {
        Some(f) => out.push_str(&format!(
            "\nThe leader's CPU, fitted over the levels (least squares; worst level off by {:.0}%): \
             **{:.1} µs per beat**, **{:.1} µs per task** (its submit, persist, dispatch and completion), \
             {:.1} ms/s idle. One core therefore takes about **{:.0} beats/s** with no task, or \
             **{:.0} tasks/s** besides 1,000 beats/s (100 executors at h = 100 ms). On this machine the \
             levels share two cores with etcd, the fleet and the client, so the table's own ceiling \
             (the last level that kept up) comes first from the machine; the per-beat and per-task \
             costs are what carries to a machine where the leader has a core of its own.\n",
            f.worst_error * 100.0,
            f.per_beat_us,
            f.per_task_us,
            f.idle_ms_per_s,
            f.core_beats_per_s,
            f.core_tasks_per_s_at_1000_beats,
        )),
        None => out.push_str("\nToo few levels (or too alike) to fit the leader's CPU per beat and per task.\n"),
    }
    out.push_str(&format!("\nMade by `scripts/leader-limit` (default levels), which ends by running `{command}`.\n"));
    out
}

/// Reads every `level-*` directory under `real` and writes `<out>.md` and `<out>.json`.
pub fn run(real: &Path, out: &Path, command: &str) -> Result<bool> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(real)
        .with_context(|| format!("reading {}", real.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("level-")))
        .collect();
    if dirs.is_empty() {
        bail!("{}: no level-* directory (scripts/leader-limit writes them)", real.display());
    }
    dirs.sort();
    let mut rows = Vec::new();
    for dir in &dirs {
        rows.push(level(dir).with_context(|| format!("level {}", dir.display()))?);
    }
    rows.sort_by_key(|r| (r.offered_tasks_per_s, r.executors));
    let fit = fit(&rows);
    let md = markdown(&rows, fit.as_ref(), command);
    print!("{md}");
    if let Some(parent) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let (md_path, json_path) = (out.with_extension("md"), out.with_extension("json"));
    std::fs::write(&md_path, &md).with_context(|| format!("writing {}", md_path.display()))?;
    let json = serde_json::json!({ "command": command, "levels": rows, "fit": fit });
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    eprintln!("wrote {} and {}", md_path.display(), json_path.display());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fit_recovers_a_known_cost() {
        let cost = |b: f64, t: f64| 0.02 * b + 0.3 * t + 5.0;
        let points = [(1000.0, 0.0), (3000.0, 0.0), (1000.0, 500.0), (1000.0, 2000.0)];
        let points: Vec<_> = points.iter().map(|&(b, t)| (b, t, cost(b, t))).collect();
        let (a, b, c) = fit3(&points).unwrap();
        assert!((a - 0.02).abs() < 1e-9 && (b - 0.3).abs() < 1e-9 && (c - 5.0).abs() < 1e-6, "{a} {b} {c}");
        assert!(fit3(&points[..2]).is_none(), "two levels fit nothing");
    }

    #[test]
    fn beat_lines_parse_and_the_nearest_is_taken() {
        let dir = std::env::temp_dir().join(format!("fl-beats-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fleet.log");
        std::fs::write(&path, "noise\nbeats: 1000 answered=10 unanswered=0\nbeats: 2000 answered=30 unanswered=2\n")
            .unwrap();
        let lines = beat_lines(&path).unwrap();
        assert_eq!(lines, [(1000, 10, 0), (2000, 30, 2)]);
        assert_eq!(nearest(&lines, 1600), Some((2000, 30, 2)));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
