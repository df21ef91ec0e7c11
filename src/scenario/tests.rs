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
    assert_eq!(s.faults[0].target, Some(Target::Leader));
    assert_eq!(s.faults[0].restart_after_ms, Some(2000));
    let s = parse(&ok.replace("leader", "exec-2")).unwrap();
    assert_eq!(s.faults[0].target, Some(Target::Node("exec-2".into())));
    let err = parse(&ok.replace("leader", "exec-9")).unwrap_err();
    assert_eq!((err.line, err.col), (4, 10));
    assert!(err.message.starts_with("unknown target `exec-9`"), "{}", err.message);
    let err = parse(&ok.replace("crash", "explode")).unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.message.contains("unknown variant `explode`"), "{}", err.message);
}

#[test]
fn fault_keys_are_checked_against_the_kind_in_the_right_table() {
    let two = "[[faults]]\nat_ms = 1\nkind = \"crash\"\ntarget = \"leader\"\n\n\
               [[faults]]\nat_ms = 2\nkind = \"pause\"\ntarget = \"exec-1\"\nrate = 1.5\nduration_ms = 10\n";
    let err = parse(two).unwrap_err();
    assert_eq!((err.line, err.col), (10, 1), "points at `rate` in the second table: {err}");
    assert_eq!(err.message, "`rate` does not apply to kind `pause`, which takes: target, duration_ms");
    let err = parse("[[faults]]\nat_ms = 1\nkind = \"pause\"\ntarget = \"exec-1\"\n").unwrap_err();
    assert_eq!((err.line, err.message.as_str()), (3, "kind `pause` needs `duration_ms`"));
    let err = parse("[[faults]]\nkind = \"crash\"\ntarget = \"leader\"\n").unwrap_err();
    assert!(err.message.contains("needs `at_ms` or `trigger`"), "{err}");
    let err = parse("[[faults]]\nkind = \"crash\"\ntarget = \"leader\"\ntrigger = { event = \"boom\" }\n").unwrap_err();
    assert!(err.message.starts_with("unknown event `boom`, expected one of: submit"), "{err}");
    let err = parse("[[faults]]\nat_ms = 1\nkind = \"clock_drift\"\ntarget = \"store\"\nrate = 1.1\n").unwrap_err();
    assert!(err.message.contains("keeps no time of its own"), "{err}");
    let err = parse("[[faults]]\nat_ms = 1\nkind = \"crash\"\ntarget = \"client\"\n").unwrap_err();
    assert!(err.message.starts_with("unknown target `client`"), "{err}");
    let ok = "[[faults]]\nat_ms = 1\nkind = \"drop_response\"\ntarget = \"client\"\nduration_ms = 5\n";
    assert_eq!(parse(ok).unwrap().faults[0].probability(), 1.0, "the client may lose replies");
    let err = parse("[topology]\nzones = [\"a\"]\n[[faults]]\nat_ms = 1\nkind = \"crash\"\ntarget = \"zone:b\"\n")
        .unwrap_err();
    assert_eq!((err.line, err.message.as_str()), (6, "unknown zone `b`, expected one of: a"));
    let err = parse("[[faults]]\nat_ms = 1\nkind = \"crash\"\ntarget = \"exec-1\"\nrestart_after_ms = 500\nrepeat = { every_ms = 400, times = 3 }\n").unwrap_err();
    assert!(err.message.contains("every_ms > 500"), "{err}");
}

#[test]
fn swarm_sections_parse_with_defaults_and_checked_ranges() {
    let s = parse("[swarm]\nmax_faults = 5\n").unwrap();
    let swarm = s.swarm.unwrap();
    assert_eq!((swarm.max_faults, swarm.kinds.len()), (5, 20));
    let err = parse("[swarm]\nstart_ms = 500\nend_ms = 100\n").unwrap_err();
    assert_eq!((err.line, err.message.as_str()), (3, "expected start_ms < end_ms"));
    let err = parse("[swarm]\nkinds = [\"meteor\"]\n").unwrap_err();
    assert!(err.message.contains("unknown variant `meteor`"), "{err}");
}

#[test]
fn zones_place_coordinators_and_executors_round_robin() {
    let s = parse("[topology]\nzones = [\"a\", \"b\"]\n").unwrap();
    assert_eq!((s.zone_of("coord-1"), s.zone_of("coord-2"), s.zone_of("exec-3")), (Some("a"), Some("b"), Some("a")));
    assert_eq!((s.zone_of("store"), s.zone_of("client")), (None, None));
}

#[test]
fn backoff_base_above_max_points_at_the_key() {
    let err = parse("[retry]\nbackoff_max_ms = 10\nbackoff_base_ms = 20\n").unwrap_err();
    assert_eq!((err.line, err.col), (3, 1));
}

