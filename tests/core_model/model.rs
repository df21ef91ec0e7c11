//! The model the property drives: one coordinator, its executors, a sink, an in-memory store
//! and a client, wired by plain method calls; each `Step` is one message, fault or passage
//! of time, and `heal_and_check` heals every fault and judges the run.

use super::*;

/// An attempt some executor is running.
#[derive(Clone, Debug)]
struct Attempt {
    executor: usize,
    task: TaskId,
    token: Token,
    key: String,
    /// The sink's verdict, once the effect was applied.
    verdict: Option<Verdict>,
    /// What the sink check found, for an attempt told to check first (done at its start).
    checked: Option<Checked>,
}

struct ExecutorSlot {
    ex: Executor,
    capacity: u32,
    /// The reply to the last beat, not yet delivered. Beats are sequential: sending the
    /// next beat means this one timed out.
    inflight: Option<BeatReply>,
    /// Cut off from the leader: beats go out and are lost.
    partitioned: bool,
    /// Frozen: neither beats nor runs anything.
    paused: bool,
}

struct Leader {
    coord: Coordinator,
    /// Writes the store has not applied yet, in issue order.
    writes: VecDeque<Write>,
}

struct Client {
    specs: Vec<TaskSpec>,
    submitted: BTreeSet<usize>,
    /// Key index -> the task its acknowledgement named.
    acked: BTreeMap<usize, TaskId>,
    /// Outstanding requests: key index, and whether the reply will be lost.
    requests: BTreeMap<u64, (usize, bool)>,
    next_req: u64,
}

struct Model {
    seed: u64,
    /// Known bugs switched on (the catalog search below; none otherwise).
    bugs: BugSet,
    faults: Faults,
    now_ms: u64,
    epoch: u64,
    leader: Option<Leader>,
    store: BTreeMap<TaskId, TaskRecord>,
    /// Every (task, token) the store has ever held.
    durable_tokens: BTreeSet<(TaskId, Token)>,
    executors: Vec<ExecutorSlot>,
    next_incarnation: u64,
    attempts: Vec<Attempt>,
    sink: SinkLedger,
    landed_keys: BTreeSet<String>,
    client: Client,
    /// Tasks with a terminal event in the history.
    terminal: BTreeSet<TaskId>,
    history: Vec<Event>,
}

impl Model {
    fn new(setup: &Setup, bugs: BugSet) -> Self {
        let specs = (setup.max_attempts.iter().enumerate())
            .map(|(i, &max_attempts)| TaskSpec {
                key: format!("k{i}"),
                payload: vec![],
                max_attempts,
                timeout_ms: 1_000,
                not_before_ms: 0,
            })
            .collect();
        let executors = (setup.capacities.iter().enumerate())
            .map(|(i, &capacity)| ExecutorSlot {
                ex: Executor::new(format!("ex{i}"), i as u64 + 1, capacity),
                capacity,
                inflight: None,
                partitioned: false,
                paused: false,
            })
            .collect();
        let mut model = Model {
            seed: setup.seed,
            bugs,
            faults: setup.faults,
            now_ms: 0,
            epoch: 0,
            leader: None,
            store: BTreeMap::new(),
            durable_tokens: BTreeSet::new(),
            executors,
            next_incarnation: setup.capacities.len() as u64,
            attempts: Vec::new(),
            sink: SinkLedger::with_bugs(bugs),
            landed_keys: BTreeSet::new(),
            client: Client {
                specs,
                submitted: BTreeSet::new(),
                acked: BTreeMap::new(),
                requests: BTreeMap::new(),
                next_req: 1,
            },
            terminal: BTreeSet::new(),
            history: Vec::new(),
        };
        model.elect();
        model
    }

    fn step(&mut self, step: &Step) {
        if self.enabled(step) {
            self.run_step(step);
        }
        self.check_attempts();
    }

    /// False for steps of a fault kind this run disabled.
    fn enabled(&self, step: &Step) -> bool {
        match step {
            Step::Partition { .. } | Step::Pause { .. } | Step::Resume { .. } | Step::ExecutorRestart { .. } => {
                self.faults.executors
            }
            Step::LeaderCrash { .. } | Step::Elect => self.faults.leaders,
            _ => true,
        }
    }

