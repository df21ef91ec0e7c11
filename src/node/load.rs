//! What a coordinator's driver measures directly rather than from its history: how much
//! work it holds and how long its store calls take. A real node serves them on
//! `/metrics` (`metrics::Exporter`); in the simulator they are kept and never read.

use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug)]
pub struct LeaderLoad {
    /// Non-terminal tasks the leader holds (0 on a standby).
    pub open_tasks: Gauge,
    /// Tasks waiting in the leader's ready queue for a slot (due or backing off).
    pub ready_tasks: Gauge,
    /// Every store call's time, from the call to its answer or failure, seconds.
    pub store_call_seconds: Histogram,
}

impl Default for LeaderLoad {
    fn default() -> Self {
        LeaderLoad {
            open_tasks: Gauge::default(),
            ready_tasks: Gauge::default(),
            // 1 ms .. 8 s: a healthy etcd's fsync tail to a store deadline's retries.
            store_call_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
        }
    }
}

impl LeaderLoad {
    pub fn register(&self, r: &mut Registry) {
        r.register("open_tasks", "Non-terminal tasks this leader holds (0 on a standby)", self.open_tasks.clone());
        r.register(
            "ready_tasks",
            "Tasks in this leader's ready queue, waiting for an executor slot or their backoff",
            self.ready_tasks.clone(),
        );
        r.register(
            "store_call_seconds",
            "Time of each store (etcd) call this coordinator made, to its answer or failure",
            self.store_call_seconds.clone(),
        );
    }

    /// Sets the gauges from the leader's core.
    pub fn show(&self, open: usize, ready: usize) {
        self.open_tasks.set(i64::try_from(open).unwrap_or(i64::MAX));
        self.ready_tasks.set(i64::try_from(ready).unwrap_or(i64::MAX));
    }
}
