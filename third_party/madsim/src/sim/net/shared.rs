//! Calls multiplexed over one connection, as HTTP/2 multiplexes a channel's calls over
//! streams of one TCP connection (faultline patch, PATCHED.md change 5).
//!
//! A client opens a [`SharedConn`] to a server once and makes every unary call over it: each
//! call is a [`SharedCall`] with an id, and the server replies `(id, reply)` on the same
//! connection. Upstream's simulated gRPC and etcd clients opened a connection per call
//! (`Endpoint::connect1`), which costs a connect delay, an accept and two channels per call;
//! a real channel pays that once.
//!
//! The failures stay those of a connection per call: a call to an address with no server,
//! or across a cut link, fails at once with `ConnectionRefused` (the check opening a
//! connection made, see [`Sender::send_if_linked`]); a call in flight when the connection
//! breaks (the server's node was killed) fails with `ConnectionReset`; a message already
//! sent when a link is cut waits for the link, as on a connection of its own.
//!
//! The server side: the first message of an accepted connection is a [`SharedCall`] when the
//! client shares the connection; [`calls_after`] yields the calls that follow, and
//! [`reply`] answers one.

use super::{Endpoint, Payload, Receiver, Sender};
use crate::task::NodeId;
use futures_util::{Stream, StreamExt};
use spin::Mutex;
use std::{collections::BTreeMap, future::Future, io, net::SocketAddr, sync::Arc};
use tokio::sync::oneshot;

/// One call on a shared connection: its id and its request.
pub struct SharedCall {
    /// The id the reply comes back under.
    pub id: u64,
    /// The request, as the server would read it on a connection of its own.
    pub request: Payload,
}

/// Where a client keeps the connection its calls share: one per node (a call from another
/// node opens its own, so a call always leaves from the node that makes it).
#[derive(Default)]
pub struct SharedSlot {
    conn: Mutex<Option<(NodeId, Arc<SharedConn>)>>,
    opening: tokio::sync::Mutex<()>,
}

impl SharedSlot {
    /// The open connection of the current node, or a new one from `open` when there is
    /// none or it broke. Calls that come while one is being opened wait for it, as calls on
    /// a real channel wait for its connection, instead of each opening their own.
    pub async fn get_or_open<F, Fut>(&self, open: F) -> io::Result<Arc<SharedConn>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = io::Result<Arc<SharedConn>>>,
    {
        let node = crate::task::current_node_id();
        if let Some(conn) = self.usable(node) {
            return Ok(conn);
        }
        // Boxed: opening is rare, and its future (a connect) would otherwise make every
        // call's future, and every task that holds one, kilobytes larger.
        Box::pin(self.open(node, open)).await
    }

    async fn open<F, Fut>(&self, node: NodeId, open: F) -> io::Result<Arc<SharedConn>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = io::Result<Arc<SharedConn>>>,
    {
        let _opening = self.opening.lock().await;
        if let Some(conn) = self.usable(node) {
            return Ok(conn);
        }
        let conn = open().await?;
        *self.conn.lock() = Some((node, conn.clone()));
        Ok(conn)
    }

    fn usable(&self, node: NodeId) -> Option<Arc<SharedConn>> {
        match &*self.conn.lock() {
            Some((opened_on, conn)) if *opened_on == node && conn.is_usable() => Some(conn.clone()),
            _ => None,
        }
    }
}

/// A client's connection that its calls share.
pub struct SharedConn {
    tx: Sender,
    calls: Arc<Mutex<Calls>>,
}

/// The calls awaiting a reply, by id (a B-tree, so that a broken connection fails them in a
/// fixed order).
#[derive(Default)]
struct Calls {
    next_id: u64,
    waiting: BTreeMap<u64, oneshot::Sender<Payload>>,
    closed: bool,
}

impl SharedConn {
    /// Opens a connection from `ep` to `addr` (failing as `Endpoint::connect1` does). Each
    /// reply is handed to its call at its arrival (PATCHED.md change 11); a task on the
    /// current node holds the receiving half and takes what arrives while the node is
    /// paused, and when it ends (the connection broke, or the node was killed) the
    /// connection is closed. Dropping the last handle closes the connection.
    pub async fn open(ep: &Endpoint, addr: SocketAddr) -> io::Result<Arc<Self>> {
        let (tx, rx) = ep.connect1(addr).await?;
        let calls = Arc::new(Mutex::new(Calls::default()));
        let taken = calls.clone();
        rx.take_directly(move |reply| hand_over(&taken, reply));
        crate::task::spawn(route_replies(rx, CloseOnDrop(calls.clone())));
        Ok(Arc::new(SharedConn { tx, calls }))
    }

    /// Whether new calls can use this connection: it has not broken.
    pub fn is_usable(&self) -> bool {
        !self.calls.lock().closed && !self.tx.is_closed()
    }

    /// Makes one call and returns the server's reply.
    pub async fn call(&self, request: Payload) -> io::Result<Payload> {
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut calls = self.calls.lock();
            let id = calls.next_id;
            calls.next_id += 1;
            calls.waiting.insert(id, tx);
            id
        };
        // forgets the call however it ends (answered, failed, or dropped at its deadline),
        // so that a late reply is dropped
        let _waiting = Forget {
            id,
            calls: &self.calls,
        };
        self.tx.send_if_linked(Box::new(SharedCall { id, request }))?;
        rx.await
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionReset, "connection reset"))
    }
}

/// Removes a call from the waiting ones when dropped.
struct Forget<'a> {
    id: u64,
    calls: &'a Mutex<Calls>,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.calls.lock().waiting.remove(&self.id);
    }
}

/// Hands each reply the connection's arrival timers did not (those that arrived while the
/// node was paused) to the call awaiting it, until the connection breaks or the task is
/// killed with its node; then the connection is closed.
async fn route_replies(mut rx: Receiver, calls: CloseOnDrop) {
    while let Ok(msg) = rx.recv().await {
        hand_over(&calls.0, msg);
    }
}

/// Hands a reply `(id, reply)` to the call awaiting it, if it still does.
fn hand_over(calls: &Mutex<Calls>, msg: Payload) {
    let (id, reply) = *msg
        .downcast::<(u64, Payload)>()
        .expect("a shared connection carries (id, reply)");
    let waiter = calls.lock().waiting.remove(&id);
    if let Some(waiter) = waiter {
        let _ = waiter.send(reply);
    }
}

/// Closes a shared connection's calls when dropped: no new call uses it, and every call
/// still waiting fails, in id order.
struct CloseOnDrop(Arc<Mutex<Calls>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        let waiting = {
            let mut calls = self.0.lock();
            calls.closed = true;
            std::mem::take(&mut calls.waiting)
        };
        drop(waiting);
    }
}

/// The server side: the calls that arrive on a shared connection after its first, until
/// the client closes it, each with the connection to reply on.
pub fn calls_after(tx: Arc<Sender>, rx: Receiver) -> impl Stream<Item = (Arc<Sender>, SharedCall)> {
    rx.filter_map(|msg| std::future::ready(msg.ok()))
        .map(move |msg| {
            let call = *msg
                .downcast::<SharedCall>()
                .expect("a shared connection carries calls");
            (tx.clone(), call)
        })
}

/// The server side: answers call `id` on its shared connection.
pub async fn reply(tx: &Sender, id: u64, reply: Payload) -> io::Result<()> {
    tx.send(Box::new((id, reply))).await
}
