use super::*;
use std::path::Path;

fn parse(text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse(Path::new("s/x.toml"), text)
}

#[test]
fn empty_file_gives_every_default() {
    let s = parse("").unwrap();
    assert_eq!(s.name, "x");
    assert_eq!(s.topology, Topology::default());
    assert_eq!(s.scheduler, Scheduler::default());
    assert_eq!(s.workload, Workload::default());
    assert!(s.faults.is_empty());
}

#[test]
fn unknown_keys_name_file_line_col_and_the_expected_keys() {
    let err = parse("[topology]\ncoordinators = 3\nexecutor = 2\n").unwrap_err();
    assert_eq!((err.line, err.col), (3, 1));
    let text = err.to_string();
    assert!(text.starts_with("s/x.toml:3:1: unknown field `executor`, expected one of"), "{text}");
    assert!(text.contains("`executors`"), "{text}");
}

#[test]
fn out_of_range_values_say_what_was_expected() {
    let err = parse("[scheduler]\nmissed_beats = 0\n").unwrap_err();
    assert_eq!(err.to_string(), "s/x.toml:2:16: expected an integer in 1..=100, found 0");
    let err = parse("[workload]\nfail_probability = 1.5\n").unwrap_err();
    assert_eq!(err.to_string(), "s/x.toml:2:20: expected a probability in 0.0..=1.0, found 1.5");
}

#[test]
fn inverted_duration_range_is_an_error() {
    let err = parse("[workload]\nduration_ms = { min = 50, max = 10 }\n").unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.message.contains("expected min <= max"), "{}", err.message);
}

#[test]
fn faults_parse_and_unknown_targets_are_located() {
    let ok = "[[faults]]\nat_ms = 5000\nkind = \"crash\"\ntarget = \"leader\"\nrestart_after_ms = 2000\n";
    let s = parse(ok).unwrap();
    assert_eq!(s.faults[0].target, Target::Leader);
    assert_eq!(s.faults[0].restart_after_ms, Some(2000));
    let s = parse(&ok.replace("leader", "exec-2")).unwrap();
    assert_eq!(s.faults[0].target, Target::Node("exec-2".into()));
    let err = parse(&ok.replace("leader", "exec-9")).unwrap_err();
    assert_eq!((err.line, err.col), (4, 10));
    assert!(err.message.starts_with("unknown target `exec-9`"), "{}", err.message);
    let err = parse(&ok.replace("crash", "explode")).unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.message.contains("unknown variant `explode`"), "{}", err.message);
}

#[test]
fn backoff_base_above_max_points_at_the_key() {
    let err = parse("[retry]\nbackoff_max_ms = 10\nbackoff_base_ms = 20\n").unwrap_err();
    assert_eq!((err.line, err.col), (3, 1));
}