    fn run_step(&mut self, step: &Step) {
        let n = self.executors.len();
        let lossy = self.faults.lossy;
        match *step {
            Step::Submit { key, lose_reply } => self.submit(key % self.client.specs.len(), lose_reply && lossy),
            Step::ResubmitUnacked => self.resubmit_unacked(false),
            Step::Beat { ex, lose_reply } => {
                self.beat_send(ex % n, true);
                self.beat_deliver(ex % n, lose_reply && lossy);
            }
            Step::BeatSend { ex, reach } => self.beat_send(ex % n, reach || !lossy),
            Step::BeatDeliver { ex, lose } => self.beat_deliver(ex % n, lose && lossy),
            Step::Partition { ex, cut } => self.executors[ex % n].partitioned = cut,
            Step::Pause { ex } => self.executors[ex % n].paused = true,
            Step::Resume { ex, mid_apply } => self.resume(ex % n, mid_apply),
            Step::ApplyEffect { pick } => {
                if let Some(i) = self.pick_attempt(pick, true) {
                    self.apply(i);
                }
            }
            Step::Finish { pick, end } => {
                let end = if self.faults.flaky { end } else { End::Success };
                if let Some(i) = self.pick_attempt(pick, false) {
                    self.finish(i, end);
                }
            }
            Step::StoreApply { count } => self.store_apply(count),
            Step::Advance { ms } => self.advance(ms),
            Step::ExecutorRestart { ex } => self.restart_executor(ex % n),
            Step::LeaderCrash { land, reelect } => self.crash_leader(land, reelect),
            Step::Elect => self.elect(),
        }
    }

    // --- the client ---

    fn submit(&mut self, key: usize, lose_reply: bool) {
        let spec = self.client.specs[key].clone();
        if self.client.submitted.insert(key) {
            let kind = EventKind::Submit { key: spec.key.as_str().into() };
            self.record("client", kind);
        }
        let Some(leader) = self.leader.as_mut() else {
            return; // nobody answers: the client will try again
        };
        let req = self.client.next_req;
        self.client.next_req += 1;
        self.client.requests.insert(req, (key, lose_reply));
        leader.coord.submit(req, spec);
        self.drain();
    }

    /// Submits every key without an acknowledgement; `include_unsent` adds those never
    /// sent at all.
    fn resubmit_unacked(&mut self, include_unsent: bool) {
        let keys: Vec<usize> = (0..self.client.specs.len())
            .filter(|k| !self.client.acked.contains_key(k))
            .filter(|k| include_unsent || self.client.submitted.contains(k))
            .collect();
        for key in keys {
            self.submit(key, false);
        }
    }

    fn client_reply(&mut self, req: u64, reply: SubmitReply) {
        let (key, lost) =
            (self.client.requests.remove(&req)).unwrap_or_else(|| panic!("reply to unknown request {req}"));
        let SubmitReply::Accepted { task, .. } = reply else {
            return;
        };
        let key_name = self.client.specs[key].key.clone();
        assert!(
            self.store.contains_key(&task),
            "key {key_name} acknowledged with task {task} before its record was in the store"
        );
        if lost {
            return;
        }
        if let Some(earlier) = self.client.acked.insert(key, task.clone()) {
            assert_eq!(earlier, task, "key {key_name} acknowledged with two different tasks");
        }
        let kind = EventKind::Ack { key: key_name.into(), task };
        self.record("client", kind);
    }

    // --- the leader and the store ---

    /// Carries out the leader's queued outputs.
    fn drain(&mut self) {
        let Some(leader) = self.leader.as_mut() else {
            return;
        };
        let outputs: Vec<Output> = std::iter::from_fn(|| leader.coord.poll_output()).collect();
        let node = format!("coord-{}", self.epoch);
        for out in outputs {
            match out {
                Output::Write(w) => self.leader.as_mut().expect("leading").writes.push_back(w),
                Output::Reply { req, reply } => self.client_reply(req, reply),
                Output::BeatReply { req, reply } => self.executors[req as usize].inflight = reply,
                Output::Record(kind) => self.record(&node, kind),
                Output::JobReply { .. } => unreachable!("the model sends no job commands"),
            }
        }
    }

