//! The per-node clock: the ONLY place that reads time. Every timestamp and timer of a node
//! goes through its `NodeClock`, so an offset or rate set here (a later fault) moves all of
//! them together. In the simulator the underlying clock is madsim's; on real tokio it is the
//! monotonic clock and the system's wall clock.
//!
//! **Two clocks, as on Linux.** The monotonic clock (`CLOCK_MONOTONIC`, what timers and
//! tokio's `Instant` use) never steps; its rate follows the oscillator's drift and an NTP
//! slew. The wall clock (`CLOCK_REALTIME`) runs at the same rate but an NTP correction or an
//! operator may step it, and it may be set off true time. So `clock_drift` and `clock_slew`
//! bend both; `clock_step` and `clock_offset` move only the wall clock. Liveness (beats,
//! deaths, leases) reads the monotonic clock, schedules the wall clock (`core::Now`).

use crate::core::Now;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The clock's error, piecewise linear in true time: since true time `base_true_ms` the
/// monotonic clock reads `base_local_ms + rate * (true - base_true_ms)`, and the wall clock
/// `wall_minus_mono_ms` more. Faults rebase it.
#[derive(Clone, Copy, Debug)]
struct Skew {
    base_true_ms: f64,
    base_local_ms: f64,
    /// Local seconds per true second.
    rate: f64,
    /// Wall minus monotonic, ms: moved by steps and offsets only.
    wall_minus_mono_ms: f64,
}

impl Skew {
    /// No error: local time is true time.
    const EXACT: Skew = Skew { base_true_ms: 0.0, base_local_ms: 0.0, rate: 1.0, wall_minus_mono_ms: 0.0 };

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
    /// A real process reads its wall clock from the system (an NTP step shows).
    system_wall: bool,
    skew: Arc<SkewCell>,
    /// In the simulator: madsim's clock and its elapsed time at `origin`, read directly
    /// (see [`NodeClock::since_origin`]).
    #[cfg(madsim)]
    sim: Option<(madsim::time::TimeHandle, Duration)>,
}

/// A clock's skew, shared by its clones. Most clocks are never skewed (no clock fault hits
/// their node), so reading one takes no lock until the first rebase (the lock was ~1% of a
/// simulated run: every timestamp, sleep and timeout reads the skew).
struct SkewCell {
    /// Set, after the skew's first change, for good.
    skewed: AtomicBool,
    skew: Mutex<Skew>,
}

/// One instant, read once: true time for the history, and the node's own clocks for its
/// decisions. A real process can be paused between any two instructions (SIGSTOP, a VM
/// freeze), so a decision that checks the lease at one clock reading and records its acts
/// at a later one can stamp them after a pause it never saw: the coordinator's actor reads
/// the time once per step, checks its lease against that reading, and stamps the step's
/// acts with it. What the pause then delays is the acts' delivery, as a slow network
/// would, and fencing is what answers for that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// True time, ms: what the history's events are stamped with.
    pub true_ms: u64,
    pub now: Now,
}

/// A timeout fired (by the node's own clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out after {0} ms")]
pub struct Elapsed(pub u64);

impl NodeClock {
    /// An exact clock whose zero is `origin` (the run's start, shared by all nodes).
    pub fn exact(origin: Instant) -> Self {
        #[cfg(madsim)]
        let sim = madsim::time::TimeHandle::try_current().map(|time| {
            let at_origin = time.elapsed() - origin.elapsed();
            (time, at_origin)
        });
        NodeClock {
            origin,
            origin_true_ms: 0,
            system_wall: false,
            skew: Arc::new(SkewCell { skewed: AtomicBool::new(false), skew: Mutex::new(Skew::EXACT) }),
            #[cfg(madsim)]
            sim,
        }
    }

    /// The clock of a real process: monotonic time counts from the UNIX time at start (so
    /// histories of several processes merge on one line), wall time is the system's.
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub fn real() -> Self {
        NodeClock { origin_true_ms: system_unix_ms(), system_wall: true, ..Self::exact(Instant::now()) }
    }

    /// The run's origin: now. Call once per run (per process in real mode).
    #[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
    pub fn origin_now() -> Instant {
        Instant::now()
    }

    fn skew(&self) -> Skew {
        if !self.skew.skewed.load(Ordering::Acquire) {
            return Skew::EXACT;
        }
        *self.skew.skew.lock().expect("clock poisoned")
    }

    /// True time since the origin, ms: for the history only, never for decisions.
    pub fn true_now_ms(&self) -> u64 {
        self.origin_true_ms + self.since_origin().as_millis() as u64
    }

