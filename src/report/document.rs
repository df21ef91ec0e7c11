//! The human documents of a report: `summary.md` (tables for a pull request) and
//! `index.html` (one self-contained page: inline CSS, inline SVG plots, nothing loaded from
//! the network). The metrics are defined in reports/METRICS.md.

use super::suite::{slug, ScenarioReport};
use super::ScenarioSummary;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::path::{Path, PathBuf};

fn status(s: &ScenarioSummary) -> &'static str {
    if s.passed() {
        "PASS"
    } else {
        "FAIL"
    }
}

/// A max over its bound is flagged in the cell.
fn against(p: &crate::report::metrics::Percentiles, bound: Option<u64>) -> String {
    match (p.count, bound) {
        (0, _) => "-".into(),
        (_, Some(bound)) if p.max > bound => format!("{} (over {bound})", p.max),
        _ => p.max.to_string(),
    }
}

fn recovery_rows(s: &ScenarioSummary) -> Vec<[String; 10]> {
    s.recovery
        .iter()
        .map(|(kind, r)| {
            [
                kind.clone(),
                r.count.to_string(),
                r.never_recovered.to_string(),
                r.detection.cell(|p| p.p50),
                against(&r.detection, r.detection_bound),
                r.failover.cell(|p| p.p50),
                against(&r.failover, r.failover_bound),
                r.recovery.cell(|p| p.p50),
                r.recovery.cell(|p| p.p99),
                against(&r.recovery, r.recovery_bound),
            ]
        })
        .collect()
}

/// One row per fault kind and what it hit (`crash (leader)`, `crash (executors)`):
/// detection, failover and recovery maxima are held to that hit's bounds
/// (`RecoveryBounds::for_hit`; recovery's is the backlog model).
const RECOVERY_HEADER: [&str; 10] = [
    "fault kind",
    "firings",
    "never recovered",
    "detection p50 ms",
    "detection max ms",
    "failover p50 ms",
    "failover max ms",
    "recovery p50 ms",
    "recovery p99 ms",
    "recovery max ms",
];

/// What failed, one line per failed seed (its first violation), for a failing scenario.
fn failure_lines(s: &ScenarioSummary) -> Vec<String> {
    if s.passed() {
        return Vec::new();
    }
    let mut lines: Vec<String> = s
        .first_violations
        .iter()
        .map(|v| format!("seed {}: {} at {} ms: {}", v.seed, v.kind, v.at_ms, v.message))
        .collect();
    if s.failed_seeds.len() > s.first_violations.len() {
        lines.push(format!("... {} more failed seeds", s.failed_seeds.len() - s.first_violations.len()));
    }
    if let (Some(expect), Some(caught)) = (&s.expect, &s.caught_seeds) {
        if caught.is_empty() {
            lines.push(format!("expected {expect}: not caught in {} seeds", s.seeds));
        }
    }
    for seed in &s.nondeterministic_seeds {
        lines.push(format!("seed {seed} gave two different histories (nondeterministic)"));
    }
    lines
}

fn tasks_line(s: &ScenarioSummary) -> String {
    format!(
        "{} acked, {} succeeded, {} dead-lettered, **{} lost**; **{} duplicate applies**, {} fenced rejections; \
         {} retries; latency p50 {} ms, p99 {} ms, max {} ms; unavailable per seed p50 {} ms, max {} ms",
        s.tasks.acked,
        s.tasks.succeeded,
        s.tasks.dead_lettered,
        s.tasks.lost,
        s.duplicate_applies,
        s.fenced_rejections,
        s.retries,
        s.latency.p50,
        s.latency.p99,
        s.latency.max,
        s.unavailable_ms.p50,
        s.unavailable_ms.max
    )
}

