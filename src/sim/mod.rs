//! The simulator (`cfg(madsim)` only): builds a cluster from a scenario, runs the workload
//! and the faults from one seed in a fresh OS thread, then drains and hands the history to
//! the checkers.

pub mod cluster;
pub mod nemesis;
pub mod runner;
pub mod swarm;

pub use runner::{run_seed, RunOutcome};