    fn true_ms_f64(&self) -> f64 {
        self.since_origin().as_secs_f64() * 1000.0
    }

    /// True time since the origin. The simulator reads madsim's elapsed time directly: the
    /// same duration `origin.elapsed()` gives (both count madsim's elapsed time, to the
    /// nanosecond), without the intercepted `clock_gettime` and its runtime lookup that an
    /// `Instant` costs (~3% of a simulated run).
    fn since_origin(&self) -> Duration {
        #[cfg(madsim)]
        if let Some((time, at_origin)) = &self.sim {
            return time.elapsed() - *at_origin;
        }
        self.origin.elapsed()
    }

    /// This node's monotonic time, ms: since the run's start in the simulator, since the
    /// UNIX time at start in a real process. Never steps; for timers and liveness.
    pub fn mono_ms(&self) -> u64 {
        self.now().mono_ms
    }

    /// This node's wall-clock time, ms (never below 0): since the run's start in the
    /// simulator, UNIX ms in a real process, so the coordinators of a real cluster (and the
    /// instants of scheduled jobs they persist) share one calendar. Steps with the clock.
    pub fn wall_ms(&self) -> u64 {
        self.now().wall_ms
    }

    /// Both clocks now, for the core: one reading of the skew and of true time.
    pub fn now(&self) -> Now {
        self.reading().now
    }

    /// The history's true time and both of this node's clocks, from one reading of true
    /// time: what a decision and the events that record it share (see [`Reading`]).
    pub fn reading(&self) -> Reading {
        let since = self.since_origin();
        let skew = self.skew();
        let mono = skew.local(since.as_secs_f64() * 1000.0);
        let at = |local: f64| self.origin_true_ms + local.max(0.0) as u64;
        let wall_ms = if self.system_wall { system_unix_ms() } else { at(mono + skew.wall_minus_mono_ms) };
        Reading { true_ms: self.origin_true_ms + since.as_millis() as u64, now: Now { mono_ms: at(mono), wall_ms } }
    }

    /// Wall minus true time now, ms.
    pub fn offset_ms(&self) -> i64 {
        let t = self.true_ms_f64();
        let skew = self.skew();
        (skew.local(t) + skew.wall_minus_mono_ms - t).round() as i64
    }

    /// The clock's rate (local seconds per true second).
    pub fn rate(&self) -> f64 {
        self.skew().rate
    }

    /// Rebases the skew at true time now; `f` sees the monotonic reading and the skew.
    fn rebase(&self, f: impl FnOnce(f64, &mut Skew)) {
        let t = self.true_ms_f64();
        let mut skew = self.skew.skew.lock().expect("clock poisoned");
        let mono = skew.local(t);
        skew.base_true_ms = t;
        skew.base_local_ms = mono;
        f(mono, &mut skew);
        self.skew.skewed.store(true, Ordering::Release);
    }

    /// Steps the wall clock by `delta_ms` (forward or back); the monotonic clock and the
    /// rate stay.
    pub fn step(&self, delta_ms: i64) {
        self.rebase(|_, skew| skew.wall_minus_mono_ms += delta_ms as f64);
    }

    /// Sets the wall clock so it reads `offset_ms` off true time now; the monotonic clock
    /// and the rate stay.
    pub fn set_offset(&self, offset_ms: i64) {
        let t = self.true_ms_f64();
        self.rebase(|mono, skew| skew.wall_minus_mono_ms = t + offset_ms as f64 - mono);
    }

    /// Makes both clocks run at `rate` from now on, without a jump.
    pub fn set_rate(&self, rate: f64) {
        assert!(rate > 0.0, "a clock runs forward");
        self.rebase(|_, skew| skew.rate = rate);
    }

    /// Timers run on the monotonic clock, at the rate in force when they are set.
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
    pub fn timeout<'a, F: std::future::Future + 'a>(
        &'a self,
        local_ms: u64,
        fut: F,
    ) -> impl std::future::Future<Output = Result<F::Output, Elapsed>> + 'a {
        // Boxed at once: a large future moved into the timer (and on into a task) is copied
        // each time, and an `async fn` would keep its argument in its own state as well.
        // The deadline is still set on the first poll.
        let fut = Box::pin(fut);
        async move { tokio::time::timeout(self.true_duration(local_ms), fut).await.map_err(|_| Elapsed(local_ms)) }
    }
}

/// The system's wall clock, UNIX ms.
#[allow(clippy::disallowed_methods)] // the clock module is the one place that reads time
fn system_unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as u64
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
