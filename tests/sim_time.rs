//! madsim's `timeout`, as faultline's vendored copy implements it (third_party/madsim
//! PATCHED.md change 8: a struct that polls the value, then the deadline, in place, where
//! upstream awaited a `select_biased!` in an `async` block): the value wins a tie with the
//! deadline, the deadline counts from the call, not from the first poll, and a value that
//! comes first is returned when it comes. And its timer heap (PATCHED.md change 9, keyed by
//! nanoseconds; change 12, ties in insertion order and dead entries swept): sleeps end in the
//! order of their deadlines, each at its deadline, also among thousands of abandoned timers.
#![cfg(madsim)]
// The test reads the simulator's own time (madsim::time::Instant): there is no node clock here.
#![allow(clippy::disallowed_methods)]

use madsim::time::{sleep, timeout, Instant};
use std::time::Duration;

/// Runs `f` in a fresh simulation and returns its output.
fn simulate<F, T>(f: impl FnOnce() -> F + Send + 'static) -> T
where
    F: std::future::Future<Output = T> + 'static,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        madsim::runtime::Runtime::with_seed_and_config(7, madsim::Config::default()).block_on(f())
    })
    .join()
    .expect("the simulation ran")
}

#[test]
fn a_value_ready_at_the_deadline_wins() {
    let result = simulate(|| async {
        // Both sleeps end at the same instant; the value is polled first, as upstream's
        // `select_biased!` did.
        let value = async {
            sleep(Duration::from_millis(10)).await;
            "value"
        };
        timeout(Duration::from_millis(10), value).await
    });
    assert_eq!(result, Ok("value"));
}

#[test]
fn the_deadline_counts_from_the_call() {
    let waited = simulate(|| async {
        let start = Instant::now();
        let pending = timeout(Duration::from_millis(50), std::future::pending::<()>());
        sleep(Duration::from_millis(30)).await; // made, not yet polled
        assert!(pending.await.is_err(), "a pending value times out");
        start.elapsed()
    });
    // 50 ms after the call (madsim adds at most a few microseconds of scheduling), not 80.
    assert!(waited >= Duration::from_millis(50) && waited < Duration::from_millis(51), "{waited:?}");
}

#[test]
fn a_value_that_comes_first_is_returned_when_it_comes() {
    let (result, waited) = simulate(|| async {
        let start = Instant::now();
        let value = async {
            sleep(Duration::from_millis(5)).await;
            42
        };
        (timeout(Duration::from_millis(50), value).await, start.elapsed())
    });
    assert_eq!(result, Ok(42));
    assert!(waited >= Duration::from_millis(5) && waited < Duration::from_millis(6), "{waited:?}");
}

#[test]
fn sleeps_end_in_deadline_order_each_at_its_deadline() {
    let ends = simulate(|| async {
        let start = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        // Deadlines set out of order, some sharing an instant, some a nanosecond apart.
        let waits_ns: [u64; 8] =
            [30_000_000, 2_000_000, 17_000_001, 17_000_000, 2_000_000, 1_000_000_000, 5_000_000, 17_000_002];
        let tasks: Vec<_> = waits_ns
            .iter()
            .map(|&ns| {
                let tx = tx.clone();
                madsim::task::spawn(async move {
                    sleep(Duration::from_nanos(ns)).await;
                    tx.send((start.elapsed(), ns)).expect("the receiver waits");
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("the sleeper ran");
        }
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    });
    assert_eq!(ends.len(), 8);
    for pair in ends.windows(2) {
        assert!(pair[0].1 <= pair[1].1, "a later deadline ended first: {ends:?}");
    }
    for (ended, ns) in &ends {
        // Each wakes at its deadline (madsim adds at most a few microseconds of scheduling).
        let deadline = Duration::from_nanos(*ns);
        assert!(*ended >= deadline && *ended < deadline + Duration::from_micros(50), "{ended:?} for {deadline:?}");
    }
}

/// The heap drops the entries of abandoned timers when they pile up (PATCHED.md change 12):
/// thousands of timeouts whose value came first (their deadlines far off, their entries
/// dead) between sleeps that are still waiting, which must all still end, each at its
/// deadline (fails if a sweep drops a live entry: a sleep would never end).
#[test]
fn abandoned_timers_are_swept_without_losing_a_waiting_one() {
    let ends = simulate(|| async {
        let start = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let sleepers: Vec<_> = (1..=200u64)
            .map(|i| {
                let tx = tx.clone();
                madsim::task::spawn(async move {
                    sleep(Duration::from_millis(10 * i)).await;
                    tx.send((start.elapsed(), 10 * i)).expect("the receiver waits");
                })
            })
            .collect();
        for _ in 0..5_000 {
            let answered = timeout(Duration::from_secs(60), sleep(Duration::from_micros(1))).await;
            assert!(answered.is_ok());
        }
        for task in sleepers {
            task.await.expect("the sleeper ran");
        }
        drop(tx);
        rx.iter().collect::<Vec<_>>()
    });
    assert_eq!(ends.len(), 200);
    for (ended, ms) in &ends {
        let deadline = Duration::from_millis(*ms);
        assert!(*ended >= deadline && *ended < deadline + Duration::from_micros(50), "{ended:?} for {deadline:?}");
    }
}
