//! The fault layer of a node's drivers: message faults on its outgoing RPCs (and store
//! calls), and faults in the task bodies it runs. The rules are plain data that the nemesis
//! (simulator) or the command line (real mode) installs; the transport and the executor
//! consult them on every call, so the same faults exist in both modes.
//!
//! Every effect is counted, so a fault's end event can say what it actually did.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// An inclusive range of milliseconds (`min <= max`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsRange {
    pub min: u64,
    pub max: u64,
}

/// Faults on calls from this node to `peers` (every peer when empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkRule {
    pub peers: Vec<String>,
    /// Chance the request is lost before it reaches the peer.
    pub drop_request: f64,
    /// Chance the reply is lost after the peer has handled the request (the lost ack).
    pub drop_response: f64,
    /// Chance the request is sent twice (a client retry the caller does not see).
    pub duplicate: f64,
    /// Extra delay, uniform in the range (reorders calls): before the request is sent, or
    /// on the reply once the peer has acted, as `delay_direction` says.
    pub delay: Option<MsRange>,
    /// Chance a call (or a reply) is delayed at all (`None`: every one).
    pub delay_probability: Option<f64>,
    pub delay_direction: Direction,
}

/// Which way a delay slows a call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    Request,
    Response,
    Both,
}

impl LinkRule {
    /// Whether calls to `peer` obey this rule.
    fn applies_to(&self, peer: &str) -> bool {
        self.peers.is_empty() || self.peers.iter().any(|p| p == peer)
    }

    /// This rule's delay one way (`replies`: the reply's), drawn: `None` when it delays
    /// the other way only or the draw spares this call. No draw when every call is
    /// delayed, so such a rule draws what it always drew.
    fn draw_delay(&self, replies: bool, draw: &mut impl FnMut() -> f64) -> Option<u64> {
        let way = match self.delay_direction {
            Direction::Request => !replies,
            Direction::Response => replies,
            Direction::Both => true,
        };
        let range = self.delay.filter(|_| way && self.delay_probability.is_none_or(|p| draw() < p))?;
        let ms = range.min + ((range.max - range.min + 1) as f64 * draw()) as u64;
        Some(ms.min(range.max))
    }
}

/// Faults in the task bodies this node runs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TaskRule {
    /// Chance a body panics.
    pub panic: f64,
    /// Chance a body fails.
    pub fail: f64,
    /// Chance a body hangs (past its timeout).
    pub hang: f64,
}

/// What a task body must do, drawn from the task rules in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyFault {
    Panic,
    Fail,
    Hang,
}

/// How many times each effect happened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects(BTreeMap<&'static str, u64>);

impl Effects {
    fn bump(&mut self, what: &'static str) {
        *self.0.entry(what).or_default() += 1;
    }

    pub fn get(&self, what: &str) -> u64 {
        self.0.get(what).copied().unwrap_or(0)
    }
}

impl std::fmt::Display for Effects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no effect");
        }
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k} {v}")).collect();
        f.write_str(&parts.join(", "))
    }
}

#[derive(Default)]
struct Rules {
    links: BTreeMap<u64, LinkRule>,
    tasks: BTreeMap<u64, TaskRule>,
    effects: BTreeMap<u64, Effects>,
}

/// A node's installed fault rules, shared by its drivers and the injector. Rules are keyed
/// by the id of the fault that installed them, so overlapping faults add up and each one
/// is removed on its own.
#[derive(Clone, Default)]
pub struct NodeFaults(Arc<Mutex<Rules>>);

/// What the transport must do with one call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallPlan {
    pub delay_ms: u64,
    pub drop_request: bool,
    pub duplicate: bool,
}

