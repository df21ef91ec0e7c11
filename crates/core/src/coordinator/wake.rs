//! When the core next needs its `tick` (quinn-proto's `poll_timeout`): the driver sleeps
//! until then or the next message, instead of ticking blindly.
//!
//! Four kinds of deadline make a tick due: a live executor's silence reaching the
//! dead-after window (`detection`), a quarantine's end (`isolation`), a finished task's
//! retention end (`retention`), all on the monotonic clock, and a job's next instant
//! (`jobs`), on the wall clock. The core keeps the
//! earliest of each as a lower bound: a handler that sets a deadline lowers it at once; one
//! that moves a deadline later (a beat) leaves it, so the driver may wake early, and the
//! tick then plans the exact next wake from scratch. A wake too early costs one tick; a wake
//! too late would be a missed detection, so every deadline a handler sets goes through
//! [`Coordinator::wake_mono`] or [`Coordinator::wake_wall`].

use super::Coordinator;

/// The moments the core next needs `tick`, by each of the node's clocks (`Now`): `None`,
/// nothing pending on that clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wake {
    pub mono_ms: Option<u64>,
    pub wall_ms: Option<u64>,
}

impl Wake {
    /// Whether a tick is due at `now`.
    pub fn is_due(&self, now: crate::Now) -> bool {
        self.mono_ms.is_some_and(|t| t <= now.mono_ms) || self.wall_ms.is_some_and(|t| t <= now.wall_ms)
    }

    /// How long a driver may sleep on its monotonic clock from `now` (`None`: until a
    /// message). A wall-clock deadline is looked at again within `wall_recheck_ms`, since
    /// the wall clock may be stepped forward during the sleep.
    pub fn wait_ms(&self, now: crate::Now, wall_recheck_ms: u64) -> Option<u64> {
        let mono = self.mono_ms.map(|t| t.saturating_sub(now.mono_ms));
        let wall = self.wall_ms.map(|t| t.saturating_sub(now.wall_ms).min(wall_recheck_ms));
        earliest(mono, wall)
    }
}

fn earliest(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Coordinator {
    /// When the core next needs `tick` (nothing while it does not lead).
    pub fn poll_timeout(&self) -> Wake {
        if self.epoch.is_none() {
            return Wake::default();
        }
        self.wake
    }

    /// A deadline on the monotonic clock: tick no later than `at_ms`.
    pub(super) fn wake_mono(&mut self, at_ms: u64) {
        self.wake.mono_ms = earliest(self.wake.mono_ms, Some(at_ms));
    }

    /// A deadline on the wall clock: tick no later than `at_ms`.
    pub(super) fn wake_wall(&mut self, at_ms: u64) {
        self.wake.wall_ms = earliest(self.wake.wall_ms, Some(at_ms));
    }

    /// Plans the next wake from every pending deadline (after a tick or an election).
    pub(super) fn plan_wake(&mut self) {
        let mono_ms = earliest(earliest(self.next_death_ms(), self.next_release_ms()), self.next_compaction_ms());
        self.wake = Wake { mono_ms, wall_ms: self.next_fire_ms() };
    }
}

#[cfg(test)]
mod tests;
