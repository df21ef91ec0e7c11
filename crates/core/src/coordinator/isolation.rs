//! Fault isolation (a part of [`Coordinator`]): quarantine and zone-aware placement.

use super::*;

/// Fault isolation: which executors get new work, and where a task should run next.
///
/// - **Quarantine.** An executor *name* (across its incarnations) is quarantined when it
///   crash-loops (`flap_restarts` restarts within `flap_window_ms`) or when at least
///   `failure_ratio` of its last `failure_window` finished attempts failed (failed, timed out,
///   or lost when it was declared dead). A quarantined executor keeps beating and its held
///   attempts and completions are handled as usual, but it gets no new assignments for
///   `quarantine_base_ms`, doubled on each later quarantine of the name, at most
///   `quarantine_max_ms`. On release its failure window is cleared: a fresh chance.
/// - **The half-usable cap** (Envoy's `max_ejection_percent`): a quarantine that would leave
///   fewer than half (rounded up) of the live executor names usable is not made, counting the
///   name itself as live even while it restarts. If deaths later push the usable count below
///   that cap, the quarantines ending soonest are lifted early, so quarantine alone can never
///   stall the queue.
/// - **Zone avoidance.** A task remembers the zones where its attempts failed, timed out or
///   were lost with a dead executor. A beat from zone Z passes over such a task while a usable
///   (live, not quarantined) executor exists in a zone the task does not avoid; otherwise the
///   task runs in Z, so losing every other zone never stalls it.
/// - **Recently lost zones.** For `2 * missed_beats * heartbeat_interval_ms` after an
///   executor of zone Z was declared dead for silence, executors of Z get no new work while a
///   usable executor of another zone has a free slot (it pulls the work at its next beat).
///   Restarts do not count here: a process crash-looping is quarantine's business.
///
/// The leader keeps all of this in memory only; a new leader starts with a clean slate.
#[derive(Clone, Debug, PartialEq)]
pub struct IsolationConfig {
    /// Switches all of the above on (default) or off.
    pub enabled: bool,
    /// Restarts (a new incarnation replacing a known one; the first incarnation a leader
    /// sees is not a restart) within `flap_window_ms` that quarantine a name. 3; 0 disables.
    pub flap_restarts: u32,
    /// The crash-loop window. 10_000 ms.
    pub flap_window_ms: u64,
    /// Finished attempts per name the failure ratio is judged over; the ratio is judged only
    /// once this many were seen. 8; 0 disables.
    pub failure_window: u32,
    /// Fraction of the window that must have failed to quarantine. 0.75.
    pub failure_ratio: f64,
    /// The first quarantine of a name. 2_000 ms.
    pub quarantine_base_ms: u64,
    /// The longest quarantine. 60_000 ms.
    pub quarantine_max_ms: u64,
    /// Ready tasks one beat may pass over because they avoid its zone, which bounds the work
    /// per beat; the tasks after them wait for the next beat. 1_024.
    pub max_skips_per_beat: u32,
}

impl Default for IsolationConfig {
    fn default() -> Self {
        IsolationConfig {
            enabled: true,
            flap_restarts: 3,
            flap_window_ms: 10_000,
            failure_window: 8,
            failure_ratio: 0.75,
            quarantine_base_ms: 2_000,
            quarantine_max_ms: 60_000,
            max_skips_per_beat: 1_024,
        }
    }
}

