//! The pure scheduler core: state machines that take time as an argument and return
//! what to do. No tokio, no madsim, no I/O, no clock reads, no ambient randomness; the
//! drivers (`faultline::node`) feed them inputs and carry out their outputs. This crate's
//! dependencies are the compiler's proof: serde, rand, croner, chrono and the model, nothing
//! that could do I/O or read a clock.

pub mod bugs;
pub mod coordinator;
pub mod executor;
pub mod retry;
pub mod schedule;
pub mod sink;
pub mod task;

/// A node's two clocks read at one moment, ms. **Liveness runs on `mono_ms`** (beats,
/// deaths, quarantines, backoff, the ready queue), which never steps; **schedules run on
/// `wall_ms`** (job instants, a fire's not-before), the calendar the cluster shares, which
/// an NTP correction may step. A stepped wall clock therefore moves fires, never verdicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    pub mono_ms: u64,
    pub wall_ms: u64,
}

impl Now {
    /// Both clocks reading `ms`: a node whose wall clock was never stepped.
    pub fn at(ms: u64) -> Self {
        Now { mono_ms: ms, wall_ms: ms }
    }
}

pub use task::{Outcome, TaskId, TaskRecord, TaskSpec, TaskState, Token};