impl NodeFaults {
    fn rules(&self) -> std::sync::MutexGuard<'_, Rules> {
        self.0.lock().expect("fault rules poisoned")
    }

    pub fn add_link(&self, id: u64, rule: LinkRule) {
        self.rules().links.insert(id, rule);
    }

    pub fn add_task(&self, id: u64, rule: TaskRule) {
        self.rules().tasks.insert(id, rule);
    }

    /// Removes fault `id`'s rules and returns what they did.
    pub fn remove(&self, id: u64) -> Effects {
        let mut rules = self.rules();
        rules.links.remove(&id);
        rules.tasks.remove(&id);
        rules.effects.remove(&id).unwrap_or_default()
    }

    /// Draws the plan for one call to `peer`. `draw` returns a uniform number in [0, 1):
    /// madsim's seeded generator in the simulator.
    pub fn plan_call(&self, peer: &str, mut draw: impl FnMut() -> f64) -> CallPlan {
        let mut rules = self.rules();
        let Rules { links, effects, .. } = &mut *rules;
        let mut plan = CallPlan::default();
        for (id, rule) in links.iter().filter(|(_, r)| r.applies_to(peer)) {
            let effects = effects.entry(*id).or_default();
            if let Some(ms) = rule.draw_delay(false, &mut draw) {
                plan.delay_ms += ms;
                effects.bump("delayed");
            }
            if rule.drop_request > 0.0 && draw() < rule.drop_request {
                plan.drop_request = true;
                effects.bump("requests dropped");
            }
            if rule.duplicate > 0.0 && draw() < rule.duplicate {
                plan.duplicate = true;
                effects.bump("requests duplicated");
            }
        }
        plan
    }

    /// Draws whether the reply to a call to `peer`, arriving now, is lost (decided when
    /// it arrives, so a fault that begins while a call is in flight loses its reply).
    pub fn lose_reply(&self, peer: &str, mut draw: impl FnMut() -> f64) -> bool {
        let mut rules = self.rules();
        let Rules { links, effects, .. } = &mut *rules;
        for (id, rule) in links.iter().filter(|(_, r)| r.applies_to(peer)) {
            if rule.drop_response > 0.0 && draw() < rule.drop_response {
                effects.entry(*id).or_default().bump("responses dropped");
                return true;
            }
        }
        false
    }

    /// Draws how long the reply to a call to `peer`, arriving now, is held before the caller
    /// sees it (decided when it arrives, as [`NodeFaults::lose_reply`] is).
    pub fn delay_reply(&self, peer: &str, draw: impl FnMut() -> f64) -> u64 {
        self.delay_one_way(peer, true, draw)
    }

    /// Draws the delays alone for a request to `peer`: for a call that only delays obey
    /// (a campaign, which waits without a deadline for its turn to lead).
    pub fn delay_request(&self, peer: &str, draw: impl FnMut() -> f64) -> u64 {
        self.delay_one_way(peer, false, draw)
    }

    fn delay_one_way(&self, peer: &str, replies: bool, mut draw: impl FnMut() -> f64) -> u64 {
        let mut rules = self.rules();
        let Rules { links, effects, .. } = &mut *rules;
        let mut total = 0;
        for (id, rule) in links.iter().filter(|(_, r)| r.applies_to(peer)) {
            if let Some(ms) = rule.draw_delay(replies, &mut draw) {
                total += ms;
                effects.entry(*id).or_default().bump(if replies { "replies delayed" } else { "delayed" });
            }
        }
        total
    }

    /// Draws what a task body must do, if anything.
    pub fn plan_body(&self, mut draw: impl FnMut() -> f64) -> Option<BodyFault> {
        let mut rules = self.rules();
        let Rules { tasks, effects, .. } = &mut *rules;
        for (id, rule) in tasks.iter() {
            let x = draw();
            let (fault, name) = if x < rule.panic {
                (BodyFault::Panic, "bodies panicked")
            } else if x < rule.panic + rule.fail {
                (BodyFault::Fail, "bodies failed")
            } else if x < rule.panic + rule.fail + rule.hang {
                (BodyFault::Hang, "bodies hung")
            } else {
                continue;
            };
            effects.entry(*id).or_default().bump(name);
            return Some(fault);
        }
        None
    }
}

