//! Retention (a part of [`Coordinator`]): a finished task's record and idempotency key stay
//! in the store for `retention_ms` after its outcome is durable (or after a new leader found
//! it finished), then the leader deletes both in one fenced write. The store, and so a new
//! leader's load, holds open work and recent history only. The retention is the idempotency
//! window: a submit of a compacted task's key names a new task.

use super::*;

/// Compactions one tick issues at most; the rest are due at once and go out on the next tick.
const MAX_COMPACTIONS_PER_TICK: usize = 256;

/// What a compaction deletes: a finished task's record and its idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compaction {
    pub task: TaskId,
    pub key: String,
}

impl Coordinator {
    /// `task` is finished and durably so: compact it once the retention has passed.
    pub(super) fn retain(&mut self, now_ms: u64, task: &TaskId) {
        self.expire_at(now_ms.saturating_add(self.cfg.retention_ms), task);
    }

    /// A finished task a new leader loaded: retained until its finish (by the wall clock of
    /// the leader that finished it) plus the retention, or a whole retention from now when
    /// its record says no finish time (written before records carried one).
    pub(super) fn retain_loaded(&mut self, now: Now, task: &TaskId, finished_at_ms: Option<u64>) {
        let left_ms = match finished_at_ms {
            Some(at) => at.saturating_add(self.cfg.retention_ms).saturating_sub(now.wall_ms),
            None => self.cfg.retention_ms,
        };
        self.expire_at(now.mono_ms.saturating_add(left_ms), task);
    }

    fn expire_at(&mut self, due_ms: u64, task: &TaskId) {
        self.expiring.insert((due_ms, task.clone()));
        self.wake_mono(due_ms);
    }

    /// When the first retention ends.
    pub(super) fn next_compaction_ms(&self) -> Option<u64> {
        self.expiring.first().map(|(due_ms, _)| *due_ms)
    }

    /// Deletes the finished tasks whose retention is over, at most
    /// [`MAX_COMPACTIONS_PER_TICK`] of them.
    pub(super) fn compact_due(&mut self, now_ms: u64) {
        for _ in 0..MAX_COMPACTIONS_PER_TICK {
            let Some((due_ms, task)) = self.expiring.first().cloned() else {
                return;
            };
            if due_ms > now_ms {
                return;
            }
            self.expiring.remove(&(due_ms, task.clone()));
            let Some(entry) = self.tasks.get(&task) else {
                continue; // compacted already
            };
            assert!(entry.record.state.is_terminal(), "only a finished task is retained: {task}");
            if entry.writing.is_some() {
                continue; // its compaction is in flight
            }
            let delete = Some(Compaction { task: task.clone(), key: entry.record.spec.key.clone() });
            let write = Write { op: 0, record: None, create_key: false, job: None, delete };
            let op = self.issue(write, Pending::Compact { task: task.clone() });
            self.tasks.get_mut(&task).expect("a retained task is known").writing = Some(op);
        }
    }

    /// The store deleted `task`: forget it, and its key, which now names nothing.
    pub(super) fn compacted(&mut self, epoch: u64, task: &TaskId) {
        let entry = self.tasks.remove(task).expect("a compacted task was known");
        if self.keys.get(&entry.record.spec.key) == Some(task) {
            self.keys.remove(&entry.record.spec.key);
        }
        self.record(EventKind::Compacted { task: task.clone(), epoch });
    }
}

#[cfg(test)]
mod tests;
