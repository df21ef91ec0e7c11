//! faultline from `cargo test`: the library entry point as a user's test tree would use it
//! (README, "faultline from cargo test"). Compiled only in the simulator build.
#![cfg(madsim)]

use faultline::scenario::Scenario;
use faultline::sim::{Passed, Simulation};
use std::path::Path;

/// A scenario file on five seeds: every seed passes.
#[test]
fn a_leader_crash_loses_nothing() {
    let passed = Simulation::load("scenarios/failover/leader-crash.toml").unwrap().assert_passes(1..=5);
    assert_eq!(passed, Passed { seeds_run: 5, caught_on: None });
}

/// A scenario built in code, one seed, its outcome read directly.
#[test]
fn a_scenario_built_in_code() {
    let text = "[topology]\ncoordinators = 1\nexecutors = 2\n[workload]\ntasks = 50\n";
    let mut scenario = Scenario::parse(Path::new("tiny.toml"), text).unwrap();
    scenario.workload.arrival_rate_per_s = 200;
    let outcome = Simulation::new(scenario).run(7);
    assert!(outcome.passed(), "{:?}", outcome.check.violations);
    assert_eq!(outcome.check.counts.acked, 50);
}

/// A failing seed: the check stops there, saves a reproduction file, and the message names
/// the seed, the violation and the commands that replay and shrink it.
#[test]
fn a_failure_names_its_seed_and_how_to_reproduce_it() {
    let text = std::fs::read_to_string("scenarios/bugs/no-sink-fencing.toml").unwrap().replace("expect = ", "# ");
    let dir = std::env::temp_dir().join(format!("faultline-api-{}", std::process::id()));
    std::env::set_var("FAULTLINE_FAILURES", &dir);
    let scenario = Scenario::parse(Path::new("unfenced.toml"), &text).unwrap();
    let failure = Simulation::new(scenario).check(1..=20).expect_err("the bug shows");
    let message = failure.to_string();
    let seed = failure.seed.expect("a failing seed");
    assert!(message.starts_with(&format!("scenario unfenced failed on seed {seed}")), "{message}");
    assert!(message.contains("violation duplicate_apply on "), "{message}");
    let saved = failure.saved.clone().expect("a reproduction file");
    assert!(message.contains(&format!("scripts/faultline replay {}", saved.display())), "{message}");
    let again = Simulation::load(&saved).unwrap().run(seed);
    let recorded = Scenario::load(&saved).unwrap().reproduce.unwrap();
    assert_eq!(format!("{:016x}", again.hash), recorded.trace_hash, "the saved file replays the failing run");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A scenario that expects a violation passes when a seed shows it, and fails (saying so)
/// when none does.
#[test]
fn an_expected_violation_must_be_caught() {
    let bug = Simulation::load("scenarios/bugs/no-sink-fencing.toml").unwrap();
    let passed = bug.check(1..=20).expect("the catalog entry is caught");
    assert!(passed.caught_on.is_some());
    let text = std::fs::read_to_string("scenarios/bugs/no-sink-fencing.toml").unwrap().replace("bugs = ", "# ");
    let correct = Simulation::new(Scenario::parse(Path::new("fenced.toml"), &text).unwrap());
    let failure = correct.check(1..=2).expect_err("without the bug nothing is caught");
    assert_eq!(failure.to_string(), "scenario fenced: no seed of 2 showed the expected duplicate_apply");
}
