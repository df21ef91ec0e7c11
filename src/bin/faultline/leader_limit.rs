//! `faultline leader-limit`: what one leader can take, measured on real processes.
//! `scripts/leader-limit` runs load levels against one coordinator (the leader) on a real
//! etcd: a fleet of N executors in one process, each heartbeating every h, and a client
//! submitting R tasks/s. For each level it records the histories, the fleet's beat counts
//! (`beats: ...` lines on its stderr) and every process's CPU ticks at the start and end of
//! a steady window. This command reads those directories and writes the table: beats and
//! dispatches per second the leader handled, how many beats went unanswered, ack latency,
//! executors declared dead, the leader's CPU, a least-squares fit of the leader's CPU per
//! beat (levels without tasks) and the CPU left per task at each level with tasks, from
//! which the limit of one core follows.

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
    /// The leader's CPU per task once its beats are paid, µs (see [`Fit`]).
    pub leader_us_per_task: Option<f64>,
}

/// The leader's CPU per beat, fitted over the levels without tasks that kept up (least squares,
/// `ms/s = per_beat * beats/s + idle`), and per task at each level with tasks (what is left
/// of its CPU once the beats are paid, per dispatch: it falls with the rate, as writes
/// batch).
#[derive(Debug, Serialize)]
pub struct Fit {
    pub per_beat_us: f64,
    pub idle_ms_per_s: f64,
    /// Beats per second one core takes with no task.
    pub core_beats_per_s: f64,
    /// The lowest per-task cost of any level, µs, and that level's tasks/s.
    pub per_task_us: Option<(f64, f64)>,
    /// Tasks per second one core would take besides 1,000 beats per second at that cost.
    pub core_tasks_per_s_at_1000_beats: Option<f64>,
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
        leader_us_per_task: None,
    })
}

/// Least squares for `y = a x + c`.
fn line(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    if points.len() < 2 || sxx < 1e-9 {
        return None;
    }
    let a = sxy / sxx;
    Some((a, my - a * mx))
}

/// The leader's CPU over the window, ms per second.
fn leader_ms_per_s(r: &Row) -> Option<f64> {
    r.cpu_percent.get("coord").map(|p| p * 10.0)
}

/// Fits the per-beat cost and fills each task level's per-task cost.
fn fit(rows: &mut [Row]) -> Option<Fit> {
    let beats_only: Vec<(f64, f64)> = rows
        .iter()
        .filter(|r| r.offered_tasks_per_s == 0 && r.kept_up)
        .filter_map(|r| Some((r.beats_per_s, leader_ms_per_s(r)?)))
        .collect();
    let (a, c) = line(&beats_only)?;
    for r in rows.iter_mut().filter(|r| r.dispatches_per_s > 0.0) {
        let left = leader_ms_per_s(r).map(|ms| ms - a * r.beats_per_s - c);
        r.leader_us_per_task = left.map(|ms| ms * 1000.0 / r.dispatches_per_s);
    }
    let per_task_us = rows
        .iter()
        .filter(|r| r.kept_up)
        .filter_map(|r| Some((r.leader_us_per_task?, r.dispatches_per_s)))
        .min_by(|x, y| x.0.total_cmp(&y.0));
    Some(Fit {
        per_beat_us: a * 1000.0,
        idle_ms_per_s: c,
        core_beats_per_s: (1000.0 - c) / a,
        per_task_us,
        core_tasks_per_s_at_1000_beats: per_task_us.map(|(us, _)| (1000.0 - c - a * 1000.0) * 1000.0 / us),
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
         deaths | leader CPU | leader µs/task | etcd CPU | fleet CPU | all CPU | kept up | verdict |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    let cpu = |r: &Row, n: &str| r.cpu_percent.get(n).map_or("-".into(), |p| format!("{p:.0}%"));
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {:.0} | {:.0} | {:.0} | {} / {} | {} | {} | {} | {} | {} | {:.0}% | {} | {} |\n",
            r.executors,
            r.offered_tasks_per_s,
            r.beats_per_s,
            r.unanswered_beats_per_s,
            r.dispatches_per_s,
            r.ack_ms.p50,
            r.ack_ms.p99,
            r.executors_declared_dead,
            cpu(r, "coord"),
            r.leader_us_per_task.map_or("-".into(), |us| format!("{us:.0}")),
            cpu(r, "etcd"),
            cpu(r, "fleet"),
            r.cpu_percent.values().sum::<f64>(),
            if r.kept_up { "yes" } else { "**no**" },
            r.verdict,
        ));
    }
    match fit {
        Some(f) => {
            out.push_str(&format!(
                "\nThe leader's CPU per beat, fitted over the levels without tasks that kept up (least squares): \
                 **{:.0} µs per beat** ({:.0} ms/s besides), so one core takes about **{:.0} beats/s** \
                 (h = 100 ms: {:.0} executors) with no task.",
                f.per_beat_us,
                f.idle_ms_per_s,
                f.core_beats_per_s,
                f.core_beats_per_s / 10.0,
            ));
            if let (Some((us, at)), Some(tasks)) = (f.per_task_us, f.core_tasks_per_s_at_1000_beats) {
                out.push_str(&format!(
                    " A task (its submit, persist, dispatch and completion) costs the leader what is left \
                     of its CPU once the beats are paid: it falls as the rate grows, because writes batch; \
                     at its lowest, **{us:.0} µs per task** at {at:.0} tasks/s, one core would take about \
                     **{tasks:.0} tasks/s** besides 1,000 beats/s.",
                ));
            }
            out.push('\n');
        }
        None => out.push_str("\nNo two levels without tasks: the leader's CPU per beat was not fitted.\n"),
    }
    let last_kept = rows.iter().filter(|r| r.kept_up).max_by(|a, b| a.dispatches_per_s.total_cmp(&b.dispatches_per_s));
    let first_lost = rows.iter().find(|r| !r.kept_up);
    if let Some(r) = last_kept {
        out.push_str(&format!(
            "\nThe busiest level that kept up: {} executors, {:.0} beats/s and {:.0} dispatches/s.",
            r.executors, r.beats_per_s, r.dispatches_per_s
        ));
    }
    match first_lost {
        Some(r) => out.push_str(&format!(
            " The first that did not: {} executors at {} tasks/s offered ({:.0} beats/s answered, {:.0} not; \
             {} executors declared dead), the processes using {:.0}% of one core in all on this \
             2-core machine, the leader {}.\n",
            r.executors,
            r.offered_tasks_per_s,
            r.beats_per_s,
            r.unanswered_beats_per_s,
            r.executors_declared_dead,
            r.cpu_percent.values().sum::<f64>(),
            cpu(r, "coord"),
        )),
        None => out.push_str(" Every level kept up.\n"),
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
    let fit = fit(&mut rows);
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
    fn the_line_recovers_a_known_cost() {
        let points: Vec<(f64, f64)> = [1000.0, 3000.0, 9000.0].iter().map(|&b| (b, 0.08 * b + 5.0)).collect();
        let (a, c) = line(&points).unwrap();
        assert!((a - 0.08).abs() < 1e-9 && (c - 5.0).abs() < 1e-6, "{a} {c}");
        assert!(line(&points[..1]).is_none(), "one level fits nothing");
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
