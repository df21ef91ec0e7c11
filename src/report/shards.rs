//! A report's seeds, saved beside it as `seeds.json`, so that the shards of one suite run on
//! several machines merge into the report of one run (`faultline report merge`): reading,
//! checking and grouping the shards is here; rebuilding the report from them is the caller's
//! (it reads each scenario file again and re-runs the timeline's seed).

use super::suite::{ScenarioReport, SeedRecord};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `seeds.json` of a report folder.
#[derive(Serialize, Deserialize)]
struct SeedsFile {
    suite: String,
    seeds: Vec<SeedRecord>,
}

/// Why shards do not merge.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("reading {path} (written by suite --report): {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("parsing {path}: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error("{dir} is a report of suite `{found}`, not `{expected}`")]
    OtherSuite { dir: PathBuf, found: String, expected: String },
    #[error("{scenario}: seed {seed} appears in two shards")]
    SeedTwice { scenario: String, seed: u64 },
    #[error("give at least one report folder")]
    NoShard,
}

/// The seeds of every shard of one suite.
#[derive(Debug)]
pub struct Shards {
    pub suite: String,
    /// Per scenario file, its seeds' records in seed order.
    pub by_scenario: BTreeMap<String, Vec<SeedRecord>>,
}

/// Writes `seeds.json` into `dir`: every seed record of `reports`.
pub fn write_seeds(dir: &Path, suite: &str, reports: &[ScenarioReport]) -> std::io::Result<PathBuf> {
    let seeds = SeedsFile { suite: suite.to_string(), seeds: reports.iter().flat_map(|r| r.records.clone()).collect() };
    let path = dir.join("seeds.json");
    std::fs::write(&path, serde_json::to_string(&seeds)? + "\n")?;
    Ok(path)
}

/// Reads the shards' `seeds.json`: one suite, no seed of a scenario in two shards.
pub fn read_shards(dirs: &[PathBuf]) -> Result<Shards, ShardError> {
    let mut suite: Option<String> = None;
    let mut by_scenario: BTreeMap<String, Vec<SeedRecord>> = BTreeMap::new();
    for dir in dirs {
        let path = dir.join("seeds.json");
        let text = std::fs::read_to_string(&path).map_err(|source| ShardError::Read { path: path.clone(), source })?;
        let file: SeedsFile = serde_json::from_str(&text).map_err(|source| ShardError::Parse { path, source })?;
        if let Some(expected) = suite.as_ref().filter(|s| **s != file.suite) {
            return Err(ShardError::OtherSuite { dir: dir.clone(), found: file.suite, expected: expected.clone() });
        }
        suite = Some(file.suite);
        for record in file.seeds {
            by_scenario.entry(record.scenario.clone()).or_default().push(record);
        }
    }
    for (scenario, records) in &mut by_scenario {
        records.sort_by_key(|r| r.result.seed);
        if let Some(w) = records.windows(2).find(|w| w[0].result.seed == w[1].result.seed) {
            return Err(ShardError::SeedTwice { scenario: scenario.clone(), seed: w[0].result.seed });
        }
    }
    Ok(Shards { suite: suite.ok_or(ShardError::NoShard)?, by_scenario })
}

#[cfg(test)]
mod tests;
