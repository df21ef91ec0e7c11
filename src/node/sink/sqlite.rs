//! The sink's durable ledger in SQLite (real build): one row per idempotency key holding
//! the core's [`KeyState`]. Each verdict is one IMMEDIATE transaction: read the key's
//! state, judge it with the core's own rule (the code the simulator tests), write it back,
//! commit (WAL, `synchronous = FULL`: durable before the sink answers). The write carries
//! the fencing rule itself: it lands only if the stored highest token is not newer than
//! the one written and no other attempt's effect is recorded, so even two sink processes
//! sharing one file could not accept two effects or move a key's token backwards.
//!
//! The outbox: an accepted effect's row keeps its task and executor and `recorded = 0`
//! until the sink says its `apply` event is in the history; the flag is set in the next
//! verdict's transaction (no fsync of its own). A restarted sink records the rows still at
//! 0 as `apply_recovered`, so a SIGKILL between the commit and the record loses nothing.

use super::{ApplyOf, Ledger, Unrecorded};
use crate::core::sink::{Checked, KeyState};
use crate::core::Token;
use crate::trace::Verdict;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

pub struct SqliteLedger {
    conn: Connection,
    /// Keys whose accepted `apply` is recorded, to flag in the next transaction.
    recorded: Vec<String>,
}

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY NOT NULL,
    highest_epoch INTEGER NOT NULL,
    highest_attempt INTEGER NOT NULL,
    applied_epoch INTEGER,
    applied_attempt INTEGER,
    task TEXT,
    executor TEXT,
    recorded INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS unrecorded ON effects (key) WHERE recorded = 0";

/// Writes `state` for `key`, unless the stored row is newer or names another effect.
const WRITE: &str = "INSERT INTO effects (key, highest_epoch, highest_attempt, applied_epoch, applied_attempt)
    VALUES (?1, ?2, ?3, ?4, ?5)
    ON CONFLICT (key) DO UPDATE SET
        highest_epoch = excluded.highest_epoch, highest_attempt = excluded.highest_attempt,
        applied_epoch = excluded.applied_epoch, applied_attempt = excluded.applied_attempt
    WHERE (effects.highest_epoch, effects.highest_attempt) <= (excluded.highest_epoch, excluded.highest_attempt)
      AND (effects.applied_epoch IS NULL
           OR (effects.applied_epoch = excluded.applied_epoch AND effects.applied_attempt = excluded.applied_attempt))";

impl SqliteLedger {
    /// Opens (or creates) the ledger at `path`; `:memory:` keeps it in memory (a restart
    /// forgets it: for tests only).
    pub fn open(path: &Path) -> Result<Self, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        // Another process holding the write lock (a backup, say) delays, never fails, a verdict.
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(SqliteLedger { conn, recorded: Vec::new() })
    }

    /// Effects that landed.
    pub fn applied_count(&self) -> Result<u64, rusqlite::Error> {
        self.conn.query_row("SELECT COUNT(*) FROM effects WHERE applied_epoch IS NOT NULL", [], |r| r.get(0))
    }

    /// Loads `key`'s state, judges it with `rule`, writes it back if it changed (an effect
    /// that lands now is stored with `by`, task and executor, unrecorded), commits. Flags
    /// the keys recorded since the last commit in the same transaction.
    fn judge<T>(
        &mut self,
        key: &str,
        by: Option<(&str, &str)>,
        rule: impl FnOnce(&mut KeyState) -> T,
    ) -> Result<T, String> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| e.to_string())?;
        for done in self.recorded.drain(..) {
            tx.execute("UPDATE effects SET recorded = 1 WHERE key = ?1", [done]).map_err(|e| e.to_string())?;
        }
        let read = |r: &rusqlite::Row| -> rusqlite::Result<KeyState> {
            let token = |epoch: i64, attempt: i64| Token { epoch: epoch as u64, attempt: attempt as u32 };
            let applied: (Option<i64>, Option<i64>) = (r.get(2)?, r.get(3)?);
            Ok(KeyState {
                highest: token(r.get(0)?, r.get(1)?),
                applied: match applied {
                    (Some(epoch), Some(attempt)) => Some(token(epoch, attempt)),
                    _ => None,
                },
            })
        };
        let select =
            "SELECT highest_epoch, highest_attempt, applied_epoch, applied_attempt FROM effects WHERE key = ?1";
        let before = tx.query_row(select, [key], read).optional().map_err(|e| e.to_string())?;
        let mut state = before.unwrap_or_default();
        let out = rule(&mut state);
        if Some(state) != before {
            let epoch = |t: Token| i64::try_from(t.epoch).map_err(|_| format!("epoch {} out of range", t.epoch));
            let (applied_epoch, applied_attempt) = match state.applied {
                Some(t) => (Some(epoch(t)?), Some(i64::from(t.attempt))),
                None => (None, None),
            };
            let row =
                params![key, epoch(state.highest)?, i64::from(state.highest.attempt), applied_epoch, applied_attempt];
            let written = tx.execute(WRITE, row).map_err(|e| e.to_string())?;
            if written != 1 {
                return Err(format!("key {key}: the stored state changed under the write (another writer?)"));
            }
            let landed_now = before.is_none_or(|b| b.applied.is_none()) && state.applied.is_some();
            if let Some((task, executor)) = by.filter(|_| landed_now) {
                let outbox = "UPDATE effects SET task = ?2, executor = ?3, recorded = 0 WHERE key = ?1";
                tx.execute(outbox, params![key, task, executor]).map_err(|e| e.to_string())?;
            }
        }
        tx.commit().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

