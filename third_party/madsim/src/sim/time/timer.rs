//! The simulator's timer heap (faultline patch, PATCHED.md change 9).
//!
//! Upstream used `naive_timer::Timer`: a `BinaryHeap` of events ordered by their deadline as a
//! `Duration`, each with a boxed `FnOnce(Duration)` wrapping madsim's own callback. This is the
//! same heap with the same operations in the same order; only the key is a `u64` of
//! nanoseconds (one comparison instead of seconds, then nanoseconds) and the callback is
//! boxed as it comes, without a wrapper. `BinaryHeap`'s pushes and pops depend on nothing
//! but the outcomes of comparisons, and nanosecond counts order exactly as the durations
//! they count (up to 584 years, beyond which a deadline is as good as never), so timers
//! fire in exactly the order they did, ties included.
//!
//! The timers set most often (a sleep's deadline, a message's arrival) only wake a task if
//! what they wake is still there: those are kept as a `Weak` to a [`Fire`] target, with no
//! closure boxed for them (PATCHED.md change 10).

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
}

impl Timer {
    /// Calls `callback` once time reaches `deadline`.
    pub fn add(&mut self, deadline: Duration, callback: impl FnOnce() + Send + Sync + 'static) {
        self.events.push(Event {
            deadline: nanos(deadline),
            action: Action::Call(Box::new(callback)),
        });
    }

    /// Fires `target` once time reaches `deadline`, if it is still alive then.
    pub fn add_fire(&mut self, deadline: Duration, target: Weak<dyn Fire>) {
        self.events.push(Event {
            deadline: nanos(deadline),
            action: Action::Fire(target),
        });
    }

    /// Calls and removes every timer whose deadline is at or before `now`, earliest first.
    pub fn expire(&mut self, now: Duration) {
        let now = nanos(now);
        while let Some(event) = self.events.peek() {
            if event.deadline > now {
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
        self.events.peek().map(|event| Duration::from_nanos(event.deadline))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

struct Event {
    deadline: u64,
    action: Action,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.deadline == other.deadline
    }
}

impl Eq for Event {}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// BinaryHeap is a max-heap: the earliest deadline is the greatest.
impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        other.deadline.cmp(&self.deadline)
    }
}
