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

fn status(args: &[&str]) -> i32 {
    let out =
        Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).env("CI", "true").output().expect("faultline runs");
    out.status.code().expect("an exit code")
}

/// The documented exit codes, and the path a user takes from a failing suite to a minimal
/// reproduction: suite (1, a file saved) -> replay (0, same hash) -> shrink (0) -> replay (0).
#[test]
fn a_failure_goes_from_suite_to_replay_to_shrink_with_the_documented_exit_codes() {
    let tmp = std::env::temp_dir().join(format!("faultline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let swarm = std::fs::read_to_string("scenarios/chaos/swarm.toml").unwrap();
    let buggy = tmp.join("buggy.toml");
    std::fs::write(&buggy, format!("bugs = [\"no_sink_fencing\"]\n{swarm}")).unwrap();
    let failures = tmp.join("failures");
    let (buggy_s, failures_s) = (buggy.display().to_string(), failures.display().to_string());
    let code = status(&["suite", &buggy_s, "--seeds", "50", "--fail-fast", "--failures", &failures_s]);
    assert_eq!(code, 1, "a failing suite exits 1");
    let saved: Vec<_> = std::fs::read_dir(&failures).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(saved.len(), 1, "--fail-fast stops at the first failing seed, which is saved: {saved:?}");
    let file = saved[0].display().to_string();
    let replays = tmp.join("replay").display().to_string();
    let (code, out, err) = output(&["replay", &file, "--out", &replays]);
    assert_eq!(code, 0, "the replay has the failing run's trace hash: {out}");
    assert!(out.contains("\nreproduced: trace hash "), "{out}");
    assert!(err.is_empty(), "no logs without -v: {} bytes", err.len());
    let (_, _, err) = output(&["replay", &file, "--out", &replays, "-v"]);
    assert!(err.contains("DEBUG"), "-v logs the run");
    let minimal = tmp.join("minimal.toml").display().to_string();
    assert_eq!(status(&["shrink", &file, "--out", &minimal]), 0, "shrink writes a minimal failing file");
    assert_eq!(status(&["replay", &minimal, "--out", &replays]), 0, "the minimal file replays identically");
    // Each input's outputs keep their own names: the minimal file's replay did not
    // overwrite the first.
    let stem = saved[0].file_stem().unwrap().to_string_lossy().into_owned();
    let written: Vec<String> = std::fs::read_dir(tmp.join("replay"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".timeline.txt"))
        .collect();
    assert!(written.contains(&format!("{stem}.timeline.txt")), "{written:?}");
    assert!(written.iter().any(|n| n.starts_with("minimal-seed-")), "{written:?}");
    // A saved file whose run no longer matches says which of the three happened.
    let saved_text = std::fs::read_to_string(&saved[0]).unwrap();
    let hash = saved_text.lines().find_map(|l| l.strip_prefix("trace_hash = ")).unwrap().to_string();
    let edited = tmp.join("edited.toml");
    let stale = saved_text.replace(&hash, "\"0000000000000000\"");
    std::fs::write(&edited, &stale).unwrap();
    let (code, out, _) = output(&["replay", &edited.display().to_string(), "--out", &replays]);
    assert_eq!(code, 1);
    assert!(out.contains("\nnot reproduced: same build ("), "{out}");
    let fixed = stale.replace("bugs = [\"no_sink_fencing\"]\n", "");
    std::fs::write(&edited, &fixed).unwrap();
    let (code, out, _) = output(&["replay", &edited.display().to_string(), "--out", &replays]);
    assert_eq!(code, 1);
    assert!(out.contains("\npasses now: same build ("), "{out}");
    let build = fixed.lines().find_map(|l| l.strip_prefix("build = ")).unwrap().to_string();
    std::fs::write(&edited, fixed.replace(&build, "\"0.0.1 000000000000 simulator\"")).unwrap();
    let (code, out, _) = output(&["replay", &edited.display().to_string(), "--out", &replays]);
    assert_eq!(code, 1);
    assert!(out.contains("\ndifferent build: saved by 0.0.1 000000000000 simulator, this is "), "{out}");
    assert!(out.contains("and now passes"), "{out}");
    // A bad scenario is an input error: 2.
    let bad = tmp.join("bad.toml");
    std::fs::write(&bad, "[topology]\nexecutor = 3\n").unwrap();
    assert_eq!(status(&["suite", &bad.display().to_string(), "--seeds", "1"]), 2);
    std::fs::remove_dir_all(&tmp).unwrap();
}

fn output(args: &[&str]) -> (i32, String, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_faultline")).args(args).env("CI", "true").output().expect("faultline runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().expect("an exit code"), text(&out.stdout), text(&out.stderr))
}

/// What CI relies on: a suite that ran no seed is an error (2), never a pass; a failing
/// suite ends by naming each failing scenario with its reproduce commands; a command of the
/// other build and a missing file say so plainly.
#[test]
fn ci_safe_exits_and_a_recap_that_names_the_failure() {
    let scenario = "scenarios/faults/delay.toml";
    for args in [vec!["--seeds", "0"], vec!["--seeds", "2", "--shard", "3/3"]] {
        let mut all = vec!["suite", scenario];
        all.extend(&args);
        let (code, _, err) = output(&all);
        assert_eq!(code, 2, "{args:?}: no seed ran, so the suite fails as an input error: {err}");
        assert!(err.contains("no seed ran"), "{err}");
    }
    let tmp = std::env::temp_dir().join(format!("faultline-recap-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let buggy = tmp.join("unfenced.toml");
    let text =
        std::fs::read_to_string("scenarios/bugs/no-sink-fencing.toml").unwrap().replace("expect = ", "# expect = ");
    std::fs::write(&buggy, text).unwrap();
    let failures = tmp.join("failures").display().to_string();
    let (code, out, _) =
        output(&["suite", scenario, &buggy.display().to_string(), "--seeds", "3", "--failures", &failures]);
    assert_eq!(code, 1);
    let recap = &out[out.rfind("\nfailed (").expect("a recap") + 1..];
    assert!(recap.starts_with("failed (1 of 2 scenarios):\n  unfenced ("), "{recap}");
    assert!(recap.contains("duplicate_apply x"), "the violation kind is named: {recap}");
    assert!(recap.contains("unfenced.toml --seed "), "with its reproduce command: {recap}");
    assert!(!recap.contains("delay ("), "the passing scenario is not listed: {recap}");
    let (code, _, err) = output(&["serve", "--name", "x"]);
    assert_eq!(code, 2);
    assert!(err.contains("exists in the real (plain tokio) build only"), "{err}");
    let (code, _, err) = output(&["run", "nope.toml"]);
    assert_eq!(code, 2);
    assert!(err.contains("nope.toml: cannot read the scenario: no such file"), "{err}");
    // `--report` without a directory writes reports/<suite name>/ under the working directory.
    let scenario_abs = std::fs::canonicalize(scenario).unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["suite", &scenario_abs.display().to_string(), "--seeds", "1", "--report"])
        .current_dir(&tmp)
        .output()
        .expect("faultline runs");
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(tmp.join("reports/delay/index.html").exists(), "the default report folder");
    // Settings that cannot meet their own bounds run, with a warning naming the file.
    let slow = tmp.join("slow-beats.toml");
    std::fs::write(&slow, "[scheduler]\nheartbeat_interval_ms = 5000\n[workload]\ntasks = 10\n").unwrap();
    let (code, _, err) = output(&["run", &slow.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("slow-beats.toml: heartbeat_interval_ms x missed_beats = 15000 ms is not below"), "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// A time budget runs seeds until it is spent (at least one), and passes.
#[test]
fn a_time_budget_runs_seeds_until_it_is_spent() {
    let tmp = std::env::temp_dir().join(format!("faultline-budget-{}", std::process::id()));
    let json = tmp.join("summary.json");
    std::fs::create_dir_all(&tmp).unwrap();
    let path = json.display().to_string();
    assert!(faultline(&["suite", "scenarios/smoke/one-coordinator-1k.toml", "--for", "2s", "--json", &path]));
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let seeds = summary["scenarios"][0]["seeds"].as_u64().unwrap();
    assert!(seeds >= 1, "ran {seeds} seeds");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// A "real" history for the executor-pause row in which the paused executor is declared
/// dead `detected_ms` after the pause began (its task never moves: no re-dispatch sample,
/// so only the detection line has a verdict).
fn real_executor_pause(dir: &Path, detected_ms: u64) {
    let row = dir.join("executor-pause");
    std::fs::create_dir_all(&row).expect("row directory");
    let at = |ms: u64| 1_700_000_000_000 + ms; // real histories are stamped in UNIX ms
    let events = [
        format!(r#"{{"at_ms":{},"node":"coord-1","event":"leader_elected","epoch":1}}"#, at(0)),
        format!(
            r#"{{"at_ms":{},"node":"coord-1","event":"dispatch","task":"t1","executor":"exec-1","incarnation":1,"epoch":1,"attempt":1}}"#,
            at(500)
        ),
        format!(
            r#"{{"at_ms":{},"node":"nemesis","event":"fault","id":0,"fault":"pause","phase":"begin","target":"exec-1","detail":""}}"#,
            at(1_000)
        ),
        format!(
            r#"{{"at_ms":{},"node":"coord-1","event":"executor_dead","executor":"exec-1","incarnation":1,"reason":"silent","tasks":1}}"#,
            at(1_000 + detected_ms)
        ),
        format!(
            r#"{{"at_ms":{},"node":"nemesis","event":"fault","id":0,"fault":"pause","phase":"end","target":"exec-1","detail":""}}"#,
            at(1_100 + detected_ms)
        ),
    ];
    std::fs::write(row.join("history.jsonl"), events.join("\n") + "\n").expect("history written");
}

#[test]
fn calibrate_gives_a_verdict_per_metric_and_fails_when_the_simulator_is_off() {
    let tmp = std::env::temp_dir().join(format!("faultline-calibrate-{}", std::process::id()));
    let verdicts = |detected_ms: u64| {
        let real = tmp.join(format!("real-{detected_ms}"));
        real_executor_pause(&real, detected_ms);
        let out = tmp.join(format!("table-{detected_ms}"));
        let args = ["calibrate", "--real", real.to_str().unwrap(), "--rows", "executor-pause", "--seeds", "5"];
        let passed = faultline(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
        let json: Value =
            serde_json::from_str(&std::fs::read_to_string(out.with_extension("json")).expect("table json"))
                .expect("json");
        let within: Vec<Value> = json["lines"].as_array().expect("lines").iter().map(|l| l["within"].clone()).collect();
        (passed, within)
    };
    // The simulator declares a paused executor dead 300 ms in, as real processes did.
    assert_eq!(verdicts(320), (true, vec![Value::Bool(true), Value::Null]));
    // A real system ten times slower is outside the tolerance, and the command says so.
    assert_eq!(verdicts(3_000), (false, vec![Value::Bool(false), Value::Null]));
    std::fs::remove_dir_all(&tmp).ok();
}

/// A failing report says what failed without any other file: the violation and seed on the
/// page, the timeline of the first failing seed with its violation marked, and the saved
/// reproduction files (`report` saves them like `suite`).
#[test]
fn a_failing_report_names_the_violation_the_seed_and_the_saved_file() {
    let tmp = std::env::temp_dir().join(format!("faultline-failing-report-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let buggy = tmp.join("unfenced.toml");
    let text =
        std::fs::read_to_string("scenarios/bugs/no-sink-fencing.toml").unwrap().replace("expect = ", "# expect = ");
    std::fs::write(&buggy, text).unwrap();
    let (out, failures) = (tmp.join("report"), tmp.join("failures"));
    let (out_s, failures_s) = (out.display().to_string(), failures.display().to_string());
    let args = ["report", &buggy.display().to_string(), "--seeds", "2", "--out", &out_s, "--failures", &failures_s];
    assert_eq!(status(&args), 1, "a failing report exits 1");
    let saved = failures.join("unfenced-seed-1.toml");
    assert!(saved.exists(), "report saves failures like suite");
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("seed 1: duplicate_apply at "), "the violation and seed are on the page");
    assert!(
        html.contains("The timeline shows seed 1, the first failing seed: its first violation, duplicate_apply on ")
    );
    assert!(html.contains(&format!("saved: <code>{}</code>", saved.display())), "the saved file is named");
    let svg = std::fs::read_to_string(out.join("unfenced-timeline.svg")).unwrap();
    assert!(svg.contains("#C81E1E"), "the violation is marked on the timeline");
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains(&format!("- saved: `{}`", saved.display())), "{md}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["scenarios"][0]["saved"][0], saved.display().to_string());
    std::fs::remove_dir_all(&tmp).unwrap();
}
