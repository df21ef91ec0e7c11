use super::*;
use crate::report::suite::SeedMetrics;
use crate::report::SeedResult;

fn record(scenario: &str, seed: u64) -> SeedRecord {
    let result = SeedResult {
        seed,
        passed: true,
        check: crate::check::check_all(&[]),
        panic: None,
        sim_ms: 1,
        wall_ms: 1,
        drain_ms: 0,
        hash: seed,
        faults: BTreeMap::new(),
    };
    SeedRecord { scenario: scenario.into(), result, same: None, metrics: SeedMetrics::default() }
}

/// A shard folder under the test's own temporary folder, holding `records` of `suite`.
fn shard(root: &Path, name: &str, suite: &str, records: Vec<SeedRecord>) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("shard folder");
    let file = SeedsFile { suite: suite.into(), seeds: records };
    std::fs::write(dir.join("seeds.json"), serde_json::to_string(&file).expect("serializes")).expect("written");
    dir
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("faultline-shards-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn shards_merge_by_scenario_in_seed_order() {
    let root = temp("merge");
    let a = shard(&root, "a", "scenarios", vec![record("x.toml", 3), record("y.toml", 1)]);
    let b = shard(&root, "b", "scenarios", vec![record("x.toml", 1), record("x.toml", 2)]);
    let shards = read_shards(&[a, b]).expect("they merge");
    assert_eq!(shards.suite, "scenarios");
    let seeds = |s: &str| shards.by_scenario[s].iter().map(|r| r.result.seed).collect::<Vec<_>>();
    assert_eq!((seeds("x.toml"), seeds("y.toml")), (vec![1, 2, 3], vec![1]));
}

#[test]
fn shards_of_two_suites_or_with_a_seed_twice_do_not_merge() {
    let root = temp("refuse");
    let a = shard(&root, "a", "scenarios", vec![record("x.toml", 1)]);
    let other = shard(&root, "other", "perf", vec![record("x.toml", 2)]);
    let twice = shard(&root, "twice", "scenarios", vec![record("x.toml", 1)]);
    let err = read_shards(&[a.clone(), other]).unwrap_err().to_string();
    assert!(err.contains("is a report of suite `perf`, not `scenarios`"), "{err}");
    let err = read_shards(&[a, twice]).unwrap_err().to_string();
    assert_eq!(err, "x.toml: seed 1 appears in two shards");
    assert!(matches!(read_shards(&[]), Err(ShardError::NoShard)));
    let err = read_shards(&[root.join("missing")]).unwrap_err().to_string();
    assert!(err.contains("written by suite --report"), "{err}");
}
