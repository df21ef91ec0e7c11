//! The history: the event type shared by the simulator, the checkers and the reports.
//!
//! Nodes append events through the drivers' `record::Recorder`; checkers and reports read only the recorded
//! `Vec<Event>`, never the scheduler's internals. Events are appended in execution order,
//! which madsim makes deterministic, so the history of a seed is stable bit for bit.

use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

/// A string in the history: ids, names and reasons. 16 bytes, of which up to 15 are kept
/// inline with no heap allocation (task ids, keys, node names and states all fit: the
/// reference scenario's longest is 15 bytes), longer ones on the heap, shared by clones;
/// it serializes exactly as a `String` does, so the history's JSON and hash are unchanged.
pub type Str = ecow::EcoString;

/// One recorded event: when (true simulated time, ms since the run started), where, what.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Event {
    pub at_ms: u64,
    /// Interned: 8 bytes where a string took 16 (see `node_name`).
    pub node: crate::node_name::NodeName,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// How a `DeadLettered` reason starts when overlap `replace` cancelled a running fire. Its
/// executor learns of the cancel at its next beat, so the body may still apply its effect:
/// the ledger checker counts such a task as `replaced_with_effect`, not as a violation.
pub const REPLACED_REASON_PREFIX: &str = "replaced by the job's fire";

/// What the sink decided about one apply of a task's effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The effect landed.
    Accepted,
    /// Another attempt's effect already landed; this one was refused (fenced).
    Duplicate,
    /// The token is older than one the sink has seen for this task (fenced).
    Stale,
}

impl Verdict {
    /// The verdict as the history writes it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::Duplicate => "duplicate",
            Verdict::Stale => "stale",
        }
    }
}

/// What the sink's check of a key found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Checked {
    /// An effect of the key landed.
    Landed,
    /// None landed; older tokens are fenced from now on.
    Absent,
    /// The asking token is older than one the sink has seen (fenced).
    Stale,
}

/// Where a fault is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPhase {
    Begin,
    End,
}

/// What a [`EventKind::JobCreated`] event carries. Boxed: with six fields it was the one
/// variant over 63 bytes, and it set the size of every event (96 bytes instead of 88; ten
/// events a task). The JSON and the history hash are those of the former struct variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct JobCreation {
    pub job: Str,
    pub spec: Str,
    pub from_ms: u64,
    pub base_unix_ms: u64,
    pub late_bound_ms: u64,
    pub settle_ms: u64,
}

