//! A simulated connection (madsim's `connect1`/`accept1`, which every simulated gRPC and etcd
//! call rides on) behaves as an ordered stream whose messages each take the network's latency:
//! in sending order, none before its own latency, one sent across a cut link delivered once
//! the link is back, the end seen after the messages in flight, and a dropped receiver felt
//! by its sender. madsim delivers a message by a timer at its arrival
//! (third_party/madsim/PATCHED.md change 7); these hold that delivery to what upstream's
//! receiving task did.
#![cfg(madsim)]
// The test reads the simulator's own time (madsim::time::Instant): there is no node clock here.
#![allow(clippy::disallowed_methods)]

use madsim::net::{Endpoint, NetSim, Payload};
use madsim::time::{sleep, Instant};
use std::net::SocketAddr;
use std::time::Duration;

const SERVER: &str = "10.0.1.1:9000";
/// Wide, so that a later message often draws a shorter latency than an earlier one.
const LATENCY: std::ops::Range<Duration> = Duration::from_millis(1)..Duration::from_millis(40);

/// Runs `client` on a client node connected to a server node that runs `server` on the
/// accepted connection, in a simulation of `seed`; returns what the server returned.
fn connected<C, S, CF, SF, T>(seed: u64, client: C, server: S) -> T
where
    C: FnOnce(madsim::net::Sender, madsim::net::Receiver, madsim::task::NodeId) -> CF + Send + 'static,
    CF: std::future::Future<Output = ()> + Send + 'static,
    S: FnOnce(madsim::net::Sender, madsim::net::Receiver) -> SF + Send + 'static,
    SF: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        let mut config = madsim::Config::default();
        config.net.send_latency = LATENCY;
        let rt = madsim::runtime::Runtime::with_seed_and_config(seed, config);
        let handle = rt.handle();
        let addr: SocketAddr = SERVER.parse().expect("address");
        let server_node = handle.create_node().name("server").ip(addr.ip()).build();
        let client_node = handle.create_node().name("client").ip("10.0.2.1".parse().expect("ip")).build();
        let server_id = server_node.id();
        let served = server_node.spawn(async move {
            let ep = Endpoint::bind(addr).await.expect("bind");
            let (tx, rx, _) = ep.accept1().await.expect("accept");
            server(tx, rx).await
        });
        client_node.spawn(async move {
            sleep(Duration::from_millis(10)).await; // the server is bound
            let ep = Endpoint::bind("0.0.0.0:0").await.expect("bind");
            let (tx, rx) = ep.connect1(addr).await.expect("connect");
            client(tx, rx, server_id).await;
        });
        rt.block_on(served).expect("the server ran")
    })
    .join()
    .expect("the simulation ran")
}

/// A message carrying its number and when it was sent.
fn message(n: u32) -> Payload {
    Box::new((n, Instant::now()))
}

fn read(payload: Payload) -> (u32, Instant) {
    *payload.downcast::<(u32, Instant)>().expect("a numbered message")
}

#[test]
fn messages_arrive_in_sending_order_each_after_its_latency() {
    for seed in 1..=5 {
        let received = connected(
            seed,
            |tx, _rx, _| async move {
                for n in 0..200 {
                    tx.send(message(n)).await.expect("send");
                    if n % 3 == 0 {
                        sleep(Duration::from_millis(2)).await;
                    }
                }
                sleep(Duration::from_secs(1)).await; // keep the connection open
            },
            |_tx, mut rx| async move {
                let mut received = Vec::new();
                for _ in 0..200 {
                    let (n, sent) = read(rx.recv().await.expect("a message"));
                    received.push((n, sent, Instant::now()));
                }
                received
            },
        );
        let order: Vec<u32> = received.iter().map(|(n, _, _)| *n).collect();
        assert_eq!(order, (0..200).collect::<Vec<_>>(), "seed {seed}: in sending order");
        for (n, sent, arrived) in &received {
            let took = *arrived - *sent;
            assert!(took >= LATENCY.start, "seed {seed}: message {n} arrived after {took:?}, under the least latency");
        }
        // Not held back beyond the latency of the message ahead (a FIFO link, no extra wait).
        let last = received.last().expect("messages");
        let spread = last.2 - last.1;
        assert!(spread <= LATENCY.end + Duration::from_millis(1), "seed {seed}: the last message took {spread:?}");
    }
}

#[test]
fn a_message_sent_across_a_cut_link_arrives_once_the_link_is_back() {
    let received = connected(
        7,
        |tx, _rx, server| async move {
            let net = NetSim::current();
            let me = madsim::task::current_node_id();
            net.clog_link(me, server);
            tx.send(message(0)).await.expect("queued on the cut link");
            assert!(tx.send_if_linked(message(99)).is_err(), "a multiplexed call is refused on a cut link");
            sleep(Duration::from_millis(300)).await;
            net.unclog_link(me, server);
            tx.send(message(1)).await.expect("send");
            sleep(Duration::from_secs(1)).await;
        },
        |_tx, mut rx| async move {
            let start = Instant::now();
            let mut received = Vec::new();
            for _ in 0..2 {
                let (n, _) = read(rx.recv().await.expect("a message"));
                received.push((n, Instant::now() - start));
            }
            received
        },
    );
    assert_eq!(received.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [0, 1], "the queued message first");
    assert!(received[0].1 >= Duration::from_millis(300), "it waited for the link: {:?}", received[0].1);
}

#[test]
fn the_end_of_a_connection_is_seen_after_the_messages_in_flight() {
    let (count, ended_after) = connected(
        8,
        |tx, _rx, _| async move {
            for n in 0..3 {
                tx.send(message(n)).await.expect("send");
            }
            drop(tx); // with three messages in flight
        },
        |_tx, mut rx| async move {
            let start = Instant::now();
            let mut count = 0;
            while rx.recv().await.is_ok() {
                count += 1;
            }
            (count, Instant::now() - start)
        },
    );
    assert_eq!(count, 3, "every message sent before the end is delivered");
    assert!(ended_after >= LATENCY.start, "the end came after the messages: {ended_after:?}");
}

#[test]
fn a_dropped_receiver_is_felt_by_its_sender() {
    let closed_after = connected(
        9,
        |tx, rx, _| async move {
            sleep(Duration::from_secs(2)).await;
            drop(rx);
            sleep(Duration::from_secs(1)).await;
            drop(tx);
        },
        |tx, _rx| async move {
            let start = Instant::now();
            // Waiters that give up leave nothing behind (each call's wait for a closed
            // connection is dropped when its reply goes out): a thousand of them, ~1 s.
            for _ in 0..1_000 {
                assert!(madsim::time::timeout(Duration::from_millis(1), tx.closed()).await.is_err());
            }
            assert!(!tx.is_closed());
            tx.closed().await;
            assert!(tx.is_closed());
            assert!(tx.send(message(0)).await.is_err(), "a send to a dropped receiver fails");
            Instant::now() - start
        },
    );
    let expected = Duration::from_secs(2)..Duration::from_millis(2_100);
    assert!(
        expected.contains(&closed_after),
        "closed() resolved when the receiver was dropped, ~2 s: {closed_after:?}"
    );
}
