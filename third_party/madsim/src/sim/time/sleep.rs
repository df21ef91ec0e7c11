use super::*;
use std::{
    fmt,
    pin::Pin,
    sync::Weak,
    task::{Poll, Waker},
};

/// Waits until `duration` has elapsed.
pub fn sleep(duration: Duration) -> Sleep {
    let handle = TimeHandle::current();
    handle.sleep(duration)
}

/// Waits until `deadline` is reached.
pub fn sleep_until(deadline: Instant) -> Sleep {
    let handle = TimeHandle::current();
    handle.sleep_until(deadline)
}

/// Future returned by [`sleep`] and [`sleep_until`].
///
/// [`sleep`]: sleep()
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    pub(super) handle: TimeHandle,
    pub(super) deadline: Instant,
    /// The timer entry registered for this sleep, if any (faultline patch, PATCHED.md
    /// change 1). Dropping it (with the sleep, or on a new deadline) disarms the entry.
    pub(super) entry: Option<Arc<TimerEntry>>,
}

/// One registration of a pending [`Sleep`] in the timer heap: the deadline it was
/// registered for and the waker to wake then. The heap holds only a `Weak` to it, so a
/// sleep that is dropped or re-armed wakes nobody (faultline patch, PATCHED.md change 1).
pub(super) struct TimerEntry {
    deadline: Instant,
    waker: Mutex<Option<Waker>>,
}

impl Sleep {
    /// Returns the instant at which the future will complete.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Returns `true` if `Sleep` has elapsed.
    ///
    /// A `Sleep` instance is elapsed when the requested duration has elapsed.
    pub fn is_elapsed(&self) -> bool {
        self.handle.clock.now_instant() >= self.deadline
    }

    /// Resets the `Sleep` instance to a new deadline.
    pub fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.deadline = deadline;
        if self.entry.as_ref().is_some_and(|e| e.deadline != deadline) {
            self.entry = None;
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        if self.is_elapsed() {
            self.entry = None;
            return Poll::Ready(());
        }
        // faultline patch (PATCHED.md, change 1): register the deadline once and keep the
        // latest waker beside it. Upstream pushed a new timer entry (with a cloned waker)
        // on every pending poll and never removed one, so a sleep polled n times woke its
        // task n times, and a dropped sleep (a finished `timeout`) still woke it later.
        if let Some(entry) = &self.entry {
            let mut waker = entry.waker.lock();
            match &*waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        let entry = Arc::new(TimerEntry {
            deadline: self.deadline,
            waker: Mutex::new(Some(cx.waker().clone())),
        });
        let weak: Weak<TimerEntry> = Arc::downgrade(&entry);
        self.handle.add_fire_at(self.deadline, weak);
        self.entry = Some(entry);
        Poll::Pending
    }
}

impl Fire for TimerEntry {
    fn fire(&self) {
        let waker = self.waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
