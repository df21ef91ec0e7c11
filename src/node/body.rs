//! Task bodies: what an attempt runs before its effect is applied at the sink. A task's
//! payload (JSON) names its body:
//!
//! - `{"duration_ms": 100, "fail_probability": 0.01}`, the **stand-in** the simulated
//!   workload submits: it works for `duration_ms` of the node's clock and fails with
//!   `fail_probability` (the seed's randomness);
//! - `{"command": {"program": "/usr/bin/backup", "args": ["--full"], "env": {"K": "v"},
//!   "dir": "/srv"}}`, a **command** (real build only): run in a process group of its own,
//!   exit status 0 is success; the attempt's timeout, an abort (a `replace` overlap, a lost
//!   assignment) or the executor's own end kills the whole group; a failure's reason carries
//!   the exit status and the last [`TAIL_BYTES`] of stderr.
//!
//! Both go through one trait, [`Work`], so the executor's attempt code (the fault layer,
//! the timeout, the sink check and apply, the outcome) is the same code in the simulator and
//! in a real process. Delivery is at least once: an attempt whose executor dies or is cut
//! off may run again on another executor while (or after) the first one runs, so a body
//! must be safe to run twice; what is exactly once is the effect the sink records under the
//! task's key and fencing token (see the README's "Real task bodies").

use crate::node::NodeContext;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most bytes of a command's stderr a failure's reason keeps (its end).
pub const TAIL_BYTES: usize = 512;

/// One run of a body: `Err` is the failure's reason.
pub trait Work {
    fn run(&self, ctx: &NodeContext) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// A task's body, as its payload names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Body {
    Command { command: CommandBody },
    StandIn(StandIn),
}

impl Body {
    /// The body a payload names. A payload that names none is an empty stand-in (it does
    /// nothing and succeeds), as before bodies had names.
    pub fn of(payload: &[u8]) -> Body {
        serde_json::from_slice(payload).unwrap_or(Body::StandIn(StandIn::default()))
    }

    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("bodies serialize")
    }
}

impl Work for Body {
    async fn run(&self, ctx: &NodeContext) -> Result<(), String> {
        match self {
            Body::StandIn(b) => b.run(ctx).await,
            Body::Command { command } => command.run(ctx).await,
        }
    }
}

/// The simulated workload's body: work for a while, maybe fail.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StandIn {
    pub duration_ms: u64,
    pub fail_probability: f64,
}

impl Work for StandIn {
    async fn run(&self, ctx: &NodeContext) -> Result<(), String> {
        ctx.clock.sleep(self.duration_ms).await;
        if madsim::rand::random::<f64>() < self.fail_probability {
            return Err("task body failed".into());
        }
        Ok(())
    }
}

/// A program to run (no shell: `args` are passed as they are).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandBody {
    pub program: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// Added to the executor's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The working directory (the executor's own if absent).
    #[serde(default)]
    pub dir: Option<String>,
}

impl Work for CommandBody {
    #[cfg(madsim)]
    async fn run(&self, _ctx: &NodeContext) -> Result<(), String> {
        Err(format!("`{}`: a command body runs only in the real build", self.program))
    }

    #[cfg(not(madsim))]
    async fn run(&self, ctx: &NodeContext) -> Result<(), String> {
        command::run(self, ctx).await
    }
}

#[cfg(not(madsim))]
mod command;

#[cfg(test)]
mod tests;
