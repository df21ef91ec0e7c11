//! Swarm mode (after TigerBeetle's `options_swarm`): the seed draws which fault kinds are
//! enabled, how often each fires, how long it lasts and how hard it hits, then a timeline
//! of faults from those options. Different seeds explore different corners: one seed may
//! only drop replies, another crash-loop an executor under clock drift.
//!
//! Must run inside the simulation: every draw comes from madsim's seeded generator.

use crate::scenario::{DurationRange, Fault, FaultKind, Repeat, Scenario, Swarm, Target};
use rand::Rng as _;

/// What one seed drew for one enabled kind.
struct KindOptions {
    kind: FaultKind,
    /// Relative rate among the enabled kinds.
    weight: f64,
    /// Typical duration, ms.
    duration_ms: u64,
    /// How hard it hits, in (0, 1]: probabilities, offsets and delays scale with it.
    intensity: f64,
}

/// The drawn faults, and the options line printed at the start of the run.
pub struct Drawn {
    pub faults: Vec<Fault>,
    pub options: String,
}

pub fn draw(swarm: &Swarm, scenario: &Scenario) -> Drawn {
    let mut rng = crate::sim::SeededRng;
    let mut kinds: Vec<FaultKind> = swarm.kinds.clone();
    kinds.sort();
    kinds.dedup();
    let mut enabled: Vec<FaultKind> = kinds.iter().copied().filter(|_| rng.gen_bool(0.5)).collect();
    if enabled.is_empty() {
        enabled.push(kinds[rng.gen_range(0..kinds.len())]);
    }
    let options: Vec<KindOptions> = enabled
        .into_iter()
        .map(|kind| KindOptions {
            kind,
            weight: rng.gen_range(1.0..4.0),
            duration_ms: rng.gen_range(swarm.max_duration_ms / 10..=swarm.max_duration_ms),
            intensity: rng.gen_range(0.2..=1.0),
        })
        .collect();
    let count = rng.gen_range(1..=swarm.max_faults);
    let total: f64 = options.iter().map(|o| o.weight).sum();
    let mut faults: Vec<Fault> = (0..count)
        .map(|_| {
            let mut x = rng.gen_range(0.0..total);
            let o = options.iter().find(|o| {
                x -= o.weight;
                x < 0.0
            });
            let o = o.unwrap_or(&options[options.len() - 1]);
            let at_ms = rng.gen_range(swarm.start_ms..swarm.end_ms);
            let duration = rng.gen_range(o.duration_ms / 2..=o.duration_ms).max(10);
            one(o, at_ms, duration, scenario, &mut rng)
        })
        .collect();
    faults.sort_by_key(|f| f.at_ms);
    let described: Vec<String> = options
        .iter()
        .map(|o| {
            format!("{} (weight {:.1}, ~{} ms, intensity {:.2})", o.kind.name(), o.weight, o.duration_ms, o.intensity)
        })
        .collect();
    let options = format!(
        "{} of {} kinds enabled: {}; {} faults between {} and {} ms",
        options.len(),
        kinds.len(),
        described.join(", "),
        faults.len(),
        swarm.start_ms,
        swarm.end_ms
    );
    Drawn { faults, options }
}

fn choose(rng: &mut impl rand::Rng, targets: &[Target]) -> Target {
    targets[rng.gen_range(0..targets.len())].clone()
}

/// One fault of kind `o.kind`, firing at `at_ms` for `duration` ms.
fn one(o: &KindOptions, at_ms: u64, duration: u64, scenario: &Scenario, rng: &mut impl rand::Rng) -> Fault {
    use FaultKind::*;
    use Target::*;
    let mut f = Fault {
        kind: o.kind,
        name: None,
        at_ms: Some(at_ms),
        trigger: None,
        target: None,
        duration_ms: Some(duration),
        restart_after_ms: None,
        repeat: None,
        groups: None,
        peer: None,
        probability: None,
        delay_ms: None,
        direction: None,
        offset_ms: None,
        rate: None,
        slew_rate: None,
    };
    let zones = &scenario.topology.zones;
    let zone = Zone(zones[rng.gen_range(0..zones.len())].clone());
    let sign = if rng.gen_bool(0.5) { 1 } else { -1 };
    let p = (o.intensity * 100.0).round() / 100.0;
    match o.kind {
        Crash => {
            f.target = Some(choose(rng, &[Leader, Standby, Executor, Executor, Store]));
            f.restart_after_ms = f.duration_ms.take();
            if rng.gen_bool(0.2) {
                f.target = Some(Executor);
                f.repeat = Some(Repeat { every_ms: duration + 500, times: 3, jitter_ms: 0 });
            }
        }
        Pause => f.target = Some(choose(rng, &[Leader, Standby, Executor, Store])),
        Isolate => f.target = Some(choose(rng, &[Leader, Standby, Executor, Sink])),
        Split => {
            if zones.len() >= 2 && rng.gen_bool(0.5) {
                let a = rng.gen_range(0..zones.len());
                let b = (a + rng.gen_range(1..zones.len())) % zones.len();
                f.groups = Some(vec![vec![Zone(zones[a].clone())], vec![Zone(zones[b].clone())]]);
            }
        }
        OneWay => {
            f.target = Some(choose(rng, &[Leader, Standby, Executor]));
            f.peer = Some(choose(rng, &[Store, Sink, Executors, Coordinators]));
        }
        Bridge => f.target = Some(choose(rng, &[Leader, Standby])),
        StoreCut => f.target = Some(choose(rng, &[Leader, Standby])),
        DropRequest | DropResponse | DuplicateRequest => {
            f.target = Some(choose(rng, &[Executors, Executor, Node("client".into()), Coordinators]));
            f.probability = Some(p.max(0.01));
        }
        Delay => {
            f.target = Some(choose(rng, &[Executors, Executor, Node("client".into()), Coordinators]));
            f.delay_ms = Some(DurationRange { min: 0, max: (o.intensity * 300.0) as u64 });
        }
        ClockOffset | ClockStep => {
            f.target = Some(choose(rng, &[Leader, Standby, Executor, zone]));
            f.offset_ms = Some(sign * (o.intensity * 3_000.0) as i64);
        }
        ClockDrift => {
            f.target = Some(choose(rng, &[Leader, Standby, Executor]));
            f.rate = Some(1.0 + sign as f64 * (o.intensity * 0.1 * 1000.0).round() / 1000.0);
        }
        ClockSlew => {
            f.target = Some(choose(rng, &[Leader, Standby, Executor]));
            f.offset_ms = Some(sign * (o.intensity * 2_000.0) as i64);
            f.slew_rate = Some(0.2);
            f.duration_ms = None;
        }
        StoreSlow => {
            f.target = None;
            f.delay_ms = Some(DurationRange { min: 0, max: (o.intensity * 200.0) as u64 });
        }
        StoreUnavailable => {}
        TaskPanic | TaskFail | TaskHang => {
            f.target = Some(choose(rng, &[Executor, Executors, zone]));
            f.probability = Some((p * 0.5).max(0.01));
        }
    }
    f
}