    /// The store applies and confirms up to `count` queued writes, oldest first.
    fn store_apply(&mut self, count: usize) {
        for _ in 0..count {
            let Some(leader) = self.leader.as_mut() else {
                return;
            };
            let Some(w) = leader.writes.pop_front() else {
                return;
            };
            self.land(&w);
            let leader = self.leader.as_mut().expect("still leading");
            leader.coord.persisted(Now::at(self.now_ms), w.op);
            self.drain();
        }
    }

    fn land(&mut self, w: &Write) {
        if let Some(compaction) = &w.delete {
            self.store.remove(&compaction.task);
            return;
        }
        if let Some(token) = w.task().token {
            self.durable_tokens.insert((w.task().id.clone(), token));
        }
        self.store.insert(w.task().id.clone(), w.task().clone());
    }

    /// Time passes and the leader ticks. A tick the core's `poll_timeout` did not ask for
    /// must do nothing: if it acted, a driver that sleeps until `poll_timeout` would have
    /// acted late (a missed detection or quarantine end).
    fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
        self.drain();
        if let Some(leader) = self.leader.as_mut() {
            let now = Now::at(self.now_ms);
            let due = leader.coord.poll_timeout().is_due(now);
            leader.coord.tick(now);
            if !due {
                let acted = leader.coord.poll_output();
                assert!(acted.is_none(), "at {} ms a tick acted before its poll_timeout: {acted:?}", self.now_ms);
            }
        }
        self.drain();
    }

    fn crash_leader(&mut self, land: usize, reelect: bool) {
        if let Some(mut leader) = self.leader.take() {
            for w in leader.writes.drain(..).take(land) {
                self.land(&w);
            }
        }
        if reelect {
            self.elect();
        }
    }

    /// Elects a leader with a higher epoch from what the store holds, unless one leads.
    fn elect(&mut self) {
        if self.leader.is_some() {
            return;
        }
        self.epoch += 1;
        let mut coord =
            Coordinator::new(CoordinatorConfig { bugs: self.bugs, ..coordinator_config() }, self.seed ^ self.epoch);
        let records = self.store.values().cloned().collect();
        coord.become_leader(Now::at(self.now_ms), self.epoch, records, vec![]);
        self.leader = Some(Leader { coord, writes: VecDeque::new() });
        let node = format!("coord-{}", self.epoch);
        self.record(&node, EventKind::LeaderElected { epoch: self.epoch });
        self.drain();
    }

    // --- the executors ---

    fn beat_send(&mut self, ex: usize, reach: bool) {
        let slot = &mut self.executors[ex];
        if slot.paused {
            return;
        }
        let beat = slot.ex.beat();
        slot.inflight = None; // the earlier beat, if unanswered, timed out
        if !reach || slot.partitioned {
            return;
        }
        if let Some(leader) = self.leader.as_mut() {
            leader.coord.heartbeat(Now::at(self.now_ms), ex as u64, beat);
        }
        self.drain();
    }

    fn beat_deliver(&mut self, ex: usize, lose: bool) {
        if self.executors[ex].paused {
            return; // the reply waits in the socket
        }
        let Some(reply) = self.executors[ex].inflight.take() else {
            return;
        };
        if lose {
            return;
        }
        self.executors[ex].ex.on_reply(reply);
        while let Some(action) = self.executors[ex].ex.poll_output() {
            self.act(ex, action);
        }
    }

    fn act(&mut self, ex: usize, action: Action) {
        match action {
            Action::Run(assignment) => self.start(ex, assignment),
            Action::Abort(task) => self.attempts.retain(|a| !(a.executor == ex && a.task == task)),
            Action::Reject { assignment, reason } => {
                let kind = EventKind::Reject {
                    task: assignment.task,
                    epoch: assignment.token.epoch,
                    attempt: assignment.token.attempt,
                    reason: reason.into(),
                };
                self.record(&format!("ex{ex}"), kind);
            }
        }
    }

    fn start(&mut self, ex: usize, a: Assignment) {
        assert!(
            self.durable_tokens.contains(&(a.task.clone(), a.token)),
            "task {} delivered with token {} that the store never held",
            a.task,
            a.token
        );
        let kind = EventKind::Start {
            task: a.task.clone(),
            incarnation: self.executors[ex].ex.incarnation(),
            epoch: a.token.epoch,
            attempt: a.token.attempt,
        };
        self.record(&format!("ex{ex}"), kind);
        let checked = a.check_first.then(|| {
            let found = self.sink.check(&a.spec.key, a.token);
            let kind = EventKind::SinkCheck {
                task: a.task.clone(),
                key: a.spec.key.as_str().into(),
                executor: format!("ex{ex}").into(),
                epoch: a.token.epoch,
                attempt: a.token.attempt,
                found,
            };
            self.record("sink", kind);
            found
        });
        let attempt = Attempt { executor: ex, task: a.task, token: a.token, key: a.spec.key, verdict: None, checked };
        self.attempts.push(attempt);
    }

    /// The attempt `pick` names, newest first, among those of executors not paused;
    /// `unapplied_only` leaves out those whose effect was applied.
    fn pick_attempt(&self, pick: usize, unapplied_only: bool) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.attempts.len())
            .filter(|&i| !self.executors[self.attempts[i].executor].paused)
            .filter(|&i| !unapplied_only || self.attempts[i].verdict.is_none())
            .collect();
        let len = candidates.len();
        (len > 0).then(|| candidates[len - 1 - pick % len])
    }

    /// Applies attempt `i`'s effect at the sink (once) and returns the verdict.
    fn apply(&mut self, i: usize) -> Verdict {
        if let Some(verdict) = self.attempts[i].verdict {
            return verdict;
        }
        let a = self.attempts[i].clone();
        let verdict = self.sink.apply(&a.key, a.token);
        if verdict == Verdict::Accepted {
            self.landed_keys.insert(a.key.clone());
        }
        self.attempts[i].verdict = Some(verdict);
        let kind = EventKind::Apply {
            task: a.task,
            key: a.key.into(),
            executor: format!("ex{}", a.executor).into(),
            epoch: a.token.epoch,
            attempt: a.token.attempt,
            verdict,
        };
        self.record("sink", kind);
        verdict
    }

    /// How attempt `i`'s body ends, as the executor driver sees it.
    fn end_outcome(&mut self, i: usize, end: End) -> Outcome {
        match end {
            End::TimesOut => Outcome::TimedOut,
            End::BodyFails if self.attempts[i].verdict.is_none() => Outcome::Failed("task body failed".into()),
            End::Success | End::BodyFails => match self.apply(i) {
                Verdict::Accepted | Verdict::Duplicate => Outcome::Succeeded,
                Verdict::Stale => Outcome::Failed("fenced by the sink: stale token".into()),
            },
        }
    }

    /// Ends attempt `i` the way the executor driver does and reports it.
    fn finish(&mut self, i: usize, end: End) {
        let outcome = match (self.attempts[i].checked, end) {
            (Some(Checked::Landed), _) => Outcome::Succeeded,
            (Some(Checked::Stale), _) => Outcome::Failed("fenced by the sink: stale token".into()),
            // The apply went out and its verdict never came back.
            (_, End::TimesOut) if self.attempts[i].verdict.is_some() => Outcome::Unknown("timed out applying".into()),
            (_, end) => self.end_outcome(i, end),
        };
        let a = self.attempts.remove(i);
        let kind = EventKind::Complete {
            task: a.task.clone(),
            epoch: a.token.epoch,
            attempt: a.token.attempt,
            outcome: outcome.name().into(),
        };
        self.record(&format!("ex{}", a.executor), kind);
        let reported = self.executors[a.executor].ex.finished(&a.task, a.token, outcome);
        assert!(reported, "model attempt {a:?} was not held by its executor");
    }

    fn resume(&mut self, ex: usize, mid_apply: bool) {
        let was_paused = std::mem::replace(&mut self.executors[ex].paused, false);
        if !was_paused || !mid_apply {
            return;
        }
        for i in 0..self.attempts.len() {
            if self.attempts[i].executor == ex {
                self.apply(i);
            }
        }
    }

    fn restart_executor(&mut self, ex: usize) {
        self.attempts.retain(|a| a.executor != ex);
        self.next_incarnation += 1;
        let slot = &mut self.executors[ex];
        slot.ex = Executor::new(format!("ex{ex}"), self.next_incarnation, slot.capacity);
        slot.inflight = None;
        slot.paused = false;
        let kind = EventKind::NodeStart { incarnation: self.next_incarnation };
        self.record(&format!("ex{ex}"), kind);
    }

    // --- invariants, healing, the verdict ---

    fn record(&mut self, node: &str, kind: EventKind) {
        if let Some(task) = kind.terminal_task() {
            self.terminal.insert(task.into());
        }
        self.history.push(Event { at_ms: self.now_ms, node: node.into(), kind });
    }

    /// No two live attempts share a token, and the model runs exactly what each executor
    /// holds (a model bug otherwise).
    fn check_attempts(&self) {
        let mut tokens = BTreeSet::new();
        for a in &self.attempts {
            assert!(tokens.insert((&a.task, a.token)), "two live attempts of task {} carry token {}", a.task, a.token);
        }
        for (i, slot) in self.executors.iter().enumerate() {
            let running = self.attempts.iter().filter(|a| a.executor == i).count();
            assert_eq!(running, slot.ex.held_count(), "model out of step with ex{i}");
        }
    }

    /// Every key acknowledged and every acknowledged task terminal in the history.
    fn settled(&self) -> bool {
        self.client.acked.len() == self.client.specs.len()
            && self.client.acked.values().all(|t| self.terminal.contains(t))
    }

    /// Heals every fault and runs until settled; false if it never settles.
    fn heal(&mut self) -> bool {
        self.elect();
        for slot in &mut self.executors {
            slot.inflight = None;
            slot.partitioned = false;
            slot.paused = false;
        }
        for _ in 0..HEAL_ROUNDS {
            self.resubmit_unacked(true);
            if self.settled() {
                return true;
            }
            self.heal_round();
        }
        self.settled()
    }

    fn heal_round(&mut self) {
        for ex in 0..self.executors.len() {
            self.beat_send(ex, true);
            self.beat_deliver(ex, false);
        }
        while !self.attempts.is_empty() {
            self.finish(0, End::Success);
        }
        self.store_apply(usize::MAX);
        self.advance(HEAL_STEP_MS);
        self.check_attempts();
    }

    /// Heals, ends the history and checks it.
    fn heal_and_check(mut self) -> Result<(), TestCaseError> {
        let drained = self.heal();
        self.record("sim", EventKind::RunEnd { drained });
        for (key, spec) in self.client.specs.iter().enumerate() {
            prop_assert!(
                self.client.acked.contains_key(&key),
                "key {} was never acknowledged, though the client kept resubmitting it \
                 through {HEAL_ROUNDS} fault-free rounds",
                spec.key
            );
        }
        let result = check_all(&self.history);
        prop_assert!(result.passed(), "history checks failed: {:#?}", result.violations);
        for task in self.client.acked.values() {
            let state = self.store.get(task).map(|r| r.state);
            prop_assert!(
                state.is_some_and(|s| s.is_terminal()),
                "acknowledged task {task} is {state:?} in the store after healing"
            );
        }
        for event in &self.history {
            if let EventKind::Succeeded { task, .. } = &event.kind {
                let key = &self.store[task.as_str()].spec.key;
                prop_assert!(self.landed_keys.contains(key), "task {task} succeeded but its effect never landed");
            }
        }
        Ok(())
    }
}

/// Runs the chaos phase, heals, and checks.
pub(crate) fn run(setup: &Setup, steps: &[Step]) -> Result<(), TestCaseError> {
    run_with(BugSet::none(), setup, steps)
}

pub(crate) fn run_with(bugs: BugSet, setup: &Setup, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut model = Model::new(setup, bugs);
    for step in steps {
        model.step(step);
    }
    model.heal_and_check()
}

// --- strategies ---
