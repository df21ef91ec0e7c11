//! The effect sink node: where task effects land, and where "ran twice" is measured. It
//! judges every apply and check with the core's fencing rule ([`KeyState`]) through a
//! [`Ledger`], and records each verdict. A verdict is answered only once the ledger has
//! made it durable: the real build's ledger is SQLite ([`sqlite::SqliteLedger`]) or
//! PostgreSQL ([`postgres::PostgresLedger`]), one committed transaction per verdict; the
//! simulator keeps the core's in-memory [`SinkLedger`] outside the sink node, so a crashed
//! and restarted sink finds it as a durable database would be found.

#[cfg(all(test, not(madsim)))]
mod cases;
#[cfg(not(madsim))]
pub mod postgres;
#[cfg(not(madsim))]
mod sql;
#[cfg(not(madsim))]
pub mod sqlite;

use crate::core::sink::{Checked, SinkLedger};
use crate::core::Token;
use crate::node::rpc::token_from_wire;
use crate::node::rpc::{checked_to_wire, verdict_to_wire};
use crate::node::tls::{admit, Act};
use crate::node::NodeContext;
use crate::proto;
use crate::trace::{EventKind, Verdict};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One apply as the ledger sees it: the key judged, and who asks (kept with an accepted
/// effect, so a restarted sink can name it).
pub struct ApplyOf<'a> {
    pub key: &'a str,
    pub token: Token,
    pub task: &'a str,
    pub executor: &'a str,
}

/// An effect the ledger committed whose `apply` verdict may not be in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrecorded {
    pub key: String,
    pub token: Token,
    pub task: String,
    pub executor: String,
}

/// Where the sink keeps each key's fencing state. An error means nothing was decided and
/// nothing landed: the caller hears UNAVAILABLE and retries.
///
/// The history is written after the ledger commits, so a process that dies between the two
/// leaves an effect the history never saw accepted (on real processes: a SIGKILL during
/// SQLite's fsync). A durable ledger therefore keeps an outbox: an accepted effect is
/// marked unrecorded until `recorded` says its event is written, and a restarted sink
/// records what `unrecorded` returns as `apply_recovered`.
pub trait Ledger: Send {
    fn apply(&mut self, apply: &ApplyOf) -> Result<Verdict, String>;
    fn check(&mut self, key: &str, token: Token) -> Result<Checked, String>;
    /// `key`'s accepted verdict is in the history now.
    fn recorded(&mut self, _key: &str) {}
    /// Effects committed but not known to be recorded (called once, at start).
    fn unrecorded(&mut self) -> Result<Vec<Unrecorded>, String> {
        Ok(Vec::new())
    }
}

/// The simulator's: deciding and recording happen in one step of a simulated node, which
/// a crash cannot split, so there is nothing to recover.
impl Ledger for SinkLedger {
    fn apply(&mut self, apply: &ApplyOf) -> Result<Verdict, String> {
        Ok(SinkLedger::apply(self, apply.key, apply.token))
    }

    fn check(&mut self, key: &str, token: Token) -> Result<Checked, String> {
        Ok(SinkLedger::check(self, key, token))
    }
}

/// A ledger shared by the sink's handlers (and, in the simulator, across its restarts).
pub type SharedLedger = Arc<Mutex<Box<dyn Ledger>>>;

/// The simulator's ledger: the core's in-memory one, with the run's known bugs.
pub fn in_memory(bugs: crate::bugs::BugSet) -> SharedLedger {
    Arc::new(Mutex::new(Box::new(SinkLedger::with_bugs(bugs))))
}

struct Service {
    ctx: NodeContext,
    ledger: SharedLedger,
}

/// Serves applies and checks until the node is killed.
pub async fn run(ctx: NodeContext, listen: SocketAddr, ledger: SharedLedger) {
    recover_unrecorded(&ctx, &mut **ledger.lock().expect("ledger poisoned"));
    let tls = ctx.tls.clone();
    let service = Service { ctx, ledger };
    let mut server = match crate::node::tls::server(tls.as_deref()) {
        Ok(server) => server,
        Err(e) => return tracing::error!("sink server: TLS: {e}"),
    };
    if let Err(e) = server.add_service(proto::sink_server::SinkServer::new(service)).serve(listen).await {
        tracing::error!("sink server stopped: {e}");
    }
}

/// Records the effects the ledger committed without knowing their `apply` is in the
/// history (the process died between the two), before the sink answers anything.
fn recover_unrecorded(ctx: &NodeContext, ledger: &mut dyn Ledger) {
    match ledger.unrecorded() {
        Ok(effects) => {
            for Unrecorded { key, token, task, executor } in effects {
                let (epoch, attempt) = (token.epoch, token.attempt);
                ctx.record(EventKind::ApplyRecovered {
                    task: task.into(),
                    key: key.as_str().into(),
                    executor: executor.into(),
                    epoch,
                    attempt,
                });
                ledger.recorded(&key);
            }
        }
        Err(e) => tracing::error!("sink ledger: reading its unrecorded effects failed: {e}"),
    }
}

/// The request's token, refused if it cannot be a real one (a ledger stores epochs as
/// signed 64-bit integers).
fn token_of(req: &proto::ApplyRequest) -> Result<Token, tonic::Status> {
    let token = token_from_wire(req.token);
    if req.key.is_empty() || token.epoch > i64::MAX as u64 {
        return Err(tonic::Status::invalid_argument("an apply names a key and a token with epoch below 2^63"));
    }
    Ok(token)
}

fn unavailable(what: &str, e: String) -> tonic::Status {
    tracing::warn!("sink ledger: {what} failed: {e}");
    tonic::Status::unavailable(format!("the sink's ledger failed: {e}"))
}

#[tonic::async_trait]
impl proto::sink_server::Sink for Service {
    async fn apply(
        &self,
        req: tonic::Request<proto::ApplyRequest>,
    ) -> Result<tonic::Response<proto::ApplyReply>, tonic::Status> {
        admit(&self.ctx, &req, Act::Apply { executor: &req.get_ref().executor })?;
        let req = req.into_inner();
        let token = token_of(&req)?;
        let apply = ApplyOf { key: &req.key, token, task: &req.task_id, executor: &req.executor };
        let verdict = self.ledger.lock().expect("ledger poisoned").apply(&apply);
        let verdict = verdict.map_err(|e| unavailable("apply", e))?;
        self.ctx.record(EventKind::Apply {
            task: req.task_id.into(),
            key: req.key.as_str().into(),
            executor: req.executor.into(),
            epoch: token.epoch,
            attempt: token.attempt,
            verdict,
        });
        if verdict == Verdict::Accepted {
            self.ledger.lock().expect("ledger poisoned").recorded(&req.key);
        }
        Ok(tonic::Response::new(proto::ApplyReply { verdict: verdict_to_wire(verdict) }))
    }

    async fn check(
        &self,
        req: tonic::Request<proto::ApplyRequest>,
    ) -> Result<tonic::Response<proto::CheckReply>, tonic::Status> {
        admit(&self.ctx, &req, Act::Apply { executor: &req.get_ref().executor })?;
        let req = req.into_inner();
        let token = token_of(&req)?;
        let found = self.ledger.lock().expect("ledger poisoned").check(&req.key, token);
        let found = found.map_err(|e| unavailable("check", e))?;
        self.ctx.record(EventKind::SinkCheck {
            task: req.task_id.into(),
            key: req.key.into(),
            executor: req.executor.into(),
            epoch: token.epoch,
            attempt: token.attempt,
            found,
        });
        Ok(tonic::Response::new(proto::CheckReply { result: checked_to_wire(found) }))
    }
}
