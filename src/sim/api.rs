//! faultline from `cargo test`: run a scenario file, or a `Scenario` built in code, on
//! seeds and get the outcome, in a plain `#[test]` (each seed runs in its own madsim
//! runtime on its own thread, so the test itself is not a `#[madsim::test]`). The crate
//! must be compiled with `RUSTFLAGS="--cfg madsim"`, like the `faultline` simulator.
//!
//! ```no_run
//! use faultline::sim::Simulation;
//!
//! #[test]
//! fn a_leader_crash_loses_nothing() {
//!     Simulation::load("scenarios/failover/leader-crash.toml").unwrap().assert_passes(1..=5);
//! }
//! ```
//!
//! A failing seed is saved as a reproduction file (under `target/faultline-failures/`, or
//! `FAULTLINE_FAILURES`), and the panic message names the seed, its violations and the
//! commands that replay and shrink it.

use super::{repro, run_seeds, shrink, RunOutcome, SeedPlan};
use crate::check::{Violation, ViolationKind};
use crate::scenario::{Scenario, ScenarioError};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

/// One scenario, ready to run on seeds.
pub struct Simulation {
    scenario: Scenario,
    /// The file it came from, or `<name>.toml` for a scenario built in code.
    source: PathBuf,
    /// Its text, for reproduction files.
    text: String,
}

/// What a check of many seeds found wrong: the first failing seed (or, for a scenario that
/// `expect`s a violation, that no seed showed it).
#[derive(Debug)]
pub struct Failure {
    pub scenario: String,
    /// The failing seed; `None` when an expected violation was never seen.
    pub seed: Option<u64>,
    pub violations: Vec<Violation>,
    pub panic: Option<String>,
    /// The reproduction file written for the failing seed, if it could be written.
    pub saved: Option<PathBuf>,
    /// Seeds run.
    pub seeds_run: u64,
    /// For a scenario with `expect`: the kind no seed showed.
    pub not_caught: Option<ViolationKind>,
}

/// A check that passed: how many seeds ran, and for a scenario that `expect`s a violation,
/// the seed that showed it.
#[derive(Debug, PartialEq, Eq)]
pub struct Passed {
    pub seeds_run: u64,
    pub caught_on: Option<u64>,
}

impl Simulation {
    /// Reads and strictly parses a scenario file (errors carry file, line and column).
    pub fn load(path: impl AsRef<Path>) -> Result<Simulation, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::io(path, &e))?;
        let scenario = Scenario::parse(path, &text)?;
        Ok(Simulation { scenario, source: path.to_path_buf(), text })
    }

    /// A scenario built in code (e.g. `Scenario::parse` of a string, then edited).
    pub fn new(scenario: Scenario) -> Simulation {
        let source = PathBuf::from(format!("{}.toml", scenario.name));
        let text = shrink::to_text(&source, &scenario).unwrap_or_default();
        Simulation { scenario, source, text }
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// Runs one seed: the history, the checkers' verdict (`outcome.check.violations`) and
    /// `outcome.passed()`.
    pub fn run(&self, seed: u64) -> RunOutcome {
        super::run_seed(&self.scenario, seed)
    }

    /// Runs `seeds` on one thread per core, in order, and stops at the first seed that
    /// fails (or, for a scenario with `expect`, at the first that shows the expected
    /// violation). The result does not depend on the number of cores.
    pub fn check(&self, seeds: RangeInclusive<u64>) -> Result<Passed, Box<Failure>> {
        let count = (seeds.end() + 1).saturating_sub(*seeds.start());
        let plan = SeedPlan::range(*seeds.start(), count);
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        let expect = self.scenario.expect;
        let results = run_seeds(&self.scenario, plan, jobs, None, |o| {
            let stop = match expect {
                Some(kind) => o.check.violations.iter().any(|v| v.kind == kind),
                None => !o.passed(),
            };
            ((stop, o), stop)
        });
        let seeds_run = results.len() as u64;
        let stopped = results.into_iter().find(|(_, (stop, _))| *stop).map(|(_, (_, o))| o);
        match (expect, stopped) {
            (Some(_), Some(o)) => Ok(Passed { seeds_run, caught_on: Some(o.seed) }),
            (Some(kind), None) => Err(Box::new(Failure {
                scenario: self.scenario.name.clone(),
                seed: None,
                violations: Vec::new(),
                panic: None,
                saved: None,
                seeds_run,
                not_caught: Some(kind),
            })),
            (None, None) => Ok(Passed { seeds_run, caught_on: None }),
            (None, Some(o)) => Err(Box::new(self.failure(o, seeds_run))),
        }
    }

    /// `check`, panicking with the failure's report (seed, violations, reproduce commands).
    pub fn assert_passes(&self, seeds: RangeInclusive<u64>) -> Passed {
        self.check(seeds).unwrap_or_else(|failure| panic!("{failure}"))
    }

    fn failure(&self, o: RunOutcome, seeds_run: u64) -> Failure {
        let dir = std::env::var_os("FAULTLINE_FAILURES")
            .map_or_else(|| PathBuf::from("target/faultline-failures"), PathBuf::from);
        let saved = repro::reproduce_of(&self.source, &o)
            .and_then(|record| repro::write_failure(&dir, &self.source, &self.text, &record).ok());
        Failure {
            scenario: self.scenario.name.clone(),
            seed: Some(o.seed),
            violations: o.check.violations,
            panic: o.panic,
            saved,
            seeds_run,
            not_caught: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Some(seed) = self.seed else {
            let kind = self.not_caught.map_or("", |k| k.name());
            return write!(f, "scenario {}: no seed of {} showed the expected {kind}", self.scenario, self.seeds_run);
        };
        writeln!(f, "scenario {} failed on seed {seed} ({} seeds run)", self.scenario, self.seeds_run)?;
        if let Some(p) = &self.panic {
            writeln!(f, "  the run panicked: {p}")?;
        }
        write!(f, "{}", crate::report::render_violations(&self.violations))?;
        match &self.saved {
            Some(file) => write!(
                f,
                "reproduce: scripts/faultline replay {0}\nminimise:  scripts/faultline shrink {0}",
                file.display()
            ),
            None => write!(f, "reproduce: faultline::sim::Simulation::run({seed}) on this scenario"),
        }
    }
}

impl std::error::Error for Failure {}
