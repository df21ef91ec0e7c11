//! `faultline compare`: two settings of one scenario, run on the same seeds, side by side.
//! Pure: it reads two finished summaries (with recovery metrics) and says which setting
//! recovers faster, loses or duplicates less, and serves more, and by how much.

use super::ScenarioSummary;
use crate::report::metrics::Percentiles;

/// `new` against `old` in percent (negative: smaller), or `None` when `old` is 0.
fn change_percent(old: f64, new: f64) -> Option<f64> {
    (old != 0.0).then(|| (new - old) / old * 100.0)
}

fn describe(old: f64, new: f64) -> String {
    match change_percent(old, new) {
        Some(p) => format!("{p:+.0}%"),
        None if new == 0.0 => "same".into(),
        None => "new".into(),
    }
}

/// Tasks that succeeded per simulated second, over all seeds.
fn throughput(s: &ScenarioSummary) -> f64 {
    if s.sim_seconds > 0.0 {
        s.tasks.succeeded as f64 / s.sim_seconds
    } else {
        0.0
    }
}

/// The comparison table and the verdict lines. `a` is `--set`, `b` is `--vs`.
pub fn render(a_label: &str, a: &ScenarioSummary, b_label: &str, b: &ScenarioSummary) -> String {
    let mut out = format!("compare on {} paired seeds\n  A: {a_label}\n  B: {b_label}\n\n", a.seeds.min(b.seeds));
    out += &format!("  {:<34} {:>10} {:>10} {:>8}\n", "metric", "A", "B", "B vs A");
    // A value not measured (an empty sample) prints `-`, never 0.
    let mut row = |name: String, x: Option<f64>, y: Option<f64>| {
        let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.0}"));
        let change = match (x, y) {
            (Some(x), Some(y)) => describe(x, y),
            _ => "-".into(),
        };
        out += &format!("  {name:<34} {:>10} {:>10} {change:>8}\n", cell(x), cell(y));
    };
    let ms = |p: &Percentiles, value: fn(&Percentiles) -> u64| p.get(value).map(|v| v as f64);
    let kinds: std::collections::BTreeSet<&String> = a.recovery.keys().chain(b.recovery.keys()).collect();
    for kind in &kinds {
        let (ra, rb) =
            (a.recovery.get(*kind).cloned().unwrap_or_default(), b.recovery.get(*kind).cloned().unwrap_or_default());
        row(format!("{kind}: recovery p50 ms"), ms(&ra.recovery, |p| p.p50), ms(&rb.recovery, |p| p.p50));
        row(format!("{kind}: recovery p90 ms"), ms(&ra.recovery, |p| p.p90), ms(&rb.recovery, |p| p.p90));
        row(format!("{kind}: recovery p99 ms"), ms(&ra.recovery, |p| p.p99), ms(&rb.recovery, |p| p.p99));
        row(format!("{kind}: detection p50 ms"), ms(&ra.detection, |p| p.p50), ms(&rb.detection, |p| p.p50));
        row(format!("{kind}: never recovered"), Some(ra.never_recovered as f64), Some(rb.never_recovered as f64));
    }
    let count = |x: u64, y: u64| (Some(x as f64), Some(y as f64));
    let (x, y) = count(a.tasks.lost, b.tasks.lost);
    row("lost tasks".into(), x, y);
    let (x, y) = count(a.duplicate_applies, b.duplicate_applies);
    row("duplicate applies".into(), x, y);
    let (x, y) = count(a.fenced_rejections, b.fenced_rejections);
    row("fenced rejections".into(), x, y);
    let (x, y) = count(a.executors_declared_dead, b.executors_declared_dead);
    row("executors declared dead".into(), x, y);
    row("throughput, tasks per simulated s".into(), Some(throughput(a)), Some(throughput(b)));
    row("latency p99 ms".into(), ms(&a.latency, |p| p.p99), ms(&b.latency, |p| p.p99));
    out += "\n";
    out += &verdicts(a, b).join("\n");
    out += "\n";
    out
}

