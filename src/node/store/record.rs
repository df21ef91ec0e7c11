//! How the store keeps a task record: one format byte, [`FORMAT`], then the record's fields
//! in a fixed order in postcard (varint integers, length-prefixed strings and bytes; the
//! `postcard` crate's wire format, <https://postcard.jamesmunns.com/wire-format>).
//!
//! Records were JSON before (a `{`, then the payload as base64): such a record still reads,
//! so a store written by an older faultline loads unchanged, and a record is rewritten in
//! this form the next time its task changes. The binary form is about a fifth of the JSON's
//! size for a small payload (the payload's own bytes, not 4/3 of them) and a tenth of its
//! cost to write: JSON encoding was 7% of a simulated reference seed's instructions
//! (callgrind), and the simulated etcd holds every record's bytes.
//!
//! The layout is this module's own: a field is never removed, reordered or retyped under
//! [`FORMAT`]; a change of layout takes a new format byte, and decoding keeps reading the
//! old ones. `the_encoding_is_pinned` (below) fails when the bytes change.

use crate::core::task::{Holder, TaskRecord, TaskSpec, TaskState, Token};
use serde::{Deserialize, Serialize};

/// The first byte of a record in this encoding: never the first byte of UTF-8 text, so never
/// that of a JSON record.
const FORMAT: u8 = 0xF1;

/// The stored fields, in their stored order, borrowed from the record (writing) or from the
/// stored bytes (reading).
#[derive(Serialize, Deserialize)]
struct Fields<'a> {
    id: &'a str,
    key: &'a str,
    #[serde(borrow, with = "serde_bytes")]
    payload: &'a [u8],
    max_attempts: u32,
    timeout_ms: u64,
    not_before_ms: u64,
    state: u8,
    attempt: u32,
    failures: u32,
    redispatches: u32,
    /// (epoch, attempt).
    token: Option<(u64, u32)>,
    /// (executor, incarnation).
    holder: Option<(&'a str, u64)>,
    reason: Option<&'a str>,
    effect_unknown: bool,
    finished_at_ms: Option<u64>,
    check_only: bool,
}

/// The state's stored number (the order of [`STATES`]).
const STATES: [TaskState; 5] =
    [TaskState::Pending, TaskState::Assigned, TaskState::Running, TaskState::Succeeded, TaskState::DeadLettered];

fn state_code(state: TaskState) -> u8 {
    STATES.iter().position(|s| *s == state).expect("every state is listed") as u8
}

/// A record's stored bytes.
pub fn encode(record: &TaskRecord) -> Vec<u8> {
    let spec = &record.spec;
    let fields = Fields {
        id: &record.id,
        key: &spec.key,
        payload: &spec.payload,
        max_attempts: spec.max_attempts,
        timeout_ms: spec.timeout_ms,
        not_before_ms: spec.not_before_ms,
        state: state_code(record.state),
        attempt: record.attempt,
        failures: record.failures,
        redispatches: record.redispatches,
        token: record.token.map(|t| (t.epoch, t.attempt)),
        holder: record.holder.as_ref().map(|h| (h.executor.as_str(), h.incarnation)),
        reason: record.reason.as_deref(),
        effect_unknown: record.effect_unknown,
        finished_at_ms: record.finished_at_ms,
        check_only: record.check_only,
    };
    // Sized for the record at once: the numbers, flags and length prefixes take under 128
    // bytes (a varint u64 at most 10).
    let texts = [
        &*record.id,
        &spec.key,
        record.holder.as_ref().map_or("", |h| &h.executor),
        record.reason.as_deref().unwrap_or(""),
    ];
    let capacity = 128 + spec.payload.len() + texts.iter().map(|t| t.len()).sum::<usize>();
    let mut bytes = Vec::with_capacity(capacity);
    bytes.push(FORMAT);
    postcard::to_io(&fields, &mut bytes).expect("writing to a vector cannot fail");
    bytes
}

/// A record from its stored bytes: this encoding, or the JSON older versions wrote. The
/// error says which form was expected and what was wrong.
pub fn decode(bytes: &[u8]) -> Result<TaskRecord, String> {
    match bytes.first() {
        Some(&FORMAT) => from_fields(&bytes[1..]),
        Some(b'{') => serde_json::from_slice(bytes).map_err(|e| format!("a JSON task record: {e}")),
        Some(other) => {
            Err(format!("unknown record format: first byte {other:#04x} (expected {FORMAT:#04x} or a JSON `{{`)"))
        }
        None => Err("an empty value".into()),
    }
}