impl Coordinator {
    /// The due ready tasks, in queue order, that a beat from `zone` with `free` slots gets:
    /// scheduled fires first, then plain tasks. It passes over a task that avoids `zone`
    /// while a usable executor exists in a zone the task does not avoid; passed-over tasks
    /// keep their place in the queue.
    pub(super) fn pick_ready(&self, now_ms: u64, zone: &str, free: usize) -> Vec<Ready> {
        // The other usable zones, found at the first task that avoids this one (most beats
        // meet none: the search walks every executor).
        let mut elsewhere = None;
        let max_skips = self.cfg.isolation.max_skips_per_beat;
        let mut picked = Vec::new();
        let mut skipped = 0;
        let due = |lane: Lane| self.ready.iter().skip_while(move |i| i.lane < lane).take_while(move |i| i.lane == lane);
        let due = due(Lane::Fires).take_while(|i| i.at_ms <= now_ms).chain(due(Lane::Tasks));
        for item in due {
            if picked.len() == free || item.at_ms > now_ms {
                break;
            }
            let entry = &self.tasks[&item.task];
            if entry.avoids(zone)
                && elsewhere
                    .get_or_insert_with(|| self.usable_zones_except(zone, false))
                    .iter()
                    .any(|z| !entry.avoids(z))
            {
                if skipped == max_skips {
                    break;
                }
                skipped += 1;
                continue;
            }
            picked.push(item.clone());
        }
        picked
    }

    /// Known zones other than `zone` with a live, non-quarantined executor (with a free slot,
    /// if `with_free_slot`). Empty while isolation is off or `zone` is unknown.
    pub(super) fn usable_zones_except(&self, zone: &str, with_free_slot: bool) -> BTreeSet<&str> {
        if !self.cfg.isolation.enabled || zone.is_empty() {
            return BTreeSet::new();
        }
        self.executors
            .iter()
            .filter(|(name, e)| e.alive && !e.zone.is_empty() && e.zone != zone && !self.is_quarantined(name))
            .filter(|(_, e)| !with_free_slot || e.holding.len() < e.capacity as usize)
            .map(|(_, e)| e.zone.as_str())
            .collect()
    }

    /// An executor of `zone` fell silent recently and another zone has room for the work.
    pub(super) fn zone_recently_lost(&self, now_ms: u64, zone: &str) -> bool {
        let Some(&lost_at_ms) = self.zone_lost_ms.get(zone) else {
            return false;
        };
        now_ms.saturating_sub(lost_at_ms) <= self.cfg.zone_lost_for_ms()
            && !self.usable_zones_except(zone, true).is_empty()
    }

    pub(super) fn is_quarantined(&self, name: &str) -> bool {
        self.health.get(name).is_some_and(|h| h.quarantined_until_ms.is_some())
    }

    /// An attempt of `task` failed, timed out or was lost in `zone` (empty: unknown).
    pub(super) fn avoid_zone(&mut self, task: &TaskId, zone: &str) {
        if !self.cfg.isolation.enabled || zone.is_empty() {
            return;
        }
        let entry = self.tasks.get_mut(task).expect("avoiding a zone for a known task");
        if entry.rare_mut().avoid_zones.insert(zone.to_string()) {
            self.record(EventKind::ZoneAvoided { task: task.clone(), zone: zone.into() });
        }
    }

    /// A new incarnation of `name` replaced a known one.
    pub(super) fn note_restart(&mut self, now_ms: u64, name: &str) {
        let iso = &self.cfg.isolation;
        let (limit, window_ms) = (iso.flap_restarts as usize, iso.flap_window_ms);
        if !iso.enabled || limit == 0 {
            return;
        }
        let h = self.health.entry(name.to_string()).or_default();
        h.restarts_ms.push_back(now_ms);
        while h.restarts_ms.len() > limit
            || h.restarts_ms.front().is_some_and(|t| now_ms.saturating_sub(*t) > window_ms)
        {
            h.restarts_ms.pop_front();
        }
        if h.restarts_ms.len() == limit {
            let reason = format!("crash loop: {limit} restarts within {window_ms} ms");
            if self.quarantine(now_ms, name, reason) {
                self.health.get_mut(name).expect("just quarantined").restarts_ms.clear();
            }
        }
    }

