//! The pure scheduler core: state machines that take time as an argument and return
//! what to do. No tokio, no madsim, no I/O, no clock reads, no ambient randomness; the
//! drivers in `node/` feed them inputs and carry out their outputs.

pub mod coordinator;
pub mod executor;
pub mod retry;
pub mod sink;
pub mod task;

pub use task::{Outcome, TaskId, TaskRecord, TaskSpec, TaskState, Token};
