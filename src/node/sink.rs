//! The effect sink node: the stand-in for the downstream database where task effects land.
//! It judges every apply with the core [`SinkLedger`] and records each verdict, so "ran
//! twice" is measured here, where the effect happens. Its ledger lives in memory: the sink
//! is not a crash target in this version (a restart would forget applied effects).

use crate::core::sink::SinkLedger;
use crate::node::rpc::token_from_wire;
use crate::node::rpc::{checked_to_wire, verdict_to_wire};
use crate::node::NodeContext;
use crate::proto;
use crate::trace::EventKind;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

struct Service {
    ctx: NodeContext,
    ledger: Arc<Mutex<SinkLedger>>,
}

/// Serves applies until the node is killed.
pub async fn run(ctx: NodeContext, listen: SocketAddr) {
    let ledger = Arc::new(Mutex::new(SinkLedger::with_bugs(ctx.bugs)));
    let service = Service { ctx, ledger };
    let server = tonic::transport::Server::builder().add_service(proto::sink_server::SinkServer::new(service));
    if let Err(e) = server.serve(listen).await {
        tracing::error!("sink server stopped: {e}");
    }
}

#[tonic::async_trait]
impl proto::sink_server::Sink for Service {
    async fn apply(
        &self,
        req: tonic::Request<proto::ApplyRequest>,
    ) -> Result<tonic::Response<proto::ApplyReply>, tonic::Status> {
        let req = req.into_inner();
        let token = token_from_wire(req.token);
        let verdict = self.ledger.lock().expect("ledger poisoned").apply(&req.key, token);
        self.ctx.record(EventKind::Apply {
            task: req.task_id,
            key: req.key,
            executor: req.executor,
            epoch: token.epoch,
            attempt: token.attempt,
            verdict,
        });
        Ok(tonic::Response::new(proto::ApplyReply { verdict: verdict_to_wire(verdict) }))
    }

    async fn check(
        &self,
        req: tonic::Request<proto::ApplyRequest>,
    ) -> Result<tonic::Response<proto::CheckReply>, tonic::Status> {
        let req = req.into_inner();
        let token = token_from_wire(req.token);
        let found = self.ledger.lock().expect("ledger poisoned").check(&req.key, token);
        self.ctx.record(EventKind::SinkCheck {
            task: req.task_id,
            key: req.key,
            executor: req.executor,
            epoch: token.epoch,
            attempt: token.attempt,
            found,
        });
        Ok(tonic::Response::new(proto::CheckReply { result: checked_to_wire(found) }))
    }
}
