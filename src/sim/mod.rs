//! The simulator (`cfg(madsim)` only): builds a cluster from a scenario, runs the workload
//! and the faults from one seed in a fresh OS thread, then drains and hands the history to
//! the checkers. `Simulation` (api.rs) is the entry point for tests outside the CLI.

pub mod api;
pub mod cluster;
pub mod nemesis;
pub mod repro;
pub mod runner;
pub mod seeds;
pub mod shrink;
pub mod store_latency;
pub mod swarm;

pub use api::{Failure, Passed, Simulation};
pub use runner::{run_seed, RunOutcome};
pub use seeds::{run_seeds, SeedPlan};

/// The run's seeded generator as a `rand::RngCore`, for `gen_range`, `gen_bool` and
/// `shuffle`: every draw goes through `madsim::rand::random`, so it comes from the seed and
/// advances the same stream as every other draw of the run.
pub struct SeededRng;

impl rand::RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        madsim::rand::random()
    }

    fn next_u64(&mut self) -> u64 {
        madsim::rand::random()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
