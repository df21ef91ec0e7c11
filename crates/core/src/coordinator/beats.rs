//! Heartbeats (a part of [`Coordinator`]): an executor registers or restarts, reports what
//! finished, and is handed the assignments written for it.

use super::*;

impl Coordinator {
    /// An executor's heartbeat. Its answer comes as an [`Output::BeatReply`] (`None` when
    /// not leading) at the head of the queue, ahead of every output not yet carried out:
    /// it promises nothing a queued write would make durable (an assignment is delivered
    /// only once its write was confirmed, a completion acknowledged only once recorded), so
    /// an executor's liveness never waits behind the store or other clients' replies.
    pub fn heartbeat(&mut self, now: Now, req: u64, beat: Beat) {
        let reply = self.reply_to(now, beat);
        self.out.push_front(Output::BeatReply { req, reply });
    }

    fn reply_to(&mut self, now: Now, beat: Beat) -> Option<BeatReply> {
        self.wall_ms = now.wall_ms;
        let now_ms = now.mono_ms;
        let epoch = self.epoch?;
        let mut reply = BeatReply { epoch, ..BeatReply::default() };
        self.take_completions(now_ms, &beat, &mut reply);
        if self.retired.contains(&(beat.executor.clone(), beat.incarnation)) {
            reply.cancel = beat.held.iter().map(|(t, _)| t.clone()).collect();
            return Some(reply);
        }
        let seen = self.executors.get(&beat.executor).filter(|e| e.incarnation == beat.incarnation);
        if seen.is_some_and(|e| beat.seq <= e.last_seq) {
            // A duplicated or overtaken beat: its view of what the executor holds is not the
            // newest, and whatever its reply carried would likely never be read.
            return Some(reply);
        }
        self.register(now_ms, &beat);
        self.release_quarantines(now_ms);
        self.reconcile_held(&beat, &mut reply);
        self.assign(now_ms, &beat);
        self.deliver(&beat, &mut reply);
        let holding = &self.executors[&beat.executor].holding;
        reply.pending = holding.iter().filter(|t| self.tasks[*t].delivered_at_seq.is_none()).count() as u32;
        Some(reply)
    }

    pub(super) fn register(&mut self, now_ms: u64, beat: &Beat) {
        let known = self.executors.get(&beat.executor).map(|e| (e.incarnation, e.alive));
        let restarted = known.filter(|(old, _)| *old != beat.incarnation);
        let mut own = Vec::new();
        if let Some((old, alive)) = restarted {
            // Tasks a new leader loaded under this beat's incarnation beside the old one's
            // (`become_leader`) are this incarnation's: not taken back with the old one's.
            own = self.take_held_by(&beat.executor, beat.incarnation);
            if alive {
                self.declare_dead(now_ms, &beat.executor, "restarted with a new incarnation");
            }
            self.retired.insert((beat.executor.clone(), old));
            self.executors.remove(&beat.executor);
        }
        let ex =
            self.executors.entry(beat.executor.clone()).or_insert_with(|| ExecutorEntry::new(beat.incarnation, now_ms));
        ex.holding.extend(own);
        ex.alive = true;
        ex.last_seq = beat.seq;
        ex.last_seen_ms = now_ms;
        ex.zone.clone_from(&beat.zone);
        ex.capacity = beat.capacity;
        let dead_at = now_ms + self.cfg.dead_after_ms() + 1;
        self.wake_mono(dead_at);
        if restarted.is_some() {
            self.note_restart(now_ms, &beat.executor);
        }
    }

    /// Takes out of `executor`'s entry the tasks whose record names `incarnation` as holder.
    fn take_held_by(&mut self, executor: &str, incarnation: u64) -> Vec<TaskId> {
        let tasks = &self.tasks;
        let Some(ex) = self.executors.get_mut(executor) else {
            return Vec::new();
        };
        let holds = |task: &&TaskId| tasks[*task].record.holder.as_ref().is_some_and(|h| h.incarnation == incarnation);
        let own: Vec<TaskId> = ex.holding.iter().filter(holds).cloned().collect();
        for task in &own {
            ex.holding.remove(task);
        }
        own
    }

