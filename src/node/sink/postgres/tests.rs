//! On a real PostgreSQL: `FAULTLINE_TEST_POSTGRES` names a server whose user may create
//! databases (scripts/test starts a throwaway one). Each test works in a database of its own.

use super::*;
use crate::node::sink::cases;
use proptest::prelude::*;

/// A fresh database for `name`: its URL.
fn database(name: &str) -> String {
    let url = std::env::var("FAULTLINE_TEST_POSTGRES")
        .expect("FAULTLINE_TEST_POSTGRES: a PostgreSQL URL (scripts/test starts a server and sets it)");
    let db = format!("ledger_{name}_{}", std::process::id());
    let admin = url.clone();
    let drop_and_create = format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}");
    // The blocking client may not run on a runtime's thread: a plain one.
    std::thread::spawn(move || {
        let mut client = Client::connect(&admin, NoTls).expect("connect to FAULTLINE_TEST_POSTGRES");
        for statement in drop_and_create.split("; ") {
            client.batch_execute(statement).expect("create the test database");
        }
    })
    .join()
    .expect("admin thread");
    match url.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{db}"),
        None => panic!("FAULTLINE_TEST_POSTGRES: expected postgres://user@host:port/db, found {url}"),
    }
}

#[test]
fn an_effect_whose_record_may_be_lost_is_returned_at_the_next_open() {
    let url = database("outbox");
    cases::unrecorded_effects_return_at_the_next_open(|| PostgresLedger::open(&url).unwrap());
}

#[test]
fn what_landed_survives_a_reopen() {
    let url = database("reopen");
    let ledger = cases::what_landed_survives_a_reopen(|| PostgresLedger::open(&url).unwrap());
    assert_eq!(ledger.applied_count(), Ok(1));
}

#[test]
fn the_write_refuses_to_move_a_token_back_or_replace_an_effect() {
    let url = database("guard");
    let ledger = PostgresLedger::open(&url).unwrap();
    cases::the_write_refuses_to_move_a_token_back_or_replace_an_effect(|highest, applied| {
        let applied = applied.map_or((None, None), |(e, a)| (Some(e), Some(a)));
        ledger
            .on_connection(move |client| {
                let values: [&(dyn postgres::types::ToSql + Sync); 5] =
                    [&"k", &highest.0, &highest.1, &applied.0, &applied.1];
                client.execute(sql::WRITE, &values).map_err(text)
            })
            .unwrap()
    });
}

/// Two sinks on one database, racing first applies of the same keys with different tokens:
/// at most one effect per key lands, whatever the interleaving (the loser of an insert race
/// is refused by the guard and may retry).
#[test]
fn two_sinks_sharing_a_database_never_land_two_effects_of_one_key() {
    let url = database("shared");
    let mut a = PostgresLedger::open(&url).unwrap();
    let mut b = PostgresLedger::open(&url).unwrap();
    let race = |ledger: &mut PostgresLedger, epoch: u64| {
        (0..50)
            .map(|k| {
                let key = format!("k{k}");
                (0..5).find_map(|_| ledger.apply(&cases::of(&key, cases::t(epoch, 1))).ok()).expect("a verdict")
            })
            .filter(|v| *v == Verdict::Accepted)
            .count()
    };
    let (landed_a, landed_b) = std::thread::scope(|s| {
        let one = s.spawn(|| race(&mut a, 1));
        let two = s.spawn(|| race(&mut b, 2));
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!(landed_a + landed_b, 50, "each key's effect landed exactly once");
    assert_eq!(a.applied_count(), Ok(50));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    /// The PostgreSQL ledger gives the verdicts of the simulator's in-memory ledger.
    #[test]
    fn it_judges_as_the_in_memory_ledger_does(
        ops in prop::collection::vec((any::<bool>(), 0..3u8, 0..4u64, 0..4u32), 1..60)
    ) {
        let url = database("proptest");
        let mut ledger = PostgresLedger::open(&url).unwrap();
        let landed = cases::judges_as_the_in_memory_ledger(&mut ledger, &ops);
        prop_assert_eq!(ledger.applied_count().unwrap() as usize, landed);
    }
}

/// A row another session holds locked fails the verdict after `PATIENCE` (the executor
/// hears UNAVAILABLE and retries) instead of hanging the sink; once it is free, the key is
/// judged as if nothing happened.
#[test]
fn a_locked_row_fails_the_verdict_in_time_instead_of_hanging_the_sink() {
    let url = database("locked");
    let mut ledger = PostgresLedger::open(&url).unwrap();
    assert_eq!(ledger.apply(&cases::of("k", cases::t(1, 1))), Ok(Verdict::Accepted));
    let (locked, release) = (mpsc::channel(), mpsc::channel::<()>());
    let holder = std::thread::spawn({
        let url = url.clone();
        move || {
            let mut other = Client::connect(&url, NoTls).unwrap();
            let mut tx = other.transaction().unwrap();
            tx.query("SELECT key FROM effects WHERE key = 'k' FOR UPDATE", &[]).unwrap();
            locked.0.send(()).unwrap();
            release.1.recv().unwrap();
            tx.rollback().unwrap();
        }
    });
    locked.1.recv().unwrap();
    let started = crate::node::clock::Stopwatch::start();
    let (answer, answered) = mpsc::channel();
    let refused = std::thread::scope(|s| {
        s.spawn(|| answer.send(ledger.apply(&cases::of("k", cases::t(2, 1)))).unwrap());
        // Without the timeouts the verdict waits for the lock: release it after 3 x PATIENCE.
        let refused = answered.recv_timeout(PATIENCE * 3);
        release.0.send(()).unwrap();
        refused
    });
    let waited = std::time::Duration::from_millis(started.elapsed_ms());
    let refused = refused.expect("no verdict within 3 x PATIENCE: the sink hung on a locked row");
    assert!(refused.as_ref().is_err_and(|e| e.contains("timeout")), "{refused:?}");
    assert!(waited >= PATIENCE, "waited {waited:?}");
    holder.join().unwrap();
    assert_eq!(ledger.apply(&cases::of("k", cases::t(2, 1))), Ok(Verdict::Duplicate));
}