/// One sentence per axis: which setting is better, and by how much.
pub fn verdicts(a: &ScenarioSummary, b: &ScenarioSummary) -> Vec<String> {
    let mut lines = Vec::new();
    let safety = |s: &ScenarioSummary| s.tasks.lost + s.duplicate_applies + s.failed_seeds.len() as u64;
    match safety(a).cmp(&safety(b)) {
        std::cmp::Ordering::Equal if safety(a) == 0 => {
            lines.push("safety: both lose nothing and apply nothing twice".into())
        }
        std::cmp::Ordering::Equal => lines.push(format!("safety: both fail equally ({} violations)", safety(a))),
        std::cmp::Ordering::Less => {
            lines.push(format!("safety: A is safer ({} vs {} lost, duplicated or failed)", safety(a), safety(b)))
        }
        std::cmp::Ordering::Greater => {
            lines.push(format!("safety: B is safer ({} vs {} lost, duplicated or failed)", safety(b), safety(a)))
        }
    }
    for (kind, ra) in &a.recovery {
        let Some(rb) = b.recovery.get(kind) else { continue };
        let (Some(x), Some(y)) = (ra.recovery.get(|p| p.p99), rb.recovery.get(|p| p.p99)) else {
            let state = |r: &crate::report::suite::KindSummary| {
                if r.recovery.count == 0 {
                    "never recovered"
                } else {
                    "recovered"
                }
            };
            lines.push(format!("{kind}: recovery not comparable: A {}, B {}", state(ra), state(rb)));
            continue;
        };
        let (x, y) = (x as f64, y as f64);
        let line = match change_percent(x, y) {
            Some(p) if p <= -5.0 => format!("{kind}: B recovers faster, p99 {y:.0} ms vs {x:.0} ms ({:.0}% less)", -p),
            Some(p) if p >= 5.0 => {
                format!("{kind}: A recovers faster, p99 {x:.0} ms vs {y:.0} ms ({:.0}% less)", p / (1.0 + p / 100.0))
            }
            _ => format!("{kind}: recovery about the same, p99 {x:.0} ms vs {y:.0} ms"),
        };
        lines.push(line);
    }
    let (ta, tb) = (throughput(a), throughput(b));
    lines.push(match change_percent(ta, tb) {
        Some(p) if p.abs() >= 2.0 => {
            format!(
                "throughput: {} serves more, {:.1} vs {:.1} tasks/s ({:+.0}% for B)",
                if p > 0.0 { "B" } else { "A" },
                ta.max(tb),
                ta.min(tb),
                p
            )
        }
        _ => format!("throughput: about the same ({ta:.1} vs {tb:.1} tasks/s)"),
    });
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::metrics::Percentiles;
    use crate::report::suite::KindSummary;

    fn summary(p99: u64, succeeded: u64, lost: u64) -> ScenarioSummary {
        let mut s = ScenarioSummary { seeds: 10, sim_seconds: 100.0, ..Default::default() };
        s.tasks.succeeded = succeeded;
        s.tasks.lost = lost;
        s.recovery.insert(
            "crash".into(),
            KindSummary {
                count: 10,
                recovered: 10,
                recovery: Percentiles { count: 10, p50: p99 / 2, p90: p99, p99, max: p99 },
                ..Default::default()
            },
        );
        s
    }

    #[test]
    fn the_faster_setting_is_named_with_its_margin() {
        let v = verdicts(&summary(1000, 500, 0), &summary(400, 500, 0));
        assert_eq!(v[0], "safety: both lose nothing and apply nothing twice");
        assert_eq!(v[1], "crash: B recovers faster, p99 400 ms vs 1000 ms (60% less)");
        assert_eq!(v[2], "throughput: about the same (5.0 vs 5.0 tasks/s)");
        let v = verdicts(&summary(400, 600, 0), &summary(1000, 500, 2));
        assert_eq!(v[0], "safety: A is safer (0 vs 2 lost, duplicated or failed)");
        assert_eq!(v[1], "crash: A recovers faster, p99 400 ms vs 1000 ms (60% less)");
        assert_eq!(v[2], "throughput: A serves more, 6.0 vs 5.0 tasks/s (-17% for B)");
    }

    #[test]
    fn the_table_lists_each_kind_and_the_change() {
        let text = render("h=100", &summary(1000, 500, 0), "h=1000", &summary(4000, 500, 0));
        assert!(text.contains("compare on 10 paired seeds"), "{text}");
        assert!(text.contains("crash: recovery p99 ms"), "{text}");
        assert!(text.contains("+300%"), "{text}");
    }

    /// A kind with no firing that recovered is `-`, never 0, and its verdict says so.
    #[test]
    fn a_kind_that_never_recovered_shows_dash_not_zero() {
        let mut never = summary(1000, 500, 0);
        let crash = never.recovery.get_mut("crash").unwrap();
        (crash.recovered, crash.never_recovered, crash.recovery) = (0, 10, Percentiles::default());
        let text = render("A", &summary(1000, 500, 0), "B", &never);
        let line = text.lines().find(|l| l.contains("crash: recovery p99 ms")).unwrap();
        assert_eq!(line.split_whitespace().collect::<Vec<_>>()[4..], ["1000", "-", "-"], "{line}");
        assert!(text.contains("crash: recovery not comparable: A recovered, B never recovered"), "{text}");
    }
}
