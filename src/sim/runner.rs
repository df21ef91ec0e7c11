//! Runs one seed: a fresh OS thread, a fresh madsim runtime, the cluster, the workload
//! phase, then the drain phase; returns the history and the checkers' verdict.

use crate::check::{check_all, CheckResult, ViolationKind};
use crate::record::Recorder;
use crate::scenario::{Fault, Scenario};
use crate::sim::cluster::Cluster;
use crate::sim::nemesis::{params, Nemesis};
use crate::sim::swarm;
use crate::trace::{history_hash, Event, EventKind, Str};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How often the harness looks at progress, ms of simulated time.
const POLL_MS: u64 = 100;

pub struct RunOutcome {
    pub seed: u64,
    pub history: Vec<Event>,
    pub check: CheckResult,
    /// Simulated time the run took, ms.
    pub sim_ms: u64,
    pub wall_ms: u64,
    pub hash: u64,
    /// Set when the run itself panicked (a bug: the message says where).
    pub panic: Option<String>,
    /// The run's nodes outlived its runtime (their memory would pile up over many seeds).
    pub leaked: bool,
    /// Every fault the run planned: the scenario's, then the swarm's draw (what `shrink`
    /// turns into an explicit fault list).
    pub planned: Vec<Fault>,
    /// The scenario's `tolerate`: violation kinds that do not fail the run.
    pub tolerated: Vec<ViolationKind>,
}

impl RunOutcome {
    /// No panic, and no violation but of a kind the scenario tolerates.
    pub fn passed(&self) -> bool {
        self.panic.is_none() && self.check.violations.iter().all(|v| self.tolerated.contains(&v.kind))
    }
}

/// The room a seed's history is given up front (see [`Recorder::with_capacity`]), for a
/// large run only: about ten events per task in the smoke, reference and swarm scenarios
/// (10.4 with retries and re-dispatches), so 16 leaves margin, capped at 64 Mi events (6 GiB
/// of address space, not of memory). Below a million events none is reserved: there the
/// growing history's copies are a small part of the run, and a reservation per seed cost
/// the swarm's two threads a quarter more peak memory (72 MB against 98, `bench --row 5`).
fn expected_events(scenario: &Scenario) -> usize {
    const PER_TASK: u64 = 16;
    const LARGE: u64 = 1 << 20;
    const CAP: u64 = 1 << 26;
    let expected = scenario.workload.tasks.saturating_mul(PER_TASK);
    if expected < LARGE {
        0
    } else {
        expected.min(CAP) as usize
    }
}

/// Runs `scenario` with `seed` in a fresh OS thread (madsim seeds std's HashMap only for
/// the first one a thread creates) and checks the history.
pub fn run_seed(scenario: &Scenario, seed: u64) -> RunOutcome {
    let tolerated = scenario.tolerate.clone();
    let executor_histories = scenario.checks.executor_histories.unwrap_or(true);
    let scenario = scenario.clone();
    let wall = crate::node::clock::Stopwatch::start();
    let planned = Arc::new(std::sync::Mutex::new(Vec::new()));
    let plan = planned.clone();
    let (history, panic, alive) = std::thread::Builder::new()
        .name(format!("seed-{seed}"))
        .spawn(move || {
            let mut rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
            let limit_s = scenario.workload_limit_s() + scenario.limits.drain_s + 120;
            rt.set_time_limit(Duration::from_secs(limit_s));
            let recorder = Recorder::with_capacity(expected_events(&scenario));
            let probe = recorder.probe();
            // A panic in any task of the simulation unwinds out of `block_on`.
            let driven = std::panic::AssertUnwindSafe(|| rt.block_on(drive(scenario, seed, recorder.clone(), plan)));
            let run = std::panic::catch_unwind(driven);
            drop(rt);
            // A run that panicked keeps the history up to the panic, for its reproduction.
            let (history, panic) = match run {
                Ok(history) => (history, None),
                Err(payload) => (recorder.snapshot(), Some(panic_message(payload.as_ref()))),
            };
            drop(recorder);
            (history, panic, probe)
        })
        .expect("spawn seed thread")
        .join()
        .unwrap_or_else(|payload| (Vec::new(), Some(panic_message(payload.as_ref())), Recorder::new().probe()));
    let wall_ms = wall.elapsed_ms();
    let check = if executor_histories { check_all(&history) } else { check_without_executors(&history) };
    let sim_ms = history.last().map_or(0, |e| e.at_ms);
    let leaked = panic.is_none() && alive.upgrade().is_some();
    let planned = std::mem::take(&mut *planned.lock().expect("plan poisoned"));
    let hash = history_hash(&history);
    RunOutcome { seed, hash, history, check, sim_ms, wall_ms, panic, leaked, planned, tolerated }
}

