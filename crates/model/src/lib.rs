//! The model: the vocabulary every floor above shares and nothing below it. The history's
//! events (`trace`), what a job is (`job`, as data: its evaluation lives in the core, its
//! independent re-evaluation in the checkers) and the violation kinds (`verdict`). It
//! depends on serde and chrono only; the scheduler core and the checkers both build on it
//! and neither on the other, so a checker cannot read the scheduler's internals.

pub mod bytes;
pub mod fixtures;
pub mod job;
pub mod node_name;
pub mod trace;
pub mod verdict;
