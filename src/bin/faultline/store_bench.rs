//! `faultline store-bench` (real build only): the latency of a real etcd under a load shaped
//! like the scheduler's, to choose the store-call deadline and to fit the simulator's healthy
//! store latency. `--writers` sequential writers (one etcd client each, like the writers of
//! that many coordinators) each send, back to back, the txn a leader's writer sends: `when
//! fence == "x" then N puts (~400-byte JSON records) else get fence`. One more task keeps a
//! 2 s lease alive every 250 ms (the round trip from the request to its reply) and gets a
//! small prefix every 500 ms (like the not-leader hint's election lookup). Every call is timed
//! by the monotonic wall clock, in microseconds; a call that fails or takes more than 10 s
//! counts as an error, not as a sample. Slow calls whose intervals overlap are merged into
//! "slow episodes" (per threshold: how often, how long, how many clients they held up),
//! the shape of the simulator's stall model (`sim::store_latency`). The puts overwrite a bounded key space (1000 keys per
//! writer), but etcd keeps every revision until compacted: a long run against an etcd without
//! auto-compaction grows its database (about `puts * 400 B` per txn).

use anyhow::{bail, Context, Result};
use etcd_client::{Client, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp};
use faultline::node::clock::Stopwatch;
use faultline::node::NodeClock;
use serde::Serialize;
use std::path::PathBuf;

const PREFIX: &str = "/bench/";
const FENCE: &str = "/bench/fence";
const FENCE_VALUE: &str = "x";
const TASKS: &str = "/bench/tasks/";
const ELECTION: &str = "/bench/election/";
/// Bytes per put value (a task record is 300-500 bytes of JSON).
const VALUE_BYTES: usize = 400;
/// Keys each writer cycles through.
const KEYS_PER_WRITER: u64 = 1000;
/// A call slower than this is an error, not a sample.
const CALL_LIMIT_MS: u64 = 10_000;
const LEASE_TTL_S: i64 = 2;
const KEEP_ALIVE_EVERY_MS: u64 = 250;
/// Histogram bucket upper bounds, ms (the last bucket is everything from 500 ms on).
const BUCKETS_MS: [f64; 9] = [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];
const BUCKET_NAMES: [&str; 10] =
    ["<1", "1-2", "2-5", "5-10", "10-20", "20-50", "50-100", "100-200", "200-500", ">=500"];
/// Quantile levels the JSON reports (for fitting a distribution).
const LEVELS: [f64; 13] = [0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 0.9999, 1.0];
/// Slow-episode thresholds, ms.
const EPISODE_MS: [u64; 6] = [5, 10, 20, 50, 100, 200];
/// The caller id of the monitor task (writers are 1..=64).
const MONITOR: u32 = 0;

#[derive(clap::Args)]
pub struct Args {
    /// etcd endpoints, host:port (repeatable or comma-separated).
    #[arg(long, value_delimiter = ',', required = true)]
    etcd: Vec<String>,
    /// How long to measure (1..=3600).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=3600))]
    seconds: u64,
    /// Concurrent sequential writers, each with its own etcd client (1..=64).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=64))]
    writers: u64,
    /// Puts per txn (1..=128, etcd's default --max-txn-ops).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=128))]
    puts: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// One timed call: when it started (since the benchmark's start), how long it took, who sent it.
#[derive(Clone, Copy)]
struct Sample {
    at_us: u64,
    us: u64,
    caller: u32,
}

/// Samples and failures of one kind of call.
struct Calls {
    origin: Stopwatch,
    caller: u32,
    samples: Vec<Sample>,
    errors: u64,
}

impl Calls {
    fn new(origin: Stopwatch, caller: u32) -> Self {
        Calls { origin, caller, samples: Vec::new(), errors: 0 }
    }

    fn record<T, E>(&mut self, at_us: u64, result: Result<Result<T, E>, faultline::node::clock::Elapsed>) -> bool {
        match result {
            Ok(Ok(_)) => {
                let us = self.origin.elapsed_us().saturating_sub(at_us);
                self.samples.push(Sample { at_us, us, caller: self.caller });
                true
            }
            _ => {
                self.errors += 1;
                false
            }
        }
    }