/// What a [`EventKind::CheckBounds`] event carries.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Bounds {
    pub max_false_deaths: Option<u64>,
    pub max_false_quarantines: Option<u64>,
    pub max_unforced_failovers: Option<u64>,
    pub settle_ms: u64,
    /// The least share of acknowledged tasks that must succeed, percent (none: counted,
    /// not bounded).
    #[serde(default)]
    pub min_goodput_percent: Option<u64>,
    /// How long after an executor crash it must be declared dead, ms (none: not judged).
    #[serde(default)]
    pub max_detection_ms: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The client sent a task for the first time.
    Submit { key: Str },
    /// The client received the durable acknowledgement for `key`, naming its task.
    Ack { key: Str, task: Str },
    /// The store confirmed a write of this task's state.
    Persist { task: Str, state: Str, epoch: u64 },
    /// The leader handed an attempt of the task to an executor.
    Dispatch { task: Str, executor: Str, incarnation: u64, epoch: u64, attempt: u32 },
    /// An executor began running an attempt.
    Start { task: Str, incarnation: u64, epoch: u64, attempt: u32 },
    /// An executor refused an assignment (stale epoch).
    Reject { task: Str, epoch: u64, attempt: u32, reason: Str },
    /// The sink judged an apply of the task's effect.
    Apply { task: Str, key: Str, executor: Str, epoch: u64, attempt: u32, verdict: Verdict },
    /// The sink answered an attempt's check of whether its key's effect landed (asked
    /// before the body when an earlier attempt's outcome is unknown).
    SinkCheck { task: Str, key: Str, executor: Str, epoch: u64, attempt: u32, found: Checked },
    /// A restarted sink found this effect in its durable ledger without knowing whether its
    /// `apply` verdict reached the history (the process died between the ledger's commit
    /// and the record): it landed, by this token. Evidence that the effect landed, never a
    /// second acceptance (the `apply` it stands for may be in the history too).
    ApplyRecovered { task: Str, key: Str, executor: Str, epoch: u64, attempt: u32 },
    /// A real node refused a request its sender's certificate does not allow (a heartbeat
    /// or apply in another executor's name, a submit from a non-client): `peer` is who the
    /// certificate names, `request` what it asked. The simulator's nodes never refuse one.
    Refused { peer: Str, request: Str },
    /// An executor finished an attempt's body.
    Complete { task: Str, epoch: u64, attempt: u32, outcome: Str },
    /// The leader scheduled a retry after a failed attempt.
    Retry { task: Str, failures: u32, backoff_ms: u64, reason: Str },
    /// The leader recorded the task as succeeded (terminal).
    Succeeded { task: Str, epoch: u64, attempt: u32 },
    /// The leader recorded the task as dead-lettered (terminal).
    DeadLettered { task: Str, reason: Str },
    /// A new leader found this task terminal in the store (its predecessor may have died
    /// between the durable write and recording it). `state` is `succeeded` or `dead_lettered`.
    Recovered {
        task: Str,
        state: Str,
        /// Why it was dead-lettered, as its record says (absent for a success).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<Str>,
    },
    /// The leader deleted a finished task's record and idempotency key from the store, its
    /// retention over: a later submit of the key names a new task.
    Compacted { task: Str, epoch: u64 },
    /// The leader declared an executor incarnation dead and re-queued its tasks.
    ExecutorDead { executor: Str, incarnation: u64, reason: Str, tasks: u32 },
    /// The leader stopped giving new work to an executor name for `backoff_ms`: it
    /// crash-loops or most of its recent attempts failed. It keeps its held attempts.
    ExecutorQuarantined { executor: Str, reason: Str, backoff_ms: u64 },
    /// A quarantined executor name may get new work again (its quarantine ended, or too few
    /// executors were left usable without it).
    ExecutorReleased { executor: Str },
    /// An attempt of the task failed, timed out or was lost in `zone`: while another zone
    /// can run it, the leader will not place it there again.
    ZoneAvoided { task: Str, zone: Str },
    /// A node became leader with this epoch (from the store).
    LeaderElected { epoch: u64 },
    /// The leader of `epoch` sent a lease keep-alive to the store (its reply, when it comes,
    /// proves the lease from this moment).
    KeepAliveSent { epoch: u64 },
    /// A node stopped acting as leader of this epoch.
    LeaderLost { epoch: u64, reason: Str },
    /// A node (re)started; executors carry their fresh incarnation.
    NodeStart { incarnation: u64 },
    /// A fault the run will inject (`id` numbers the scenario's faults, then the swarm's):
    /// `firings` times, at `at_ms` or on its trigger. Every planned fault must fire.
    FaultPlanned { id: u64, fault: Str, firings: u32, detail: Str },
    /// The options swarm mode drew from the seed: the kinds enabled, their rates, sizes.
    SwarmDrawn { options: Str },
    /// One firing of fault `id` began or ended (`target`: the nodes hit; `detail`: the
    /// parameters at the begin, what the fault did at the end).
    Fault { id: u64, fault: Str, phase: FaultPhase, target: Str, detail: Str },
    /// The leader persisted a new job (its schedule resolved: `spec` is the JSON of a
    /// `schedule::JobSpec`). Scheduler instants are `unix - base_unix_ms`, the history's time
    /// line. While the cluster is healthy (no fault in progress, none ended within
    /// `settle_ms`), every fire must start within `late_bound_ms` of its instant. The job's
    /// instants are those after `from_ms`.
    JobCreated(Box<JobCreation>),
    /// The leader persisted a pause: no fire of the job is decided until it resumes.
    JobPaused { job: Str },
    /// The leader persisted a resume: instants up to now never fire; the next is `next_ms`.
    JobResumed { job: Str, next_ms: Option<u64> },
    /// The leader persisted a delete: the job never fires again.
    JobDeleted { job: Str },
    /// The store confirmed a fire record, in one txn with the job's cursor: the job's instant
    /// `scheduled_ms` runs as `task`. Under misfire `fire_once` one fire stands for every
    /// missed instant from `covers_from_ms` to `scheduled_ms`; otherwise the two are equal.
    Fire { job: Str, scheduled_ms: u64, covers_from_ms: u64, task: Str, epoch: u64 },
    /// The store confirmed that the job's `count` instants in `from_ms..=to_ms` will not fire.
    /// `reason`: `misfire` (policy skip), `catch_up_bound` (policy catch_up, older than its
    /// bound), or `overlap` (policy forbid: the previous fire was still running).
    FireSkipped { job: Str, from_ms: u64, to_ms: u64, count: u32, reason: Str, epoch: u64 },
    /// The bounds the run's false verdicts are judged against (the scenario's `[checks]`):
    /// executors declared dead or quarantined, and leaders stepping down, with no fault on
    /// them in the `settle_ms` before (none: counted, not bounded).
    /// Boxed: one per run, and inline it would be the largest variant (96 bytes, where the
    /// rest fit in 64), making every event of the history larger.
    CheckBounds(Box<Bounds>),
    /// The workload phase ended; every acknowledged task must be terminal by `deadline_ms`.
    DrainStart { deadline_ms: u64 },
    /// The run ended, either drained (every acknowledged task terminal) or at its time limit.
    RunEnd { drained: bool },
}

impl EventKind {
    /// The task this event shows terminal (succeeded or dead-lettered), if any.
    pub fn terminal_task(&self) -> Option<&str> {
        match self {
            EventKind::Succeeded { task, .. }
            | EventKind::DeadLettered { task, .. }
            | EventKind::Recovered { task, .. } => Some(task),
            _ => None,
        }
    }

