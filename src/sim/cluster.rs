//! Builds the simulated cluster: the etcd store, the coordinators, the executors, the sink
//! and the workload client, each a madsim node running the same drivers as real mode.
//!
//! The store survives crashes the way real etcd does (acknowledged = fsynced): before it is
//! killed, its links are cut, it dumps its state to its own disk, and its init reloads that
//! dump. Writes acknowledged before the dump are in it, and the dump is the store's last
//! act: a request it had already received and applies after the dump is never answered
//! (madsim-etcd-client PATCHED.md change 14), so nothing missing from the dump is acked.

use crate::node::coordinator::CoordinatorSettings;
use crate::node::executor::ExecutorSettings;
use crate::node::{client, coordinator, executor, sink, NodeClock, NodeContext, NodeFaults};
use crate::record::Recorder;
use crate::scenario::Scenario;
use madsim::net::NetSim;
use madsim::runtime::{Handle, NodeHandle};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};

const STORE_PORT: u16 = 2379;
const RPC_PORT: u16 = 7000;
const DUMP_FILE: &str = "etcd.dump";

/// One node of the cluster.
#[derive(Clone)]
pub struct SimNode {
    pub name: String,
    pub role: Role,
    pub handle: NodeHandle,
    /// The node's zone, if it is placed in one.
    pub zone: Option<String>,
    /// The node's clock and fault rules, shared with its drivers across restarts.
    pub ctx: NodeContext,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Store,
    Coordinator,
    Executor,
    Sink,
    Client,
}

pub struct Cluster {
    pub nodes: Vec<SimNode>,
    pub recorder: Recorder,
    pub origin: tokio::time::Instant,
    /// Tasks the client has had acknowledged.
    pub acked: Arc<AtomicU64>,
    /// The client has sent every job command and had it made durable (the final deletes too).
    pub jobs_done: Arc<AtomicBool>,
    /// Directed links cut, with how many faults cut each (overlapping faults heal apart).
    cuts: Mutex<BTreeMap<(String, String), u32>>,
}

fn ip(group: u8, index: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, group, index))
}

/// Executor `i`'s address: 10.2.hi.lo, room for every executor the format allows.
fn executor_ip(i: u64) -> IpAddr {
    let i = u16::try_from(i).expect("executor count within the format's limit");
    let [hi, lo] = i.to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(10, 2, hi, lo))
}

impl Cluster {
    /// Creates every node; their init closures start the drivers.
    pub fn build(handle: &Handle, scenario: &Scenario, recorder: &Recorder, seed: u64) -> Cluster {
        let origin = NodeClock::origin_now();
        let timing = crate::settings::timing(scenario);
        let ctx = |name: &str| NodeContext {
            name: name.into(),
            clock: NodeClock::exact(origin),
            faults: NodeFaults::default(),
            recorder: recorder.clone(),
            bugs: crate::bugs::BugSet::of(&scenario.bugs),
            tls: None,
        };
        let store_addr = SocketAddr::new(ip(0, 1), STORE_PORT);
        let coords: Vec<(String, String)> = (1..=scenario.topology.coordinators)
            .map(|i| (format!("coord-{i}"), SocketAddr::new(ip(1, i as u8), RPC_PORT).to_string()))
            .collect();
        let sink_addr = SocketAddr::new(ip(3, 1), RPC_PORT);
        let mut nodes = Vec::new();
        let node = |name: &str, role: Role, handle: NodeHandle, ctx: NodeContext| SimNode {
            name: name.to_string(),
            role,
            handle,
            zone: scenario.zone_of(name).map(str::to_string),
            ctx,
        };
        let stalls = scenario.store.stalls.clone();
        let store = handle
            .create_node()
            .name("store")
            .ip(store_addr.ip())
            .init(move || serve_store(store_addr, stalls.clone(), NodeClock::exact(origin)))
            .build();
        nodes.push(node("store", Role::Store, store, ctx("store")));

        for (i, (name, addr)) in coords.iter().enumerate() {
            let settings = CoordinatorSettings {
                listen: addr.parse().expect("valid address"),
                store_endpoints: vec![store_addr.to_string()],
                config: scenario.coordinator_config(),
                timing: timing.clone(),
                seed: seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                load: Default::default(),
            };
            let c = ctx(name);
            let init = c.clone();
            let h = handle
                .create_node()
                .name(name.clone())
                .ip(ip(1, i as u8 + 1))
                .init(move || coordinator::run(init.clone(), settings.clone(), std::future::pending()))
                .build();
            nodes.push(node(name, Role::Coordinator, h, c));
        }
        for i in 1..=scenario.topology.executors {
            let name = format!("exec-{i}");
            let settings = ExecutorSettings {
                capacity: scenario.topology.executor_capacity as u32,
                zone: scenario.zone_of(&name).unwrap_or_default().to_string(),
                coordinators: coords.clone(),
                sink: sink_addr.to_string(),
                timing: timing.clone(),
                beats: Default::default(),
                drain_ms: 0, // no planned stops in the simulator
            };
            let c = ctx(&name);
            let init = c.clone();
            let h = handle
                .create_node()
                .name(name.clone())
                .ip(executor_ip(i))
                .init(move || executor::run(init.clone(), settings.clone(), None))
                .build();
            nodes.push(node(&name, Role::Executor, h, c));
        }
        let c = ctx("sink");
        let init = c.clone();
        // Kept outside the node: a restarted sink finds what its durable ledger committed.
        let ledger = sink::in_memory(c.bugs);
        let h = handle
            .create_node()
            .name("sink")
            .ip(sink_addr.ip())
            .init(move || sink::run(init.clone(), sink_addr, ledger.clone()))
            .build();
        nodes.push(node("sink", Role::Sink, h, c));

        let acked = Arc::new(AtomicU64::new(0));
        let jobs_done = Arc::new(AtomicBool::new(false));
        let jobs = crate::settings::jobs(scenario, coords.clone());
        let settings = crate::settings::client(scenario, coords);
        let (c, a) = (ctx("client"), acked.clone());
        // The client is not a crash target: its init would resubmit from scratch.
        let h = handle.create_node().name("client").ip(ip(4, 1)).build();
        h.spawn(client::run(c.clone(), settings, a));
        h.spawn(client::run_jobs(c.clone(), jobs, jobs_done.clone()));
        nodes.push(node("client", Role::Client, h, c));
        Cluster { nodes, recorder: recorder.clone(), origin, acked, jobs_done, cuts: Mutex::default() }
    }

