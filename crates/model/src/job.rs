//! Scheduled jobs as data: what a job is, as a client writes it, the leader persists it and
//! the history records it. When its fires are due is computed elsewhere, twice and
//! independently: by the scheduler (`faultline_core::schedule`, with croner) and by the fires
//! checker (`faultline_check::cron_oracle`, from the written rules). This crate has no cron
//! evaluator, so neither side can borrow the other's.

use chrono::DateTime;
use serde::{Deserialize, Serialize};

/// When a job fires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Once, at this instant.
    At { at_unix_ms: u64 },
    /// Once, this long after the leader persists the job (it becomes `At` then).
    After { after_ms: u64 },
    /// Every `every_ms`, the first `every_ms` after `from_unix_ms` (when the leader persists
    /// the job, if absent).
    Every { every_ms: u64, from_unix_ms: Option<u64> },
    /// A cron expression (5 fields, or 6 with seconds first) in an IANA time zone.
    Cron { cron: String, tz: String },
}

/// What the leader does with fires it finds later than the job's `misfire_after_ms`: the
/// leader was down, partitioned, paused or the store stalled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "policy")]
pub enum Misfire {
    /// One fire now stands for every missed instant (Quartz's "fire once now").
    FireOnce,
    /// The missed instants are skipped (recorded); the job goes on at its next instant.
    Skip,
    /// Every missed instant fires, oldest first, but at most the newest `max` of them: older
    /// ones are skipped (recorded).
    CatchUp { max: u32 },
}

/// What a fire does while the job's previous fire is still running (not terminal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// Runs anyway: fires may run side by side.
    Allow,
    /// Is skipped (recorded): at most one fire of the job runs at a time.
    Forbid,
    /// Dead-letters the running fire (its executor is told to cancel it), then fires.
    Replace,
}

/// A job as a client creates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobSpec {
    /// Unique; names the job in every command and event.
    pub name: String,
    pub schedule: Schedule,
    pub misfire: Misfire,
    /// A fire decided more than this after its instant is a misfire.
    pub misfire_after_ms: u64,
    pub overlap: Overlap,
    /// The task each fire runs: payload (stored as base64: `crate::bytes`), attempts and
    /// per-attempt timeout.
    #[serde(with = "crate::bytes")]
    pub payload: Vec<u8>,
    pub max_attempts: u32,
    pub timeout_ms: u64,
}

/// A job command, the same in both modes (gRPC `Job`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum JobCommand {
    Create { spec: JobSpec },
    Pause { name: String },
    Resume { name: String },
    Delete { name: String },
}

impl JobCommand {
    pub fn op_name(&self) -> &'static str {
        match self {
            JobCommand::Create { .. } => "create",
            JobCommand::Pause { .. } => "pause",
            JobCommand::Resume { .. } => "resume",
            JobCommand::Delete { .. } => "delete",
        }
    }

    pub fn job(&self) -> &str {
        match self {
            JobCommand::Create { spec } => &spec.name,
            JobCommand::Pause { name } | JobCommand::Resume { name } | JobCommand::Delete { name } => name,
        }
    }
}

impl Schedule {
    /// Pins the relative parts to `now_unix_ms` (the leader does so when it persists a job).
    pub fn resolve(&self, now_unix_ms: u64) -> Schedule {
        match self {
            Schedule::After { after_ms } => Schedule::At { at_unix_ms: now_unix_ms + after_ms },
            Schedule::Every { every_ms, from_unix_ms: None } => {
                Schedule::Every { every_ms: *every_ms, from_unix_ms: Some(now_unix_ms) }
            }
            other => other.clone(),
        }
    }

    /// Whether `resolved` may be this schedule as a client wrote it, once pinned (a create
    /// sent again). A delay, once pinned to an instant, cannot be told apart.
    pub fn resolves_to(&self, resolved: &Schedule) -> bool {
        match (self, resolved) {
            (Schedule::After { .. }, Schedule::At { .. }) => true,
            (Schedule::Every { every_ms, from_unix_ms: None }, Schedule::Every { every_ms: pinned, .. }) => {
                every_ms == pinned
            }
            (written, resolved) => written == resolved,
        }
    }
}

/// Parses an RFC 3339 instant (`2026-03-08T01:58:00-05:00`) to UNIX ms.
pub fn parse_instant(text: &str) -> Result<u64, String> {
    let t = DateTime::parse_from_rfc3339(text)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-03-08T01:58:00-05:00: {e}"))?;
    u64::try_from(t.timestamp_millis()).map_err(|_| "expected a time after 1970".to_string())
}
