//! The task model: what a task is, its fencing token, and the record the store keeps.

use serde::{Deserialize, Serialize};

/// Task ids are `t<epoch>-<seq>`: unique because each leader epoch is unique. 16 bytes,
/// inline up to 15 (epoch and sequence together up to 13 digits), so the maps the leader
/// keeps per task (tasks, keys, retention) hold no heap allocation per id; it orders,
/// hashes and serializes exactly as a `String`.
pub type TaskId = faultline_model::trace::Str;

/// The id of the task a leader of `epoch` creates as its `seq`th: `t<epoch>-<seq>`. Written
/// digit by digit into the inline string: the formatter took ~850 instructions and a heap
/// `String` for each of a run's submits (faultline issue 16).
pub fn task_id(epoch: u64, seq: u64) -> TaskId {
    let mut id = TaskId::new();
    id.push('t');
    id.push_str(itoa::Buffer::new().format(epoch));
    id.push('-');
    id.push_str(itoa::Buffer::new().format(seq));
    id
}

/// The fencing token of one dispatch: the leader epoch that issued it and the attempt
/// number. Ordered lexicographically (epoch first), so a newer leader's token always wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Token {
    pub epoch: u64,
    pub attempt: u32,
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "e{}/a{}", self.epoch, self.attempt)
    }
}

/// What a client submits. The key makes submission idempotent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSpec {
    pub key: String,
    /// Raw bytes in the store's record (`node::store::record`); base64 in JSON
    /// (`faultline_model::bytes`).
    #[serde(with = "faultline_model::bytes")]
    pub payload: Vec<u8>,
    /// Attempts whose body fails or times out before the task is dead-lettered.
    pub max_attempts: u32,
    /// Per-attempt timeout, enforced by the executor.
    pub timeout_ms: u64,
    /// A scheduled fire's instant (scheduler ms): the executor starts the body no earlier by
    /// its own clock. 0 for plain tasks (and then absent from the stored JSON).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_before_ms: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Keys of scheduled fires start with this; a client's task may not.
pub const FIRE_KEY_PREFIX: &str = "fire/";
/// The longest idempotency key a client may submit, bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The largest payload a client may submit, bytes. It lives in the store's record as its own
/// bytes (records written as JSON by older versions held it as base64, 4 characters per 3
/// bytes, about 171 KiB), well under etcd's request limit (1.5 MiB by default), which a
/// 0.6 MB payload once broke, deposing the leader on every resend.
pub const MAX_PAYLOAD_BYTES: usize = 128 * 1024;
/// The most attempts a task may ask for.
pub const MAX_ATTEMPTS: u32 = 100;
/// The longest per-attempt timeout, ms (one day).
pub const MAX_TIMEOUT_MS: u64 = 86_400_000;

impl TaskSpec {
    /// Whether this is a scheduled fire's task (its key is the fire's).
    pub fn is_fire(&self) -> bool {
        self.key.starts_with(FIRE_KEY_PREFIX)
    }

    /// Checks a client's submit against the limits above; the error says what was expected.
    pub fn validate_submit(&self) -> Result<(), String> {
        if self.key.is_empty() || self.key.len() > MAX_KEY_BYTES {
            return Err(format!("key must be 1..={MAX_KEY_BYTES} bytes, got {}", self.key.len()));
        }
        if self.is_fire() {
            return Err(format!("key `{}`: the prefix `{FIRE_KEY_PREFIX}` is reserved for scheduled fires", self.key));
        }
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(format!("payload must be at most {MAX_PAYLOAD_BYTES} bytes, got {}", self.payload.len()));
        }
        if !(1..=MAX_ATTEMPTS).contains(&self.max_attempts) {
            return Err(format!("max_attempts must be 1..={MAX_ATTEMPTS}, got {}", self.max_attempts));
        }
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(format!("timeout_ms must be 1..={MAX_TIMEOUT_MS}, got {}", self.timeout_ms));
        }
        if self.not_before_ms != 0 {
            return Err("not_before_ms is set by the scheduler for fires; submit it as 0".into());
        }
        Ok(())
    }
}

/// The lifecycle. `Failed` is not stored: a failed attempt becomes `Pending` (retry) or
/// `DeadLettered` (with a reason) in the same write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    Pending,
    Assigned,
    Running,
    Succeeded,
    DeadLettered,
}

impl TaskState {
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::DeadLettered)
    }

    pub fn name(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::DeadLettered => "dead_lettered",
        }
    }
}

/// Which executor process holds an assignment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holder {
    pub executor: String,
    pub incarnation: u64,
}

