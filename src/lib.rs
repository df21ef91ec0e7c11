//! faultline: a fault-tolerant distributed task scheduler and the deterministic chaos
//! simulator that proves it. See ARCHITECTURE.md for the map and the invariants.

// The pure floors are crates of their own (crates/), so their boundaries are compile errors:
// the model below everything, the core and the checkers beside each other on it. Their old
// paths stay: `faultline::core`, `faultline::check`, `faultline::trace`, ...
pub use faultline_check as check;
pub use faultline_core as core;
pub use faultline_core::{bugs, schedule};
pub use faultline_model::{trace, verdict};

pub mod node;
pub mod record;
pub mod report;
pub mod scenario;
pub mod settings;
#[cfg(madsim)]
pub mod sim;

/// This build, as reproduction files record it: version, commit, and `simulator` for the
/// `--cfg madsim` build or `real` otherwise.
#[cfg(madsim)]
pub const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), " ", env!("FAULTLINE_COMMIT"), " simulator");
#[cfg(not(madsim))]
pub const BUILD: &str = concat!(env!("CARGO_PKG_VERSION"), " ", env!("FAULTLINE_COMMIT"), " real");

/// Generated gRPC code (real and simulated) for proto/faultline.proto.
pub mod proto {
    #![allow(clippy::all, clippy::pedantic)]
    tonic::include_proto!("faultline");
}
