//! The simulated gRPC transport (third_party/madsim-tonic, PATCHED.md) against what real
//! tonic does: one server takes many concurrent unary calls without a per-call ceiling
//! (upstream madsim-tonic served ~333 calls per simulated second: serial accepts of 1 ms
//! each, two per call), a paused server's callers wait out their deadline (a SIGSTOPped
//! process keeps its sockets: nothing answers, nothing resets), and a killed server's
//! callers fail at once (connection refused).
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
            match server {
                Server::Up => {}
                Server::Paused => madsim::runtime::Handle::current().pause(node.id()),
                Server::Killed => madsim::runtime::Handle::current().kill(node.id()),
            }
            let channel =
                tonic::transport::Endpoint::from_shared(format!("http://{SINK}")).expect("uri").connect_lazy();
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

#[test]
fn one_server_takes_thousands_of_concurrent_calls_without_a_ceiling() {
    // Upstream's ceiling: 3,000 calls at ~3 ms of server time each is ~9 simulated seconds.
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