/// Parses `key=value,...` pairs, as the real-mode command line takes rules.
fn pairs(spec: &str) -> impl Iterator<Item = Result<(&str, &str), String>> {
    spec.split(',').filter(|p| !p.trim().is_empty()).map(|pair| {
        pair.split_once('=')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| format!("expected key=value, found `{pair}`"))
    })
}

fn chance(key: &str, value: &str) -> Result<f64, String> {
    match value.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{key}: expected a probability in [0, 1], found `{value}`")),
    }
}

impl std::str::FromStr for LinkRule {
    type Err = String;

    /// `peer=NAME,drop_request=P,drop_response=P,duplicate=P,delay_ms=MIN..MAX,delay_probability=P,
    /// delay_direction=request|response|both` (all optional).
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut rule = LinkRule::default();
        for pair in pairs(spec) {
            let (key, value) = pair?;
            match key {
                "peer" => rule.peers.push(value.to_string()),
                "drop_request" => rule.drop_request = chance(key, value)?,
                "drop_response" => rule.drop_response = chance(key, value)?,
                "duplicate" => rule.duplicate = chance(key, value)?,
                "delay_probability" => rule.delay_probability = Some(chance(key, value)?),
                "delay_direction" => {
                    rule.delay_direction = match value {
                        "request" => Direction::Request,
                        "response" => Direction::Response,
                        "both" => Direction::Both,
                        _ => return Err(format!("delay_direction: expected request, response or both, found `{value}`")),
                    }
                }
                "delay_ms" => {
                    let range = value.split_once("..").and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)));
                    match range {
                        Some((min, max)) if min <= max => rule.delay = Some(MsRange { min, max }),
                        _ => return Err(format!("delay_ms: expected MIN..MAX in ms, found `{value}`")),
                    }
                }
                _ => {
                    return Err(format!(
                        "unknown key `{key}`, expected peer, drop_request, drop_response, duplicate, delay_ms, delay_probability or delay_direction"
                    ))
                }
            }
        }
        Ok(rule)
    }
}

impl std::str::FromStr for TaskRule {
    type Err = String;