    /// Records the beat's live completions; the beat's zone is where they ran.
    pub(super) fn take_completions(&mut self, now_ms: u64, beat: &Beat, reply: &mut BeatReply) {
        for c in &beat.completed {
            let Some(entry) = self.tasks.get(&c.task) else {
                reply.done.push(c.task.clone());
                continue;
            };
            #[allow(unused_mut)]
            let mut durable = entry.writing.is_none();
            #[cfg(madsim)]
            if self.cfg.bugs.on(crate::bugs::Bug::DoneBeforeDurable) {
                durable = true;
            }
            if !durable {
                // Not durable yet: the executor must keep reporting it, or a leader crash
                // now would lose the outcome.
                continue;
            }
            let live = entry.record.token == Some(c.token)
                && matches!(entry.record.state, TaskState::Assigned | TaskState::Running);
            if live {
                self.finish_attempt(now_ms, c, &beat.zone);
            } else {
                reply.done.push(c.task.clone()); // recorded already, or stale
            }
        }
    }

    pub(super) fn finish_attempt(&mut self, now_ms: u64, c: &Completion, zone: &str) {
        let entry = self.tasks.get_mut(&c.task).expect("completion of a known task");
        let holder = entry.record.holder.take().expect("live attempts have a holder");
        entry.record.token = None;
        let (event, ready_at_ms) = match &c.outcome {
            Outcome::Succeeded => {
                entry.record.state = TaskState::Succeeded;
                entry.record.finished_at_ms = Some(self.wall_ms);
                entry.record.reason = None;
                (EventKind::Succeeded { task: c.task.clone(), epoch: c.token.epoch, attempt: c.token.attempt }, 0)
            }
            failed => {
                let attempt = c.token.attempt;
                let reason = match failed {
                    Outcome::Failed(why) => format!("attempt {attempt} failed: {why}"),
                    Outcome::Unknown(why) => format!("attempt {attempt} has no verdict from the sink: {why}"),
                    _ => format!("attempt {attempt} timed out after {} ms", entry.record.spec.timeout_ms),
                };
                // An unknown outcome is not a failure of the task: its effect may have landed.
                // Any other outcome of an attempt told to check first settles it: the sink
                // answered that no effect had landed, and fenced every older attempt.
                #[allow(unused_mut)]
                let mut unknown = matches!(failed, Outcome::Unknown(_));
                #[cfg(madsim)]
                if self.cfg.bugs.on(crate::bugs::Bug::DeadLetterUnknownOutcome) {
                    unknown = false;
                }
                entry.record.effect_unknown = unknown;
                if !unknown {
                    entry.record.failures += 1;
                }
                entry.record.reason = Some(reason.clone());
                // A check-only attempt that heard a verdict settles a task taken back too often.
                let gave_up = entry.record.check_only && !unknown;
                let out_of_attempts = entry.record.failures >= entry.record.spec.max_attempts;
                if gave_up || out_of_attempts {
                    let reason = match gave_up {
                        true => format!("taken back {} times; {reason}", entry.record.redispatches),
                        false => format!(
                            "{} of {} attempts failed; last: {reason}",
                            entry.record.failures, entry.record.spec.max_attempts
                        ),
                    };
                    entry.record.state = TaskState::DeadLettered;
                    entry.record.finished_at_ms = Some(self.wall_ms);
                    entry.record.reason = Some(reason.clone());
                    (EventKind::DeadLettered { task: c.task.clone(), reason: reason.into() }, 0)
                } else {
                    entry.record.state = TaskState::Pending;
                    let unit: f64 = self.rng.gen_range(0.0..1.0);
                    // Retries of unknown outcomes back off by attempts, so they slow down too.
                    let tries = if unknown { entry.record.attempt } else { entry.record.failures };
                    let backoff_ms = self.cfg.retry.backoff_ms(tries, unit);
                    let failures = entry.record.failures;
                    (
                        EventKind::Retry { task: c.task.clone(), failures, backoff_ms, reason: reason.into() },
                        now_ms + backoff_ms,
                    )
                }
            }
        };
        if entry.record.state.is_terminal() {
            self.open -= 1;
        }
        if let Some(ex) = self.executors.get_mut(&holder.executor) {
            ex.holding.remove(&c.task);
        }
        let record = entry.record.clone();
        let op = self.write(record, false, Pending::Outcome { task: c.task.clone(), event, ready_at_ms });
        self.tasks.get_mut(&c.task).expect("known task").writing = Some(op);
        let failed = c.outcome != Outcome::Succeeded;
        if failed {
            self.avoid_zone(&c.task, zone);
        }
        self.note_attempt(now_ms, &holder.executor, failed);
    }

