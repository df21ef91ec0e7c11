//! The nemesis: fires the scenario's faults at their times and records each one (begin and
//! end, target, parameters) in the history, so reports show what actually happened. A role
//! target (`leader`, `executor`, ...) is resolved when the fault fires, from the history.

use crate::scenario::{Fault, FaultKind, Target};
use crate::sim::cluster::{Cluster, Role};
use crate::trace::{Event, EventKind, FaultPhase};
use madsim::runtime::Handle;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// How long a role target may stay unresolvable (e.g. no leader yet) before the fault is
/// recorded as not fired.
const RESOLVE_PATIENCE_MS: u64 = 30_000;

pub struct Nemesis {
    cluster: Arc<Cluster>,
    down: Mutex<BTreeSet<String>>,
}

impl Nemesis {
    pub fn new(cluster: Arc<Cluster>) -> Arc<Self> {
        Arc::new(Nemesis { cluster, down: Mutex::new(BTreeSet::new()) })
    }

    fn clock(&self) -> crate::node::NodeClock {
        crate::node::NodeClock::exact(self.cluster.origin)
    }

    fn record(&self, kind: EventKind) {
        self.cluster.recorder.record(self.clock().true_now_ms(), "nemesis", kind);
    }

    /// Fires every fault; returns when all have fired and healed.
    pub async fn run(self: Arc<Self>, faults: Vec<Fault>) {
        let tasks: Vec<_> = faults.into_iter().map(|f| madsim::task::spawn(self.clone().fire(f))).collect();
        for t in tasks {
            t.await.expect("fault task");
        }
    }

    async fn fire(self: Arc<Self>, fault: Fault) {
        let clock = self.clock();
        clock.sleep(fault.at_ms.saturating_sub(clock.now_ms())).await;
        let deadline = clock.now_ms() + RESOLVE_PATIENCE_MS;
        let target = loop {
            if let Some(name) = self.resolve(&fault.target) {
                break name;
            }
            if clock.now_ms() >= deadline {
                let detail = format!("not fired: no node matched target `{}`", fault.target);
                self.record(EventKind::Fault {
                    fault: fault.kind.name().into(),
                    phase: FaultPhase::End,
                    target: fault.target.to_string(),
                    detail,
                });
                return;
            }
            clock.sleep(100).await;
        };
        match fault.kind {
            FaultKind::Crash => self.crash(&fault, &target).await,
        }
    }

    async fn crash(&self, fault: &Fault, name: &str) {
        let handle = Handle::current();
        let node = self.cluster.node(name).expect("resolved targets exist").clone();
        self.down.lock().expect("nemesis poisoned").insert(name.to_string());
        let detail = format!("target `{}`, restart after {:?} ms", fault.target, fault.restart_after_ms);
        if node.role == Role::Store {
            self.cluster.crash_store(&handle).await;
        } else {
            handle.kill(node.handle.id());
        }
        self.record(EventKind::Fault { fault: "crash".into(), phase: FaultPhase::Begin, target: name.into(), detail });
        let Some(after_ms) = fault.restart_after_ms else {
            return;
        };
        self.clock().sleep(after_ms).await;
        if node.role == Role::Store {
            self.cluster.restart_store(&handle);
        } else {
            handle.restart(node.handle.id());
        }
        self.down.lock().expect("nemesis poisoned").remove(name);
        self.record(EventKind::Fault {
            fault: "crash".into(),
            phase: FaultPhase::End,
            target: name.into(),
            detail: "restarted".into(),
        });
    }

    fn resolve(&self, target: &Target) -> Option<String> {
        let down = self.down.lock().expect("nemesis poisoned").clone();
        let up = |role: Role| -> Vec<String> {
            self.cluster
                .nodes
                .iter()
                .filter(|n| n.role == role && !down.contains(&n.name))
                .map(|n| n.name.clone())
                .collect()
        };
        let leader = self.cluster.recorder.with(|h| current_leader(h, &down));
        match target {
            Target::Leader => leader,
            Target::Standby => up(Role::Coordinator).into_iter().find(|n| Some(n) != leader.as_ref()),
            Target::Executor => pick(up(Role::Executor)),
            Target::Store => up(Role::Store).into_iter().next(),
            Target::Sink => up(Role::Sink).into_iter().next(),
            Target::Node(name) => Some(name.clone()).filter(|n| !down.contains(n)),
        }
    }
}

fn pick(mut names: Vec<String>) -> Option<String> {
    if names.is_empty() {
        return None;
    }
    let i = madsim::rand::random::<usize>() % names.len();
    Some(names.swap_remove(i))
}

/// The live node leading the highest epoch, from the history.
pub fn current_leader(history: &[Event], down: &BTreeSet<String>) -> Option<String> {
    let mut leading: BTreeMap<&str, u64> = BTreeMap::new();
    for e in history {
        match &e.kind {
            EventKind::LeaderElected { epoch } => {
                leading.insert(&e.node, *epoch);
            }
            EventKind::LeaderLost { epoch, .. } if leading.get(e.node.as_str()) == Some(epoch) => {
                leading.remove(e.node.as_str());
            }
            _ => {}
        }
    }
    leading.into_iter().filter(|(n, _)| !down.contains(*n)).max_by_key(|(_, epoch)| *epoch).map(|(n, _)| n.to_string())
}
