//! The coordinator's actor, stepped by hand on a real process's clock.

use super::*;
use crate::core::Now;
use crate::node::clock::NodeClock;
use crate::record::Recorder;
use crate::trace::Event;
use std::time::Duration;

/// How long the process was stopped (SIGSTOP) in the middle of a step.
const PAUSE_MS: u64 = 4_000;

/// A leader of epoch 1 whose lease its clock proves until `lease_until_ms` (monotonic),
/// on a clock that started `PAUSE_MS` ago, with the writer's queue and the recorder.
fn leader(lease_until_ms: u64) -> (Actor, mpsc::UnboundedReceiver<Write>, Recorder) {
    let started = NodeClock::origin_now().checked_sub(Duration::from_millis(PAUSE_MS)).expect("uptime");
    let recorder = Recorder::new();
    let ctx = NodeContext {
        name: "coord-1".into(),
        clock: NodeClock::exact(started),
        faults: Default::default(),
        recorder: recorder.clone(),
        bugs: crate::bugs::BugSet::none(),
        tls: None,
    };
    let (tx, _rx) = mpsc::unbounded_channel();
    let (resign, _) = watch::channel(0);
    let mut core = Coordinator::new(CoordinatorConfig::default(), 1);
    core.become_leader(Now::at(0), 1, vec![], vec![]);
    let (writer, writes) = mpsc::unbounded_channel();
    let mut actor = Actor::new(ctx, core, tx, resign, Default::default());
    actor.writer = Some(writer);
    actor.lease = Some(Arc::new(AtomicU64::new(lease_until_ms)));
    (actor, writes, recorder)
}

/// Submits a task in one step at `at`.
fn submit(actor: &mut Actor, key: &str, at: Reading) {
    let spec = crate::core::TaskSpec {
        key: key.into(),
        payload: vec![],
        max_attempts: 2,
        timeout_ms: 1_000,
        not_before_ms: 0,
    };
    let (reply, _) = oneshot::channel();
    actor.step(Some(Msg::Submit { spec, reply }), at);
}

/// The real-pause failure of CI (2026-12-07): the leader checked its lease at the start of
/// a step, was SIGSTOPped before the step recorded its dispatch, and on SIGCONT recorded
/// it at the time it woke, after its successor's election; `stale_leader` judged the leader
/// to have acted after its lease. A step now judges and stamps its acts at one reading.
#[test]
fn a_pause_inside_a_step_leaves_its_acts_where_the_lease_was_checked() {
    // The lease is proven at the step's reading (0 ms) and lapsed by the time the
    // process runs again (4,000 ms); the successor is elected at 2,500 ms, in the pause.
    let (mut actor, mut writes, recorder) = leader(2_000);
    let before_pause = Reading { true_ms: 0, now: Now::at(0) };
    submit(&mut actor, "k", before_pause);
    let write = writes.try_recv().expect("the task's first write");
    // The write's confirmation is taken in by a step whose reading came before the pause.
    actor.step(Some(Msg::Written { epoch: 1, ops: vec![write.op] }), before_pause);
    // The first step after it reads the clock anew: the lease has lapsed.
    let after_pause = actor.ctx.clock.reading();
    assert!(after_pause.true_ms >= PAUSE_MS, "{after_pause:?}");
    actor.step(None, after_pause);

    let mut history = recorder.snapshot();
    let persisted = history.iter().find(|e| matches!(e.kind, EventKind::Persist { .. }));
    assert_eq!(persisted.map(|e| e.at_ms), Some(0), "the persist is stamped at its step's reading: {history:?}");
    let lost = history.iter().find(|e| matches!(e.kind, EventKind::LeaderLost { epoch: 1, .. }));
    assert!(lost.is_some_and(|e| e.at_ms >= PAUSE_MS), "the next step deposes the leader: {history:?}");
    history.push(Event { at_ms: 0, node: "coord-1".into(), kind: EventKind::LeaderElected { epoch: 1 } });
    history.push(Event { at_ms: 2_500, node: "coord-2".into(), kind: EventKind::LeaderElected { epoch: 2 } });
    history.sort_by_key(|e| e.at_ms);
    assert_eq!(faultline_check::no_stale_leader(&history), vec![]);
}

/// A step whose reading is past the lease acts on nothing: the leader steps down first.
#[test]
fn a_step_past_the_lease_deposes_before_acting() {
    let (mut actor, mut writes, recorder) = leader(2_000);
    let late = Reading { true_ms: 2_000, now: Now::at(2_000) };
    submit(&mut actor, "k", late);
    assert!(writes.try_recv().is_err(), "no write after the lease");
    let history = recorder.snapshot();
    assert!(
        matches!(history[..], [Event { at_ms: 2_000, kind: EventKind::LeaderLost { epoch: 1, .. }, .. }]),
        "{history:?}"
    );
}