fn from_fields(bytes: &[u8]) -> Result<TaskRecord, String> {
    let (f, rest): (Fields, _) =
        postcard::take_from_bytes(bytes).map_err(|e| format!("a binary task record ({FORMAT:#04x}): {e}"))?;
    if !rest.is_empty() {
        return Err(format!("a binary task record ({FORMAT:#04x}): {} bytes after its last field", rest.len()));
    }
    let state = *STATES.get(usize::from(f.state)).ok_or_else(|| format!("unknown task state {}", f.state))?;
    Ok(TaskRecord {
        id: f.id.into(),
        spec: TaskSpec {
            key: f.key.into(),
            payload: f.payload.to_vec(),
            max_attempts: f.max_attempts,
            timeout_ms: f.timeout_ms,
            not_before_ms: f.not_before_ms,
        },
        state,
        attempt: f.attempt,
        failures: f.failures,
        redispatches: f.redispatches,
        token: f.token.map(|(epoch, attempt)| Token { epoch, attempt }),
        holder: f.holder.map(|(executor, incarnation)| Holder { executor: executor.into(), incarnation }),
        reason: f.reason.map(str::to_string),
        effect_unknown: f.effect_unknown,
        finished_at_ms: f.finished_at_ms,
        check_only: f.check_only,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TaskRecord {
        let spec = TaskSpec {
            key: "k".into(),
            payload: b"{\"duration_ms\":10}".to_vec(),
            max_attempts: 3,
            timeout_ms: 1_000,
            not_before_ms: 0,
        };
        TaskRecord::new("t1-1".into(), spec)
    }

    fn full() -> TaskRecord {
        let mut record = small();
        record.spec.not_before_ms = 5;
        record.state = TaskState::Running;
        record.attempt = 2;
        record.failures = 1;
        record.redispatches = 4;
        record.token = Some(Token { epoch: 300, attempt: 2 });
        record.holder = Some(Holder { executor: "exec-1".into(), incarnation: u64::MAX });
        record.reason = Some("attempt 1 failed: timed out".into());
        record.effect_unknown = true;
        record.finished_at_ms = Some(1_796_665_176_520);
        record.check_only = true;
        record
    }

    #[test]
    fn every_field_and_state_round_trips() {
        for state in STATES {
            for mut record in [small(), full()] {
                record.state = state;
                assert_eq!(decode(&encode(&record)), Ok(record));
            }
        }
    }

    #[test]
    fn the_encoding_is_pinned() {
        // Changing these bytes breaks every store written before: take a new format byte.
        let bytes = encode(&small());
        let expected: &[u8] = &[
            0xF1, 4, b't', b'1', b'-', b'1', 1, b'k', 18, b'{', b'"', b'd', b'u', b'r', b'a', b't', b'i', b'o', b'n',
            b'_', b'm', b's', b'"', b':', b'1', b'0', b'}', 3, 0xE8, 0x07, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(bytes, expected);
        let json = serde_json::to_vec(&full()).unwrap();
        assert!(encode(&full()).len() * 2 < json.len(), "{} vs {} bytes", encode(&full()).len(), json.len());
    }

    #[test]
    fn a_json_record_of_an_older_version_still_reads() {
        let old = br#"{"id":"t1-1","spec":{"key":"k","payload":"eyJkdXJhdGlvbl9tcyI6MTB9","max_attempts":3,"timeout_ms":1000},"state":"pending","attempt":0,"failures":0,"redispatches":0}"#;
        assert_eq!(decode(old), Ok(small()));
        let full_json = serde_json::to_vec(&full()).unwrap();
        assert_eq!(decode(&full_json), Ok(full()));
    }

    #[test]
    fn a_damaged_record_is_an_error_that_says_what() {
        let bytes = encode(&full());
        assert!(decode(&bytes[..bytes.len() - 1]).unwrap_err().starts_with("a binary task record (0xf1)"));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode(&extra).unwrap_err().contains("1 bytes after its last field"));
        let mut bad_state = encode(&small());
        let at = bad_state.len() - 10; // the state follows the three spec numbers
        assert_eq!(bad_state[at], 0);
        bad_state[at] = 9;
        assert_eq!(decode(&bad_state), Err("unknown task state 9".into()));
        assert!(decode(b"[1]").unwrap_err().contains("unknown record format: first byte 0x5b"));
        assert!(decode(b"{\"id\":").unwrap_err().starts_with("a JSON task record"));
        assert_eq!(decode(b""), Err("an empty value".into()));
    }
}
