//! Shrinking a failing scenario to a minimal one that still fails the same way: fewer
//! faults (delta debugging, Zeller's ddmin, over the fault schedule), shorter fault
//! windows, fewer tasks (an earlier stop: a run ends once its tasks drain), fewer
//! executors and coordinators, then a shorter workload window and drain. Those two are
//! cut only while the verdict stays exactly the same (the same violations on the same
//! subjects): a run cut short "loses" tasks that were merely unfinished, which would fake
//! the failure. With known bugs on, every kept candidate must also pass with the bugs off.
//! The minimal file says what it is in its description and writes only the keys that
//! differ from the defaults.
//!
//! A swarm scenario is first made explicit: the faults its seed drew become `[[faults]]`
//! and the `[swarm]` section goes. That changes the seed's random stream (the draw no
//! longer consumes it), so the explicit form is tried on the failing seed and then on a
//! few others; the seed that fails is the one the minimal file records. Every candidate
//! is written as TOML and parsed back with the strict parser, so the minimal file is one
//! `faultline run` accepts, and it is judged by running it: it must show a violation of
//! the same kind (or panic again, for a panic).

use crate::scenario::{Fault, Scenario};
use crate::sim::{run_seed, RunOutcome};
use std::path::Path;

/// How big a scenario is.
#[derive(Clone, Debug, PartialEq)]
pub struct Size {
    pub faults: usize,
    pub tasks: u64,
    /// Coordinators, executors, and the store, sink and client.
    pub nodes: u64,
    /// Simulated seconds the failing run took.
    pub sim_s: f64,
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} faults, {} tasks, {} nodes, {:.1} simulated s", self.faults, self.tasks, self.nodes, self.sim_s)
    }
}

pub struct Shrunk {
    pub scenario: Scenario,
    /// The minimal scenario as TOML (without its `[reproduce]` table).
    pub text: String,
    pub seed: u64,
    pub outcome: RunOutcome,
    pub before: Size,
    pub after: Size,
    /// Runs it took.
    pub runs: u32,
}

/// Seeds tried, after the failing one, when the swarm is made explicit.
const OTHER_SEEDS: u64 = 16;

struct Shrinker<'a> {
    path: &'a Path,
    kind: &'a str,
    runs: u32,
    log: &'a mut dyn FnMut(&str),
}

