//! The effect sink's ledger: where "ran twice" is decided. It fences by token and keeps
//! one effect per task.

use crate::Token;
pub use faultline_model::trace::Checked;
use faultline_model::trace::Verdict;

/// One key's fencing state: all a sink must keep durable to judge the key's next apply.
/// A durable sink (the real build's SQLite ledger) loads it, judges with the same methods
/// as the in-memory ledger, and writes it back.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyState {
    /// The highest token seen (applied or checked).
    pub highest: Token,
    /// The token whose effect landed.
    pub applied: Option<Token>,
}

impl KeyState {
    /// Judges one apply under `token`: accepted only if the token is not older than any
    /// seen and no effect landed yet.
    pub fn apply(&mut self, token: Token) -> Verdict {
        if token < self.highest {
            return Verdict::Stale;
        }
        self.highest = token;
        if self.applied.is_some() {
            // Either another attempt's effect landed, or this attempt retried after a lost
            // reply: in both cases the effect must not land a second time.
            return Verdict::Duplicate;
        }
        self.applied = Some(token);
        Verdict::Accepted
    }

    /// Whether the effect landed, asked under `token`: like an apply that lands nothing,
    /// it fences every older token.
    pub fn check(&mut self, token: Token) -> Checked {
        if token < self.highest {
            return Checked::Stale;
        }
        self.highest = token;
        if self.applied.is_some() {
            Checked::Landed
        } else {
            Checked::Absent
        }
    }
}

/// Per idempotency key: the highest token seen and the token whose effect landed.
/// An apply is accepted only if its token is not older than any seen for the key and no
/// effect has landed yet; every apply is judged, none is silently dropped.
#[derive(Clone, Debug, Default)]
pub struct SinkLedger {
    /// Looked up and counted, never walked in order: a hash map (a B-tree search compared
    /// ~14 keys per apply; faultline issue 16).
    keys: rustc_hash::FxHashMap<String, KeyState>,
    /// Known bugs switched on (simulation only; see `crate::bugs`).
    #[cfg_attr(not(madsim), allow(dead_code))]
    bugs: crate::bugs::BugSet,
}

impl SinkLedger {
    pub fn new() -> Self {
        Self::default()
    }

    /// A ledger with known bugs switched on.
    pub fn with_bugs(bugs: crate::bugs::BugSet) -> Self {
        SinkLedger { bugs, ..Self::default() }
    }

    /// Judges one apply of `key`'s effect under `token`.
    pub fn apply(&mut self, key: &str, token: Token) -> Verdict {
        #[cfg(madsim)]
        let bugs = self.bugs;
        let state = self.state(key);
        #[cfg(madsim)]
        if let Some(verdict) = buggy_apply(bugs, state, token) {
            return verdict;
        }
        state.apply(token)
    }

    /// Whether `key`'s effect landed, asked under `token`: like an apply that lands nothing,
    /// it fences every older token, so once it answers `Absent` no earlier attempt's apply
    /// can land any more.
    pub fn check(&mut self, key: &str, token: Token) -> Checked {
        self.state(key).check(token)
    }

    fn state(&mut self, key: &str) -> &mut KeyState {
        if !self.keys.contains_key(key) {
            self.keys.insert(key.to_string(), KeyState::default());
        }
        self.keys.get_mut(key).expect("inserted above")
    }

    /// Effects that landed.
    pub fn applied_count(&self) -> usize {
        self.keys.values().filter(|s| s.applied.is_some()).count()
    }
}

/// The catalog's sink bugs (simulation builds only): `None` when none is switched on.
#[cfg(madsim)]
fn buggy_apply(bugs: crate::bugs::BugSet, state: &mut KeyState, token: Token) -> Option<Verdict> {
    use crate::bugs::Bug;
    let on = |bug| bugs.on(bug);
    if on(Bug::NoSinkFencing) {
        state.applied = Some(token);
        return Some(Verdict::Accepted);
    }
    if on(Bug::IdempotencyPerAttempt) {
        if state.applied == Some(token) {
            return Some(Verdict::Duplicate);
        }
        state.applied = Some(token);
        return Some(Verdict::Accepted);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(epoch: u64, attempt: u32) -> Token {
        Token { epoch, attempt }
    }

    #[test]
    fn first_apply_lands_and_later_ones_are_fenced() {
        let mut sink = SinkLedger::new();
        assert_eq!(sink.apply("k", t(2, 1)), Verdict::Accepted);
        assert_eq!(sink.apply("k", t(2, 2)), Verdict::Duplicate);
        assert_eq!(sink.apply("k", t(2, 1)), Verdict::Stale);
        assert_eq!(sink.apply("k", t(1, 9)), Verdict::Stale);
        assert_eq!(sink.applied_count(), 1);
    }

    #[test]
    fn a_newer_epoch_beats_a_higher_attempt() {
        let mut sink = SinkLedger::new();
        assert_eq!(sink.apply("k", t(3, 1)), Verdict::Accepted);
        assert_eq!(sink.apply("k", t(2, 7)), Verdict::Stale);
    }

    #[test]
    fn an_attempt_retrying_its_apply_hears_duplicate_not_stale() {
        let mut sink = SinkLedger::new();
        assert_eq!(sink.apply("k", t(2, 1)), Verdict::Accepted);
        assert_eq!(sink.apply("k", t(2, 1)), Verdict::Duplicate, "the same token again: its reply was lost");
    }

    #[test]
    fn a_check_says_whether_the_effect_landed_and_fences_older_tokens() {
        let mut sink = SinkLedger::new();
        assert_eq!(sink.check("k", t(2, 2)), Checked::Absent);
        assert_eq!(sink.check("k", t(2, 2)), Checked::Absent, "the same token may ask again");
        // The older attempt wakes up after the check: it must not land any more.
        assert_eq!(sink.apply("k", t(2, 1)), Verdict::Stale);
        assert_eq!(sink.check("k", t(2, 1)), Checked::Stale);
        assert_eq!(sink.apply("k", t(2, 2)), Verdict::Accepted);
        assert_eq!(sink.check("k", t(2, 3)), Checked::Landed);
        assert_eq!(sink.applied_count(), 1);
    }

    #[test]
    fn keys_are_independent() {
        let mut sink = SinkLedger::new();
        assert_eq!(sink.apply("a", t(1, 1)), Verdict::Accepted);
        assert_eq!(sink.apply("b", t(1, 1)), Verdict::Accepted);
        assert_eq!(sink.applied_count(), 2);
    }
}
