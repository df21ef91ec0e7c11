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
//!   the exit status and the last [`TAIL_BYTES`] of stderr;
//! - `{"http": {"url": "https://billing.internal/charge", "method": "POST", "headers":
//!   {"Content-Type": "application/json"}, "body": "{...}"}}`, an **HTTP call** (real build
//!   only; `method` defaults to POST): a 2xx answer is success. The call carries the task's
//!   idempotency key and fencing token as headers (`Idempotency-Key`, `Faultline-Task`,
//!   `Faultline-Token-Epoch`, `Faultline-Token-Attempt`), so the receiving service can fence
//!   as faultline's sink does: keep, per key, the highest (epoch, attempt) seen and refuse
//!   older ones. A failure's reason carries the status and the last [`TAIL_BYTES`] of the
//!   answer; the attempt's timeout or an abort drops the call.
//!
//! Both go through one trait, [`Work`], so the executor's attempt code (the fault layer,
//! the timeout, the sink check and apply, the outcome) is the same code in the simulator and
//! in a real process. Delivery is at least once: an attempt whose executor dies or is cut
//! off may run again on another executor while (or after) the first one runs, so a body
//! must be safe to run twice; what is exactly once is the effect the sink records under the
//! task's key and fencing token (see the README's "Real task bodies").

use crate::core::Token;
use crate::node::NodeContext;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most bytes of a command's stderr (or an HTTP answer) a failure's reason keeps (its end).
pub const TAIL_BYTES: usize = 512;

/// The last [`TAIL_BYTES`] of `bytes`, as lossy UTF-8, trimmed (real build: command and HTTP bodies).
#[cfg(not(madsim))]
fn tail_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[bytes.len().saturating_sub(TAIL_BYTES)..]).trim().to_string()
}

/// What a body may know of the attempt it runs in.
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub task: &'a str,
    /// The task's idempotency key.
    pub key: &'a str,
    /// The attempt's fencing token: a newer attempt's is greater.
    pub token: Token,
}

/// One run of a body: `Err` is the failure's reason.
pub trait Work {
    fn run(
        &self,
        ctx: &NodeContext,
        attempt: Attempt<'_>,
    ) -> impl std::future::Future<Output = Result<(), String>> + Send;
}

/// A task's body, as its payload names it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Body {
    Command { command: CommandBody },
    Http { http: HttpBody },
    StandIn(StandIn),
}

impl Body {
    /// The body a payload names. A payload that names none is an empty stand-in (it does
    /// nothing and succeeds), as before bodies had names.
    pub fn of(payload: &[u8]) -> Body {
        // The common case first: an object with exactly a stand-in's fields is what the
        // untagged parse would find too (it names neither `command` nor `http`), without
        // buffering the document and trying each variant in turn (2% of a simulated run).
        if let Ok(StandInExactly { duration_ms, fail_probability }) = serde_json::from_slice(payload) {
            return Body::StandIn(StandIn { duration_ms, fail_probability });
        }
        serde_json::from_slice(payload).unwrap_or(Body::StandIn(StandIn::default()))
    }

    pub fn payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("bodies serialize")
    }
}

impl Work for Body {
    async fn run(&self, ctx: &NodeContext, attempt: Attempt<'_>) -> Result<(), String> {
        match self {
            Body::StandIn(b) => b.run(ctx, attempt).await,
            Body::Command { command } => command.run(ctx, attempt).await,
            Body::Http { http } => http.run(ctx, attempt).await,
        }
    }
}

/// A stand-in's fields and nothing else: [`Body::of`]'s fast path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StandInExactly {
    duration_ms: u64,
    fail_probability: f64,
}

/// The simulated workload's body: work for a while, maybe fail.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StandIn {
    pub duration_ms: u64,
    pub fail_probability: f64,
}

impl Work for StandIn {
    async fn run(&self, ctx: &NodeContext, _attempt: Attempt<'_>) -> Result<(), String> {
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
    async fn run(&self, _ctx: &NodeContext, _attempt: Attempt<'_>) -> Result<(), String> {
        Err(format!("`{}`: a command body runs only in the real build", self.program))
    }

    #[cfg(not(madsim))]
    async fn run(&self, ctx: &NodeContext, _attempt: Attempt<'_>) -> Result<(), String> {
        command::run(self, ctx).await
    }
}

/// An HTTP call: 2xx is success.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpBody {
    pub url: String,
    #[serde(default = "HttpBody::default_method")]
    pub method: String,
    /// Sent as they are, after faultline's own (which they may not replace).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
}

impl HttpBody {
    fn default_method() -> String {
        "POST".into()
    }
}

impl Work for HttpBody {
    #[cfg(madsim)]
    async fn run(&self, _ctx: &NodeContext, _attempt: Attempt<'_>) -> Result<(), String> {
        Err(format!("{} {}: an HTTP body runs only in the real build", self.method, self.url))
    }

    #[cfg(not(madsim))]
    async fn run(&self, ctx: &NodeContext, attempt: Attempt<'_>) -> Result<(), String> {
        http::run(self, ctx, attempt).await
    }
}

#[cfg(not(madsim))]
mod command;
#[cfg(not(madsim))]
mod http;

#[cfg(test)]
mod tests;
