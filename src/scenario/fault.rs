//! Faults a scenario schedules: what kind, whom it hits, when (a time, or a trigger event),
//! for how long, and the kind's own parameters. One flat table per fault; which keys a kind
//! takes is checked after parsing, with the key's line and column in the error.

use super::{DurationRange, ScenarioError};
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    pub kind: FaultKind,
    /// A name other faults refer to: `target = "hit:NAME"` (the nodes this fault hit) and
    /// `trigger = { event = "fault_end", fault = "NAME" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// When the fault fires, ms of simulated time after the run starts. With `trigger`,
    /// when the trigger is armed (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<u64>,
    /// Fire when an event happens instead of at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Trigger>,
    /// Whom the fault hits, resolved when it fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    /// How long the fault lasts before it heals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// `crash`: restart the node this long after the kill; absent means it stays down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_after_ms: Option<u64>,
    /// Fire again: `{ every_ms = .., times = .. }` (a crash loop, a flapping link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<Repeat>,
    /// `split`: the sides; each entry is a list of targets. Absent: random halves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<Vec<Target>>>,
    /// The other end of a link: `one_way` (required), message faults (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Target>,
    /// Message and task-body faults: the chance each call or body is hit (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// `delay`, `store_slow`: added latency, uniform in the range (jitter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<DurationRange>,
    /// `delay`, `store_slow`: which way is slow: `request` (default), `response` (the reply,
    /// after the peer has acted), or `both`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Clock faults: the offset set (`clock_offset`), the step (`clock_step`), or the error
    /// a slew starts from (`clock_slew`), ms; negative is behind true time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset_ms: Option<i64>,
    /// `clock_drift`: local seconds per true second (1.05 runs 5% fast).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// `clock_slew`: how fast the clock converges back to true time, in ms per true ms
    /// (NTP slews at most 0.0005; faster values keep simulations short).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slew_rate: Option<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    Crash,
    Pause,
    Isolate,
    Split,
    OneWay,
    Bridge,
    StoreCut,
    DropRequest,
    DropResponse,
    DuplicateRequest,
    Delay,
    ClockOffset,
    ClockDrift,
    ClockStep,
    ClockSlew,
    StoreSlow,
    StoreUnavailable,
    TaskPanic,
    TaskFail,
    TaskHang,
}

/// Keys every kind accepts.
const COMMON: &[&str] = &["kind", "name", "at_ms", "trigger", "repeat"];

/// Which way a `delay` or `store_slow` slows a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The request waits before it is sent.
    #[default]
    Request,
    /// The reply waits after the peer has handled the request.
    Response,
    Both,
}

impl FaultKind {
    pub const ALL: [FaultKind; 20] = [
        FaultKind::Crash,
        FaultKind::Pause,
        FaultKind::Isolate,
        FaultKind::Split,
        FaultKind::OneWay,
        FaultKind::Bridge,
        FaultKind::StoreCut,
        FaultKind::DropRequest,
        FaultKind::DropResponse,
        FaultKind::DuplicateRequest,
        FaultKind::Delay,
        FaultKind::ClockOffset,
        FaultKind::ClockDrift,
        FaultKind::ClockStep,
        FaultKind::ClockSlew,
        FaultKind::StoreSlow,
        FaultKind::StoreUnavailable,
        FaultKind::TaskPanic,
        FaultKind::TaskFail,
        FaultKind::TaskHang,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Crash => "crash",
            FaultKind::Pause => "pause",
            FaultKind::Isolate => "isolate",
            FaultKind::Split => "split",
            FaultKind::OneWay => "one_way",
            FaultKind::Bridge => "bridge",
            FaultKind::StoreCut => "store_cut",
            FaultKind::DropRequest => "drop_request",
            FaultKind::DropResponse => "drop_response",
            FaultKind::DuplicateRequest => "duplicate_request",
            FaultKind::Delay => "delay",
            FaultKind::ClockOffset => "clock_offset",
            FaultKind::ClockDrift => "clock_drift",
            FaultKind::ClockStep => "clock_step",
            FaultKind::ClockSlew => "clock_slew",
            FaultKind::StoreSlow => "store_slow",
            FaultKind::StoreUnavailable => "store_unavailable",
            FaultKind::TaskPanic => "task_panic",
            FaultKind::TaskFail => "task_fail",
            FaultKind::TaskHang => "task_hang",
        }
    }

    /// The keys this kind needs, and the keys it may take besides [`COMMON`].
    pub fn keys(self) -> (&'static [&'static str], &'static [&'static str]) {
        use FaultKind::*;
        match self {
            Crash => (&["target"], &["restart_after_ms"]),
            Pause | Isolate | StoreCut => (&["target", "duration_ms"], &[]),
            Bridge => (&["target", "duration_ms"], &["groups"]),
            Split => (&["duration_ms"], &["groups"]),
            OneWay => (&["target", "peer", "duration_ms"], &[]),
            DropRequest | DropResponse | DuplicateRequest => (&["target", "duration_ms"], &["peer", "probability"]),
            Delay => (&["target", "duration_ms", "delay_ms"], &["peer", "probability", "direction"]),
            ClockOffset | ClockStep => (&["target", "offset_ms"], &["duration_ms"]),
            ClockDrift => (&["target", "rate"], &["duration_ms"]),
            ClockSlew => (&["target", "offset_ms", "slew_rate"], &[]),
            StoreSlow => (&["duration_ms", "delay_ms"], &["probability", "direction"]),
            StoreUnavailable => (&["duration_ms"], &[]),
            TaskPanic | TaskFail | TaskHang => (&["target", "duration_ms"], &["probability"]),
        }
    }

    /// Faults on a node's outgoing calls (the fault layer in its transport).
    pub fn is_message(self) -> bool {
        matches!(
            self,
            FaultKind::DropRequest | FaultKind::DropResponse | FaultKind::DuplicateRequest | FaultKind::Delay
        )
    }

    pub fn is_clock(self) -> bool {
        matches!(self, FaultKind::ClockOffset | FaultKind::ClockDrift | FaultKind::ClockStep | FaultKind::ClockSlew)
    }
}

