//! Asynchronous network endpoint and a controlled network simulator.
//!
//! # Examples
//!
//! ```
//! use madsim::{runtime::Runtime, net::Endpoint};
//! use std::sync::Arc;
//! use std::net::SocketAddr;
//!
//! let runtime = Runtime::new();
//! let addr1 = "10.0.0.1:1".parse::<SocketAddr>().unwrap();
//! let addr2 = "10.0.0.2:1".parse::<SocketAddr>().unwrap();
//! let node1 = runtime.create_node().ip(addr1.ip()).build();
//! let node2 = runtime.create_node().ip(addr2.ip()).build();
//! let barrier = Arc::new(tokio::sync::Barrier::new(2));
//! let barrier_ = barrier.clone();
//!
//! node1.spawn(async move {
//!     let net = Endpoint::bind(addr1).await.unwrap();
//!     barrier_.wait().await;  // make sure addr2 has bound
//!
//!     net.send_to(addr2, 1, &[1]).await.unwrap();
//! });
//!
//! let f = node2.spawn(async move {
//!     let net = Endpoint::bind(addr2).await.unwrap();
//!     barrier.wait().await;
//!
//!     let mut buf = vec![0; 0x10];
//!     let (len, from) = net.recv_from(1, &mut buf).await.unwrap();
//!     assert_eq!(from, addr1);
//!     assert_eq!(&buf[..len], &[1]);
//! });
//!
//! runtime.block_on(f);
//! ```

use bytes::Bytes;
use futures_util::{ready, Stream, StreamExt};
use spin::Mutex;
use std::{
    any::Any,
    collections::{HashMap, VecDeque},
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll, Waker},
    time::Instant,
};
use tokio::sync::{oneshot, Notify};
use tracing::*;

use crate::{
    buggify::buggify_with_prob,
    plugin,
    rand::{GlobalRng, Rng},
    task::{NodeId, NodeInfo, Spawner},
    time::{sleep, Duration, TimeHandle},
};

mod addr;
mod dns;
mod endpoint;
pub mod ipvs;
mod network;
#[cfg(feature = "rpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "rpc")))]
pub mod rpc;
#[doc(hidden)]
pub mod shared;
pub mod tcp;
mod udp;
pub mod unix;

pub use self::addr::{lookup_host, ToSocketAddrs};
use self::dns::DnsServer;
pub use self::endpoint::{Endpoint, Receiver, Sender};
use self::ipvs::{IpVirtualServer, ServiceAddr};
pub use self::network::{Config, Stat};
use self::network::{Direction, IpProtocol, Network, Socket};
pub use self::tcp::{TcpListener, TcpStream};
pub use self::udp::UdpSocket;
pub use self::unix::{UnixDatagram, UnixListener, UnixStream};

/// Network simulator.
#[cfg_attr(docsrs, doc(cfg(madsim)))]
pub struct NetSim {
    network: Mutex<Network>,
    dns: Mutex<DnsServer>,
    ipvs: IpVirtualServer,
    rand: GlobalRng,
    time: TimeHandle,
    hooks_req: Mutex<HashMap<NodeId, MsgHookFn>>,
    hooks_rsp: Mutex<HashMap<NodeId, MsgHookFn>>,
}

/// Message sent to a network socket.
pub type Payload = Box<dyn Any + Send + Sync>;

type MsgHookFn = Arc<dyn Fn(&Payload) -> bool + Send + Sync>;

impl plugin::Simulator for NetSim {
    fn new(_rand: &GlobalRng, _time: &TimeHandle, _config: &crate::Config) -> Self {
        unreachable!()
    }

    fn new1(rand: &GlobalRng, time: &TimeHandle, _task: &Spawner, config: &crate::Config) -> Self {
        NetSim {
            network: Mutex::new(Network::new(rand.clone(), config.net.clone())),
            dns: Mutex::new(DnsServer::default()),
            ipvs: IpVirtualServer::default(),
            rand: rand.clone(),
            time: time.clone(),
            hooks_req: Default::default(),
            hooks_rsp: Default::default(),
        }
    }

    fn create_node(&self, id: NodeId) {
        let mut network = self.network.lock();
        network.insert_node(id);
    }

    fn reset_node(&self, id: NodeId) {
        self.reset_node(id);
    }
}

impl NetSim {
    /// Get [`NetSim`] of the current simulator.
    pub fn current() -> Arc<Self> {
        plugin::simulator()
    }

    /// Get the statistics.
    pub fn stat(&self) -> Stat {
        self.network.lock().stat().clone()
    }

