//! The simulated gRPC transport (third_party/madsim-tonic, PATCHED.md) against what real
//! tonic does: one server takes many concurrent unary calls without a per-call ceiling
//! (upstream madsim-tonic served ~333 calls per simulated second: serial accepts of 1 ms
//! each, two per call), a paused server's callers wait out their deadline (a SIGSTOPped
//! process keeps its sockets: nothing answers, nothing resets), a killed server's
//! callers fail at once (connection refused), and so do callers across a cut link. Unary
//! calls share one connection per channel and node, as on HTTP/2 (PATCHED.md change 5):
//! a channel whose server was restarted opens a new one and its calls are answered.
#![cfg(madsim)]
// The test reads the simulator's own time (madsim::time::Instant, true simulated time):
// there is no node clock here to read it through.
#![allow(clippy::disallowed_methods)]

use faultline::node::{sink, NodeClock, NodeContext, NodeFaults};
use faultline::proto;
use faultline::record::Recorder;
use std::net::SocketAddr;
use std::time::Duration;

const SINK: &str = "10.0.3.1:7000";

/// Which way the test treats the server before calling it.
#[derive(Clone, Copy)]
enum Server {
    Up,
    Paused,
    Killed,
    /// Restarted after the channel's shared connection was opened.
    Restarted,
    /// The link from the client to the server is cut (madsim's `clog_link`).
    Cut,
}

/// Starts a sink on a fresh simulator with `seed`, applies `server` to it, then runs
/// `calls` concurrent `check` calls with a `deadline` from one client node. Returns the
/// simulated time until every call finished and how many succeeded.
fn concurrent_calls(seed: u64, server: Server, calls: usize, deadline: Duration) -> (Duration, usize) {
    std::thread::spawn(move || {
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
        let handle = rt.handle();
        let addr: SocketAddr = SINK.parse().expect("address");
        let ctx = NodeContext {
            name: "sink".into(),
            clock: NodeClock::exact(NodeClock::origin_now()),
            faults: NodeFaults::default(),
            recorder: Recorder::new(),
            bugs: Default::default(),
            tls: None,
        };
        let node = handle
            .create_node()
            .name("sink")
            .ip(addr.ip())
            .init(move || sink::run(ctx.clone(), addr, sink::in_memory(Default::default())))
            .build();
        let client = handle.create_node().name("client").ip("10.0.4.1".parse().expect("ip")).build();
        rt.block_on(client.spawn(async move {
            madsim::time::sleep(Duration::from_millis(100)).await; // the sink is up
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://{SINK}")).expect("uri").connect_lazy();
            let sim = madsim::runtime::Handle::current();
            match server {
                Server::Up => {}
                Server::Paused => sim.pause(node.id()),
                Server::Killed => sim.kill(node.id()),
                Server::Restarted => {
                    open_connection(&channel).await;
                    sim.kill(node.id()); // as faultline's nemesis does: the kill frees its ports
                    sim.restart(node.id());
                    madsim::time::sleep(Duration::from_millis(100)).await; // the sink is up again
                }
                Server::Cut => {
                    open_connection(&channel).await;
                    madsim::net::NetSim::current().clog_link(madsim::task::current_node_id(), node.id());
                }
            }
            let started = madsim::time::Instant::now();
            let calls: Vec<_> = (0..calls)
                .map(|i| {
                    let mut client = proto::sink_client::SinkClient::new(channel.clone());
                    madsim::task::spawn(async move {
                        let request = proto::ApplyRequest {
                            task_id: format!("t{i}"),
                            key: format!("k{i}"),
                            ..Default::default()
                        };
                        madsim::time::timeout(deadline, client.check(request)).await.is_ok_and(|r| r.is_ok())
                    })
                })
                .collect();
            let mut answered = 0;
            for call in calls {
                answered += usize::from(call.await.expect("call task"));
            }
            (started.elapsed(), answered)
        }))
        .expect("the client task ran")
    })
    .join()
    .expect("the simulation ran")
}

/// One answered call, which opens the channel's shared connection.
async fn open_connection(channel: &tonic::transport::Channel) {
    let mut client = proto::sink_client::SinkClient::new(channel.clone());
    let first = proto::ApplyRequest { task_id: "t".into(), key: "k".into(), ..Default::default() };
    client.check(first).await.expect("the first call is answered");
}

#[test]
fn one_server_takes_thousands_of_concurrent_calls_without_a_ceiling() {
    // Upstream's ceiling: 3,000 calls at ~3 ms of server time each is ~9 simulated seconds.
    // The calls share one connection (opened once, the others waiting for it), which also
    // delivered at most one queued message per simulated millisecond (~3 s here) until
    // madsim's PATCHED.md change 5 took an arrived message at once.
    let (took, answered) = concurrent_calls(1, Server::Up, 3_000, Duration::from_secs(60));
    assert_eq!(answered, 3_000, "every call is answered");
    assert!(
        took < Duration::from_millis(500),
        "3,000 concurrent calls took {took:?}: more than 6,000 calls per simulated second is expected, as real tonic multiplexes them"
    );
}

#[test]
fn a_paused_server_holds_calls_until_their_deadline() {
    let (took, answered) = concurrent_calls(2, Server::Paused, 10, Duration::from_millis(700));
    assert_eq!(answered, 0, "a paused server answers nothing");
    assert!(took >= Duration::from_millis(700), "callers of a paused server wait out their deadline, took {took:?}");
}

#[test]
fn a_killed_server_refuses_calls_at_once() {
    let (took, answered) = concurrent_calls(3, Server::Killed, 10, Duration::from_millis(700));
    assert_eq!(answered, 0, "a killed server answers nothing");
    assert!(took < Duration::from_millis(50), "calls to a killed server fail fast (connection refused), took {took:?}");
}

#[test]
fn a_restarted_server_is_called_on_a_new_connection() {
    let (_, answered) = concurrent_calls(4, Server::Restarted, 100, Duration::from_millis(700));
    assert_eq!(answered, 100, "every call after the restart is answered, {answered} were");
}

#[test]
fn calls_across_a_cut_link_are_refused_at_once() {
    let (took, answered) = concurrent_calls(5, Server::Cut, 10, Duration::from_millis(700));
    assert_eq!(answered, 0, "nothing crosses a cut link");
    assert!(took < Duration::from_millis(50), "calls across a cut link fail fast (connection refused), took {took:?}");
}
