//! The per-node clock: the ONLY place that reads time. Every timestamp and timer of a node
//! goes through its `NodeClock`, so an offset or rate set here (a later fault) moves all of
//! them together. In the simulator the underlying clock is madsim's; on real tokio it is the
//! monotonic clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The clock's error, piecewise linear in true time: since true time `base_true_ms` the
/// clock reads `base_local_ms + rate * (true - base_true_ms)`. Faults rebase it.
#[derive(Clone, Copy, Debug)]
struct Skew {
    base_true_ms: f64,
    base_local_ms: f64,
    /// Local seconds per true second.
    rate: f64,
}

impl Skew {
    fn local(&self, true_ms: f64) -> f64 {
        self.base_local_ms + self.rate * (true_ms - self.base_true_ms)
    }
}

/// A node's view of time: true time (since the run's origin) bent by the node's skew: a
/// fixed offset, a rate (drift), steps and slews, all set by clock faults. Every timestamp
/// the node takes and every timer it sets goes through here.
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
        let skew = Skew { base_true_ms: 0.0, base_local_ms: 0.0, rate: 1.0 };
        NodeClock { origin, origin_true_ms: 0, skew: Arc::new(Mutex::new(skew)) }
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

    fn true_ms_f64(&self) -> f64 {
        self.origin.elapsed().as_secs_f64() * 1000.0
    }

    /// This node's local time, ms (never below 0): since the run's start in the simulator,
    /// UNIX ms in a real process, so the coordinators of a real cluster (and the instants of
    /// scheduled jobs they persist) share one time line.
    pub fn now_ms(&self) -> u64 {
        self.origin_true_ms + self.skew().local(self.true_ms_f64()).max(0.0) as u64
    }

    /// Local minus true time now, ms.
    pub fn offset_ms(&self) -> i64 {
        let t = self.true_ms_f64();
        (self.skew().local(t) - t).round() as i64
    }

    /// The clock's rate (local seconds per true second).
    pub fn rate(&self) -> f64 {
        self.skew().rate
    }

    fn rebase(&self, f: impl FnOnce(f64, f64) -> (f64, f64)) {
        let t = self.true_ms_f64();
        let mut skew = self.skew.lock().expect("clock poisoned");
        let (local, rate) = f(skew.local(t), skew.rate);
        *skew = Skew { base_true_ms: t, base_local_ms: local, rate };
    }

    /// Steps the clock by `delta_ms` (forward or back), keeping its rate.
    pub fn step(&self, delta_ms: i64) {
        self.rebase(|local, rate| (local + delta_ms as f64, rate));
    }

    /// Sets the clock so it reads `offset_ms` off true time now, keeping its rate.
    pub fn set_offset(&self, offset_ms: i64) {
        let t = self.true_ms_f64();
        self.rebase(|_, rate| (t + offset_ms as f64, rate));
    }

    /// Makes the clock run at `rate` from now on, without a jump.
    pub fn set_rate(&self, rate: f64) {
        assert!(rate > 0.0, "a clock runs forward");
        self.rebase(|local, _| (local, rate));
    }

    /// Timers measure durations at the rate in force when they are set; steps move
    /// timestamps, not timers already running (as a monotonic timer would behave).
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
        // Boxed: a large future moved into the timer (and on into a task) is copied each time.
        tokio::time::timeout(self.true_duration(local_ms), Box::pin(fut)).await.map_err(|_| Elapsed(local_ms))
    }
}

/// Wall-clock time of the harness itself (how long a seed took to simulate), or of a
/// benchmark of real processes (`faultline store-bench`). Never given to a node: it measures
/// the measuring, not the system measured.
#[derive(Clone, Copy)]
pub struct Stopwatch(std::time::Instant);

impl Stopwatch {
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub fn start() -> Self {
        Stopwatch(std::time::Instant::now())
    }

    pub fn elapsed_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }

    /// Microseconds since the start: a benchmark's latency samples.
    pub fn elapsed_us(&self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

/// Log timestamps in simulated time (ms since the run started), for `faultline replay`.
#[cfg(madsim)]
pub struct SimTimer;

#[cfg(madsim)]
impl tracing_subscriber::fmt::time::FormatTime for SimTimer {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match madsim::time::TimeHandle::try_current() {
            Some(time) => write!(w, "{:>9.3}s", time.elapsed().as_secs_f64()),
            None => write!(w, "{:>10}", "-"),
        }
    }
}