    /// Update network configurations.
    pub fn update_config(&self, f: impl FnOnce(&mut Config)) {
        let mut network = self.network.lock();
        network.update_config(f);
    }

    /// Reset a node.
    ///
    /// All connections will be closed.
    pub fn reset_node(&self, id: NodeId) {
        let mut network = self.network.lock();
        network.reset_node(id);
    }

    /// Set IP address of a node.
    pub fn set_ip(&self, node: NodeId, ip: IpAddr) {
        let mut network = self.network.lock();
        network.set_ip(node, ip);
    }

    /// Connect a node to the network.
    #[deprecated(since = "0.3.0", note = "use `unclog_node` instead")]
    pub fn connect(&self, id: NodeId) {
        self.unclog_node(id);
    }

    /// Unclog the node.
    pub fn unclog_node(&self, id: NodeId) {
        self.network.lock().unclog_node(id, Direction::Both);
    }

    /// Unclog the node for receive.
    pub fn unclog_node_in(&self, id: NodeId) {
        self.network.lock().unclog_node(id, Direction::In);
    }

    /// Unclog the node for send.
    pub fn unclog_node_out(&self, id: NodeId) {
        self.network.lock().unclog_node(id, Direction::Out);
    }

    /// Disconnect a node from the network.
    #[deprecated(since = "0.3.0", note = "use `clog_node` instead")]
    pub fn disconnect(&self, id: NodeId) {
        self.clog_node(id);
    }

    /// Clog the node.
    pub fn clog_node(&self, id: NodeId) {
        self.network.lock().clog_node(id, Direction::Both);
    }

    /// Clog the node for receive.
    pub fn clog_node_in(&self, id: NodeId) {
        self.network.lock().clog_node(id, Direction::In);
    }

    /// Clog the node for send.
    pub fn clog_node_out(&self, id: NodeId) {
        self.network.lock().clog_node(id, Direction::Out);
    }

    /// Connect a pair of nodes.
    #[deprecated(since = "0.3.0", note = "call `unclog_link` twice instead")]
    pub fn connect2(&self, node1: NodeId, node2: NodeId) {
        let mut network = self.network.lock();
        network.unclog_link(node1, node2);
        network.unclog_link(node2, node1);
    }

    /// Unclog the link from `src` to `dst`.
    pub fn unclog_link(&self, src: NodeId, dst: NodeId) {
        self.network.lock().unclog_link(src, dst);
    }

    /// Disconnect a pair of nodes.
    #[deprecated(since = "0.3.0", note = "call `clog_link` twice instead")]
    pub fn disconnect2(&self, node1: NodeId, node2: NodeId) {
        let mut network = self.network.lock();
        network.clog_link(node1, node2);
        network.clog_link(node2, node1);
    }

    /// Clog the link from `src` to `dst`.
    pub fn clog_link(&self, src: NodeId, dst: NodeId) {
        self.network.lock().clog_link(src, dst);
    }

    /// Add a DNS record for the cluster.
    pub fn add_dns_record(&self, hostname: &str, ip: IpAddr) {
        self.dns.lock().add(hostname, ip);
    }

    /// Performs a DNS lookup.
    pub(crate) fn lookup_host(&self, hostname: &str) -> Option<IpAddr> {
        self.dns.lock().lookup(hostname)
    }

    /// Get the IPVS for all nodes.
    pub fn global_ipvs(&self) -> &IpVirtualServer {
        &self.ipvs
    }

