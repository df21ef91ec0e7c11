//! The connection a client's unary calls share (faultline patch, PATCHED.md change 9), as
//! a real etcd client's calls share its gRPC channel's HTTP/2 connection.

use super::{server::Request, Result};
use madsim::net::{
    shared::{SharedConn, SharedSlot},
    Endpoint,
};
use std::sync::Arc;

/// A client's endpoint (connected to its server) and the connection its unary calls
/// share, opened on the first call and again after it breaks (the store was killed). Shared
/// by the client's clones and the KV and lease clients made from it.
#[derive(Clone)]
pub(crate) struct Unary {
    ep: Endpoint,
    conn: Arc<SharedSlot>,
}

impl Unary {
    pub(crate) fn new(ep: Endpoint) -> Self {
        Unary {
            ep,
            conn: Arc::default(),
        }
    }

    /// Sends `request` and returns the server's reply, of type `Result<R>`.
    pub(crate) async fn call<R: 'static>(&self, request: Request) -> Result<R> {
        let conn = (self.conn)
            .get_or_open(|| async { SharedConn::open(&self.ep, self.ep.peer_addr()?).await })
            .await?;
        let reply = conn.call(Box::new(request)).await?;
        *reply.downcast::<Result<R>>().expect("message type mismatch")
    }
}