    fn merge(&mut self, other: Calls) {
        self.samples.extend(other.samples);
        self.errors += other.errors;
    }
}

#[derive(Serialize)]
struct Quantile {
    level: f64,
    ms: f64,
}

#[derive(Serialize)]
struct Bucket {
    bucket: &'static str,
    count: u64,
}

#[derive(Serialize)]
struct KindReport {
    call: String,
    n: u64,
    errors: u64,
    per_second: f64,
    mean_ms: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    max_ms: f64,
    quantiles: Vec<Quantile>,
    histogram: Vec<Bucket>,
}

/// Calls of every kind slower than a threshold, their intervals merged where they overlap.
#[derive(Serialize)]
struct EpisodeReport {
    threshold_ms: u64,
    episodes: u64,
    per_second: f64,
    /// The share of the run's time inside an episode.
    time_share: f64,
    length_p50_ms: f64,
    length_p90_ms: f64,
    length_max_ms: f64,
    /// Slow calls in them.
    calls: u64,
    /// Mean number of distinct clients (writers, the monitor) an episode held up: near 1,
    /// one client's own hiccup (its thread not scheduled); near all, the store stalled.
    clients_mean: f64,
}

#[derive(Serialize)]
struct BenchReport {
    etcd: Vec<String>,
    seconds: u64,
    writers: u64,
    puts_per_txn: u64,
    value_bytes: usize,
    calls: Vec<KindReport>,
    slow_episodes: Vec<EpisodeReport>,
}

/// Nearest-rank quantile of sorted samples, ms.
fn quantile_ms(sorted_us: &[u64], level: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (level * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

fn summarize(call: &str, calls: &Calls, seconds: f64) -> KindReport {
    let mut s: Vec<u64> = calls.samples.iter().map(|x| x.us).collect();
    s.sort_unstable();
    let s = &s;
    let mut histogram: Vec<Bucket> = BUCKET_NAMES.iter().map(|&bucket| Bucket { bucket, count: 0 }).collect();
    for &us in s {
        let ms = us as f64 / 1000.0;
        let i = BUCKETS_MS.iter().position(|&upper| ms < upper).unwrap_or(BUCKETS_MS.len());
        histogram[i].count += 1;
    }
    let mean_ms = if s.is_empty() { 0.0 } else { s.iter().sum::<u64>() as f64 / s.len() as f64 / 1000.0 };
    KindReport {
        call: call.to_string(),
        n: s.len() as u64,
        errors: calls.errors,
        per_second: s.len() as f64 / seconds,
        mean_ms,
        p50_ms: quantile_ms(s, 0.5),
        p90_ms: quantile_ms(s, 0.9),
        p99_ms: quantile_ms(s, 0.99),
        p999_ms: quantile_ms(s, 0.999),
        max_ms: quantile_ms(s, 1.0),
        quantiles: LEVELS.iter().map(|&level| Quantile { level, ms: quantile_ms(s, level) }).collect(),
        histogram,
    }
}

/// Merges the overlapping intervals of the calls slower than `threshold_ms`.
fn episodes(all: &[Sample], threshold_ms: u64, seconds: f64) -> EpisodeReport {
    let mut slow: Vec<Sample> = all.iter().copied().filter(|x| x.us >= threshold_ms * 1000).collect();
    slow.sort_by_key(|x| x.at_us);
    // (start, end, clients as a bit set), in start order.
    let mut merged: Vec<(u64, u64, u128)> = Vec::new();
    for x in &slow {
        let (start, end, bit) = (x.at_us, x.at_us + x.us, 1u128 << x.caller);
        match merged.last_mut() {
            Some(last) if start <= last.1 => {
                last.1 = last.1.max(end);
                last.2 |= bit;
            }
            _ => merged.push((start, end, bit)),
        }
    }
    let mut lengths: Vec<u64> = merged.iter().map(|e| e.1 - e.0).collect();
    lengths.sort_unstable();
    let n = merged.len() as f64;
    let clients: u32 = merged.iter().map(|e| e.2.count_ones()).sum();
    EpisodeReport {
        threshold_ms,
        episodes: merged.len() as u64,
        per_second: n / seconds,
        time_share: lengths.iter().sum::<u64>() as f64 / 1e6 / seconds,
        length_p50_ms: quantile_ms(&lengths, 0.5),
        length_p90_ms: quantile_ms(&lengths, 0.9),
        length_max_ms: quantile_ms(&lengths, 1.0),
        calls: slow.len() as u64,
        clients_mean: if merged.is_empty() { 0.0 } else { clients as f64 / n },
    }
}

/// A task-record-like JSON value of exactly [`VALUE_BYTES`] bytes.
fn record(writer: u64, seq: u64) -> String {
    let mut v = format!(
        r#"{{"id":"t{writer}-{seq}","spec":{{"key":"bench-{writer}-{seq}","body":{{"sleep_ms":20}},"max_attempts":5}},"state":"assigned","attempt":1,"holder":"exec-{}","token":[{writer},{seq}],"not_before_ms":0,"pad":""#,
        seq % 2 + 1
    );
    while v.len() < VALUE_BYTES - 2 {
        v.push('.');
    }
    v.push_str("\"}");
    v
}

async fn connect(endpoints: &[String], clock: &NodeClock) -> Result<Client> {
    let client = clock.timeout(CALL_LIMIT_MS, Client::connect(endpoints, None)).await;
    match client {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => bail!("connecting to etcd at {}: {e}", endpoints.join(",")),
        Err(e) => bail!("connecting to etcd at {}: {e}", endpoints.join(",")),
    }
}

/// One writer: fenced txns of `puts` puts, back to back, until `end`.
async fn writer(endpoints: Vec<String>, id: u64, puts: u64, origin: Stopwatch, end_us: u64) -> Result<Calls> {
    let clock = NodeClock::real();
    let client = connect(&endpoints, &clock).await?;
    let mut calls = Calls::new(origin, id as u32);
    let mut seq = 0u64;
    while origin.elapsed_us() < end_us {
        let ops = (0..puts)
            .map(|_| {
                seq += 1;
                let key = format!("{TASKS}w{id}-{:04}", seq % KEYS_PER_WRITER);
                TxnOp::put(key, record(id, seq), None)
            })
            .collect::<Vec<_>>();
        let txn = Txn::new()
            .when(vec![Compare::value(FENCE, CompareOp::Equal, FENCE_VALUE)])
            .and_then(ops)
            .or_else(vec![TxnOp::get(FENCE, None)]);
        let mut kv = client.kv_client();
        let started = origin.elapsed_us();
        let result = clock.timeout(CALL_LIMIT_MS, kv.txn(txn)).await;
        let fenced = matches!(&result, Ok(Ok(resp)) if !resp.succeeded());
        if fenced {
            bail!("writer {id}: the txn's fence compare failed (is something else writing {FENCE}?)");
        }
        calls.record(started, result);
    }
    Ok(calls)
}

/// Lease keep-alives every 250 ms and a prefix get every 500 ms, until `end`.
async fn monitor(endpoints: Vec<String>, origin: Stopwatch, end_us: u64) -> Result<(Calls, Calls)> {
    let clock = NodeClock::real();
    let client = connect(&endpoints, &clock).await?;
    let (mut keep_alives, mut gets) = (Calls::new(origin, MONITOR), Calls::new(origin, MONITOR));
    let mut session = None;
    let mut tick = 0u64;
    while origin.elapsed_us() < end_us {
        if session.is_none() {
            let mut leases = client.lease_client();
            let opened = async {
                let lease = leases.grant(LEASE_TTL_S, None).await?.id();
                let mut kv = client.kv_client();
                for i in 1..=3 {
                    kv.put(format!("{ELECTION}{i}"), format!("coord-{i}"), Some(PutOptions::new().with_lease(lease)))
                        .await?;
                }
                leases.keep_alive(lease).await
            };
            match clock.timeout(CALL_LIMIT_MS, opened).await {
                Ok(Ok(s)) => session = Some(s),
                _ => keep_alives.errors += 1,
            }
        }
        if let Some((keeper, stream)) = session.as_mut() {
            let started = origin.elapsed_us();
            let round_trip = async {
                keeper.keep_alive().await?;
                match stream.message().await? {
                    Some(resp) if resp.ttl() > 0 => Ok(()),
                    _ => Err(etcd_client::Error::InvalidArgs("the lease expired".into())),
                }
            };
            if !keep_alives.record(started, clock.timeout(CALL_LIMIT_MS, round_trip).await) {
                session = None; // grant a new lease at the next tick
            }
        }
        if tick.is_multiple_of(2) {
            let mut kv = client.kv_client();
            let started = origin.elapsed_us();
            let get = kv.get(ELECTION, Some(GetOptions::new().with_prefix()));
            gets.record(started, clock.timeout(CALL_LIMIT_MS, get).await);
        }
        tick += 1;
        let next_us = tick * KEEP_ALIVE_EVERY_MS * 1000;
        clock.sleep(next_us.saturating_sub(origin.elapsed_us()) / 1000).await;
    }
    Ok((keep_alives, gets))
}

fn ms(v: f64) -> String {
    format!("{v:.3}")
}

fn markdown(report: &BenchReport) -> String {
    let mut out = format!(
        "etcd {}, {} s, {} writers, {} puts of {} B per txn\n\n",
        report.etcd.join(","),
        report.seconds,
        report.writers,
        report.puts_per_txn,
        report.value_bytes
    );
    out.push_str("| call | n | errors | per s | mean ms | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |\n");
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for k in &report.calls {
        let (n, errors, per_s) = (k.n.to_string(), k.errors.to_string(), format!("{:.1}", k.per_second));
        let quantiles = [k.mean_ms, k.p50_ms, k.p90_ms, k.p99_ms, k.p999_ms, k.max_ms].map(ms);
        out.push_str(&table_row([k.call.to_string(), n, errors, per_s].into_iter().chain(quantiles)));
    }
    out.push_str("\n| call (counts by ms) |");
    for name in BUCKET_NAMES {
        out.push_str(&format!(" {name} |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(BUCKET_NAMES.len()));
    out.push('\n');
    for k in &report.calls {
        out.push_str(&format!("| {} |", k.call));
        for b in &k.histogram {
            out.push_str(&format!(" {} |", b.count));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "\nSlow episodes: calls of any kind slower than the threshold, overlapping ones merged \
         ({} clients: {} writers and the monitor).\n\n",
        report.writers + 1,
        report.writers
    ));
    out.push_str("| slower than | episodes | per s | share of time | length p50 ms | p90 ms | max ms | calls | clients held up (mean) |\n");
    out.push_str("|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for e in &report.slow_episodes {
        let cells = [
            format!("{} ms", e.threshold_ms),
            e.episodes.to_string(),
            format!("{:.2}", e.per_second),
            format!("{:.3}%", e.time_share * 100.0),
            ms(e.length_p50_ms),
            ms(e.length_p90_ms),
            ms(e.length_max_ms),
            e.calls.to_string(),
            format!("{:.2}", e.clients_mean),
        ];
        out.push_str(&table_row(cells));
    }
    out
}

/// One markdown table row of `cells`.
fn table_row(cells: impl IntoIterator<Item = String>) -> String {
    let cells: Vec<String> = cells.into_iter().collect();
    format!("| {} |\n", cells.join(" | "))
}

/// `faultline store-bench`: measures, prints a markdown table, writes JSON if asked.
pub fn run(args: Args) -> Result<bool> {
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let report = rt.block_on(async {
        let clock = NodeClock::real();
        let setup = connect(&args.etcd, &clock).await?;
        let mut kv = setup.kv_client();
        let prepared = async {
            kv.delete(PREFIX, Some(DeleteOptions::new().with_prefix())).await?;
            kv.put(FENCE, FENCE_VALUE, None).await
        };
        match clock.timeout(CALL_LIMIT_MS, prepared).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => bail!("preparing {PREFIX}: {e}"),
            Err(e) => bail!("preparing {PREFIX}: {e}"),
        }
        let origin = Stopwatch::start();
        let end = args.seconds * 1_000_000;
        let writers: Vec<_> =
            (1..=args.writers).map(|id| tokio::spawn(writer(args.etcd.clone(), id, args.puts, origin, end))).collect();
        let monitor = tokio::spawn(monitor(args.etcd.clone(), origin, end));
        let mut txns = Calls::new(origin, MONITOR);
        for w in writers {
            txns.merge(w.await.context("a writer task panicked")??);
        }
        let (keep_alives, gets) = monitor.await.context("the monitor task panicked")??;
        let secs = args.seconds as f64;
        let all: Vec<Sample> =
            [&txns, &keep_alives, &gets].iter().flat_map(|calls| calls.samples.iter().copied()).collect();
        Ok(BenchReport {
            etcd: args.etcd.clone(),
            seconds: args.seconds,
            writers: args.writers,
            puts_per_txn: args.puts,
            value_bytes: VALUE_BYTES,
            calls: vec![
                summarize(&format!("txn ({} puts)", args.puts), &txns, secs),
                summarize("lease keep-alive", &keep_alives, secs),
                summarize("get prefix", &gets, secs),
            ],
            slow_episodes: EPISODE_MS.iter().map(|&t| episodes(&all, t, secs)).collect(),
        })
    })?;
    print!("{}", markdown(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("the report serializes");
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(true)
}
