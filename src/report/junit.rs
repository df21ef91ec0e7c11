//! `junit.xml` for CI systems: one test case per scenario; a failing scenario carries its
//! violations and the command that reproduces each failed seed.

use super::ScenarioSummary;

/// Escapes text for an XML attribute or element.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The JUnit XML of a suite named `suite`.
pub fn render(suite: &str, scenarios: &[ScenarioSummary]) -> String {
    let failures = scenarios.iter().filter(|s| !s.passed()).count();
    let time: f64 = scenarios.iter().map(|s| s.wall_seconds).sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out += &format!(
        "<testsuites name=\"faultline\" tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">\n",
        scenarios.len()
    );
    out += &format!(
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" time=\"{time:.3}\">\n",
        xml(suite),
        scenarios.len()
    );
    for s in scenarios {
        out += &format!(
            "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\">\n",
            xml(&s.path),
            xml(&s.name),
            s.wall_seconds
        );
        if !s.passed() {
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
            out +=
                &format!("      <failure message=\"{}\" type=\"invariant\">{}</failure>\n", xml(&message), xml(&body));
        }
        out += &format!("      <system-out>{}</system-out>\n", xml(&s.render()));
        out += "    </testcase>\n";
    }
    out += "  </testsuite>\n</testsuites>\n";
    out
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
        assert!(xml.contains("<testsuites name=\"faultline\" tests=\"2\" failures=\"1\""), "{xml}");
        assert!(xml.contains("<testcase classname=\"scenarios/a&lt;b.toml\" name=\"a&lt;b\""), "{xml}");
        assert_eq!(xml.matches("<testcase ").count(), 2);
        assert_eq!(xml.matches("<failure ").count(), 1);
        assert!(xml.contains("message=\"1 of 3 seeds failed: lost_task x1\""), "{xml}");
        assert!(xml.contains(">scripts/faultline run scenarios/c.toml --seed 7</failure>"), "{xml}");
    }
}
