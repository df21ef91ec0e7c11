//! The deterministic parallel seed loop: many seeds of one scenario on several threads,
//! with results that do not depend on how many threads ran them.

use super::{run_seed, RunOutcome};
use crate::node::clock::Stopwatch;
use crate::scenario::Scenario;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Which seeds to run: `first, first + stride, ...`, at most `count` of them (a shard of a
/// range has a stride of the shard count).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeedPlan {
    pub first: u64,
    pub stride: u64,
    pub count: u64,
}

impl SeedPlan {
    /// `count` consecutive seeds from `first`.
    pub fn range(first: u64, count: u64) -> Self {
        SeedPlan { first, stride: 1, count }
    }
}

/// Runs the seeds of `plan` (none started after the `deadline`) on `jobs` threads; `judge` turns each outcome into a result and says whether
/// to stop there. Seeds are handed out in order and every seed before the first stop has
/// run, so the results (sorted by seed, none past the first stop) are the same on any
/// number of threads; only a deadline makes how many ran depend on the machine.
pub fn run_seeds<T: Send>(
    scenario: &Scenario,
    plan: SeedPlan,
    jobs: usize,
    deadline: Option<(Stopwatch, u64)>,
    judge: impl Fn(RunOutcome) -> (T, bool) + Sync,
) -> Vec<(u64, T)> {
    let SeedPlan { first, stride, count } = plan;
    let out_of_time = || deadline.as_ref().is_some_and(|(watch, ms)| watch.elapsed_ms() >= *ms);
    let next = AtomicU64::new(0);
    let stop_at = AtomicU64::new(u64::MAX);
    let results: Mutex<Vec<(u64, T)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= count || i > stop_at.load(Ordering::SeqCst) || out_of_time() {
                    stop_at.fetch_min(i.saturating_sub(1), Ordering::SeqCst);
                    return;
                }
                let (result, stop) = judge(run_seed(scenario, first + i * stride));
                if stop {
                    stop_at.fetch_min(i, Ordering::SeqCst);
                }
                results.lock().expect("results poisoned").push((i, result));
            });
        }
    });
    let stop = stop_at.into_inner();
    let mut results = results.into_inner().expect("results poisoned");
    results.retain(|(i, _)| *i <= stop);
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(i, r)| (first + i * stride, r)).collect()
}
