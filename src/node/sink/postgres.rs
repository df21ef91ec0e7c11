//! The sink's durable ledger in PostgreSQL (real build), for a user who has one (backed up,
//! replicated, watched): the same table and the same verdict steps as the SQLite ledger
//! ([`sql`]), each verdict one READ COMMITTED transaction that locks the key's row (`FOR
//! UPDATE`) and commits before the sink answers (durable with PostgreSQL's default
//! `synchronous_commit = on`). The guarded upsert means several sink processes may share
//! one database: two first applies of one key race on the insert, and the loser's guard
//! refuses it (the sink answers UNAVAILABLE; the executor retries and hears the verdict).
//!
//! The `postgres` crate's client blocks on a runtime of its own, which a tokio worker may
//! not do, so the connection lives on a thread of its own and each verdict is sent to it.
//! A lost connection is opened again at the next verdict (that verdict's caller hears
//! UNAVAILABLE if it cannot be).

use super::{sql, ApplyOf, Ledger, Unrecorded};
use crate::core::sink::{Checked, KeyState};
use crate::core::Token;
use crate::trace::Verdict;
use postgres::{Client, IsolationLevel, NoTls};
use std::sync::mpsc;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY NOT NULL,
    highest_epoch BIGINT NOT NULL,
    highest_attempt BIGINT NOT NULL,
    applied_epoch BIGINT,
    applied_attempt BIGINT,
    task TEXT,
    executor TEXT,
    recorded BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX IF NOT EXISTS unrecorded ON effects (key) WHERE NOT recorded";

type Job = Box<dyn FnOnce(&mut Option<Client>) + Send>;

pub struct PostgresLedger {
    jobs: mpsc::Sender<Job>,
    /// Keys whose accepted `apply` is recorded, to flag in the next transaction.
    recorded: Vec<String>,
}

fn text(e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {}", db.message()),
        None => match std::error::Error::source(&e) {
            Some(cause) => format!("PostgreSQL: {e}: {cause}"),
            None => format!("PostgreSQL: {e}"),
        },
    }
}

/// How long opening a connection, or one statement (its lock waits included), may take
/// before the verdict fails and the executor hears UNAVAILABLE (and retries): a database that
/// hangs must not hang the sink.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// The connection, opened again if it was lost.
fn connected<'c>(conn: &'c mut Option<Client>, url: &str) -> Result<&'c mut Client, String> {
    if conn.as_ref().is_none_or(Client::is_closed) {
        *conn = None;
        let mut config: postgres::Config = url.parse().map_err(text)?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(PATIENCE);
        }
        let mut client = config.connect(NoTls).map_err(text)?;
        let ms = PATIENCE.as_millis();
        client.batch_execute(&format!("SET statement_timeout = {ms}; SET lock_timeout = {ms}")).map_err(text)?;
        client.batch_execute(SCHEMA).map_err(text)?;
        *conn = Some(client);
    }
    Ok(conn.as_mut().expect("just connected"))
}

