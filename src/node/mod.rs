//! Thin async drivers that run the core state machines on madsim-tokio: the gRPC
//! transport, the etcd store client, the per-node clock. The same code runs on real tokio
//! without `--cfg madsim`. Drivers do I/O and timing; every decision is in `core`.

pub mod client;
pub mod clock;
pub mod coordinator;
pub mod executor;
pub mod rpc;
pub mod sink;
pub mod store;

use crate::trace::{EventKind, Recorder};
pub use clock::NodeClock;

/// What every node driver has: its name, its own clock, and where history goes.
#[derive(Clone)]
pub struct NodeContext {
    pub name: String,
    pub clock: NodeClock,
    pub recorder: Recorder,
}

impl NodeContext {
    /// Records an event stamped with true (simulated) time.
    pub fn record(&self, kind: EventKind) {
        self.recorder.record(self.clock.true_now_ms(), &self.name, kind);
    }
}

/// Settings shared by the drivers, from the scenario.
#[derive(Clone, Debug)]
pub struct Timing {
    pub heartbeat_interval_ms: u64,
    pub rpc_timeout_ms: u64,
    pub lease_ttl_s: u64,
}

impl Timing {
    pub fn from_scenario(s: &crate::scenario::Scenario) -> Self {
        Timing {
            heartbeat_interval_ms: s.scheduler.heartbeat_interval_ms,
            rpc_timeout_ms: s.scheduler.rpc_timeout_ms,
            lease_ttl_s: s.scheduler.lease_ttl_s,
        }
    }
}
