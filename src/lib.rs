//! faultline: a fault-tolerant distributed task scheduler and the deterministic chaos
//! simulator that proves it. See ARCHITECTURE.md for the map and the invariants.

pub mod bugs;
pub mod check;
pub mod core;
pub mod node;
pub mod record;
pub mod report;
pub mod scenario;
pub mod schedule;
pub mod settings;
#[cfg(madsim)]
pub mod sim;
pub mod trace;
pub mod verdict;

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