impl PostgresLedger {
    /// Connects to `url` (`postgres://user@host:port/db`; libpq's key=value form also
    /// works) and creates the table if it is absent.
    pub fn open(url: &str) -> Result<Self, String> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let url = url.to_string();
        let (ready, opened) = mpsc::channel();
        std::thread::Builder::new()
            .name("sink-postgres".into())
            .spawn(move || {
                let mut conn = None;
                let _ = ready.send(connected(&mut conn, &url).map(drop));
                for job in queue {
                    match connected(&mut conn, &url) {
                        Ok(_) => job(&mut conn),
                        Err(_) => job(&mut None),
                    }
                }
            })
            .map_err(|e| format!("starting the PostgreSQL thread: {e}"))?;
        opened.recv().map_err(|_| "the PostgreSQL thread died".to_string())??;
        Ok(PostgresLedger { jobs, recorded: Vec::new() })
    }

    /// Runs `f` on the connection's thread and waits for its answer.
    fn on_connection<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, String> + Send + 'static,
    ) -> Result<T, String> {
        let (reply, answer) = mpsc::channel();
        let job: Job = Box::new(move |conn| {
            let _ = reply.send(match conn {
                Some(client) => f(client),
                None => Err("PostgreSQL: not connected".to_string()),
            });
        });
        self.jobs.send(job).map_err(|_| "the PostgreSQL thread is gone".to_string())?;
        answer.recv().map_err(|_| "the PostgreSQL thread is gone".to_string())?
    }

    /// One verdict ([`sql::judge`]) in one transaction, committed.
    fn judge<T: Send + 'static>(
        &mut self,
        key: &str,
        by: Option<(&str, &str)>,
        rule: impl FnOnce(&mut KeyState) -> T + Send + 'static,
    ) -> Result<T, String> {
        let recorded = std::mem::take(&mut self.recorded);
        let key = key.to_string();
        let by = by.map(|(task, executor)| (task.to_string(), executor.to_string()));
        self.on_connection(move |client| {
            let tx = client.build_transaction().isolation_level(IsolationLevel::ReadCommitted).start().map_err(text)?;
            let mut steps = Steps(tx);
            let by = by.as_ref().map(|(task, executor)| (task.as_str(), executor.as_str()));
            let out = sql::judge(&mut steps, recorded, &key, by, rule)?;
            steps.0.commit().map_err(text)?;
            Ok(out)
        })
    }

    /// Effects that landed.
    pub fn applied_count(&self) -> Result<u64, String> {
        self.on_connection(|client| {
            let row = client.query_one("SELECT COUNT(*) FROM effects WHERE applied_epoch IS NOT NULL", &[]);
            Ok(row.map_err(text)?.get::<_, i64>(0) as u64)
        })
    }
}

/// A verdict's steps in PostgreSQL's SQL.
struct Steps<'c>(postgres::Transaction<'c>);

impl sql::Tx for Steps<'_> {
    fn mark_recorded(&mut self, key: &str) -> Result<(), String> {
        self.0.execute("UPDATE effects SET recorded = TRUE WHERE key = $1", &[&key]).map(drop).map_err(text)
    }

    fn read(&mut self, key: &str) -> Result<Option<KeyState>, String> {
        let select = "SELECT highest_epoch, highest_attempt, applied_epoch, applied_attempt FROM effects
            WHERE key = $1 FOR UPDATE";
        let row = self.0.query_opt(select, &[&key]).map_err(text)?;
        Ok(row.map(|r| sql::state((r.get(0), r.get(1)), (r.get(2), r.get(3)))))
    }

    fn write(&mut self, row: &sql::Row) -> Result<u64, String> {
        let values: [&(dyn postgres::types::ToSql + Sync); 5] =
            [&row.key, &row.highest.0, &row.highest.1, &row.applied.0, &row.applied.1];
        self.0.execute(sql::WRITE, &values).map_err(text)
    }

    fn outbox(&mut self, key: &str, task: &str, executor: &str) -> Result<(), String> {
        let outbox = "UPDATE effects SET task = $2, executor = $3, recorded = FALSE WHERE key = $1";
        self.0.execute(outbox, &[&key, &task, &executor]).map(drop).map_err(text)
    }
}

impl Ledger for PostgresLedger {
    fn apply(&mut self, apply: &ApplyOf) -> Result<Verdict, String> {
        let token = apply.token;
        self.judge(apply.key, Some((apply.task, apply.executor)), move |state| state.apply(token))
    }

    fn check(&mut self, key: &str, token: Token) -> Result<Checked, String> {
        self.judge(key, None, move |state| state.check(token))
    }

    fn recorded(&mut self, key: &str) {
        self.recorded.push(key.to_string());
    }

    fn unrecorded(&mut self) -> Result<Vec<Unrecorded>, String> {
        self.on_connection(|client| {
            let query = "SELECT key, applied_epoch, applied_attempt, task, executor FROM effects
                WHERE NOT recorded ORDER BY key";
            let rows = client.query(query, &[]).map_err(text)?;
            Ok(rows
                .iter()
                .map(|r| Unrecorded {
                    key: r.get(0),
                    token: sql::token(r.get(1), r.get(2)),
                    task: r.get(3),
                    executor: r.get(4),
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests;