impl Shrinker<'_> {
    /// The candidate's run on `seed` when it is valid and fails the same way.
    fn fails(&mut self, candidate: &Scenario, seed: u64) -> Option<(String, RunOutcome)> {
        let text = to_text(self.path, candidate)?;
        let parsed = Scenario::parse(self.path, &text).ok()?;
        self.runs += 1;
        let outcome = run_seed(&parsed, seed);
        let same = match self.kind {
            "panic" => outcome.panic.is_some(),
            kind => outcome.check.violations.iter().any(|v| v.kind.name() == kind),
        };
        if !same {
            return None;
        }
        // With known bugs on, the candidate must also pass with them off: the failure has to
        // stay the bug's, not become the smaller scenario's own.
        if !parsed.bugs.is_empty() {
            self.runs += 1;
            let correct = Scenario { bugs: Vec::new(), expect: None, ..parsed.clone() };
            if !run_seed(&correct, seed).passed() {
                return None;
            }
        }
        Some((text, outcome))
    }

    /// Keeps `candidate` if it still fails on `seed`.
    fn keep(&mut self, best: &mut Scenario, candidate: Scenario, seed: u64, what: &str) -> bool {
        if self.fails(&candidate, seed).is_none() {
            return false;
        }
        (self.log)(&format!("  kept: {what}"));
        *best = candidate;
        true
    }

    /// ddmin over the fault list: the smallest subset (1-minimal) that still fails.
    fn faults(&mut self, best: &mut Scenario, seed: u64) {
        let with = |s: &Scenario, faults: Vec<Fault>| Scenario { faults, ..s.clone() };
        if !best.faults.is_empty() && self.keep(best, with(best, Vec::new()), seed, "no faults at all") {
            return;
        }
        let mut n = 2;
        while best.faults.len() >= 2 {
            let items = best.faults.clone();
            let chunk = items.len().div_ceil(n);
            let parts: Vec<Vec<Fault>> = items.chunks(chunk).map(|c| c.to_vec()).collect();
            let mut reduced = false;
            for (i, part) in parts.iter().enumerate() {
                let what = format!("{} of {} faults (subset)", part.len(), items.len());
                if self.keep(best, with(best, part.clone()), seed, &what) {
                    n = 2;
                    reduced = true;
                    break;
                }
                let rest: Vec<Fault> =
                    parts.iter().enumerate().filter(|(j, _)| *j != i).flat_map(|(_, p)| p.clone()).collect();
                let what = format!("{} of {} faults (complement)", rest.len(), items.len());
                if parts.len() > 2 && self.keep(best, with(best, rest), seed, &what) {
                    n = (n - 1).max(2);
                    reduced = true;
                    break;
                }
            }
            if !reduced {
                if n >= items.len() {
                    return;
                }
                n = (n * 2).min(items.len());
            }
        }
    }

    /// Halves each fault's window and restart delay, and cuts repeats, while it fails.
    fn windows(&mut self, best: &mut Scenario, seed: u64) {
        for i in 0..best.faults.len() {
            type Get = fn(&mut Fault) -> &mut Option<u64>;
            let fields: [(&str, Get); 2] =
                [("duration_ms", |f| &mut f.duration_ms), ("restart_after_ms", |f| &mut f.restart_after_ms)];
            for (name, field) in fields {
                loop {
                    let mut candidate = best.clone();
                    let Some(value) = *field(&mut candidate.faults[i]) else { break };
                    if value <= 10 {
                        break;
                    }
                    *field(&mut candidate.faults[i]) = Some((value / 2).max(10));
                    let what = format!("fault {} {name} {value} -> {}", i + 1, (value / 2).max(10));
                    if !self.keep(best, candidate, seed, &what) {
                        break;
                    }
                }
            }
            while let Some(r) = best.faults[i].repeat {
                let mut candidate = best.clone();
                candidate.faults[i].repeat =
                    (r.times > 2).then_some(crate::scenario::Repeat { times: r.times - 1, ..r });
                if !self.keep(best, candidate, seed, &format!("fault {} repeats {} -> {}", i + 1, r.times, r.times - 1))
                {
                    break;
                }
            }
        }
    }

    /// A shorter workload window and drain (halved, down to 1 s), while the verdict stays
    /// the same: the same violations on the same subjects, none new.
    fn stop(&mut self, best: &mut Scenario, seed: u64) {
        let Some((_, outcome)) = self.fails(best, seed) else { return };
        let before = verdict(&outcome);
        type Get = fn(&mut Scenario) -> &mut u64;
        let fields: [(&str, Get); 2] =
            [("workload_s", |s| &mut s.limits.workload_s), ("drain_s", |s| &mut s.limits.drain_s)];
        for (name, field) in fields {
            loop {
                let mut candidate = best.clone();
                let value = *field(&mut candidate);
                if value <= 1 {
                    break;
                }
                *field(&mut candidate) = value / 2;
                let same = self.fails(&candidate, seed).is_some_and(|(_, o)| verdict(&o) == before);
                if !same {
                    break;
                }
                (self.log)(&format!("  kept: {name} {value} -> {}", value / 2));
                *best = candidate;
            }
        }
    }

    /// Fewer tasks, executors and coordinators, while it fails.
    fn workload(&mut self, best: &mut Scenario, seed: u64) {
        while best.workload.tasks > 1 {
            let mut c = best.clone();
            c.workload.tasks /= 2;
            if !self.keep(best, c, seed, &format!("{} tasks -> {}", best.workload.tasks, best.workload.tasks / 2)) {
                break;
            }
        }
        while best.topology.executors > 1 {
            let mut c = best.clone();
            c.topology.executors -= 1;
            if !self.keep(
                best,
                c,
                seed,
                &format!("{} executors -> {}", best.topology.executors, best.topology.executors - 1),
            ) {
                break;
            }
        }
        while best.topology.coordinators > 1 {
            let mut c = best.clone();
            c.topology.coordinators -= 1;
            let n = best.topology.coordinators;
            if !self.keep(best, c, seed, &format!("{n} coordinators -> {}", n - 1)) {
                break;
            }
        }
    }
}