    /// Add a hook function for RPC requests.
    ///
    /// If the hook function returns `false`, the request will be dropped.
    #[cfg(feature = "rpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rpc")))]
    pub fn hook_rpc_req<R: 'static>(
        &self,
        node: NodeId,
        f: impl Fn(&R) -> bool + Send + Sync + 'static,
    ) {
        self.hooks_req.lock().insert(
            node,
            Arc::new(move |payload| {
                if let Some((_, payload)) = payload.downcast_ref::<(u64, Payload)>() {
                    if let Some((_, msg, _)) = payload.downcast_ref::<(u64, R, Bytes)>() {
                        return f(msg);
                    }
                }
                true
            }),
        );
    }

    /// Add a hook function for RPC responses.
    ///
    /// If the hook function returns `false`, the response will be dropped.
    #[cfg(feature = "rpc")]
    #[cfg_attr(docsrs, doc(cfg(feature = "rpc")))]
    pub fn hook_rpc_rsp<R: 'static>(
        &self,
        node: NodeId,
        f: impl Fn(&R) -> bool + Send + Sync + 'static,
    ) {
        self.hooks_rsp.lock().insert(
            node,
            Arc::new(move |payload| {
                if let Some((_, payload)) = payload.downcast_ref::<(u64, Payload)>() {
                    if let Some((msg, _)) = payload.downcast_ref::<(R, Bytes)>() {
                        return f(msg);
                    }
                }
                true
            }),
        );
    }

    /// Delay a small random time and probably inject failure.
    async fn rand_delay(&self) -> io::Result<()> {
        let mut delay = Duration::from_micros(self.rand.with(|rng| rng.gen_range(0..5)));
        if buggify_with_prob(0.1) {
            delay = Duration::from_secs(self.rand.with(|rng| rng.gen_range(1..5)));
        }
        self.time.sleep(delay).await;
        // TODO: inject failure
        Ok(())
    }

    /// Send a message to the destination.
    pub(crate) async fn send(
        &self,
        node: NodeId,
        port: u16,
        mut dst: SocketAddr,
        protocol: IpProtocol,
        msg: Payload,
    ) -> io::Result<()> {
        self.rand_delay().await?;
        if let Some(hook) = self.hooks_req.lock().get(&node).cloned() {
            if !hook(&msg) {
                return Ok(());
            }
        }
        // faultline patch (PATCHED.md, change 3): look a virtual service up only when
        // one exists; the lookup formats the address into a `String` on every call.
        if let Some(addr) = (!self.ipvs.is_empty())
            .then(|| {
                self.ipvs
                    .get_server(ServiceAddr::from_addr_proto(dst, protocol))
            })
            .flatten()
        {
            dst = addr.parse().expect("invalid socket address");
        }
        if let Some((ip, dst_node, socket, latency)) =
            self.network.lock().try_send(node, dst, protocol)
        {
            trace!(?latency, "delay");
            let hook = self.hooks_rsp.lock().get(&dst_node).cloned();
            self.time.add_timer(latency, move || {
                if let Some(hook) = hook {
                    if !hook(&msg) {
                        return;
                    }
                }
                socket.deliver((ip, port).into(), dst, msg);
            });
        }
        Ok(())
    }

    /// Opens a new connection to destination.
    // TODO: rename
    pub(crate) async fn connect1(
        self: &Arc<Self>,
        node: NodeId,
        port: u16,
        mut dst: SocketAddr,
        protocol: IpProtocol,
    ) -> io::Result<(PayloadSender, PayloadReceiver, SocketAddr)> {
        self.rand_delay().await?;
        // faultline patch (PATCHED.md, change 3): look a virtual service up only when
        // one exists; the lookup formats the address into a `String` on every call.
        if let Some(addr) = (!self.ipvs.is_empty())
            .then(|| {
                self.ipvs
                    .get_server(ServiceAddr::from_addr_proto(dst, protocol))
            })
            .flatten()
        {
            dst = addr.parse().expect("invalid socket address");
        }
        let (ip, dst_node, socket, latency) = (self.network.lock().try_send(node, dst, protocol))
            .ok_or_else(|| {
            io::Error::new(io::ErrorKind::ConnectionRefused, "connection refused")
        })?;
        let src = (ip, port).into();
        let (tx1, rx1) = self.channel(node, dst, protocol);
        let (tx2, rx2) = self.channel(dst_node, src, protocol);
        trace!(?latency, "delay");
        // FIXME: delay
        // self.time.add_timer(latency, move || {
        socket.new_connection(src, dst, tx2, rx1);
        // });
        Ok((tx1, rx2, src))
    }

    /// Create a reliable, ordered channel between two endpoints.
    ///
    /// faultline patch (PATCHED.md, change 7): a message is delivered by a timer at its
    /// arrival, which wakes the receiver once. Upstream queued it on a channel whose
    /// receiving task woke at the send, slept until the arrival and woke again: two polls of
    /// the receiver (often a server's whole accept loop) per message.
    fn channel(
        self: &Arc<Self>,
        node: NodeId,
        dst: SocketAddr,
        protocol: IpProtocol,
    ) -> (PayloadSender, PayloadReceiver) {
        let net = self.clone();
        let test_link: TestLink = Arc::new(move || {
            net.network
                .lock()
                .try_send(node, dst, protocol)
                .map(|(_, _, _, latency)| net.time.now_instant() + latency)
        });
        let link = Arc::new(Mutex::new(Link::default()));
        let closed = Arc::new(Notify::new());
        let sender = PayloadSender {
            test_link: test_link.clone(),
            link: link.clone(),
            closed: closed.clone(),
            time: self.time.clone(),
        };
        let recver = PayloadReceiver {
            test_link,
            link,
            closed,
            time: self.time.clone(),
            retry: None,
            backoff: RETRY_FIRST,
        };
        (sender, recver)
    }
}

