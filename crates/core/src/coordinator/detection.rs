//! Detection and take-back (a part of [`Coordinator`]): time passes, silent executors are
//! declared dead, and what they held goes back to the front of the queue or is
//! dead-lettered.

use super::*;

impl Coordinator {
    /// Time passes: declares silent executors dead and lifts quarantines that ended.
    pub fn tick(&mut self, now: Now) {
        self.wall_ms = now.wall_ms;
        let now_ms = now.mono_ms;
        if self.epoch.is_none() {
            return;
        }
        let dead_after = self.cfg.dead_after_ms();
        let silent: Vec<String> = self
            .executors
            .iter()
            .filter(|(_, e)| e.alive && now_ms.saturating_sub(e.last_seen_ms) > dead_after)
            .map(|(name, _)| name.clone())
            .collect();
        for name in silent {
            let reason = format!("missed {} heartbeats", self.cfg.missed_beats);
            self.declare_dead(now_ms, &name, &reason);
            let zone = &self.executors[&name].zone;
            if self.cfg.isolation.enabled && !zone.is_empty() {
                self.zone_lost_ms.insert(zone.clone(), now_ms);
            }
        }
        self.release_quarantines(now_ms);
        self.fire_due(now.wall_ms);
        self.compact_due(now_ms);
        self.plan_wake();
    }

    /// When the first live executor's silence will exceed the dead-after window.
    pub(super) fn next_death_ms(&self) -> Option<u64> {
        let dead_after = self.cfg.dead_after_ms();
        self.executors.values().filter(|e| e.alive).map(|e| e.last_seen_ms + dead_after + 1).min()
    }

    pub(super) fn declare_dead(&mut self, now_ms: u64, name: &str, reason: &str) {
        let ex = self.executors.get_mut(name).expect("declaring a known executor dead");
        ex.alive = false;
        ex.outbox.clear();
        let incarnation = ex.incarnation;
        let zone = ex.zone.clone();
        let holding: Vec<TaskId> = ex.holding.iter().cloned().collect();
        // One fewer live name may leave too few usable (isolation's cap): tick at once.
        self.wake_mono(now_ms);
        self.record(EventKind::ExecutorDead {
            executor: name.into(),
            incarnation,
            reason: reason.into(),
            tasks: holding.len() as u32,
        });
        for task in &holding {
            self.avoid_zone(task, &zone);
            #[cfg(madsim)]
            if self.buggy_drop_unconfirmed(name, task) {
                continue;
            }
            self.take_back(name, task);
        }
        for _ in &holding {
            self.note_attempt(now_ms, name, true);
        }
    }

    /// Takes an assignment back and queues the task again. Not written to the store: a
    /// new leader re-derives it from the holder's silence or its heartbeat.
    pub(super) fn take_back(&mut self, executor: &str, task: &TaskId) {
        if let Some(ex) = self.executors.get_mut(executor) {
            ex.holding.remove(task);
            ex.outbox.retain(|t| t != task);
        }
        let entry = self.tasks.get_mut(task).expect("taking back a known task");
        Self::clear_assignment(&mut entry.record);
        // The holder may have applied the effect before it fell silent.
        entry.record.effect_unknown = true;
        #[cfg(madsim)]
        if self.cfg.bugs.on(crate::bugs::Bug::DeadLetterUnknownOutcome) {
            entry.record.effect_unknown = false;
        }
        entry.record.redispatches += 1;
        if entry.record.redispatches > self.cfg.max_redispatches {
            // Not dead-lettered on the count: the silent holder may have applied the effect.
            // Its next attempts only ask the sink (see `TaskRecord::check_only`).
            entry.record.check_only = true;
        }
        // It keeps its place in line: at the front of its lane, not behind the backlog
        // that built up while its holder was silent.
        let fire = entry.record.spec.is_fire();
        self.queue(0, task, fire);
    }

    /// Dead-letters an open task (its assignment already cleared) and writes it.
    pub(super) fn dead_letter(&mut self, task: &TaskId, reason: String) {
        let entry = self.tasks.get_mut(task).expect("dead-lettering a known task");
        entry.record.state = TaskState::DeadLettered;
        entry.record.finished_at_ms = Some(self.wall_ms);
        entry.record.reason = Some(reason.clone());
        self.open -= 1;
        let record = entry.record.clone();
        let event = EventKind::DeadLettered { task: task.clone(), reason: reason.into() };
        let op = self.write(record, false, Pending::Outcome { task: task.clone(), event, ready_at_ms: 0 });
        self.tasks.get_mut(task).expect("known task").writing = Some(op);
    }

    pub(super) fn clear_assignment(record: &mut TaskRecord) {
        record.state = TaskState::Pending;
        record.token = None;
        record.holder = None;
    }

    pub(super) fn push_ready(&mut self, at_ms: u64, task: &TaskId) {
        let fire = self.tasks[task].record.spec.is_fire();
        self.queue(at_ms, task, fire);
    }
}

#[cfg(test)]
mod tests;