impl Ledger for SqliteLedger {
    fn apply(&mut self, apply: &ApplyOf) -> Result<Verdict, String> {
        self.judge(apply.key, Some((apply.task, apply.executor)), |state| state.apply(apply.token))
    }

    fn check(&mut self, key: &str, token: Token) -> Result<Checked, String> {
        self.judge(key, None, |state| state.check(token))
    }

    fn recorded(&mut self, key: &str) {
        self.recorded.push(key.to_string());
    }

    fn unrecorded(&mut self) -> Result<Vec<Unrecorded>, String> {
        let query = "SELECT key, applied_epoch, applied_attempt, task, executor FROM effects WHERE recorded = 0";
        let mut statement = self.conn.prepare(query).map_err(|e| e.to_string())?;
        let rows = statement.query_map([], |r| {
            let token = Token { epoch: r.get::<_, i64>(1)? as u64, attempt: r.get::<_, i64>(2)? as u32 };
            Ok(Unrecorded { key: r.get(0)?, token, task: r.get(3)?, executor: r.get(4)? })
        });
        rows.and_then(|rows| rows.collect()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sink::SinkLedger;
    use proptest::prelude::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("faultline-ledger-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("sink.sqlite3")
    }

    fn t(epoch: u64, attempt: u32) -> Token {
        Token { epoch, attempt }
    }

    fn of(key: &str, token: Token) -> ApplyOf<'_> {
        ApplyOf { key, token, task: "t1", executor: "exec-1" }
    }

    /// The outbox: an effect committed but never said recorded is returned at the next
    /// open (a SIGKILL between the commit and the record); once recorded, it is not.
    #[test]
    fn an_effect_whose_record_may_be_lost_is_returned_at_the_next_open() {
        let path = temp("outbox");
        let mut ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.apply(&of("a", t(1, 1))), Ok(Verdict::Accepted));
        assert_eq!(ledger.apply(&of("b", t(1, 2))), Ok(Verdict::Accepted));
        ledger.recorded("a");
        assert_eq!(ledger.check("c", t(1, 1)), Ok(Checked::Absent), "a later commit flags a");
        drop(ledger); // "b" was never said recorded: the process died before its event
        let mut ledger = SqliteLedger::open(&path).unwrap();
        let b = Unrecorded { key: "b".into(), token: t(1, 2), task: "t1".into(), executor: "exec-1".into() };
        assert_eq!(ledger.unrecorded(), Ok(vec![b]));
        assert_eq!(ledger.apply(&of("b", t(1, 2))), Ok(Verdict::Duplicate), "a duplicate does not re-open it");
        ledger.recorded("b");
        assert_eq!(ledger.check("c", t(1, 1)), Ok(Checked::Absent));
        drop(ledger);
        assert_eq!(SqliteLedger::open(&path).unwrap().unrecorded(), Ok(vec![]));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn what_landed_survives_a_reopen() {
        let path = temp("reopen");
        let mut ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.apply(&of("k", t(2, 1))), Ok(Verdict::Accepted));
        assert_eq!(ledger.check("j", t(3, 4)), Ok(Checked::Absent));
        drop(ledger);
        let mut ledger = SqliteLedger::open(&path).unwrap();
        assert_eq!(ledger.apply(&of("k", t(2, 1))), Ok(Verdict::Duplicate), "its reply was lost: the same token again");
        assert_eq!(ledger.apply(&of("k", t(3, 1))), Ok(Verdict::Duplicate));
        assert_eq!(ledger.apply(&of("j", t(3, 3))), Ok(Verdict::Stale), "the check fenced older tokens, durably");
        assert_eq!(ledger.applied_count(), Ok(1));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    /// The write's own guard: a row that moved on under the writer is not overwritten.
    #[test]
    fn the_write_refuses_to_move_a_token_back_or_replace_an_effect() {
        let path = temp("guard");
        let ledger = SqliteLedger::open(&path).unwrap();
        let write = |e: i64, a: i64, applied: Option<(i64, i64)>| {
            let (ae, aa) = applied.map_or((None, None), |(e, a)| (Some(e), Some(a)));
            ledger.conn.execute(WRITE, params!["k", e, a, ae, aa]).unwrap()
        };
        assert_eq!(write(5, 1, Some((5, 1))), 1);
        assert_eq!(write(4, 9, None), 0, "an older highest token");
        assert_eq!(write(6, 1, Some((6, 1))), 0, "another attempt's effect");
        assert_eq!(write(6, 1, Some((5, 1))), 1, "a newer token that keeps the effect");
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        /// The SQLite ledger gives the verdicts of the simulator's in-memory ledger, for any
        /// sequence of applies and checks over a few keys and tokens.
        #[test]
        fn it_judges_as_the_in_memory_ledger_does(
            ops in prop::collection::vec((any::<bool>(), 0..3u8, 0..4u64, 0..4u32), 1..60)
        ) {
            let mut sql = SqliteLedger::open(Path::new(":memory:")).unwrap();
            let mut mem = SinkLedger::new();
            for (apply, key, epoch, attempt) in ops {
                let (key, token) = (format!("k{key}"), t(epoch, attempt));
                if apply {
                    prop_assert_eq!(Ledger::apply(&mut sql, &of(&key, token)), Ok(mem.apply(&key, token)));
                } else {
                    prop_assert_eq!(Ledger::check(&mut sql, &key, token), Ok(mem.check(&key, token)));
                }
            }
            prop_assert_eq!(sql.applied_count().unwrap() as usize, mem.applied_count());
        }
    }
}
