//! The catalog's coordinator bugs (simulation builds only; see `crate::bugs`).

use super::*;

impl Coordinator {
    /// Whether a record loaded at failover is left alone instead of queued or watched:
    /// a retry waiting in the old leader's memory (`RetryRingInMemory`), or an assignment
    /// whose holder nobody watches (`FailoverForgetsHolders`).
    pub(super) fn buggy_load(&self, record: &TaskRecord) -> bool {
        use crate::bugs::Bug;
        let bugs = self.cfg.bugs;
        let on = |bug| bugs.on(bug);
        let waiting_retry = record.state == TaskState::Pending && record.failures > 0;
        let held = matches!(record.state, TaskState::Assigned | TaskState::Running) && record.holder.is_some();
        (waiting_retry && on(Bug::RetryRingInMemory)) || (held && on(Bug::FailoverForgetsHolders))
    }

    /// `MisfireSkip`: drops the retries found later than the misfire threshold.
    pub(super) fn buggy_misfires(&mut self, now_ms: u64) {
        use crate::bugs::{Bug, MISFIRE_THRESHOLD_MS};
        if !self.cfg.bugs.on(Bug::MisfireSkip) {
            return;
        }
        let late: Vec<Ready> = self
            .ready
            .iter()
            .filter(|item| item.at_ms + MISFIRE_THRESHOLD_MS < now_ms)
            .filter(|item| self.tasks[&item.task].record.failures > 0)
            .cloned()
            .collect();
        for item in late {
            self.ready.remove(&item);
        }
    }

    /// `RequeueRunningOnly`: forgets an unconfirmed assignment of a dead executor.
    pub(super) fn buggy_drop_unconfirmed(&mut self, executor: &str, task: &TaskId) -> bool {
        use crate::bugs::Bug;
        let bugs = self.cfg.bugs;
        let on = |bug| bugs.on(bug);
        let entry = self.tasks.get_mut(task).expect("a held task is known");
        if !on(Bug::RequeueRunningOnly) || entry.record.state != TaskState::Assigned {
            return false;
        }
        Self::clear_assignment(&mut entry.record);
        if let Some(ex) = self.executors.get_mut(executor) {
            ex.holding.remove(task);
        }
        true
    }
}