/// Checks the history with the executors' own events left out (`[checks]
/// executor_histories = false`); violations point into the whole history.
fn check_without_executors(history: &[Event]) -> CheckResult {
    let kept: Vec<usize> = (0..history.len()).filter(|&i| !history[i].node.starts_with("exec-")).collect();
    let seen: Vec<Event> = kept.iter().map(|&i| history[i].clone()).collect();
    let mut check = check_all(&seen);
    for violation in &mut check.violations {
        violation.event_index = kept.get(violation.event_index).copied().unwrap_or(history.len());
    }
    check
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// Runs the two phases into `recorder`; returns the history.
async fn drive(
    scenario: Scenario,
    seed: u64,
    recorder: Recorder,
    planned: Arc<std::sync::Mutex<Vec<Fault>>>,
) -> Vec<Event> {
    let handle = madsim::runtime::Handle::current();
    let cluster = Arc::new(Cluster::build(&handle, &scenario, &recorder, seed));
    let clock = crate::node::NodeClock::exact(cluster.origin);
    let checks = &scenario.checks;
    let bounds = EventKind::CheckBounds(Box::new(crate::trace::Bounds {
        max_false_deaths: checks.max_false_deaths,
        max_false_quarantines: checks.max_false_quarantines,
        max_unforced_failovers: checks.max_unforced_failovers,
        settle_ms: checks.settle_ms.unwrap_or(crate::check::DEFAULT_SETTLE_MS),
        min_goodput_percent: Some(checks.min_goodput_percent.unwrap_or(crate::check::DEFAULT_MIN_GOODPUT_PERCENT)),
        max_detection_ms: checks.max_detection_ms.or(Some(scenario.default_detection_bound_ms())).filter(|b| *b > 0),
    }));
    let faults = plan_faults(&scenario, &recorder);
    recorder.record(0, "harness", bounds);
    *planned.lock().expect("plan poisoned") = faults.iter().map(|(_, f)| f.clone()).collect();
    let nemesis = Nemesis::new(cluster.clone());
    let fault_tasks = nemesis.start(faults);
    let workload_end = scenario.workload_limit_s() * 1000;
    let workload_running =
        || cluster.acked.load(Ordering::SeqCst) < scenario.workload.tasks || !cluster.jobs_done.load(Ordering::SeqCst);
    while workload_running() && clock.true_now_ms() < workload_end {
        clock.sleep(POLL_MS).await;
    }
    let deadline_ms = clock.true_now_ms() + scenario.limits.drain_s * 1000;
    recorder.record(clock.true_now_ms(), "harness", EventKind::DrainStart { deadline_ms });
    let mut open = OpenTasks::default();
    let drained = loop {
        recorder.with(|h| open.advance(h));
        if open.is_empty() && nemesis.settled() {
            break true;
        }
        if clock.true_now_ms() >= deadline_ms {
            break false;
        }
        clock.sleep(POLL_MS).await;
    };
    recorder.record(clock.true_now_ms(), "harness", EventKind::RunEnd { drained });
    let history = recorder.take();
    // Tasks blocked on a channel they own hold their own waker: a cycle madsim does not
    // break when the runtime drops, which leaked every node (~70 MB a 10k-task seed). A kill
    // wakes each task, and the executor drops a killed node's tasks when it polls them.
    for node in &cluster.nodes {
        handle.kill(node.handle.id());
    }
    for task in fault_tasks {
        task.abort(); // triggers that never fired
    }
    clock.sleep(1).await;
    history
}

/// The faults this run injects, numbered: the scenario's, then the swarm's draw. Each is
/// recorded as planned, so the checkers can tell whether it fired.
fn plan_faults(scenario: &Scenario, recorder: &Recorder) -> Vec<(u64, Fault)> {
    let mut faults = scenario.faults.clone();
    if let Some(swarm) = &scenario.swarm {
        let drawn = swarm::draw(swarm, scenario);
        recorder.record(0, "harness", EventKind::SwarmDrawn { options: drawn.options.into() });
        faults.extend(drawn.faults);
    }
    let faults: Vec<(u64, Fault)> = faults.into_iter().enumerate().map(|(i, f)| (i as u64, f)).collect();
    for (id, f) in &faults {
        let kind = EventKind::FaultPlanned {
            id: *id,
            fault: f.kind.name().into(),
            firings: f.repeat.map_or(1, |r| r.times),
            detail: params(f).into(),
        };
        recorder.record(0, "harness", kind);
    }
    faults
}

/// Acknowledged tasks and fires without a terminal event yet, maintained incrementally.
/// Hash sets: only looked up, and asked whether any is open (B-trees of task ids spent
/// ~1.5% of a run comparing strings).
#[derive(Default)]
struct OpenTasks {
    seen: usize,
    open: rustc_hash::FxHashSet<Str>,
    terminal: rustc_hash::FxHashSet<Str>,
}

impl OpenTasks {
    fn advance(&mut self, history: &[Event]) {
        for e in &history[self.seen..] {
            if let Some(task) = e.kind.terminal_task() {
                self.open.remove(task);
                self.terminal.insert(task.into());
            } else if let EventKind::Ack { task, .. } | EventKind::Fire { task, .. } = &e.kind {
                if !self.terminal.contains(task.as_str()) {
                    self.open.insert(task.clone());
                }
            }
        }
        self.seen = history.len();
    }

    fn is_empty(&self) -> bool {
        self.open.is_empty()
    }
}
