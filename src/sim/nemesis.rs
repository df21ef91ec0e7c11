//! The nemesis: fires the scenario's faults (at their times, or when their trigger event is
//! recorded), heals them, and records each firing in the history: begin and end, the nodes
//! hit, the parameters, and what the fault actually did. Role targets (`leader`,
//! `executor`, ...) are resolved when the fault fires, from the history.

use crate::node::faults::{self, LinkRule, TaskRule};
use crate::scenario::{Direction, Fault, FaultKind, Target, Trigger};
use crate::sim::cluster::{Cluster, Role};
use crate::trace::{Event, EventKind, FaultPhase};
use madsim::runtime::Handle;
use rand::seq::SliceRandom as _;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// How long a role target may stay unresolvable (e.g. no leader yet) before the firing is
/// recorded as not fired.
const RESOLVE_PATIENCE_MS: u64 = 30_000;

/// How the end event of a firing that found no node begins: such a firing did not begin, and
/// a `fault_end` trigger does not count it.
const NOT_FIRED: &str = "not fired";

pub struct Nemesis {
    cluster: Arc<Cluster>,
    /// Nodes crashed and not restarted yet.
    down: Mutex<BTreeSet<String>>,
    /// Faults due at a time that have not finished, plus triggered faults that fired and
    /// have not finished. A trigger still waiting for its event does not count: the run
    /// may end without it (and the checker then says it never fired).
    busy: AtomicUsize,
    /// The named faults (`name = ...`): their ids, and the nodes each hit at its latest
    /// firing (for `hit:NAME` targets).
    named: Mutex<BTreeMap<String, Named>>,
}

struct Named {
    id: u64,
    hit: Option<Vec<String>>,
}

/// One firing's resolved shape: the nodes hit, and the links cut.
struct Hit {
    /// The nodes the fault's target named (empty when it has none).
    targets: Vec<String>,
    nodes: Vec<String>,
    links: Vec<(String, String)>,
    detail: String,
}

impl Nemesis {
    pub fn new(cluster: Arc<Cluster>) -> Arc<Self> {
        Arc::new(Nemesis {
            cluster,
            down: Mutex::new(BTreeSet::new()),
            busy: AtomicUsize::new(0),
            named: Mutex::new(BTreeMap::new()),
        })
    }