/// The durable record of a task, as the store keeps it under `/faultline/tasks/` (binary:
/// `node::store::record`; its JSON form here is what older versions stored, still read).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: TaskId,
    pub spec: TaskSpec,
    pub state: TaskState,
    /// The last attempt number handed out (0 before the first dispatch).
    pub attempt: u32,
    /// Failed or timed-out attempts so far.
    pub failures: u32,
    /// Times the task was taken back from a dead or forgetful executor.
    pub redispatches: u32,
    /// Token and holder of the current assignment, while assigned or running. Absent from
    /// the JSON when empty, as the other empty fields are (a record written with them,
    /// `null` or `false`, still reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Token>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<Holder>,
    /// Why the task was dead-lettered, or why its last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// An attempt sent the effect to the sink and ended without its verdict: the effect may
    /// have landed. Such a task is never dead-lettered; it is retried until an attempt hears
    /// the sink's verdict (a landed effect is then judged a duplicate: succeeded).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub effect_unknown: bool,
    /// When the task became terminal, by the wall clock of the leader that made it so: a
    /// new leader keeps it until then plus the retention (and not a whole retention from
    /// its takeover, which failovers more frequent than the retention would renew forever).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at_ms: Option<u64>,
    /// Taken back more than `max_redispatches` times. A holder that fell silent may have
    /// applied the effect, so the count alone never dead-letters it: its next attempts only
    /// ask the sink (`check_only`), and it ends succeeded if an effect landed, dead-lettered
    /// if none did (the check fences every older attempt, so none can land later).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check_only: bool,
}

impl TaskRecord {
    pub fn new(id: TaskId, spec: TaskSpec) -> Self {
        TaskRecord {
            id,
            spec,
            state: TaskState::Pending,
            attempt: 0,
            failures: 0,
            redispatches: 0,
            token: None,
            holder: None,
            reason: None,
            effect_unknown: false,
            finished_at_ms: None,
            check_only: false,
        }
    }
}

/// How an attempt ended, as the executor reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Succeeded,
    Failed(String),
    TimedOut,
    /// The attempt sent its effect to the sink and ended before a verdict came back (the
    /// reply was lost, or the deadline came first): the effect may have landed.
    Unknown(String),
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Succeeded => "succeeded",
            Outcome::Failed(_) => "failed",
            Outcome::TimedOut => "timed_out",
            Outcome::Unknown(_) => "unknown",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_outcomes_print_as_the_history_and_logs_name_them() {
        assert_eq!(Token { epoch: 3, attempt: 2 }.to_string(), "e3/a2");
        let names: Vec<&str> =
            [Outcome::Succeeded, Outcome::Failed("x".into()), Outcome::TimedOut, Outcome::Unknown("y".into())]
                .iter()
                .map(Outcome::name)
                .collect();
        assert_eq!(names, ["succeeded", "failed", "timed_out", "unknown"]);
    }

    #[test]
    fn task_ids_read_as_the_formatter_writes_them() {
        for (epoch, seq) in [(0, 0), (1, 297), (7, 10), (12, 9_999_999), (u64::MAX, u64::MAX)] {
            assert_eq!(task_id(epoch, seq), format!("t{epoch}-{seq}"));
        }
    }

    #[test]
    fn a_stored_record_leaves_out_empty_fields_and_an_old_one_with_them_still_reads() {
        let spec =
            TaskSpec { key: "k".into(), payload: b"p".to_vec(), max_attempts: 3, timeout_ms: 10, not_before_ms: 0 };
        let mut record = TaskRecord::new("t1-1".into(), spec);
        record.state = TaskState::Succeeded;
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(
            json,
            r#"{"id":"t1-1","spec":{"key":"k","payload":"cA==","max_attempts":3,"timeout_ms":10},"state":"succeeded","attempt":0,"failures":0,"redispatches":0}"#
        );
        assert_eq!(serde_json::from_str::<TaskRecord>(&json).unwrap(), record);
        let old = r#"{"id":"t1-1","spec":{"key":"k","payload":"cA==","max_attempts":3,"timeout_ms":10,"not_before_ms":0},"state":"succeeded","attempt":0,"failures":0,"redispatches":0,"token":null,"holder":null,"reason":null,"effect_unknown":false}"#;
        assert_eq!(serde_json::from_str::<TaskRecord>(old).unwrap(), record);
        record.token = Some(Token { epoch: 2, attempt: 1 });
        record.holder = Some(Holder { executor: "exec-1".into(), incarnation: 7 });
        record.reason = Some("why".into());
        record.effect_unknown = true;
        record.spec.not_before_ms = 5;
        let full = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<TaskRecord>(&full).unwrap(), record, "{full}");
    }
}