    pub fn node(&self, name: &str) -> Option<&SimNode> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Cuts or heals the directed links `from -> to` (messages from `from` are lost).
    /// Cuts count: a link heals when every fault that cut it has healed.
    pub fn set_links(&self, links: &[(String, String)], cut: bool) {
        let net = NetSim::current();
        let mut cuts = self.cuts.lock().expect("cuts poisoned");
        for (from, to) in links {
            let (Some(a), Some(b)) = (self.node(from), self.node(to)) else { continue };
            let count = cuts.entry((from.clone(), to.clone())).or_default();
            match (cut, *count) {
                (true, 0) => net.clog_link(a.handle.id(), b.handle.id()),
                (false, 1) => net.unclog_link(a.handle.id(), b.handle.id()),
                _ => {}
            }
            *count = if cut { *count + 1 } else { count.saturating_sub(1) };
        }
    }

    /// Both directions between `node` and every other node.
    pub fn links_of(&self, node: &str) -> Vec<(String, String)> {
        self.nodes
            .iter()
            .filter(|n| n.name != node)
            .flat_map(|n| [(node.to_string(), n.name.clone()), (n.name.clone(), node.to_string())])
            .collect()
    }

    /// Makes every acknowledged store write durable, then kills the store node.
    pub async fn crash_store(&self, handle: &Handle) {
        let store = self.node("store").expect("the cluster has a store");
        self.set_links(&self.links_of("store"), true);
        let addr = SocketAddr::new(ip(0, 1), STORE_PORT).to_string();
        // The handle kept from the build names the node's first life; a restarted store
        // runs its tasks under a new one, so spawn through a fresh handle.
        let current = handle.get_node(store.handle.id()).expect("the store node exists");
        current.spawn(dump_store(addr)).await.expect("dump task ran");
        handle.kill(store.handle.id());
    }

    /// Restarts the store (it reloads its dump) and reconnects it.
    pub fn restart_store(&self, handle: &Handle) {
        let store = self.node("store").expect("the cluster has a store");
        handle.restart(store.handle.id());
        self.set_links(&self.links_of("store"), false);
    }
}

/// Runs the simulated etcd; `stalls` model its healthy latency (`sim::store_latency`).
async fn serve_store(addr: SocketAddr, stalls: Vec<crate::scenario::StallClass>, clock: NodeClock) {
    let latency = crate::sim::store_latency::StoreLatency::new(stalls);
    let delay = move || std::time::Duration::from_millis(latency.delay_ms(clock.true_now_ms(), madsim::rand::random));
    let mut server = etcd_client::SimServer::builder().request_delay(Arc::new(delay));
    if let Ok(dump) = madsim::fs::read(DUMP_FILE).await {
        server = server.load(String::from_utf8(dump).expect("the dump is UTF-8 JSON"));
    }
    server.serve(addr).await.expect("store serves");
}

async fn dump_store(addr: String) {
    let mut client = etcd_client::Client::connect([addr], None).await.expect("local store connection");
    let dump = client.dump().await.expect("store dump");
    let file = madsim::fs::File::create(DUMP_FILE).await.expect("create dump file");
    file.write_all_at(dump.as_bytes(), 0).await.expect("write dump");
    file.set_len(dump.len() as u64).await.expect("truncate dump");
}
