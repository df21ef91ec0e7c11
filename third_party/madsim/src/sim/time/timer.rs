//! The simulator's timer heap (faultline patch, PATCHED.md change 9).
//!
//! Upstream used `naive_timer::Timer`: a `BinaryHeap` of events ordered by their deadline as a
//! `Duration`, each with a boxed `FnOnce(Duration)` wrapping madsim's own callback. This is the
//! same heap, keyed by a `u64` of nanoseconds (up to 584 years, beyond which a deadline is as
//! good as never), with the callback boxed as it comes, without a wrapper.
//!
//! The timers set most often (a sleep's deadline, a message's arrival) only wake a task if
//! what they wake is still there: those are kept as a `Weak` to a [`Fire`] target, with no
//! closure boxed for them (PATCHED.md change 10).
//!
//! Timers due at the same instant fire in the order they were set (PATCHED.md change 12):
//! each carries its insertion number, so the order of any two timers is fixed by their keys
//! alone, whatever the heap's shape. That lets the heap drop the entries whose target is gone
//! (a call's timeout once the call is answered: about a third of a reference seed's timers)
//! when they pile up, instead of sifting each one out at its deadline.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Weak;
use std::time::Duration;

type Callback = Box<dyn FnOnce() + Send + Sync + 'static>;

/// What a timer wakes at its deadline, if it still exists then.
pub(crate) trait Fire: Send + Sync {
    fn fire(&self);
}

enum Action {
    Call(Callback),
    Fire(Weak<dyn Fire>),
}

/// Timers by deadline (time since the simulation's base instant).
#[derive(Default)]
pub(crate) struct Timer {
    events: BinaryHeap<Event>,
    /// Timers set so far: the next one's insertion number.
    set: u64,
    /// The heap's length after the last sweep of dead entries; the next sweep comes when it
    /// has doubled.
    swept_len: usize,
}

/// Below this many entries the heap is not swept.
const SWEEP_MIN: usize = 256;

impl Timer {
    /// Calls `callback` once time reaches `deadline`.
    pub fn add(&mut self, deadline: Duration, callback: impl FnOnce() + Send + Sync + 'static) {
        self.push(deadline, Action::Call(Box::new(callback)));
    }

    /// Fires `target` once time reaches `deadline`, if it is still alive then.
    pub fn add_fire(&mut self, deadline: Duration, target: Weak<dyn Fire>) {
        self.push(deadline, Action::Fire(target));
    }

    fn push(&mut self, deadline: Duration, action: Action) {
        if self.events.len() >= SWEEP_MIN.max(2 * self.swept_len) {
            self.sweep();
        }
        let key = (nanos(deadline), self.set);
        self.set += 1;
        self.events.push(Event { key, action });
    }

    /// Drops the entries whose target is gone: they would fire nothing.
    fn sweep(&mut self) {
        self.events.retain(|event| match &event.action {
            Action::Call(_) => true,
            Action::Fire(target) => target.strong_count() > 0,
        });
        self.swept_len = self.events.len();
    }

    /// Calls and removes every timer whose deadline is at or before `now`, earliest first.
    pub fn expire(&mut self, now: Duration) {
        let now = nanos(now);
        while let Some(event) = self.events.peek() {
            if event.key.0 > now {
                break;
            }
            match self.events.pop().expect("peeked").action {
                Action::Call(callback) => callback(),
                Action::Fire(target) => {
                    if let Some(target) = target.upgrade() {
                        target.fire();
                    }
                }
            }
        }
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Duration> {
        self.events.peek().map(|event| Duration::from_nanos(event.key.0))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

struct Event {
    /// The deadline in nanoseconds, then the insertion number.
    key: (u64, u64),
    action: Action,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// BinaryHeap is a max-heap: the earliest deadline, then the first set, is the greatest.
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}