/// A run's verdict as the stop-shortening compares it: each violation's kind and subject.
fn verdict(o: &RunOutcome) -> Vec<(&'static str, String)> {
    let mut v: Vec<_> = o.check.violations.iter().map(|v| (v.kind.name(), v.subject.clone())).collect();
    v.sort();
    v.dedup();
    v
}

/// The scenario as a TOML file `faultline` parses back, with only the keys that differ
/// from the defaults (`None` if it cannot be written). `path` names the file it is parsed
/// as (its stem is the default name).
pub fn to_text(path: &Path, s: &Scenario) -> Option<String> {
    let s = Scenario { reproduce: None, ..s.clone() };
    let full = toml::Table::try_from(&s).ok()?;
    let defaults = Scenario::parse(path, "").ok().and_then(|d| toml::Table::try_from(&d).ok())?;
    let text = toml::to_string(&without_defaults(full.clone(), &defaults)).ok()?;
    // Keep the short form only if it parses back to the same scenario.
    match Scenario::parse(path, &text) {
        Ok(parsed) if parsed == s => Some(text),
        _ => toml::to_string(&full).ok(),
    }
}

/// `table` without the keys whose values equal `defaults`': top-level keys, and each
/// section's keys (a nested table inside a section goes only when it equals as a whole).
fn without_defaults(mut table: toml::Table, defaults: &toml::Table) -> toml::Table {
    table.retain(|key, value| {
        let Some(default) = defaults.get(key) else { return true };
        if let (toml::Value::Table(section), toml::Value::Table(default)) = (&mut *value, default) {
            section.retain(|k, v| default.get(k) != Some(v));
            return !section.is_empty();
        }
        value != default
    });
    table
}

fn size(s: &Scenario, o: &RunOutcome) -> Size {
    let faults = if s.swarm.is_some() { o.planned.len() } else { s.faults.len() };
    Size {
        faults,
        tasks: s.workload.tasks,
        nodes: s.topology.coordinators + s.topology.executors + 3,
        sim_s: o.sim_ms as f64 / 1000.0,
    }
}

/// Shrinks `scenario`, which fails on `seed` with a violation of `kind` (or `panic`).
/// `path` labels parse errors. `None` when the failure does not reproduce at all.
pub fn shrink(path: &Path, scenario: &Scenario, seed: u64, kind: &str, log: &mut dyn FnMut(&str)) -> Option<Shrunk> {
    let mut sh = Shrinker { path, kind, runs: 0, log };
    let (_, first) = sh.fails(scenario, seed)?;
    let before = size(scenario, &first);
    (sh.log)(&format!("reproduced on seed {seed}: {before}"));
    let mut best = scenario.clone();
    let mut seed = seed;
    if scenario.swarm.is_some() {
        let explicit = Scenario { swarm: None, faults: first.planned.clone(), ..scenario.clone() };
        let seeds = std::iter::once(seed).chain(1..=OTHER_SEEDS);
        match seeds.into_iter().find(|s| sh.fails(&explicit, *s).is_some()) {
            Some(s) => {
                (sh.log)(&format!(
                    "  kept: the swarm's {} drawn faults as an explicit list (seed {s})",
                    explicit.faults.len()
                ));
                best = explicit;
                seed = s;
            }
            None => (sh.log)("  the explicit fault list does not fail: keeping [swarm]"),
        }
    }
    if best.swarm.is_none() {
        sh.faults(&mut best, seed);
        sh.windows(&mut best, seed);
    }
    sh.workload(&mut best, seed);
    sh.stop(&mut best, seed);
    let (_, outcome) = sh.fails(&best, seed).expect("the kept scenario fails");
    let after = size(&best, &outcome);
    best.description =
        format!("{} shrunk by faultline shrink: {kind} on seed {seed} with {after} (was {before})", scenario.name);
    let text = to_text(path, &best).expect("the kept scenario was written before");
    Some(Shrunk { scenario: best, text, seed, outcome, before, after, runs: sh.runs })
}
