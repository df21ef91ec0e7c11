//! The scenario's scheduled jobs: `[schedule]` (the clock base, the firing bounds, how long
//! jobs run) and `[[jobs]]` / `[[job_ops]]` (jobs the client creates, then pauses, resumes
//! or deletes at given times). Documented in scenarios/README.md.

use super::bounds::{in_range, probability};
use crate::schedule::{parse_instant, JobCommand, JobSpec, Misfire, Overlap, Schedule, ValidJob as _};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSettings {
    /// The wall-clock instant simulated time 0 stands for (RFC 3339).
    pub start_time: String,
    /// While healthy, a fire starts within this of its instant (checked).
    #[serde(deserialize_with = "in_range::<_, 1, 3_600_000>")]
    pub late_bound_ms: u64,
    /// A fault counts against that bound until this long after it heals.
    #[serde(deserialize_with = "in_range::<_, 0, 3_600_000>")]
    pub settle_ms: u64,
    /// The jobs run this long (simulated s); then the client deletes them and the run drains.
    #[serde(deserialize_with = "in_range::<_, 1, 86_400>")]
    pub run_s: u64,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            start_time: "2026-01-01T00:00:00Z".into(),
            late_bound_ms: 2_000,
            settle_ms: 5_000,
            run_s: 60,
        }
    }
}

impl ScheduleSettings {
    /// UNIX ms of simulated time 0 (validated at parse time).
    pub fn base_unix_ms(&self) -> u64 {
        parse_instant(&self.start_time).unwrap_or(0)
    }
}

/// A misfire policy as written: `"fire_once"`, `"skip"` or `{ catch_up = N }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum MisfireText {
    FireOnce,
    Skip,
    CatchUp(u32),
}

/// One `[[jobs]]` table. Exactly one of `cron`, `every_ms`, `at`, `after_ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobText {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(default = "utc")]
    pub tz: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_ms: Option<u64>,
    #[serde(default = "fire_once")]
    pub misfire: MisfireText,
    #[serde(default = "second", deserialize_with = "in_range::<_, 0, 86_400_000>")]
    pub misfire_after_ms: u64,
    #[serde(default = "allow")]
    pub overlap: Overlap,
    /// Each fire's body runs this long.
    #[serde(default = "tenth", deserialize_with = "in_range::<_, 0, 3_600_000>")]
    pub duration_ms: u64,
    #[serde(default, deserialize_with = "probability")]
    pub fail_probability: f64,
    #[serde(default = "three", deserialize_with = "in_range::<_, 1, 100>")]
    pub max_attempts: u64,
    #[serde(default = "five_s", deserialize_with = "in_range::<_, 1, 3_600_000>")]
    pub timeout_ms: u64,
    /// Each fire runs this program with these arguments (real build; without it, the
    /// stand-in body of `duration_ms` and `fail_probability`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Or each fire calls this HTTP endpoint (real build; 2xx is success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpText>,
}

/// A job's HTTP body as written: `http = { url = "https://...", method = "POST",
/// headers = { ... }, body = "..." }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpText {
    pub url: String,
    #[serde(default = "post")]
    pub method: String,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

fn post() -> String {
    "POST".into()
}

fn utc() -> String {
    "UTC".into()
}
fn fire_once() -> MisfireText {
    MisfireText::FireOnce
}
fn second() -> u64 {
    1_000
}
fn allow() -> Overlap {
    Overlap::Allow
}
fn tenth() -> u64 {
    100
}
fn three() -> u64 {
    3
}
fn five_s() -> u64 {
    5_000
}

/// One `[[job_ops]]` table: `{ at_ms = 30000, op = "pause", job = "tick" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobOp {
    pub at_ms: u64,
    pub op: OpKind,
    pub job: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Pause,
    Resume,
    Delete,
}

impl JobOp {
    pub fn command(&self) -> JobCommand {
        let name = self.job.clone();
        match self.op {
            OpKind::Pause => JobCommand::Pause { name },
            OpKind::Resume => JobCommand::Resume { name },
            OpKind::Delete => JobCommand::Delete { name },
        }
    }
}

impl JobText {
    /// The job spec with its task body's `payload`, or what is wrong with this table.
    pub fn spec(&self, payload: Vec<u8>) -> Result<JobSpec, String> {
        let schedule = match (&self.cron, self.every_ms, &self.at, self.after_ms) {
            (Some(cron), None, None, None) => Schedule::Cron { cron: cron.clone(), tz: self.tz.clone() },
            (None, Some(every_ms), None, None) => Schedule::Every { every_ms, from_unix_ms: None },
            (None, None, Some(at), None) => Schedule::At { at_unix_ms: parse_instant(at)? },
            (None, None, None, Some(after_ms)) => Schedule::After { after_ms },
            _ => return Err("expected exactly one of `cron`, `every_ms`, `at`, `after_ms`".into()),
        };
        if self.command.as_ref().is_some_and(|c| c.first().is_none_or(String::is_empty)) {
            return Err("`command` must start with the program to run, as in [\"/usr/bin/backup\", \"--full\"]".into());
        }
        if self.command.is_some() && self.http.is_some() {
            return Err("a job runs one body: `command` or `http`, not both".into());
        }
        if let Some(http) = &self.http {
            if !(http.url.starts_with("http://") || http.url.starts_with("https://")) {
                return Err(format!("`http.url` must start with http:// or https://, not `{}`", http.url));
            }
            let methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];
            if !methods.contains(&http.method.as_str()) {
                return Err(format!("`http.method` must be one of {}, not `{}`", methods.join(", "), http.method));
            }
        }
        let misfire = match self.misfire {
            MisfireText::FireOnce => Misfire::FireOnce,
            MisfireText::Skip => Misfire::Skip,
            MisfireText::CatchUp(max) => Misfire::CatchUp { max },
        };
        let spec = JobSpec {
            name: self.name.clone(),
            schedule,
            misfire,
            misfire_after_ms: self.misfire_after_ms,
            overlap: self.overlap,
            payload,
            max_attempts: self.max_attempts as u32,
            timeout_ms: self.timeout_ms,
        };
        spec.validate().map_err(|e| e.to_string())?;
        Ok(spec)
    }
}
