//! The CLI end to end (simulator build): sharded suites merge into the report of one run.
#![cfg(madsim)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn faultline(args: &[&str]) -> bool {
    let status =
        Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).env("CI", "true").status().expect("faultline runs");
    status.success()
}

/// summary.json without what depends on the machine (wall time).
fn summary(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written");
    let mut json: Value = serde_json::from_str(&text).expect("summary.json parses");
    for scenario in json["scenarios"].as_array_mut().expect("scenarios") {
        scenario.as_object_mut().expect("a scenario object").remove("wall_seconds");
    }
    json
}

#[test]
fn shards_merge_into_the_report_of_one_machine() {
    let tmp = std::env::temp_dir().join(format!("faultline-shards-{}", std::process::id()));
    let dir = |name: &str| tmp.join(name).display().to_string();
    let scenarios = ["scenarios/failover/leader-crash.toml", "scenarios/faults/drop-response.toml"];
    let run = |extra: &[&str], out: &str| {
        let mut args = vec!["suite"];
        args.extend(scenarios);
        args.extend(["--seeds", "5", "--first-seed", "3", "--report", out]);
        args.extend(extra);
        assert!(faultline(&args), "suite {extra:?} passes");
    };
    run(&[], &dir("one"));
    run(&["--shard", "1/2"], &dir("shard-1"));
    run(&["--shard", "2/2"], &dir("shard-2"));
    assert!(faultline(&["report", "merge", &dir("shard-1"), &dir("shard-2"), "--out", &dir("merged")]));
    let (one, merged) = (summary(&tmp.join("one")), summary(&tmp.join("merged")));
    assert_eq!(one["scenarios"][0]["seeds"], 5);
    assert_eq!(one["scenarios"][0]["trace_hashes"].as_object().unwrap().len(), 5);
    assert_eq!(merged, one, "the merged shards' summary equals the one-machine summary");
    // Each shard ran only its seeds.
    let shard = summary(&tmp.join("shard-1"));
    let seeds: Vec<&String> = shard["scenarios"][0]["trace_hashes"].as_object().unwrap().keys().collect();
    assert_eq!(seeds, ["3", "5", "7"]);
    std::fs::remove_dir_all(&tmp).unwrap();
}