#[test]
fn every_toml_block_in_the_format_guide_is_a_valid_scenario() {
    let guide = include_str!("../../scenarios/README.md");
    let blocks: Vec<&str> = guide.split("```toml\n").skip(1).map(|b| b.split("```").next().unwrap_or("")).collect();
    assert!(blocks.len() >= 2, "the guide has its examples");
    for block in blocks {
        if let Err(e) = parse(block) {
            panic!("scenarios/README.md block does not parse: {e}\n{block}");
        }
    }
}

#[test]
fn settings_override_keys_and_bad_ones_are_named() {
    let dir = std::env::temp_dir().join(format!("faultline-set-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.toml");
    std::fs::write(&file, "[scheduler]\nheartbeat_interval_ms = 100\n").unwrap();
    let s =
        Scenario::load_with(&file, &["scheduler.heartbeat_interval_ms=1000".into(), "scheduler.missed_beats=5".into()])
            .unwrap();
    assert_eq!((s.scheduler.heartbeat_interval_ms, s.scheduler.missed_beats), (1000, 5));
    assert_eq!(s.name, "s [scheduler.heartbeat_interval_ms=1000, scheduler.missed_beats=5]");
    let err = Scenario::load_with(&file, &["scheduler.missed_beats=0".into()]).unwrap_err();
    assert!(err.to_string().contains("setting `scheduler.missed_beats=0`: expected an integer in 1..=100"), "{err}");
    let err = Scenario::load_with(&file, &["scheduler.heartbeat_interval_ms.x=1".into()]).unwrap_err();
    assert!(err.to_string().contains("is not a table"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn named_faults_bind_targets_and_triggers_and_bad_references_are_located() {
    let first =
        "[[faults]]\nname = \"kill\"\nat_ms = 1000\nkind = \"crash\"\ntarget = \"leader\"\nrestart_after_ms = 2000\n";
    let second = "\n[[faults]]\nkind = \"isolate\"\ntarget = \"hit:kill\"\nduration_ms = 500\n\
                  trigger = { event = \"fault_end\", fault = \"kill\", after_ms = 300 }\n";
    let s = parse(&format!("{first}{second}")).unwrap();
    assert_eq!(s.faults[1].target, Some(Target::Hit("kill".into())));
    let trigger = s.faults[1].trigger.as_ref().unwrap();
    assert_eq!((trigger.fault.as_deref(), trigger.after_ms), (Some("kill"), 300));
    let err = parse(&format!("{first}{}", second.replace("hit:kill", "hit:kil"))).unwrap_err();
    assert_eq!(err.line, 10);
    assert!(err.message.starts_with("no fault is named `kil`; named faults: kill"), "{}", err.message);
    let err = parse(&format!("{first}{}", second.replace("fault = \"kill\"", "fault = \"other\""))).unwrap_err();
    assert!(err.message.contains("no fault is named `other`"), "{}", err.message);
    let err = parse(&format!("{first}{}", first.replace("at_ms = 1000", "at_ms = 9000"))).unwrap_err();
    assert!(err.message.contains("expected distinct fault names, `kill` twice"), "{}", err.message);
    let own = "[[faults]]\nname = \"a\"\nkind = \"pause\"\ntarget = \"hit:a\"\nduration_ms = 5\nat_ms = 1\n";
    assert!(parse(own).unwrap_err().message.contains("cannot refer to itself"));
    let bad_name = first.replace("\"kill\"", "\"k i\"");
    assert!(parse(&bad_name).unwrap_err().message.contains("letters, digits"));
    let node_on_fault_event = second.replace("fault = \"kill\"", "node = \"leader\"");
    let err = parse(&format!("{first}{node_on_fault_event}")).unwrap_err();
    assert!(err.message.contains("`node` does not apply to `fault_end`"), "{}", err.message);
    let fault_on_other_event = second.replace("event = \"fault_end\"", "event = \"dispatch\"");
    let err = parse(&format!("{first}{fault_on_other_event}")).unwrap_err();
    assert!(err.message.contains("`fault` applies to fault_begin and fault_end only"), "{}", err.message);
}

#[test]
fn leader_zone_bridge_halves_directions_and_repeat_jitter_parse_and_are_checked() {
    let base = "[topology]\nzones = [\"a\", \"b\"]\n";
    let s = parse(&format!(
        "{base}[[faults]]\nat_ms = 1\nkind = \"isolate\"\ntarget = \"leader_zone\"\nduration_ms = 5\n\
         repeat = {{ every_ms = 100, times = 3, jitter_ms = 50 }}\n"
    ))
    .unwrap();
    assert_eq!(s.faults[0].target, Some(Target::LeaderZone));
    assert_eq!(s.faults[0].repeat.unwrap().jitter_ms, 50);
    let bridge = "[[faults]]\nat_ms = 1\nkind = \"bridge\"\ntarget = \"coord-1\"\nduration_ms = 5\n";
    let s = parse(&format!("{bridge}groups = [[\"coord-2\"], [\"coord-3\", \"executors\"]]\n")).unwrap();
    assert_eq!(s.faults[0].groups.as_ref().unwrap().len(), 2);
    let err = parse(&format!("{bridge}groups = [[\"coord-2\"], [\"coord-3\"], [\"sink\"]]\n")).unwrap_err();
    assert!(err.message.contains("the bridge's two halves"), "{}", err.message);
    let delay = "[[faults]]\nat_ms = 1\nkind = \"delay\"\ntarget = \"exec-1\"\nduration_ms = 5\ndelay_ms = { min = 1, max = 2 }\n";
    let s = parse(&format!("{delay}direction = \"response\"\n")).unwrap();
    assert_eq!(s.faults[0].direction, Some(Direction::Response));
    let err = parse(&format!("{delay}direction = \"sideways\"\n")).unwrap_err();
    assert!(err.message.contains("unknown variant `sideways`"), "{}", err.message);
    let err = parse(
        &delay
            .replace("\"delay\"", "\"drop_request\"")
            .replace("delay_ms = { min = 1, max = 2 }", "direction = \"both\""),
    )
    .unwrap_err();
    assert!(err.message.contains("`direction` does not apply to kind `drop_request`"), "{}", err.message);
}

#[test]
fn settings_that_cannot_meet_their_bounds_are_warned_about() {
    assert_eq!(parse("").unwrap().warnings(), Vec::<String>::new(), "the defaults are consistent");
    let slow_beats = parse("[scheduler]\nheartbeat_interval_ms = 5000\n").unwrap().warnings();
    assert_eq!(slow_beats.len(), 1, "{slow_beats:?}");
    assert!(
        slow_beats[0].starts_with("heartbeat_interval_ms x missed_beats = 15000 ms is not below"),
        "{slow_beats:?}"
    );
    let slow_rpc = parse("[scheduler]\nrpc_timeout_ms = 300\n").unwrap().warnings();
    assert_eq!(slow_rpc.len(), 1, "{slow_rpc:?}");
    assert!(slow_rpc[0].starts_with("rpc_timeout_ms = 300 ms is not below"), "{slow_rpc:?}");
}

#[test]
fn a_job_may_name_a_command_and_an_empty_one_is_an_error_at_its_line() {
    let s =
        parse("[[jobs]]\nname = \"report\"\nevery_ms = 60000\ncommand = [\"/usr/bin/report\", \"--daily\"]\n").unwrap();
    assert_eq!(s.jobs[0].command.as_deref(), Some(&["/usr/bin/report".to_string(), "--daily".to_string()][..]));
    let err = parse("[[jobs]]\nname = \"report\"\nevery_ms = 60000\ncommand = []\n").unwrap_err();
    assert_eq!(err.line, 2, "at the job's name: {err}");
    assert!(err.message.contains("`command` must start with the program to run"), "{}", err.message);
}

#[test]
fn a_job_may_call_an_http_endpoint_and_a_bad_one_is_an_error_at_its_line() {
    let job = "[[jobs]]\nname = \"ping\"\nevery_ms = 60000\n";
    let s = parse(&format!("{job}http = {{ url = \"https://example.org/hook\", headers = {{ X-Team = \"ops\" }} }}\n"))
        .unwrap();
    let http = s.jobs[0].http.as_ref().unwrap();
    assert_eq!(
        (http.url.as_str(), http.method.as_str(), http.headers["X-Team"].as_str()),
        ("https://example.org/hook", "POST", "ops")
    );
    let payload = crate::settings::jobs(&s, vec![]).jobs[0].payload.clone();
    let body: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(body["http"]["url"], "https://example.org/hook", "the fire's task runs the HTTP body: {body}");
    for (bad, says) in [
        ("http = { url = \"ftp://x\" }", "must start with http:// or https://"),
        ("http = { url = \"http://x\", method = \"FETCH\" }", "`http.method` must be one of"),
        ("command = [\"/bin/true\"]\nhttp = { url = \"http://x\" }", "`command` or `http`, not both"),
    ] {
        let err = parse(&format!("{job}{bad}\n")).unwrap_err();
        assert_eq!(err.line, 2, "at the job's name: {err}");
        assert!(err.message.contains(says), "{}", err.message);
    }
}