/// Tests the link from a channel's sender to its receiver now: the arrival time of a message
/// sent now, or `None` when the link is down (the peer's port unbound, the link clogged, or
/// the packet lost).
type TestLink = Arc<dyn Fn() -> Option<Instant> + Send + Sync>;

/// The first wait before a message sent while the link was down tests the link again; each
/// later wait doubles, up to [`RETRY_MAX`] (upstream's backoff).
const RETRY_FIRST: Duration = Duration::from_millis(1);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// What a channel's two halves share (faultline patch, PATCHED.md change 7).
#[derive(Default)]
struct Link {
    /// Messages sent and not yet taken, in sending order, each with its arrival time
    /// (`None`: the link was down when it was sent, and the receiver tests it again with a
    /// backoff). A message is taken at its arrival and after every message before it.
    queue: VecDeque<(Payload, Option<Instant>)>,
    /// The latest arrival of a message queued so far. The receiver takes messages in order
    /// whatever their timers say; a message's timer is set no earlier than this, so that it
    /// does not wake the receiver while an earlier message is still on its way.
    last_arrival: Option<Instant>,
    /// The receiver's task, while it waits for a message.
    receiver: Option<Waker>,
    /// Takes each message at its arrival, in the timer that marks it, instead of waking the
    /// receiver's task (PATCHED.md change 11).
    direct: Option<Direct>,
    sender_gone: bool,
    receiver_gone: bool,
}

/// A receiver that takes messages at their arrival, while its node runs (faultline patch,
/// PATCHED.md change 11). What it cannot take (a message sent while the link was down, the
/// end of the connection, anything that arrives while its node is paused) still wakes the
/// receiver's task, which takes it as before.
struct Direct {
    take: Box<dyn FnMut(Payload) + Send>,
    node: Arc<NodeInfo>,
    time: TimeHandle,
}

impl Link {
    /// `at`, moved no earlier than the latest arrival queued so far, which it becomes.
    fn ordered_arrival(&mut self, at: Instant) -> Instant {
        let at = self.last_arrival.map_or(at, |last| at.max(last));
        self.last_arrival = Some(at);
        at
    }

    fn wake_receiver(&mut self) {
        if let Some(waker) = self.receiver.take() {
            waker.wake();
        }
    }
}

#[doc(hidden)]
pub struct PayloadSender {
    test_link: TestLink,
    link: Arc<Mutex<Link>>,
    /// Notified when the receiver is dropped ([`PayloadSender::closed`]). A waiter that gives
    /// up (a call answered before its connection closed) leaves nothing behind.
    closed: Arc<Notify>,
    time: TimeHandle,
}

impl PayloadSender {
    fn send(&self, value: Payload) -> Option<()> {
        let state = (self.test_link)();
        self.queue(value, state).ok()
    }

    /// Sends only if the link to the peer is up now, as opening a connection would check
    /// (faultline patch, PATCHED.md change 5): `Err(true)` when the link is down (nothing
    /// is queued), `Err(false)` when the peer's half is gone.
    fn send_if_linked(&self, value: Payload) -> Result<(), bool> {
        let state = (self.test_link)();
        if state.is_none() {
            return Err(true);
        }
        self.queue(value, state)
    }

    /// Queues a message arriving at `arrival` (`None`: unknown, the link is down) and sets
    /// the timer that wakes the receiver then; `Err(false)` when the receiver is gone.
    fn queue(&self, value: Payload, arrival: Option<Instant>) -> Result<(), bool> {
        let mut link = self.link.lock();
        if link.receiver_gone {
            return Err(false);
        }
        let arrival = arrival.map(|at| link.ordered_arrival(at));
        link.queue.push_back((value, arrival));
        match arrival {
            Some(at) => {
                drop(link);
                wake_at(&self.time, &self.link, at);
            }
            // the receiver starts testing the link again
            None => link.wake_receiver(),
        }
        Ok(())
    }

    fn is_closed(&self) -> bool {
        self.link.lock().receiver_gone
    }

    async fn closed(&self) {
        // created before the check: a drop between the two still notifies it
        let notified = self.closed.notified();
        if self.link.lock().receiver_gone {
            return;
        }
        notified.await
    }
}

impl Drop for PayloadSender {
    fn drop(&mut self) {
        let mut link = self.link.lock();
        link.sender_gone = true;
        // a receiver with nothing left to take sees the end now
        link.wake_receiver();
    }
}

