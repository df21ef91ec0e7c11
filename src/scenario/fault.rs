//! Faults a scenario schedules. This kind is the crash (kill, then an optional
//! restart); targets name a node or a role resolved when the fault fires.

use super::ScenarioError;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// When the fault fires, ms of simulated time after the run starts.
    pub at_ms: u64,
    pub kind: FaultKind,
    /// `leader`, `standby`, `executor` (a seeded random one), `store`, `sink`, or a node
    /// name such as `exec-2`.
    pub target: Target,
    /// Restart the node this long after the kill; absent means it stays down.
    #[serde(default)]
    pub restart_after_ms: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Kill the node (all its memory is lost), then restart it after `restart_after_ms`.
    Crash,
}

impl FaultKind {
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Leader,
    Standby,
    Executor,
    Store,
    Sink,
    #[serde(untagged)]
    Node(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Leader => f.write_str("leader"),
            Target::Standby => f.write_str("standby"),
            Target::Executor => f.write_str("executor"),
            Target::Store => f.write_str("store"),
            Target::Sink => f.write_str("sink"),
            Target::Node(name) => f.write_str(name),
        }
    }
}

impl Fault {
    pub(crate) fn validate(&self, path: &Path, text: &str, nodes: &[String]) -> Result<(), ScenarioError> {
        if let Target::Node(name) = &self.target {
            if name == "client" || !nodes.contains(name) {
                let message = format!(
                    "unknown target `{name}`, expected leader, standby, executor, store, sink or one of: {}",
                    nodes.iter().filter(|n| *n != "client").cloned().collect::<Vec<_>>().join(", ")
                );
                return Err(ScenarioError::at_value(path, text, name, &message));
            }
        }
        Ok(())
    }
}