/// What the safety checkers pass but a user still cares about: the share of acknowledged
/// tasks that succeeded and were dead-lettered, verdicts no fault explains, deposed
/// leaders' acts, and scheduled fires (the `goodput`, `verdicts`, `stale_leader` and
/// `fires` checkers' tallies, summed over seeds).
fn quality_line(s: &ScenarioSummary) -> String {
    let share = |n: u64| {
        if s.tasks.acked == 0 {
            "-".into()
        } else {
            format!("{:.2}%", n as f64 * 100.0 / s.tasks.acked as f64)
        }
    };
    let (v, a) = (&s.false_verdicts, &s.stale_acts);
    let mut line = format!(
        "Goodput {} of acknowledged tasks succeeded, {} dead-lettered; no fault explains {} executor deaths, \
         {} quarantines, {} leader step-downs; deposed leaders acted {} times ({} explained by a clock fault)",
        share(s.tasks.succeeded),
        share(s.tasks.dead_lettered),
        v.false_deaths,
        v.false_quarantines,
        v.unforced_failovers,
        a.stale_acts,
        a.stale_acts_clock_explained,
    );
    if !s.fires.is_empty() {
        let f = &s.fires;
        line += &format!(
            "; {} fires, {} instants skipped by policy, latest start {} ms after its instant",
            f.fired, f.instants_skipped, f.lateness_max_ms
        );
    }
    line + "."
}

/// `summary.md`.
pub fn markdown(suite: &str, reports: &[ScenarioReport]) -> String {
    let passed = reports.iter().filter(|r| r.summary.passed()).count();
    let mut out = format!(
        "# faultline report: {suite}\n\n{} scenarios, {passed} passed, {} failed. Metrics are defined in \
         `reports/METRICS.md` of the faultline repository.\n\n",
        reports.len(),
        reports.len() - passed
    );
    out += "| scenario | status | seeds | failed | lost | duplicate applies | leader elections | latency p99 ms |\n";
    out += "|---|---|---|---|---|---|---|---|\n";
    for r in reports {
        let s = &r.summary;
        out += &format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            s.name,
            status(s),
            s.seeds,
            s.failed_seeds.len(),
            s.tasks.lost,
            s.duplicate_applies,
            s.leader_changes,
            s.latency.p99
        );
    }
    for r in reports {
        let s = &r.summary;
        out += &format!("\n## {} {}\n\n`{}`: {} seeds. {}\n\n", status(s), s.name, s.path, s.seeds, tasks_line(s));
        out += &format!("{}\n\n", quality_line(s));
        if let Some(b) = &s.bounds {
            out += &format!("{}\n\n", b.sentence());
        }
        if !s.recovery.is_empty() {
            out += &format!("| {} |\n|{}\n", RECOVERY_HEADER.join(" | "), "---|".repeat(RECOVERY_HEADER.len()));
            for row in recovery_rows(s) {
                out += &format!("| {} |\n", row.join(" | "));
            }
            out += "\n";
        }
        for line in failure_lines(s) {
            out += &format!("- **{line}**\n");
        }
        for cmd in &s.reproduce {
            out += &format!("- reproduce: `{cmd}`\n");
        }
        for file in &s.saved {
            out += &format!("- saved: `{file}` (replay: `scripts/faultline replay {file}`)\n");
        }
        let stem = slug(&s.name);
        out += &format!(
            "Plots: [recovery CDF]({stem}-recovery-cdf.svg), [timeline]({stem}-timeline.svg), \
             [latency]({stem}-latency.svg), [recovery per seed]({stem}-recovery-per-seed.svg)\n"
        );
    }
    out
}

