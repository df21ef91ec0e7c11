//! Thin async drivers that run the core state machines on madsim-tokio: the gRPC
//! transport, the etcd store client, the per-node clock. The same code runs on real tokio
//! without `--cfg madsim`. Drivers do I/O and timing; every decision is in `core`.

pub mod body;
pub mod client;
pub mod clock;
pub mod coordinator;
pub mod executor;
pub mod faults;
pub mod load;
#[cfg(not(madsim))]
pub mod metrics;
pub mod rpc;
pub mod sink;
pub mod store;
pub mod tls;

use crate::record::Recorder;
use crate::trace::EventKind;
pub use clock::NodeClock;
pub use faults::NodeFaults;

/// What every node driver has: its name, its own clock, the fault rules it obeys, where
/// history goes, and its credentials.
#[derive(Clone)]
pub struct NodeContext {
    /// Interned once, so that recording an event looks nothing up.
    pub name: faultline_model::node_name::NodeName,
    pub clock: NodeClock,
    pub faults: NodeFaults,
    pub recorder: Recorder,
    /// Known bugs switched on (simulation only; empty in a real process).
    pub bugs: crate::bugs::BugSet,
    /// The node's certificate, key and CA (real mode with TLS); `None` in the simulator
    /// and with `--insecure`.
    pub tls: Option<std::sync::Arc<tls::Tls>>,
}

impl NodeContext {
    /// Records an event stamped with true (simulated) time.
    pub fn record(&self, kind: EventKind) {
        self.record_at(self.clock.true_now_ms(), kind);
    }

    /// Records an event stamped with the true time `at_ms` of an earlier clock reading (a
    /// decision's: see [`clock::Reading`]).
    pub fn record_at(&self, at_ms: u64, kind: EventKind) {
        // What an operator wants in the log; the rest of the history only at debug.
        let notable = matches!(
            kind,
            EventKind::LeaderElected { .. }
                | EventKind::LeaderLost { .. }
                | EventKind::NodeStart { .. }
                | EventKind::ExecutorDead { .. }
                | EventKind::ExecutorQuarantined { .. }
                | EventKind::ExecutorReleased { .. }
                | EventKind::DeadLettered { .. }
        );
        if notable {
            tracing::info!(target: "faultline::history", node = %self.name, "{kind:?}");
        } else {
            tracing::debug!(target: "faultline::history", "{kind:?}");
        }
        self.recorder.record(at_ms, self.name, kind);
    }
}

/// Slack kept between the leader's own lease deadline and the store's earliest expiry.
const LEASE_MARGIN_MS: u64 = 100;

/// Settings shared by the drivers, from the scenario.
#[derive(Clone, Debug)]
pub struct Timing {
    pub heartbeat_interval_ms: u64,
    pub rpc_timeout_ms: u64,
    /// Deadline of one store call (etcd), separate from peer RPCs.
    pub store_timeout_ms: u64,
    pub lease_ttl_s: u64,
    /// The drift bound rho the lease arithmetic assumes for every clock.
    pub clock_drift_bound: f64,
}

impl Timing {
    /// How long, by the leader's own clock, a keep-alive reply proves its lease, counted
    /// from when the keep-alive was sent. etcd sets a lease's expiry to TTL after it handles
    /// the renewal (`lessor.Renew` -> `refresh`), which is after the send, and never revokes
    /// before the expiry (nor renews past it), so the store cannot free the lease within TTL
    /// of the send by its own clock. A margin covers scheduling, and the Gray-Cheriton factor
    /// (1 - rho) / (1 + rho) covers the two clocks drifting apart.
    pub fn lease_validity_ms(&self) -> u64 {
        let rho = self.clock_drift_bound;
        let raw = (self.lease_ttl_s * 1000).saturating_sub(LEASE_MARGIN_MS);
        (raw as f64 * (1.0 - rho) / (1.0 + rho)) as u64
    }
}