/// Fire `after_ms` after the `nth` event named `event` is recorded by a node matching
/// `node` (or, for `fault_begin` and `fault_end`, by the fault named `fault`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// An event name from the history, e.g. `dispatch`, `leader_elected`, `executor_dead`,
    /// or `fault_begin` / `fault_end` (a fault taking effect or healing).
    pub event: String,
    /// Only events recorded by this node or role (`leader` and `standby` match any
    /// coordinator, `executor` any executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Target>,
    /// `fault_begin`, `fault_end`: only that named fault's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    #[serde(default = "first")]
    pub nth: u32,
    /// Wait this long after the event before firing, ms.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub after_ms: u64,
}

fn first() -> u32 {
    1
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Trigger events that are the nemesis's own: a fault taking effect, or healing.
pub const FAULT_EVENTS: &[&str] = &["fault_begin", "fault_end"];

/// Events a trigger may name (the `event` tags of the history).
pub const TRIGGER_EVENTS: &[&str] = &[
    "submit",
    "ack",
    "persist",
    "dispatch",
    "start",
    "reject",
    "apply",
    "complete",
    "retry",
    "succeeded",
    "dead_lettered",
    "recovered",
    "executor_dead",
    "executor_quarantined",
    "executor_released",
    "zone_avoided",
    "leader_elected",
    "leader_lost",
    "keep_alive_sent",
    "node_start",
    "job_created",
    "job_paused",
    "job_resumed",
    "job_deleted",
    "fire",
    "fire_skipped",
    "fault_begin",
    "fault_end",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Repeat {
    /// From one firing to the next, ms.
    pub every_ms: u64,
    /// Firings in all, the first included.
    pub times: u32,
    /// Each gap is `every_ms` plus a draw uniform in `0..=jitter_ms` (a flapping link's
    /// irregular rhythm).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub jitter_ms: u64,
}

/// Whom a fault hits: one node by name, a role resolved when the fault fires, or a set.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// The coordinator leading the highest live epoch.
    Leader,
    /// A live coordinator that does not lead.
    Standby,
    /// A live executor, drawn from the seed.
    Executor,
    Store,
    Sink,
    /// Every coordinator.
    Coordinators,
    /// Every executor.
    Executors,
    /// Every node placed in the zone.
    Zone(String),
    /// Every node in the zone of the coordinator leading the highest live epoch.
    LeaderZone,
    /// The nodes the fault named here hit at its latest firing (its target, not its peers).
    Hit(String),
    Node(String),
}

impl std::str::FromStr for Target {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "leader" => Target::Leader,
            "standby" => Target::Standby,
            "executor" => Target::Executor,
            "store" => Target::Store,
            "sink" => Target::Sink,
            "coordinators" => Target::Coordinators,
            "executors" => Target::Executors,
            "leader_zone" => Target::LeaderZone,
            _ => match (s.strip_prefix("zone:"), s.strip_prefix("hit:")) {
                (Some(zone), _) => Target::Zone(zone.to_string()),
                (_, Some(fault)) => Target::Hit(fault.to_string()),
                _ => Target::Node(s.to_string()),
            },
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Leader => f.write_str("leader"),
            Target::Standby => f.write_str("standby"),
            Target::Executor => f.write_str("executor"),
            Target::Store => f.write_str("store"),
            Target::Sink => f.write_str("sink"),
            Target::Coordinators => f.write_str("coordinators"),
            Target::Executors => f.write_str("executors"),
            Target::Zone(zone) => write!(f, "zone:{zone}"),
            Target::LeaderZone => f.write_str("leader_zone"),
            Target::Hit(fault) => write!(f, "hit:{fault}"),
            Target::Node(name) => f.write_str(name),
        }
    }
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(s.parse().expect("infallible"))
    }
}