    /// Compares what the executor says it holds with what this leader gave it: cancels
    /// what it should not hold, takes back delivered assignments it does not hold.
    pub(super) fn reconcile_held(&mut self, beat: &Beat, reply: &mut BeatReply) {
        let me = Holder { executor: beat.executor.clone(), incarnation: beat.incarnation };
        for (task, token) in &beat.held {
            match self.tasks.get_mut(task) {
                Some(e) if e.record.holder.as_ref() == Some(&me) && e.record.token == Some(*token) => {
                    if e.record.state == TaskState::Assigned {
                        e.record.state = TaskState::Running;
                    }
                }
                _ => reply.cancel.push(task.clone()),
            }
        }
        #[cfg(madsim)]
        if self.cfg.bugs.on(crate::bugs::Bug::LostReplyHoldsTask) {
            return; // a beating executor is trusted to hold what it was given
        }
        // What the beat reports, as a set: compared task by task, a beat of n held tasks
        // made n * n string comparisons (faultline issue 16).
        let reported: rustc_hash::FxHashSet<&str> = // looked up only
            beat.held.iter().map(|(t, _)| t.as_str()).chain(beat.completed.iter().map(|c| c.task.as_str())).collect();
        let lost: Vec<TaskId> = self.executors[&beat.executor]
            .holding
            .iter()
            .filter(|task| {
                let delivered_before = self.tasks[*task].delivered_at_seq.is_some_and(|s| s < beat.seq);
                delivered_before && !reported.contains(task.as_str())
            })
            .cloned()
            .collect();
        for task in lost {
            self.take_back(&beat.executor, &task); // its assignment was lost
        }
    }

    /// Fills the beating executor's free slots from the ready queue, unless it is quarantined
    /// or its zone just lost an executor and another zone has room (see [`IsolationConfig`]).
    pub(super) fn assign(&mut self, now_ms: u64, beat: &Beat) {
        let epoch = self.epoch.expect("assigning while leading");
        if self.is_quarantined(&beat.executor) || self.zone_recently_lost(now_ms, &beat.zone) {
            return;
        }
        let ex = &self.executors[&beat.executor];
        let busy = ex.holding.len();
        let free = (beat.capacity as usize).saturating_sub(busy).min(self.cfg.max_assignments_per_beat as usize);
        #[cfg(madsim)]
        self.buggy_misfires(now_ms);
        for first in self.pick_ready(now_ms, &beat.zone, free) {
            self.ready.remove(&first);
            let task = first.task;
            let entry = self.tasks.get_mut(&task).expect("ready task is known");
            assert_eq!(entry.record.state, TaskState::Pending, "only a pending task is ready: {task}");
            entry.record.attempt += 1;
            let token = Token { epoch, attempt: entry.record.attempt };
            entry.record.state = TaskState::Assigned;
            entry.record.token = Some(token);
            entry.record.holder = Some(Holder { executor: beat.executor.clone(), incarnation: beat.incarnation });
            entry.delivered_at_seq = None;
            let record = entry.record.clone();
            self.executors.get_mut(&beat.executor).expect("registered").holding.insert(task.clone());
            let op = self.write(record, false, Pending::Assign { task: task.clone(), token });
            self.tasks.get_mut(&task).expect("known task").writing = Some(op);
        }
    }

    pub(super) fn deliver(&mut self, beat: &Beat, reply: &mut BeatReply) {
        let outbox = std::mem::take(&mut self.executors.get_mut(&beat.executor).expect("registered").outbox);
        for task in outbox {
            let entry = self.tasks.get_mut(&task).expect("outbox task is known");
            let token = entry.record.token.expect("outbox tasks are assigned");
            // An assignment is delivered only once the store confirmed it, under this term,
            // to the executor it was written for.
            assert!(entry.record.state == TaskState::Assigned && entry.writing.is_none(), "{task} undelivered");
            assert_eq!(Some(token.epoch), self.epoch, "{task} delivered under another term's token");
            let holder = entry.record.holder.as_ref().map(|h| (&h.executor, h.incarnation));
            assert_eq!(holder, Some((&beat.executor, beat.incarnation)), "{task} delivered to another holder");
            entry.delivered_at_seq = Some(beat.seq);
            let spec = entry.record.spec.clone();
            let check_only = entry.record.check_only;
            let check_first = entry.record.effect_unknown || check_only;
            reply.assignments.push(Assignment { task: task.clone(), token, spec, check_first, check_only });
            self.record(EventKind::Dispatch {
                task,
                executor: beat.executor.as_str().into(),
                incarnation: beat.incarnation,
                epoch: token.epoch,
                attempt: token.attempt,
            });
        }
    }
}

#[cfg(test)]
mod tests;
