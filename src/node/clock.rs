//! The per-node clock: the ONLY place that reads time. Every timestamp and timer of a node
//! goes through its `NodeClock`, so an offset or rate set here (a later fault) moves all of
//! them together. In the simulator the underlying clock is madsim's; on real tokio it is the
//! monotonic clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

#[derive(Clone, Copy, Debug)]
struct Skew {
    /// Local time minus true time at `origin`, ms.
    offset_ms: i64,
    /// Local seconds per true second.
    rate: f64,
}

/// A node's view of time: `local = offset + rate * (true - origin)`.
#[derive(Clone)]
pub struct NodeClock {
    origin: Instant,
    /// True time at `origin`, ms: 0 in the simulator; the UNIX time in a real process, so
    /// that histories of several processes merge on one time line.
    origin_true_ms: u64,
    skew: Arc<Mutex<Skew>>,
}

/// A timeout fired (by the node's own clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {0} ms")]
pub struct Elapsed(pub u64);

impl NodeClock {
    /// An exact clock whose zero is `origin` (the run's start, shared by all nodes).
    pub fn exact(origin: Instant) -> Self {
        NodeClock { origin, origin_true_ms: 0, skew: Arc::new(Mutex::new(Skew { offset_ms: 0, rate: 1.0 })) }
    }

    /// An exact clock for a real process: true time is wall-clock time since the UNIX epoch.
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub fn real() -> Self {
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        NodeClock { origin_true_ms: unix.as_millis() as u64, ..Self::exact(Instant::now()) }
    }

    /// The run's origin: now. Call once per run (per process in real mode).
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub fn origin_now() -> Instant {
        Instant::now()
    }

    fn skew(&self) -> Skew {
        *self.skew.lock().expect("clock poisoned")
    }

    /// True time since the origin, ms: for the history only, never for decisions.
    pub fn true_now_ms(&self) -> u64 {
        self.origin_true_ms + self.origin.elapsed().as_millis() as u64
    }

    /// This node's local time, ms.
    pub fn now_ms(&self) -> u64 {
        let s = self.skew();
        let local = s.offset_ms as f64 + s.rate * self.origin.elapsed().as_secs_f64() * 1000.0;
        local.max(0.0) as u64
    }

    fn true_duration(&self, local_ms: u64) -> Duration {
        Duration::from_secs_f64(local_ms as f64 / 1000.0 / self.skew().rate)
    }

    /// Sleeps `local_ms` of this node's time.
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub async fn sleep(&self, local_ms: u64) {
        tokio::time::sleep(self.true_duration(local_ms)).await;
    }

    /// Runs `fut` with a deadline of `local_ms` of this node's time.
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub async fn timeout<F: std::future::Future>(&self, local_ms: u64, fut: F) -> Result<F::Output, Elapsed> {
        tokio::time::timeout(self.true_duration(local_ms), fut).await.map_err(|_| Elapsed(local_ms))
    }
}

/// Wall-clock time of the harness itself (how long a seed took to simulate). Never given
/// to a node: it measures the simulator, not the simulated system.
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}