/// Wakes the receiver of `link` at `at`, if it is still there.
fn wake_at(time: &TimeHandle, link: &Arc<Mutex<Link>>, at: Instant) {
    let link: std::sync::Weak<Mutex<Link>> = Arc::downgrade(link);
    time.add_fire_at(at, link);
}

impl crate::time::Fire for Mutex<Link> {
    fn fire(&self) {
        let mut guard = self.lock();
        let link = &mut *guard;
        if let Some(direct) = link.direct.as_mut().filter(|d| d.node.runs()) {
            let now = direct.time.now_instant();
            while let Some((_, Some(at))) = link.queue.front() {
                if *at > now {
                    return; // the next message's own timer comes
                }
                let (message, _) = link.queue.pop_front().expect("a front");
                (direct.take)(message);
            }
            if link.queue.is_empty() && !link.sender_gone {
                return; // all taken
            }
        }
        link.wake_receiver();
    }
}

#[doc(hidden)]
pub struct PayloadReceiver {
    test_link: TestLink,
    link: Arc<Mutex<Link>>,
    closed: Arc<Notify>,
    time: TimeHandle,
    /// The wait before testing the link again for the first message, sent while it was down.
    retry: Option<Pin<Box<crate::time::Sleep>>>,
    backoff: Duration,
}

impl Stream for PayloadReceiver {
    type Item = Payload;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Payload>> {
        let this = self.get_mut();
        loop {
            if let Some(retry) = &mut this.retry {
                ready!(retry.as_mut().poll(cx));
                this.retry = None;
                this.backoff = (this.backoff * 2).min(RETRY_MAX);
                if let Some(at) = (this.test_link)() {
                    this.backoff = RETRY_FIRST;
                    let mut link = this.link.lock();
                    let front = link.queue.front_mut().expect("a retried message waits");
                    front.1 = Some(at);
                    link.ordered_arrival(at); // later messages no earlier than it
                    drop(link);
                    wake_at(&this.time, &this.link, at);
                    continue;
                }
                this.retry = Some(Box::pin(sleep(this.backoff)));
                continue;
            }
            let mut link = this.link.lock();
            match link.queue.front() {
                Some((_, Some(at))) if *at <= this.time.now_instant() => {
                    return Poll::Ready(link.queue.pop_front().map(|(value, _)| value));
                }
                Some((_, None)) => {
                    drop(link);
                    this.retry = Some(Box::pin(sleep(this.backoff)));
                }
                None if link.sender_gone => return Poll::Ready(None),
                // the front's timer, or the sender, wakes this task
                Some((_, Some(_))) | None => {
                    link.receiver = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    }
}

impl PayloadReceiver {
    /// Has `take` take each message at its arrival while `node` runs (PATCHED.md change 11).
    fn take_directly(&self, node: Arc<NodeInfo>, take: Box<dyn FnMut(Payload) + Send>) {
        let time = self.time.clone();
        self.link.lock().direct = Some(Direct { take, node, time });
    }
}

impl Drop for PayloadReceiver {
    fn drop(&mut self) {
        let (queue, direct) = {
            let mut link = self.link.lock();
            link.receiver_gone = true;
            (std::mem::take(&mut link.queue), link.direct.take())
        };
        drop((queue, direct)); // outside the lock: a message's drop may wake a task
        self.closed.notify_waiters();
    }
}

/// An RAII structure used to release the bound port.
pub(crate) struct BindGuard {
    net: Arc<NetSim>,
    node: Arc<NodeInfo>,
    /// Bound address.
    addr: SocketAddr,
    protocol: IpProtocol,
}

impl BindGuard {
    /// Bind a socket to the address.
    pub async fn bind(
        addr: impl ToSocketAddrs,
        protocol: IpProtocol,
        socket: Arc<dyn Socket>,
    ) -> io::Result<Self> {
        let net = plugin::simulator::<NetSim>();
        let node = crate::context::current_task().node.clone();

        // attempt to bind to each address
        let mut last_err = None;
        for addr in lookup_host(addr).await? {
            net.rand_delay().await?;
            match net
                .network
                .lock()
                .bind(node.id, addr, protocol, socket.clone())
            {
                Ok(addr) => {
                    return Ok(BindGuard {
                        net: net.clone(),
                        node,
                        addr,
                        protocol,
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any addresses",
            )
        }))
    }
}

impl Drop for BindGuard {
    fn drop(&mut self) {
        // avoid interfering with restarted node
        if self.node.is_killed() {
            return;
        }
        // avoid panic on panicking
        if let Some(mut network) = self.net.network.try_lock() {
            network.close(self.node.id, self.addr, self.protocol);
        }
    }
}
