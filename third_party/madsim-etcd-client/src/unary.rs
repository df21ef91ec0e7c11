//! The connection a client's unary calls share (faultline patch, PATCHED.md change 9), as
//! a real etcd client's calls share its gRPC channel's HTTP/2 connection.

use super::{server::Request, Result};
use madsim::net::{shared::SharedConn, Endpoint};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

/// A client's endpoint, its server, and the connection its unary calls share, opened on
/// the first call and again after it breaks (the store was killed). Shared by the client's
/// clones and the KV and lease clients made from it.
#[derive(Clone)]
pub(crate) struct Unary {
    ep: Endpoint,
    server_addr: SocketAddr,
    conn: Arc<Mutex<Option<Arc<SharedConn>>>>,
}

impl Unary {
    pub(crate) fn new(ep: Endpoint) -> Self {
        Unary {
            server_addr: ep.peer_addr().unwrap(),
            ep,
            conn: Arc::default(),
        }
    }

    /// Sends `request` and returns the server's reply, of type `Result<R>`.
    pub(crate) async fn call<R: 'static>(&self, request: Request) -> Result<R> {
        let reply = self.conn().await?.call(Box::new(request)).await?;
        *reply.downcast::<Result<R>>().expect("message type mismatch")
    }

    async fn conn(&self) -> std::io::Result<Arc<SharedConn>> {
        if let Some(conn) = &*self.conn.lock().unwrap() {
            if conn.is_usable() {
                return Ok(conn.clone());
            }
        }
        let conn = SharedConn::open(&self.ep, self.server_addr).await?;
        *self.conn.lock().unwrap() = Some(conn.clone());
        Ok(conn)
    }
}
