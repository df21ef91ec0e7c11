//! `junit.xml` for CI systems, written with quick-junit (nextest's JUnit writer, which
//! escapes and drops what XML cannot hold): one test case per scenario; a failing scenario
//! carries its violations and the command that reproduces each failed seed.

use super::ScenarioSummary;
use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
use std::time::Duration;

/// The JUnit XML of a suite named `suite`.
pub fn render(suite: &str, scenarios: &[ScenarioSummary]) -> String {
    let time = Duration::from_secs_f64(scenarios.iter().map(|s| s.wall_seconds).sum::<f64>().max(0.0));
    let mut test_suite = TestSuite::new(suite);
    test_suite.set_time(time);
    for s in scenarios {
        let status = if s.passed() {
            TestCaseStatus::success()
        } else {
            let violations: Vec<String> = s.violations.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            let message = format!(
                "{} of {} seeds failed: {}",
                s.failed_seeds.len(),
                s.seeds,
                if violations.is_empty() { "nondeterministic".to_string() } else { violations.join(", ") }
            );
            let mut body = s.reproduce.join("\n");
            for seed in &s.nondeterministic_seeds {
                body += &format!("\nseed {seed} gave two different histories");
            }
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            status.set_message(message).set_type("invariant").set_description(body);
            status
        };
        let mut case = TestCase::new(s.name.as_str(), status);
        case.set_classname(s.path.as_str())
            .set_time(Duration::from_secs_f64(s.wall_seconds.max(0.0)))
            .set_system_out(s.render());
        test_suite.add_test_case(case);
    }
    let mut report = Report::new("faultline");
    report.set_time(time).add_test_suite(test_suite);
    report.to_string().expect("a JUnit report of strings serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(name: &str, failed: &[u64]) -> ScenarioSummary {
        let mut s = ScenarioSummary {
            name: name.into(),
            path: format!("scenarios/{name}.toml"),
            seeds: 3,
            ..Default::default()
        };
        for seed in failed {
            s.failed_seeds.push(*seed);
            s.reproduce.push(format!("scripts/faultline run scenarios/{name}.toml --seed {seed}"));
            *s.violations.entry("lost_task".into()).or_default() += 1;
        }
        s
    }

    #[test]
    fn one_case_per_scenario_and_failures_carry_the_reproduce_command() {
        let xml = render("faults", &[summary("a<b", &[]), summary("c", &[7])]);
        assert!(xml.contains("<testsuites name=\"faultline\" tests=\"2\" skipped=\"0\" failures=\"1\""), "{xml}");
        assert!(xml.contains("name=\"a&lt;b\" classname=\"scenarios/a&lt;b.toml\""), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(xml.contains("message=\"1 of 3 seeds failed: lost_task x1\""), "{xml}");
        assert!(xml.contains(">scripts/faultline run scenarios/c.toml --seed 7</failure>"), "{xml}");
    }
}
