//! What the SQL ledgers (SQLite, PostgreSQL) share: a verdict as the steps of one
//! transaction. Read the key's row, judge it with the core's own rule ([`KeyState`], the
//! code the simulator tests), write it back with a guard that carries the fencing rule
//! itself (the write lands only if the stored highest token is not newer and no other
//! attempt's effect is recorded), and put a newly landed effect in the outbox (its task and
//! executor kept, `recorded = 0`, until the sink says its `apply` event is written). Each
//! database says how to do a step ([`Tx`]) and commits.

use crate::core::sink::KeyState;
use crate::core::Token;

/// The guarded write of a key's state, in the SQL both databases take (`$n` parameters
/// are numbered in order of appearance in SQLite): it lands only if the stored highest
/// token is not newer than the one written and no other attempt's effect is recorded.
pub(super) const WRITE: &str =
    "INSERT INTO effects (key, highest_epoch, highest_attempt, applied_epoch, applied_attempt)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (key) DO UPDATE SET
        highest_epoch = excluded.highest_epoch, highest_attempt = excluded.highest_attempt,
        applied_epoch = excluded.applied_epoch, applied_attempt = excluded.applied_attempt
    WHERE (effects.highest_epoch, effects.highest_attempt) <= (excluded.highest_epoch, excluded.highest_attempt)
      AND (effects.applied_epoch IS NULL
           OR (effects.applied_epoch = excluded.applied_epoch AND effects.applied_attempt = excluded.applied_attempt))";

/// The steps of one verdict's transaction, in one database's SQL.
pub(super) trait Tx {
    /// The key's accepted effect is in the history now.
    fn mark_recorded(&mut self, key: &str) -> Result<(), String>;
    /// The key's state (locked for the transaction where the database locks rows).
    fn read(&mut self, key: &str) -> Result<Option<KeyState>, String>;
    /// The guarded write of `row`; how many rows it changed (0: the guard refused).
    fn write(&mut self, row: &Row) -> Result<u64, String>;
    /// The key's effect landed now, asked for by `task` on `executor`: not yet recorded.
    fn outbox(&mut self, key: &str, task: &str, executor: &str) -> Result<(), String>;
}

/// A key's state as its row stores it (databases store signed 64-bit integers).
pub(super) struct Row<'a> {
    pub key: &'a str,
    pub highest: (i64, i64),
    pub applied: (Option<i64>, Option<i64>),
}

/// A stored (epoch, attempt) pair as a token.
pub(super) fn token(epoch: i64, attempt: i64) -> Token {
    Token { epoch: epoch as u64, attempt: attempt as u32 }
}

/// A stored row's columns as a state.
pub(super) fn state(highest: (i64, i64), applied: (Option<i64>, Option<i64>)) -> KeyState {
    KeyState {
        highest: token(highest.0, highest.1),
        applied: match applied {
            (Some(epoch), Some(attempt)) => Some(token(epoch, attempt)),
            _ => None,
        },
    }
}

/// One verdict inside `tx`: flags the keys `recorded` names, then loads `key`'s state,
/// judges it with `rule`, writes it back if it changed, and puts an effect that lands now
/// (asked for by `by`: task and executor) in the outbox. The caller commits.
pub(super) fn judge<T>(
    tx: &mut dyn Tx,
    recorded: Vec<String>,
    key: &str,
    by: Option<(&str, &str)>,
    rule: impl FnOnce(&mut KeyState) -> T,
) -> Result<T, String> {
    for done in recorded {
        tx.mark_recorded(&done)?;
    }
    let before = tx.read(key)?;
    let mut state = before.unwrap_or_default();
    let out = rule(&mut state);
    if Some(state) != before {
        let epoch = |t: Token| i64::try_from(t.epoch).map_err(|_| format!("epoch {} out of range", t.epoch));
        let applied = match state.applied {
            Some(t) => (Some(epoch(t)?), Some(i64::from(t.attempt))),
            None => (None, None),
        };
        let row = Row { key, highest: (epoch(state.highest)?, i64::from(state.highest.attempt)), applied };
        if tx.write(&row)? != 1 {
            return Err(format!("key {key}: the stored state changed under the write (another writer?)"));
        }
        let landed_now = before.is_none_or(|b| b.applied.is_none()) && state.applied.is_some();
        if let Some((task, executor)) = by.filter(|_| landed_now) {
            tx.outbox(key, task, executor)?;
        }
    }
    Ok(out)
}
