//! Test cases every durable ledger must pass, run by each database's tests with a way to
//! open (and reopen) one of its ledgers. `Raw` writes a row with the database's guarded
//! write directly: how many rows it changed.

use super::{ApplyOf, Ledger, Unrecorded};
use crate::core::sink::{Checked, SinkLedger};
use crate::core::Token;
use crate::trace::Verdict;

pub fn t(epoch: u64, attempt: u32) -> Token {
    Token { epoch, attempt }
}

pub fn of(key: &str, token: Token) -> ApplyOf<'_> {
    ApplyOf { key, token, task: "t1", executor: "exec-1" }
}

/// The outbox: an effect committed but never said recorded is returned at the next open (a
/// SIGKILL between the commit and the record); once recorded, it is not.
pub fn unrecorded_effects_return_at_the_next_open<L: Ledger>(open: impl Fn() -> L) {
    let mut ledger = open();
    assert_eq!(ledger.apply(&of("a", t(1, 1))), Ok(Verdict::Accepted));
    assert_eq!(ledger.apply(&of("b", t(1, 2))), Ok(Verdict::Accepted));
    ledger.recorded("a");
    assert_eq!(ledger.check("c", t(1, 1)), Ok(Checked::Absent), "a later commit flags a");
    drop(ledger); // "b" was never said recorded: the process died before its event
    let mut ledger = open();
    let b = Unrecorded { key: "b".into(), token: t(1, 2), task: "t1".into(), executor: "exec-1".into() };
    assert_eq!(ledger.unrecorded(), Ok(vec![b]));
    assert_eq!(ledger.apply(&of("b", t(1, 2))), Ok(Verdict::Duplicate), "a duplicate does not re-open it");
    ledger.recorded("b");
    assert_eq!(ledger.check("c", t(1, 1)), Ok(Checked::Absent));
    drop(ledger);
    assert_eq!(open().unrecorded(), Ok(vec![]));
}

/// Effects and fences survive a reopen; returns the reopened ledger (one effect landed).
pub fn what_landed_survives_a_reopen<L: Ledger>(open: impl Fn() -> L) -> L {
    let mut ledger = open();
    assert_eq!(ledger.apply(&of("k", t(2, 1))), Ok(Verdict::Accepted));
    assert_eq!(ledger.check("j", t(3, 4)), Ok(Checked::Absent));
    drop(ledger);
    let mut ledger = open();
    assert_eq!(ledger.apply(&of("k", t(2, 1))), Ok(Verdict::Duplicate), "its reply was lost: the same token again");
    assert_eq!(ledger.apply(&of("k", t(3, 1))), Ok(Verdict::Duplicate));
    assert_eq!(ledger.apply(&of("j", t(3, 3))), Ok(Verdict::Stale), "the check fenced older tokens, durably");
    ledger
}

/// The write's own guard: a row that moved on under the writer is not overwritten.
/// `write(highest, applied)` runs the database's guarded write for key "k".
pub fn the_write_refuses_to_move_a_token_back_or_replace_an_effect(
    mut write: impl FnMut((i64, i64), Option<(i64, i64)>) -> u64,
) {
    assert_eq!(write((5, 1), Some((5, 1))), 1);
    assert_eq!(write((4, 9), None), 0, "an older highest token");
    assert_eq!(write((6, 1), Some((6, 1))), 0, "another attempt's effect");
    assert_eq!(write((6, 1), Some((5, 1))), 1, "a newer token that keeps the effect");
}

/// The ledger gives the in-memory ledger's verdicts for `ops` (apply?, key, epoch,
/// attempt); returns how many effects the in-memory one holds.
pub fn judges_as_the_in_memory_ledger(ledger: &mut dyn Ledger, ops: &[(bool, u8, u64, u32)]) -> usize {
    let mut mem = SinkLedger::new();
    for &(apply, key, epoch, attempt) in ops {
        let (key, token) = (format!("k{key}"), t(epoch, attempt));
        if apply {
            assert_eq!(ledger.apply(&of(&key, token)), Ok(mem.apply(&key, token)), "apply {key} {token:?}");
        } else {
            assert_eq!(ledger.check(&key, token), Ok(mem.check(&key, token)), "check {key} {token:?}");
        }
    }
    mem.applied_count()
}