impl Fault {
    /// The keys this fault sets, in table order.
    fn keys_set(&self) -> Vec<&'static str> {
        let set = [
            ("name", self.name.is_some()),
            ("at_ms", self.at_ms.is_some()),
            ("trigger", self.trigger.is_some()),
            ("target", self.target.is_some()),
            ("duration_ms", self.duration_ms.is_some()),
            ("restart_after_ms", self.restart_after_ms.is_some()),
            ("repeat", self.repeat.is_some()),
            ("groups", self.groups.is_some()),
            ("peer", self.peer.is_some()),
            ("probability", self.probability.is_some()),
            ("delay_ms", self.delay_ms.is_some()),
            ("direction", self.direction.is_some()),
            ("offset_ms", self.offset_ms.is_some()),
            ("rate", self.rate.is_some()),
            ("slew_rate", self.slew_rate.is_some()),
        ];
        set.into_iter().filter(|(_, on)| *on).map(|(k, _)| k).collect()
    }

    /// The chance each call or body is hit.
    pub fn probability(&self) -> f64 {
        self.probability.unwrap_or(1.0)
    }

    /// Checks the keys against the kind, and every parameter and target. `index` is the
    /// fault's place in the file (errors point into its table); `names` are the names of
    /// the file's faults (`hit:NAME` and a trigger's `fault` must name another one).
    pub(crate) fn validate(
        &self,
        index: usize,
        path: &Path,
        text: &str,
        nodes: &[String],
        zones: &[String],
        names: &[&str],
    ) -> Result<(), ScenarioError> {
        self.check_keys()
            .and_then(|()| self.check_when(names))
            .and_then(|()| self.check_values())
            .and_then(|()| self.check_targets(nodes, zones, names))
            .map_err(|(key, message)| ScenarioError::in_fault(path, text, index, &key, &message))
    }

    /// Every key set applies to the kind, and every key it needs is set.
    fn check_keys(&self) -> Result<(), (String, String)> {
        let kind = self.kind.name();
        let (required, optional) = self.kind.keys();
        let set = self.keys_set();
        for key in &set {
            if !COMMON.contains(key) && !required.contains(key) && !optional.contains(key) {
                let takes: Vec<&str> = required.iter().chain(optional).copied().collect();
                let message = format!("`{key}` does not apply to kind `{kind}`, which takes: {}", takes.join(", "));
                return Err((key.to_string(), message));
            }
        }
        for key in required {
            if !set.contains(key) {
                return Err(("kind".into(), format!("kind `{kind}` needs `{key}`")));
            }
        }
        Ok(())
    }

    /// When it fires: `at_ms` or a trigger on a known event, a name of its own, a repeat
    /// that heals before it fires again.
    fn check_when(&self, names: &[&str]) -> Result<(), (String, String)> {
        let kind = self.kind.name();
        let err = |key: &str, message: String| Err((key.to_string(), message));
        if self.at_ms.is_none() && self.trigger.is_none() {
            return err("kind", format!("fault `{kind}` needs `at_ms` or `trigger` to say when it fires"));
        }
        if let Some(name) = &self.name {
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
                return err("name", format!("expected a fault name of letters, digits, - and _, found `{name}`"));
            }
        }
        if let Some(trigger) = &self.trigger {
            if !TRIGGER_EVENTS.contains(&trigger.event.as_str()) {
                return err(
                    "event",
                    format!("unknown event `{}`, expected one of: {}", trigger.event, TRIGGER_EVENTS.join(", ")),
                );
            }
            if trigger.nth == 0 {
                return err("nth", "expected nth >= 1".into());
            }
            let of_fault = FAULT_EVENTS.contains(&trigger.event.as_str());
            if of_fault && trigger.node.is_some() {
                return err(
                    "event",
                    format!("`node` does not apply to `{}`: name the fault with `fault`", trigger.event),
                );
            }
            if let Some(name) = &trigger.fault {
                if !of_fault {
                    return err("event", format!("`fault` applies to {} only", FAULT_EVENTS.join(" and ")));
                }
                self.other_fault(name, names).map_err(|message| ("event".to_string(), message))?;
            }
            if trigger.after_ms > MAX_WAIT_MS {
                return err("after_ms", format!("expected after_ms <= {MAX_WAIT_MS}"));
            }
        }
        if let Some(r) = &self.repeat {
            if r.times == 0 || r.every_ms == 0 {
                return err("repeat", "expected repeat = { every_ms >= 1, times >= 1 }".into());
            }
            if r.jitter_ms > MAX_WAIT_MS {
                return err("repeat", format!("expected jitter_ms <= {MAX_WAIT_MS}"));
            }
            let busy = self.duration_ms.unwrap_or(0).max(self.restart_after_ms.unwrap_or(0));
            if r.times > 1 && r.every_ms <= busy {
                return err("repeat", format!("expected every_ms > {busy}: a firing must heal before the next"));
            }
        }
        Ok(())
    }

    /// Another fault's name: a fault cannot wait for (or hit what was hit by) itself.
    fn other_fault(&self, name: &str, names: &[&str]) -> Result<(), String> {
        if self.name.as_deref() == Some(name) {
            return Err(format!("fault `{name}` cannot refer to itself"));
        }
        if !names.contains(&name) {
            let known = if names.is_empty() { "none (give a fault `name = \"...\"`)".into() } else { names.join(", ") };
            return Err(format!("no fault is named `{name}`; named faults: {known}"));
        }
        Ok(())
    }

    /// Durations, probabilities, clock rates and offsets in range.
    fn check_values(&self) -> Result<(), (String, String)> {
        let err = |key: &str, message: String| Err((key.to_string(), message));
        if matches!(self.duration_ms, Some(0)) {
            return err("duration_ms", "expected duration_ms >= 1".into());
        }
        if self.probability.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return err("probability", format!("expected a probability in (0, 1], found {}", self.probability()));
        }
        if self.rate.is_some_and(|r| !(0.5..=2.0).contains(&r)) {
            return err("rate", format!("expected a clock rate in 0.5..=2.0, found {}", self.rate.unwrap_or(0.0)));
        }
        if self.slew_rate.is_some_and(|r| !(r > 0.0 && r < 0.5)) {
            return err("slew_rate", "expected a slew rate in (0, 0.5) ms per ms".into());
        }
        if self.offset_ms.is_some_and(|o| o.unsigned_abs() > 3_600_000) {
            return err("offset_ms", "expected |offset_ms| <= 3600000".into());
        }
        Ok(())
    }

    /// Targets, peers, groups and a trigger's node name nodes that exist and can take the
    /// kind.
    fn check_targets(&self, nodes: &[String], zones: &[String], names: &[&str]) -> Result<(), (String, String)> {
        let err = |key: &str, message: String| Err((key.to_string(), message));
        // The client may only lose, duplicate or delay its calls: a crash would resubmit.
        let client_ok = self.kind.is_message();
        let targets = self.target.iter().chain(&self.peer).chain(self.groups.iter().flatten().flatten());
        let trigger_node = self.trigger.as_ref().and_then(|t| t.node.as_ref());
        for (t, client_ok) in targets.map(|t| (t, client_ok)).chain(trigger_node.map(|t| (t, false))) {
            let check = match t {
                Target::Hit(name) => self.other_fault(name, names),
                _ => check_target(t, nodes, zones, client_ok),
            };
            check.map_err(|message| (t.to_string(), message))?;
        }
        if self.kind.is_clock() {
            if let Some(t @ (Target::Store | Target::Sink)) = &self.target {
                let message =
                    format!("the {t} keeps no time of its own: clock faults target coordinators and executors");
                return err(&t.to_string(), message);
            }
            if let Some(Target::Node(n)) = &self.target {
                if !(n.starts_with("coord-") || n.starts_with("exec-")) {
                    return err(
                        n,
                        format!("`{n}` keeps no time of its own: clock faults target coordinators and executors"),
                    );
                }
            }
        }
        if let Some(groups) = &self.groups {
            if groups.len() < 2 || groups.iter().any(Vec::is_empty) {
                return err("groups", "expected at least two non-empty groups".into());
            }
            if self.kind == FaultKind::Bridge && groups.len() != 2 {
                return err("groups", "expected the bridge's two halves: groups = [[...], [...]]".into());
            }
        }
        Ok(())
    }
}

/// The longest wait a trigger's `after_ms` or a repeat's `jitter_ms` may add, ms.
const MAX_WAIT_MS: u64 = 3_600_000;

fn check_target(t: &Target, nodes: &[String], zones: &[String], client_ok: bool) -> Result<(), String> {
    match t {
        Target::Node(name) if name == "client" && client_ok => Ok(()),
        Target::Node(name) if name == "client" || !nodes.contains(name) => Err(format!(
            "unknown target `{name}`, expected leader, standby, executor, store, sink, coordinators, executors, \
             zone:NAME, leader_zone, hit:FAULT or one of: {}",
            nodes.iter().filter(|n| *n != "client").cloned().collect::<Vec<_>>().join(", ")
        )),
        Target::Zone(zone) if !zones.contains(zone) => {
            Err(format!("unknown zone `{zone}`, expected one of: {}", zones.join(", ")))
        }
        _ => Ok(()),
    }
}