    /// The task this event is about, if any.
    pub fn task(&self) -> Option<&str> {
        match self {
            EventKind::Ack { task, .. }
            | EventKind::Persist { task, .. }
            | EventKind::Dispatch { task, .. }
            | EventKind::Start { task, .. }
            | EventKind::Reject { task, .. }
            | EventKind::Apply { task, .. }
            | EventKind::ApplyRecovered { task, .. }
            | EventKind::SinkCheck { task, .. }
            | EventKind::Complete { task, .. }
            | EventKind::Retry { task, .. }
            | EventKind::Succeeded { task, .. }
            | EventKind::DeadLettered { task, .. }
            | EventKind::Recovered { task, .. }
            | EventKind::Compacted { task, .. }
            | EventKind::ZoneAvoided { task, .. } => Some(task),
            _ => None,
        }
    }
}

/// A stable 64-bit hash of the history: every field of every event, in order, read as
/// little-endian words (strings as their bytes and a terminator) and mixed by
/// [`WordHasher`]. Equal histories give equal hashes on every platform; a change to the
/// event types (a field added, variants reordered) changes the hashes of every history.
/// It reads the events in memory, with no serialization: hashing their JSON form cost a
/// reference seed about 4% of its time.
pub fn history_hash(events: &[Event]) -> u64 {
    let mut hasher = WordHasher::default();
    events.hash(&mut hasher);
    hasher.finish()
}

/// A 64-bit hasher that is the same on every platform: integers of every width are read
/// as `u64` (so `usize` lengths do not depend on the pointer width), bytes as little-endian
/// 8-byte words, and each word is folded in by a 64x64->128-bit multiply (wyhash's mix).
/// Not a keyed hash: it identifies histories, it does not defend a table against anyone.
#[derive(Default)]
pub struct WordHasher(u64);

impl WordHasher {
    const SEED: u64 = 0xcbf2_9ce4_8422_2325;
    const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

    fn mix(&mut self, word: u64) {
        let product = u128::from(self.0 ^ word ^ Self::SEED) * u128::from(Self::MULTIPLIER);
        self.0 = (product as u64) ^ ((product >> 64) as u64);
    }
}

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.mix(u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.mix(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.mix(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.mix(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }

    fn write_isize(&mut self, n: isize) {
        self.mix(n as i64 as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A history holds millions of events (about ten per task): each byte of an event is
    /// megabytes of a large run. A variant that would grow it belongs in a box, as
    /// `CheckBounds` is.
    #[test]
    fn an_event_stays_within_80_bytes() {
        assert_eq!(std::mem::size_of::<Str>(), 16, "history strings are 16 bytes");
        assert!(std::mem::size_of::<Event>() <= 80, "an event is {} bytes", std::mem::size_of::<Event>());
    }

    fn history() -> Vec<Event> {
        vec![
            Event { at_ms: 0, node: "client".into(), kind: EventKind::Submit { key: "k1".into() } },
            Event {
                at_ms: 12,
                node: "coord-1".into(),
                kind: EventKind::Persist { task: "t1-1".into(), state: "queued".into(), epoch: 3 },
            },
            Event {
                at_ms: 40,
                node: "sink".into(),
                kind: EventKind::Apply {
                    task: "t1-1".into(),
                    key: "a key longer than fifteen bytes".into(),
                    executor: "exec-1".into(),
                    epoch: 3,
                    attempt: 1,
                    verdict: Verdict::Accepted,
                },
            },
        ]
    }

    /// The value is pinned: a history hashes the same on every platform and every build of
    /// these event types, so a saved failure's hash can be checked anywhere.
    #[test]
    fn a_history_hashes_to_the_same_value_everywhere() {
        assert_eq!(history_hash(&history()), PINNED, "{:016x}", history_hash(&history()));
    }
    const PINNED: u64 = 0x7c4c_cc57_0fe2_5f55;

    #[test]
    fn any_change_to_a_history_changes_its_hash() {
        let base = history_hash(&history());
        let mut later = history();
        later[1].at_ms += 1;
        let mut other_node = history();
        other_node[0].node = "client-2".into();
        let mut other_verdict = history();
        if let EventKind::Apply { verdict, .. } = &mut other_verdict[2].kind {
            *verdict = Verdict::Duplicate;
        }
        let mut moved_byte = history();
        moved_byte[0].node = "clien".into();
        moved_byte[0].kind = EventKind::Submit { key: "tk1".into() };
        let shorter = history()[..2].to_vec();
        for changed in [later, other_node, other_verdict, moved_byte, shorter] {
            assert_ne!(history_hash(&changed), base, "{changed:?}");
        }
    }

    #[test]
    fn a_verdicts_name_is_how_the_history_writes_it() {
        for v in [Verdict::Accepted, Verdict::Duplicate, Verdict::Stale] {
            assert_eq!(serde_json::to_string(&v).unwrap(), format!("\"{}\"", v.name()));
        }
    }
}