    /// An attempt held by `name` finished (or was lost with it).
    pub(super) fn note_attempt(&mut self, now_ms: u64, name: &str, failed: bool) {
        let iso = &self.cfg.isolation;
        let (window, ratio) = (iso.failure_window as usize, iso.failure_ratio);
        if !iso.enabled || window == 0 {
            return;
        }
        let h = self.health.entry(name.to_string()).or_default();
        h.attempts.push_back(failed);
        if h.attempts.len() > window {
            h.attempts.pop_front();
        }
        let failures = h.attempts.iter().filter(|f| **f).count();
        if h.attempts.len() == window && failures as f64 >= ratio * window as f64 {
            let reason = format!("{failures} of its last {window} attempts failed");
            self.quarantine(now_ms, name, reason);
        }
    }

    /// Quarantines `name` unless it already is or the half-usable cap forbids it.
    pub(super) fn quarantine(&mut self, now_ms: u64, name: &str, reason: String) -> bool {
        if self.is_quarantined(name) || !self.may_quarantine(name) {
            return false;
        }
        let iso = &self.cfg.isolation;
        let h = self.health.entry(name.to_string()).or_default();
        let doubling = 1u64 << h.quarantines.min(32);
        let backoff_ms = iso.quarantine_base_ms.saturating_mul(doubling).min(iso.quarantine_max_ms);
        h.quarantines = h.quarantines.saturating_add(1);
        h.quarantined_until_ms = Some(now_ms.saturating_add(backoff_ms));
        self.wake_mono(now_ms.saturating_add(backoff_ms));
        self.record(EventKind::ExecutorQuarantined { executor: name.into(), reason: reason.into(), backoff_ms });
        true
    }

    /// The half-usable cap: with `name` quarantined, at least half (rounded up) of the live
    /// names must stay usable. `name` counts as live even while it restarts.
    pub(super) fn may_quarantine(&self, name: &str) -> bool {
        let mut live: BTreeSet<&str> =
            self.executors.iter().filter(|(_, e)| e.alive).map(|(n, _)| n.as_str()).collect();
        live.insert(name);
        let usable = live.iter().filter(|n| **n != name && !self.is_quarantined(n)).count();
        usable >= live.len().div_ceil(2)
    }

    /// Lifts the quarantines that ended; then, while deaths have left fewer than half
    /// (rounded up) of the live names usable, the ones ending soonest.
    pub(super) fn release_quarantines(&mut self, now_ms: u64) {
        if !self.cfg.isolation.enabled {
            return;
        }
        // Nothing quarantined, the usual case: nothing ends and the cap holds, so the live
        // executors need no counting. Counting them on every beat was half of a run with
        // 1,000 executors (`bench --scale`).
        if self.health.values().all(|h| h.quarantined_until_ms.is_none()) {
            return;
        }
        let ended: Vec<String> = self
            .health
            .iter()
            .filter(|(_, h)| h.quarantined_until_ms.is_some_and(|until| until <= now_ms))
            .map(|(name, _)| name.clone())
            .collect();
        for name in ended {
            self.release(&name);
        }
        loop {
            let live: Vec<&String> = self.executors.iter().filter(|(_, e)| e.alive).map(|(n, _)| n).collect();
            let held_back: Vec<&String> = live.iter().copied().filter(|n| self.is_quarantined(n)).collect();
            if live.len() - held_back.len() >= live.len().div_ceil(2) {
                return;
            }
            let soonest = held_back.into_iter().min_by_key(|n| (self.health[*n].quarantined_until_ms, *n));
            let name = soonest.expect("below the cap, some live name is quarantined").clone();
            self.release(&name);
        }
    }

    /// When the first quarantine ends.
    pub(super) fn next_release_ms(&self) -> Option<u64> {
        if !self.cfg.isolation.enabled {
            return None;
        }
        self.health.values().filter_map(|h| h.quarantined_until_ms).min()
    }

    /// Ends `name`'s quarantine with a fresh failure window.
    pub(super) fn release(&mut self, name: &str) {
        let h = self.health.get_mut(name).expect("releasing a known name");
        h.quarantined_until_ms = None;
        h.attempts.clear();
        self.record(EventKind::ExecutorReleased { executor: name.into() });
    }
}

#[cfg(test)]
mod tests;