    fn named(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Named>> {
        self.named.lock().expect("nemesis poisoned")
    }

    /// No fault is due or in progress: every one that fired has healed.
    pub fn settled(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }

    fn clock(&self) -> crate::node::NodeClock {
        crate::node::NodeClock::exact(self.cluster.origin)
    }

    fn record(&self, id: u64, fault: &Fault, phase: FaultPhase, target: String, detail: String) {
        let kind = EventKind::Fault {
            id,
            fault: fault.kind.name().into(),
            phase,
            target: target.into(),
            detail: detail.into(),
        };
        self.cluster.recorder.record(self.clock().true_now_ms(), "nemesis", kind);
    }

    /// Starts every fault (`id`, fault); [`Nemesis::settled`] tells when they are done.
    pub fn start(self: &Arc<Self>, faults: Vec<(u64, Fault)>) -> Vec<madsim::task::JoinHandle<()>> {
        let timed = faults.iter().filter(|(_, f)| f.trigger.is_none()).count();
        self.busy.fetch_add(timed, Ordering::SeqCst);
        for (id, f) in &faults {
            if let Some(name) = &f.name {
                self.named().insert(name.clone(), Named { id: *id, hit: None });
            }
        }
        faults.into_iter().map(|(id, f)| madsim::task::spawn(self.clone().fire(id, f))).collect()
    }

    async fn fire(self: Arc<Self>, id: u64, fault: Fault) {
        self.fire_all(id, &fault).await;
        self.busy.fetch_sub(1, Ordering::SeqCst);
    }

    async fn fire_all(&self, id: u64, fault: &Fault) {
        let clock = self.clock();
        clock.sleep(fault.at_ms.unwrap_or(0).saturating_sub(clock.mono_ms())).await;
        if let Some(trigger) = &fault.trigger {
            let mut events = self.cluster.recorder.subscribe();
            let mut seen = 0;
            loop {
                let Some(e) = events.recv().await else {
                    std::future::pending::<()>().await; // never fires; aborted at the run end
                    return;
                };
                if self.pulls(trigger, &e) {
                    seen += 1;
                    if seen == trigger.nth {
                        self.busy.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                }
            }
            if trigger.after_ms > 0 {
                clock.sleep(trigger.after_ms).await;
            }
        }
        let times = fault.repeat.map_or(1, |r| r.times);
        for firing in 0..times {
            let started = clock.mono_ms();
            self.fire_once(id, fault).await;
            if let (Some(r), true) = (fault.repeat, firing + 1 < times) {
                let jitter = if r.jitter_ms > 0 { madsim::rand::random::<u64>() % (r.jitter_ms + 1) } else { 0 };
                clock.sleep((started + r.every_ms + jitter).saturating_sub(clock.mono_ms())).await;
            }
        }
    }

    /// Whether event `e` counts toward `trigger`.
    fn pulls(&self, trigger: &Trigger, e: &Event) -> bool {
        if let EventKind::Fault { id, phase, detail, .. } = &e.kind {
            let name = match phase {
                FaultPhase::Begin => "fault_begin",
                FaultPhase::End if !detail.starts_with(NOT_FIRED) => "fault_end",
                FaultPhase::End => return false,
            };
            let of = |fault: &String| self.named().get(fault).is_some_and(|n| n.id == *id);
            return name == trigger.event && trigger.fault.as_ref().is_none_or(of);
        }
        event_name(&e.kind) == trigger.event && trigger.node.as_ref().is_none_or(|t| self.matches(t, &e.node))
    }

    /// One firing: resolve the targets, inject, wait, heal, recording each step.
    async fn fire_once(&self, id: u64, fault: &Fault) {
        let Some(hit) = self.await_targets(id, fault).await else { return };
        if let Some(name) = &fault.name {
            let nodes = if hit.targets.is_empty() { &hit.nodes } else { &hit.targets };
            if let Some(named) = self.named().get_mut(name) {
                named.hit = Some(nodes.clone());
            }
        }
        let target = hit.nodes.join(",");
        let detail = self.inject(id, fault, &hit).await;
        self.record(id, fault, FaultPhase::Begin, target.clone(), detail);
        let Some(wait_ms) = lasts_ms(fault) else { return }; // stays until the run ends
        self.clock().sleep(wait_ms).await;
        let what = self.heal(id, fault, &hit);
        self.record(id, fault, FaultPhase::End, target, what);
    }

    /// The firing's targets, waiting up to `RESOLVE_PATIENCE_MS` for a node to match;
    /// `None` (recorded as not fired) if none did.
    async fn await_targets(&self, id: u64, fault: &Fault) -> Option<Hit> {
        let clock = self.clock();
        let deadline = clock.mono_ms() + RESOLVE_PATIENCE_MS;
        loop {
            if let Some(hit) = self.shape(fault) {
                return Some(hit);
            }
            if clock.mono_ms() >= deadline {
                let target = fault.target.as_ref().map_or("-".into(), |t| t.to_string());
                self.record(id, fault, FaultPhase::End, target, format!("{NOT_FIRED}: no node matched the target"));
                return None;
            }
            clock.sleep(100).await;
        }
    }

    /// Begins the fault on the nodes and links `hit`; returns the begin event's detail.
    async fn inject(&self, id: u64, fault: &Fault, hit: &Hit) -> String {
        let handle = Handle::current();
        let c = &self.cluster;
        match Mechanism::of(fault.kind) {
            Mechanism::Crash => {
                self.down.lock().expect("nemesis poisoned").extend(hit.nodes.iter().cloned());
                for name in &hit.nodes {
                    let node = c.node(name).expect("resolved targets exist");
                    if node.role == Role::Store {
                        c.crash_store(&handle).await;
                    } else {
                        handle.kill(node.handle.id());
                    }
                }
                hit.detail.clone()
            }
            Mechanism::Pause => {
                for name in &hit.nodes {
                    handle.pause(c.node(name).expect("resolved").handle.id());
                }
                hit.detail.clone()
            }
            Mechanism::Links => {
                c.set_links(&hit.links, true);
                format!("{}; {} directed links cut", hit.detail, hit.links.len())
            }
            Mechanism::Rules => {
                let peers = self.peers(fault);
                for name in &hit.nodes {
                    let faults = &c.node(name).expect("resolved").ctx.faults;
                    match task_rule(fault) {
                        Some(rule) => faults.add_task(id, rule),
                        None => faults.add_link(id, link_rule(fault, peers.clone())),
                    }
                }
                hit.detail.clone()
            }
            Mechanism::Clock => {
                let offset = fault.offset_ms.unwrap_or(0);
                let slew = fault.slew_rate.unwrap_or(0.01);
                let clocks = self.clocks(hit);
                for clock in &clocks {
                    match fault.kind {
                        FaultKind::ClockOffset => clock.set_offset(offset),
                        FaultKind::ClockDrift => clock.set_rate(fault.rate.unwrap_or(1.0)),
                        FaultKind::ClockStep => clock.step(offset),
                        FaultKind::ClockSlew => {
                            // The error is found, then slewed away: a slow (or fast) clock
                            // until it reads true time again.
                            clock.step(offset);
                            clock.set_rate(1.0 - offset.signum() as f64 * slew);
                        }
                        _ => unreachable!("clock kinds only"),
                    }
                }
                let readings: Vec<String> = hit
                    .nodes
                    .iter()
                    .zip(&clocks)
                    .map(|(n, c)| format!("{n} reads {:+} ms at rate {}", c.offset_ms(), c.rate()))
                    .collect();
                format!("{}; {}", hit.detail, readings.join(", "))
            }
        }
    }

    /// Ends the fault `inject` began; returns the end event's detail (what it did).
    fn heal(&self, id: u64, fault: &Fault, hit: &Hit) -> String {
        let handle = Handle::current();
        let c = &self.cluster;
        match Mechanism::of(fault.kind) {
            Mechanism::Crash => {
                for name in &hit.nodes {
                    let node = c.node(name).expect("resolved targets exist");
                    if node.role == Role::Store {
                        c.restart_store(&handle);
                    } else {
                        handle.restart(node.handle.id());
                    }
                    self.down.lock().expect("nemesis poisoned").remove(name);
                }
                "restarted".into()
            }
            Mechanism::Pause => {
                for name in &hit.nodes {
                    handle.resume(c.node(name).expect("resolved").handle.id());
                }
                "resumed".into()
            }
            Mechanism::Links => {
                c.set_links(&hit.links, false);
                "healed".into()
            }
            Mechanism::Rules => {
                let effects: Vec<String> = hit
                    .nodes
                    .iter()
                    .map(|name| format!("{name}: {}", c.node(name).expect("resolved").ctx.faults.remove(id)))
                    .collect();
                format!("healed; {}", effects.join("; "))
            }
            Mechanism::Clock => {
                for clock in self.clocks(hit) {
                    clock.set_rate(1.0);
                    clock.set_offset(0);
                }
                "back to true time".into()
            }
        }
    }

    /// The clocks of the nodes `hit`.
    fn clocks(&self, hit: &Hit) -> Vec<crate::node::NodeClock> {
        hit.nodes.iter().map(|n| self.cluster.node(n).expect("resolved").ctx.clock.clone()).collect()
    }

    /// The nodes and links one firing hits, or `None` while a target cannot be resolved.
    fn shape(&self, fault: &Fault) -> Option<Hit> {
        let c = &self.cluster;
        let nodes = match &fault.target {
            Some(t) => self.resolve(t)?,
            None => Vec::new(),
        };
        let targets = nodes.clone();
        let detail = params(fault);
        let all_but_client =
            || -> Vec<String> { c.nodes.iter().filter(|n| n.role != Role::Client).map(|n| n.name.clone()).collect() };
        let across = |a: &[String], b: &[String]| -> Vec<(String, String)> {
            a.iter()
                .flat_map(|x| b.iter().flat_map(move |y| [(x.clone(), y.clone()), (y.clone(), x.clone())]))
                .filter(|(x, y)| x != y)
                .collect()
        };
        let (nodes, links, detail) = match fault.kind {
            FaultKind::Isolate => {
                let links = nodes.iter().flat_map(|n| c.links_of(n)).collect();
                (nodes, links, detail)
            }
            FaultKind::StoreCut => {
                let links = across(&nodes, &["store".to_string()]);
                (nodes, links, detail)
            }
            FaultKind::StoreUnavailable => (vec!["store".into()], c.links_of("store"), detail),
            FaultKind::OneWay => {
                let peers = self.resolve(fault.peer.as_ref().expect("validated"))?;
                let links = nodes
                    .iter()
                    .flat_map(|a| peers.iter().filter(move |b| *b != a).map(move |b| (a.clone(), b.clone())))
                    .collect();
                let detail = format!("{detail}; {} -> {} lost", nodes.join(","), peers.join(","));
                // Both ends are hit: the receivers miss what the senders send.
                let mut hit = nodes;
                hit.extend(peers.into_iter().filter(|p| !hit.contains(p)).collect::<Vec<_>>());
                (hit, links, detail)
            }
            FaultKind::Split => {
                let groups: Vec<Vec<String>> = match &fault.groups {
                    Some(groups) => self.resolve_groups(groups)?,
                    None => halves(all_but_client()),
                };
                let mut links = Vec::new();
                for (i, a) in groups.iter().enumerate() {
                    for b in &groups[i + 1..] {
                        links.extend(across(a, b));
                    }
                }
                let sides: Vec<String> = groups.iter().map(|g| format!("[{}]", g.join(","))).collect();
                (groups.concat(), links, format!("{detail}; sides {}", sides.join(" | ")))
            }
            FaultKind::Bridge => {
                let bridge = nodes.first()?.clone();
                let sides: Vec<Vec<String>> = match &fault.groups {
                    Some(groups) => self
                        .resolve_groups(groups)?
                        .into_iter()
                        .map(|side| side.into_iter().filter(|n| *n != bridge).collect())
                        .collect(),
                    None => halves(all_but_client().into_iter().filter(|n| *n != bridge).collect()),
                };
                let links = across(&sides[0], &sides[1]);
                let shape = format!("[{}] <- {bridge} -> [{}]", sides[0].join(","), sides[1].join(","));
                // Every node of both halves is hit (its links to the other half are cut), as
                // a split's are: naming the bridge alone hid from the checkers that an
                // executor was cut from its leader (schedules swarm seed 1241).
                let hit: Vec<String> = std::iter::once(bridge).chain(sides.concat()).collect();
                (hit, links, format!("{detail}; {shape}"))
            }
            FaultKind::StoreSlow => {
                let coords = c.nodes.iter().filter(|n| n.role == Role::Coordinator).map(|n| n.name.clone());
                (coords.collect(), Vec::new(), detail)
            }
            _ => (nodes, Vec::new(), detail),
        };
        Some(Hit { targets, nodes, links, detail })
    }

    /// A split's or a bridge's sides, each the live nodes its targets name now.
    fn resolve_groups(&self, groups: &[Vec<Target>]) -> Option<Vec<Vec<String>>> {
        groups
            .iter()
            .map(|g| g.iter().map(|t| self.resolve(t)).collect::<Option<Vec<_>>>().map(|v| v.concat()))
            .collect()
    }

    /// The peer names a message fault applies to (all when empty).
    fn peers(&self, fault: &Fault) -> Vec<String> {
        match (fault.kind, &fault.peer) {
            (FaultKind::StoreSlow, _) => vec![crate::node::store::STORE_PEER.to_string()],
            (_, Some(peer)) => self.resolve(peer).unwrap_or_default(),
            (_, None) => Vec::new(),
        }
    }

    /// The live nodes a target names now; `None` if it names none yet.
    fn resolve(&self, target: &Target) -> Option<Vec<String>> {
        let down = self.down.lock().expect("nemesis poisoned").clone();
        let c = &self.cluster;
        let up = |pred: &dyn Fn(&crate::sim::cluster::SimNode) -> bool| -> Vec<String> {
            c.nodes.iter().filter(|n| pred(n) && !down.contains(&n.name)).map(|n| n.name.clone()).collect()
        };
        let leader = c.recorder.with(|h| current_leader(h, &down));
        let names = match target {
            Target::Leader => leader.into_iter().collect(),
            Target::Standby => up(&|n| n.role == Role::Coordinator)
                .into_iter()
                .filter(|n| Some(n) != leader.as_ref())
                .take(1)
                .collect(),
            Target::Executor => pick(up(&|n| n.role == Role::Executor)).into_iter().collect(),
            Target::Store => up(&|n| n.role == Role::Store),
            Target::Sink => up(&|n| n.role == Role::Sink),
            Target::Coordinators => up(&|n| n.role == Role::Coordinator),
            Target::Executors => up(&|n| n.role == Role::Executor),
            Target::Zone(zone) => up(&|n| n.zone.as_deref() == Some(zone)),
            Target::LeaderZone => {
                let zone = leader.and_then(|l| c.node(&l).and_then(|n| n.zone.clone()))?;
                up(&|n| n.zone.as_ref() == Some(&zone))
            }
            Target::Hit(fault) => {
                let hit = self.named().get(fault).and_then(|n| n.hit.clone())?;
                up(&|n| hit.contains(&n.name))
            }
            Target::Node(name) => up(&|n| n.name == *name),
        };
        Some(names).filter(|n: &Vec<String>| !n.is_empty())
    }

    /// Whether the node that recorded an event matches a trigger's node filter.
    fn matches(&self, target: &Target, node: &str) -> bool {
        let Some(n) = self.cluster.node(node) else { return false };
        match target {
            Target::Leader | Target::Standby | Target::Coordinators => n.role == Role::Coordinator,
            Target::Executor | Target::Executors => n.role == Role::Executor,
            Target::Store => n.role == Role::Store,
            Target::Sink => n.role == Role::Sink,
            Target::Zone(zone) => n.zone.as_deref() == Some(zone),
            Target::LeaderZone | Target::Hit(_) => self.resolve(target).is_some_and(|nodes| nodes.contains(&n.name)),
            Target::Node(name) => n.name == *name,
        }
    }
}

fn link_rule(fault: &Fault, peers: Vec<String>) -> LinkRule {
    let p = fault.probability();
    let mut rule = LinkRule { peers, ..LinkRule::default() };
    match fault.kind {
        FaultKind::DropRequest => rule.drop_request = p,
        FaultKind::DropResponse => rule.drop_response = p,
        FaultKind::DuplicateRequest => rule.duplicate = p,
        _ => {
            rule.delay = fault.delay_ms.map(crate::settings::ms_range);
            rule.delay_probability = fault.probability;
            rule.delay_direction = match fault.direction.unwrap_or_default() {
                Direction::Request => faults::Direction::Request,
                Direction::Response => faults::Direction::Response,
                Direction::Both => faults::Direction::Both,
            };
        }
    }
    rule
}

fn task_rule(fault: &Fault) -> Option<TaskRule> {
    let p = fault.probability();
    match fault.kind {
        FaultKind::TaskPanic => Some(TaskRule { panic: p, ..TaskRule::default() }),
        FaultKind::TaskFail => Some(TaskRule { fail: p, ..TaskRule::default() }),
        FaultKind::TaskHang => Some(TaskRule { hang: p, ..TaskRule::default() }),
        _ => None,
    }
}

/// The fault's parameters as one line (for its begin event).
pub fn params(fault: &Fault) -> String {
    let table = toml::Value::try_from(fault).expect("faults serialize");
    let mut parts = Vec::new();
    if let toml::Value::Table(t) = table {
        for (k, v) in t.iter().filter(|(k, _)| *k != "kind") {
            parts.push(format!("{k} = {v}"));
        }
    }
    parts.join(", ")
}

/// Splits nodes into a random majority and minority (Jepsen's random halves).
fn halves(mut nodes: Vec<String>) -> Vec<Vec<String>> {
    nodes.shuffle(&mut crate::sim::SeededRng);
    let minority = nodes.split_off(nodes.len().div_ceil(2));
    vec![nodes, minority]
}

/// The `event` tag of an event kind, as in the history's JSON.
fn event_name(kind: &EventKind) -> String {
    match serde_json::to_value(kind) {
        Ok(serde_json::Value::Object(map)) => map.get("event").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        _ => String::new(),
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

/// How long a firing lasts before it heals, ms; `None`: it stays until the run ends (a
/// crash without a restart, a clock error without a duration). A slewed clock lasts until
/// the slew has worked its error off.
fn lasts_ms(fault: &Fault) -> Option<u64> {
    match fault.kind {
        FaultKind::Crash => fault.restart_after_ms,
        FaultKind::ClockSlew => {
            let offset = fault.offset_ms.unwrap_or(0);
            let slew = fault.slew_rate.unwrap_or(0.01);
            Some((offset.unsigned_abs() as f64 / slew).ceil() as u64)
        }
        FaultKind::ClockOffset | FaultKind::ClockDrift | FaultKind::ClockStep => fault.duration_ms,
        _ => Some(fault.duration_ms.unwrap_or(0)),
    }
}

/// How the nemesis brings a fault kind about: what `inject` does and `heal` undoes.
enum Mechanism {
    /// Kill the nodes (the store dumps its state first); restart them.
    Crash,
    /// Stop polling the nodes' tasks; resume them.
    Pause,
    /// Cut directed links; restore them.
    Links,
    /// Add a rule to the nodes' fault layer (messages or task bodies); remove it.
    Rules,
    /// Set the nodes' clocks off; set them back to true time.
    Clock,
}

impl Mechanism {
    fn of(kind: FaultKind) -> Self {
        match kind {
            FaultKind::Crash => Mechanism::Crash,
            FaultKind::Pause => Mechanism::Pause,
            FaultKind::Isolate
            | FaultKind::Split
            | FaultKind::OneWay
            | FaultKind::Bridge
            | FaultKind::StoreCut
            | FaultKind::StoreUnavailable => Mechanism::Links,
            FaultKind::DropRequest
            | FaultKind::DropResponse
            | FaultKind::DuplicateRequest
            | FaultKind::Delay
            | FaultKind::StoreSlow
            | FaultKind::TaskPanic
            | FaultKind::TaskFail
            | FaultKind::TaskHang => Mechanism::Rules,
            FaultKind::ClockOffset | FaultKind::ClockDrift | FaultKind::ClockStep | FaultKind::ClockSlew => {
                Mechanism::Clock
            }
        }
    }
}