/// Drops an SVG's XML declaration, so it can sit inline in HTML.
fn inline_svg(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1000px;color:#212121}\
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}\
th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}.PASS{color:#1b7a1b}.FAIL{color:#b00020}\
figure{margin:1rem 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}code{background:#f4f4f4}";

/// The page checks itself once loaded: every figure holds a rendered SVG. The result is
/// written into `body[data-check]` for scripts/check-report (headless Chromium).
const SELF_CHECK: &str = "window.addEventListener('load',function(){var f=document.querySelectorAll('figure');\
var bad=0;f.forEach(function(x){var s=x.querySelector('svg');if(!s||s.getBBox().width<=0){bad++;}});\
document.querySelectorAll('img').forEach(function(i){if(!i.complete||i.naturalWidth===0){bad++;}});\
document.body.setAttribute('data-check',bad===0?'ok '+f.length+' plots':'broken '+bad);});";

/// `index.html`: `plots[i]` are the SVGs of `reports[i]`. Written with maud, which
/// escapes every interpolated string; only the SVGs, the style and the self-check script
/// go in unescaped (`PreEscaped`), as they are ours.
pub fn html(suite: &str, reports: &[ScenarioReport], plots: &[Vec<(&'static str, String)>]) -> String {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "faultline report: " (suite) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "faultline report: " (suite) }
                table {
                    tr {
                        @for h in ["scenario", "status", "seeds", "failed", "lost", "duplicate applies", "latency p99 ms"] {
                            th { (h) }
                        }
                    }
                    @for r in reports {
                        @let s = &r.summary;
                        tr {
                            td { a href={ "#" (slug(&s.name)) } { (s.name) } }
                            td class=(status(s)) { (status(s)) }
                            td { (s.seeds) }
                            td { (s.failed_seeds.len()) }
                            td { (s.tasks.lost) }
                            td { (s.duplicate_applies) }
                            td { (s.latency.cell(|p| p.p99)) }
                        }
                    }
                }
                p { "Metrics are defined in " code { "reports/METRICS.md" } "." }
                @for (r, svgs) in reports.iter().zip(plots) {
                    (scenario_html(r, svgs))
                }
                script { (PreEscaped(SELF_CHECK)) }
            }
        }
    };
    page.into_string() + "\n"
}

fn scenario_html(r: &ScenarioReport, svgs: &[(&'static str, String)]) -> Markup {
    let s = &r.summary;
    html! {
        section id=(slug(&s.name)) {
            h2 { span class=(status(s)) { (status(s)) } " " (s.name) }
            p { code { (s.path) } ": " (s.seeds) " seeds. " (tasks_line(s).replace("**", "")) }
            p { (quality_line(s)) }
            @if let Some(b) = &s.bounds {
                p { (b.sentence()) }
            }
            @if !s.recovery.is_empty() {
                table {
                    tr { @for h in RECOVERY_HEADER { th { (h) } } }
                    @for row in recovery_rows(s) {
                        tr { @for cell in row { td { (cell) } } }
                    }
                }
            }
            @let failures = failure_lines(s);
            @if !failures.is_empty() {
                ul class="FAIL" { @for line in failures { li { (line) } } }
            }
            @for cmd in &s.reproduce {
                p { "reproduce: " code { (cmd) } }
            }
            @for file in &s.saved {
                p { "saved: " code { (file) } " (replay: " code { "scripts/faultline replay " (file) } ")" }
            }
            @if let Some(t) = &r.timeline {
                @match &t.violation {
                    Some((at, what)) => p {
                        "The timeline shows seed " (t.seed) ", the first failing seed: its first violation, "
                        (what) " at " (format!("{at:.3}")) " s, is the red line."
                    },
                    None => p { "The timeline shows seed " (t.seed) ", the seed with the slowest recovery." },
                }
            }
            @for (name, svg) in svgs {
                figure id={ (slug(&s.name)) "-" (name) } { (PreEscaped(inline_svg(svg))) }
            }
        }
    }
}

/// Writes every report file under `dir`; returns the paths written.
pub fn write(dir: &Path, suite: &str, reports: &[ScenarioReport]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut put = |name: String, text: &str| -> std::io::Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    let summaries: Vec<&ScenarioSummary> = reports.iter().map(|r| &r.summary).collect();
    let json = serde_json::to_string_pretty(&super::summary_json(suite, &summaries)).expect("summaries serialize");
    put("summary.json".into(), &(json + "\n"))?;
    let mut plots = Vec::new();
    for r in reports {
        let stem = slug(&r.summary.name);
        let svgs = r.plots();
        for (plot, svg) in &svgs {
            put(format!("{stem}-{plot}.svg"), svg)?;
        }
        plots.push(svgs);
    }
    put("summary.md".into(), &markdown(suite, reports))?;
    put("index.html".into(), &html(suite, reports, &plots))?;
    let owned: Vec<ScenarioSummary> = summaries.into_iter().cloned().collect();
    put("junit.xml".into(), &super::junit::render(suite, &owned))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::suite::tests::report;

    #[test]
    fn the_report_writes_every_file_and_the_page_embeds_every_plot() {
        let dir = std::env::temp_dir().join(format!("faultline-report-{}", std::process::id()));
        let written = write(&dir, "faults", &[report()]).unwrap();
        let names: Vec<String> =
            written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        for name in [
            "summary.json",
            "summary.md",
            "index.html",
            "junit.xml",
            "s_x-recovery-cdf.svg",
            "s_x-timeline.svg",
            "s_x-latency.svg",
            "s_x-recovery-per-seed.svg",
        ] {
            assert!(names.contains(&name.to_string()), "{name} in {names:?}");
        }
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
        let crash = &json["scenarios"][0]["recovery"]["crash (executors)"];
        assert_eq!(
            (&crash["detection_bound"], &crash["failover_bound"]),
            (&serde_json::json!(359), &serde_json::json!(1_289))
        );
        assert_eq!(json["scenarios"][0]["latency"]["p99"], 30);
        let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
        assert_eq!(html.matches("<figure").count(), 4);
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "self-contained");
        let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        assert!(md.contains("| crash (executors) | 3 | 1 | 300 | 300 | 350 | 350 | 400 | 800 | 800 |"), "{md}");
        let quality = quality_line(&report().summary);
        assert!(quality.starts_with("Goodput ") && md.contains(&quality) && html.contains(&quality), "{quality}");
        assert_eq!((json["schema"].as_u64(), json["passed"].as_bool()), (Some(3), Some(true)));
        assert_eq!(json["scenarios"][0]["passed"], true);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_quality_line_gives_goodput_and_the_verdicts_no_fault_explains() {
        let mut s = report().summary;
        s.tasks = crate::report::TaskCounts { acked: 800, succeeded: 792, dead_lettered: 8, lost: 0 };
        s.false_verdicts.false_deaths = 3;
        s.stale_acts.stale_acts = 2;
        s.stale_acts.stale_acts_clock_explained = 1;
        assert_eq!(
            quality_line(&s),
            "Goodput 99.00% of acknowledged tasks succeeded, 1.00% dead-lettered; no fault explains 3 executor deaths, \
             0 quarantines, 0 leader step-downs; deposed leaders acted 2 times (1 explained by a clock fault)."
        );
    }

    #[test]
    fn empty_samples_are_dashes_and_a_max_over_its_bound_says_so() {
        use crate::report::metrics::Percentiles;
        let p = Percentiles { count: 4, p50: 300, p90: 380, p99: 400, max: 400 };
        assert_eq!(against(&p, Some(359)), "400 (over 359)");
        assert_eq!(against(&p, Some(400)), "400");
        assert_eq!(against(&p, None), "400", "no bound, no flag");
        assert_eq!(against(&Percentiles::default(), Some(359)), "-");
        assert_eq!(Percentiles::default().cell(|p| p.p50), "-");
        let json = serde_json::to_value(Percentiles::default()).unwrap();
        assert_eq!(json, serde_json::json!({ "count": 0, "p50": null, "p90": null, "p99": null, "max": null }));
    }

    #[test]
    fn a_failing_report_names_the_violation_and_the_seed_in_every_document() {
        let mut r = report();
        r.summary.failed_seeds = vec![2];
        r.summary.violations.insert("lost_task".into(), 1);
        r.summary.reproduce = vec!["scripts/faultline run scenarios/x.toml --seed 2".into()];
        let message = "task t4-184 (key task-0000183) was acknowledged but never succeeded or dead-lettered";
        let first =
            crate::report::FirstViolation { seed: 2, kind: "lost_task".into(), at_ms: 1927, message: message.into() };
        r.summary.first_violations = vec![first];
        let line = format!("seed 2: lost_task at 1927 ms: {message}");
        let md = markdown("faults", std::slice::from_ref(&r));
        assert!(md.contains(&format!("- **{line}**")), "{md}");
        let page = html("faults", std::slice::from_ref(&r), &[Vec::new()]);
        assert!(page.contains(&format!("<li>{line}</li>")), "{page}");
        // Interpolated text is escaped: a scenario named like markup stays text.
        r.summary.name = "<script>x</script>".into();
        let page = html("faults", std::slice::from_ref(&r), &[Vec::new()]);
        assert!(page.contains("&lt;script&gt;x&lt;/script&gt;") && !page.contains("<script>x"), "{page}");
        let json = crate::report::summary_json("faults", &[&r.summary]);
        assert_eq!(json["passed"], false);
        assert_eq!(json["totals"]["failed"], 1);
        assert_eq!(json["scenarios"][0]["first_violations"][0]["message"], message);
        // A known-bug scenario lists the seeds that caught its bug, not "failed" seeds.
        r.summary.expect = Some("lost_task".into());
        r.summary.caught_seeds = Some(vec![2]);
        let json = crate::report::summary_json("bugs", &[&r.summary]);
        assert_eq!((json["passed"].as_bool(), json["scenarios"][0]["caught_on"][0].as_u64()), (Some(true), Some(2)));
        assert!(json["scenarios"][0].get("failed_seeds").is_none());
    }
}