    /// `panic=P,fail=P,hang=P` (all optional).
    fn from_str(spec: &str) -> Result<Self, String> {
        let mut rule = TaskRule::default();
        for pair in pairs(spec) {
            let (key, value) = pair?;
            match key {
                "panic" => rule.panic = chance(key, value)?,
                "fail" => rule.fail = chance(key, value)?,
                "hang" => rule.hang = chance(key, value)?,
                _ => return Err(format!("unknown key `{key}`, expected panic, fail or hang")),
            }
        }
        if rule.panic + rule.fail + rule.hang > 1.0 {
            return Err("panic + fail + hang must not exceed 1".into());
        }
        Ok(rule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn always(p: f64) -> LinkRule {
        LinkRule { drop_request: p, drop_response: p, duplicate: p, ..LinkRule::default() }
    }

    #[test]
    fn rules_apply_to_their_peer_only_and_count_effects() {
        let faults = NodeFaults::default();
        faults.add_link(1, LinkRule { peers: vec!["sink".into()], ..always(1.0) });
        let plan = faults.plan_call("coord-1", || 0.0);
        assert_eq!(plan, CallPlan::default());
        let plan = faults.plan_call("sink", || 0.5);
        assert!(plan.drop_request && plan.duplicate);
        assert!(!faults.lose_reply("coord-1", || 0.0));
        assert!(faults.lose_reply("sink", || 0.5));
        let effects = faults.remove(1);
        assert_eq!(effects.get("requests dropped"), 1);
        assert_eq!(effects.to_string(), "requests dropped 1, requests duplicated 1, responses dropped 1");
        assert_eq!(faults.plan_call("sink", || 0.0), CallPlan::default());
    }

    #[test]
    fn a_delay_probability_delays_only_the_calls_it_draws() {
        let faults = NodeFaults::default();
        let range = MsRange { min: 10, max: 10 };
        faults.add_link(1, LinkRule { delay: Some(range), delay_probability: Some(0.3), ..LinkRule::default() });
        assert_eq!(faults.plan_call("x", || 0.2).delay_ms, 10, "a draw under the probability delays");
        assert_eq!(faults.plan_call("x", || 0.5).delay_ms, 0, "a draw over it does not");
        let rule: LinkRule = "delay_ms=5..5,delay_probability=0.25".parse().unwrap();
        assert_eq!(rule.delay_probability, Some(0.25));
    }

    #[test]
    fn a_delay_slows_the_way_its_direction_says() {
        let faults = NodeFaults::default();
        let range = MsRange { min: 10, max: 10 };
        let rule = |delay_direction| LinkRule { delay: Some(range), delay_direction, ..LinkRule::default() };
        faults.add_link(1, rule(Direction::Response));
        assert_eq!(faults.plan_call("x", || 0.5).delay_ms, 0, "a response delay leaves the request alone");
        assert_eq!(faults.delay_reply("x", || 0.5), 10);
        faults.add_link(2, rule(Direction::Both));
        assert_eq!(faults.plan_call("x", || 0.5).delay_ms, 10);
        assert_eq!(faults.delay_reply("x", || 0.5), 20, "both response rules add up");
        faults.add_link(3, rule(Direction::Request));
        assert_eq!(faults.plan_call("x", || 0.5).delay_ms, 20);
        assert_eq!(faults.remove(1).to_string(), "replies delayed 2");
        assert_eq!(faults.remove(2).to_string(), "delayed 2, replies delayed 1");
        let rule: LinkRule = "delay_ms=5..5,delay_direction=both".parse().unwrap();
        assert_eq!(rule.delay_direction, Direction::Both);
        assert!("delay_direction=up".parse::<LinkRule>().unwrap_err().contains("request, response or both"));
    }

    #[test]
    fn delays_add_up_and_stay_in_range() {
        let faults = NodeFaults::default();
        let range = MsRange { min: 10, max: 20 };
        faults.add_link(1, LinkRule { delay: Some(range), ..LinkRule::default() });
        faults.add_link(2, LinkRule { delay: Some(range), ..LinkRule::default() });
        assert_eq!(faults.plan_call("x", || 0.0).delay_ms, 20);
        assert_eq!(faults.plan_call("x", || 0.999_999).delay_ms, 40);
    }

    #[test]
    fn command_line_rules_parse_and_reject_bad_input() {
        let rule: LinkRule = "peer=sink, drop_response=0.25,delay_ms=5..20".parse().unwrap();
        assert_eq!(rule.peers, ["sink"]);
        assert_eq!(rule.drop_response, 0.25);
        assert_eq!(rule.delay, Some(MsRange { min: 5, max: 20 }));
        assert!("drop_request=2".parse::<LinkRule>().unwrap_err().contains("probability"));
        assert!("delay_ms=20..5".parse::<LinkRule>().unwrap_err().contains("MIN..MAX"));
        assert!("lose=1".parse::<LinkRule>().unwrap_err().contains("unknown key `lose`"));
        let task: TaskRule = "panic=0.1,hang=0.2".parse().unwrap();
        assert_eq!(task, TaskRule { panic: 0.1, fail: 0.0, hang: 0.2 });
        assert!("panic=0.6,fail=0.6".parse::<TaskRule>().is_err());
    }

    #[test]
    fn body_faults_follow_their_probabilities() {
        let faults = NodeFaults::default();
        assert_eq!(faults.plan_body(|| 0.0), None);
        faults.add_task(3, TaskRule { panic: 0.2, fail: 0.3, hang: 0.1 });
        assert_eq!(faults.plan_body(|| 0.1), Some(BodyFault::Panic));
        assert_eq!(faults.plan_body(|| 0.4), Some(BodyFault::Fail));
        assert_eq!(faults.plan_body(|| 0.55), Some(BodyFault::Hang));
        assert_eq!(faults.plan_body(|| 0.7), None);
        assert_eq!(faults.remove(3).to_string(), "bodies failed 1, bodies hung 1, bodies panicked 1");
    }
}
