//! The sink's durable ledger in SQLite (real build): one row per idempotency key holding
//! the core's [`KeyState`]. Each verdict is one IMMEDIATE transaction of the steps in
//! [`sql`] (read, judge with the core's rule, guarded write, outbox), committed with WAL and
//! `synchronous = FULL`: durable before the sink answers. The guard in the write means even
//! two sink processes sharing one file could not accept two effects or move a key's token
//! backwards.
//!
//! The outbox flag of an accepted effect is set in the next verdict's transaction (no
//! fsync of its own). A restarted sink records the rows still at 0 as `apply_recovered`,
//! so a SIGKILL between the commit and the record loses nothing.

use super::{sql, ApplyOf, Ledger, Unrecorded};
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

    /// One verdict in one IMMEDIATE transaction ([`sql::judge`]), committed; flags the keys
    /// recorded since the last commit in the same transaction.
    fn judge<T>(
        &mut self,
        key: &str,
        by: Option<(&str, &str)>,
        rule: impl FnOnce(&mut KeyState) -> T,
    ) -> Result<T, String> {
        let recorded = std::mem::take(&mut self.recorded);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| e.to_string())?;
        let mut steps = Steps(tx);
        let out = sql::judge(&mut steps, recorded, key, by, rule)?;
        steps.0.commit().map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// A verdict's steps in SQLite's SQL.
struct Steps<'c>(rusqlite::Transaction<'c>);

impl sql::Tx for Steps<'_> {
    fn mark_recorded(&mut self, key: &str) -> Result<(), String> {
        self.0.execute("UPDATE effects SET recorded = 1 WHERE key = ?1", [key]).map(drop).map_err(|e| e.to_string())
    }

    fn read(&mut self, key: &str) -> Result<Option<KeyState>, String> {
        let select =
            "SELECT highest_epoch, highest_attempt, applied_epoch, applied_attempt FROM effects WHERE key = ?1";
        let read = |r: &rusqlite::Row| Ok(sql::state((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)));
        self.0.query_row(select, [key], read).optional().map_err(|e| e.to_string())
    }

    fn write(&mut self, row: &sql::Row) -> Result<u64, String> {
        let values = params![row.key, row.highest.0, row.highest.1, row.applied.0, row.applied.1];
        self.0.execute(sql::WRITE, values).map(|n| n as u64).map_err(|e| e.to_string())
    }

    fn outbox(&mut self, key: &str, task: &str, executor: &str) -> Result<(), String> {
        let outbox = "UPDATE effects SET task = ?2, executor = ?3, recorded = 0 WHERE key = ?1";
        self.0.execute(outbox, params![key, task, executor]).map(drop).map_err(|e| e.to_string())
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
            Ok(Unrecorded {
                key: r.get(0)?,
                token: sql::token(r.get(1)?, r.get(2)?),
                task: r.get(3)?,
                executor: r.get(4)?,
            })
        });
        rows.and_then(|rows| rows.collect()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::sink::cases;
    use proptest::prelude::*;

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("faultline-ledger-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("sink.sqlite3")
    }

    #[test]
    fn an_effect_whose_record_may_be_lost_is_returned_at_the_next_open() {
        let path = temp("outbox");
        cases::unrecorded_effects_return_at_the_next_open(|| SqliteLedger::open(&path).unwrap());
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn what_landed_survives_a_reopen() {
        let path = temp("reopen");
        let ledger = cases::what_landed_survives_a_reopen(|| SqliteLedger::open(&path).unwrap());
        assert_eq!(ledger.applied_count(), Ok(1));
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_write_refuses_to_move_a_token_back_or_replace_an_effect() {
        let path = temp("guard");
        let ledger = SqliteLedger::open(&path).unwrap();
        cases::the_write_refuses_to_move_a_token_back_or_replace_an_effect(|(e, a), applied| {
            let (ae, aa) = applied.map_or((None, None), |(e, a)| (Some(e), Some(a)));
            ledger.conn.execute(sql::WRITE, params!["k", e, a, ae, aa]).unwrap() as u64
        });
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
            let landed = cases::judges_as_the_in_memory_ledger(&mut sql, &ops);
            prop_assert_eq!(sql.applied_count().unwrap() as usize, landed);
        }
    }
}
