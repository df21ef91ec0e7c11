//! `faultline store-bench` (real build only): the latency of a real etcd under a load shaped
//! like the scheduler's, to choose the store-call deadline and to fit the simulator's healthy
//! store latency. `--writers` sequential writers (one etcd client each, like the writers of
//! that many coordinators) each send, back to back, the txn a leader's writer sends: `when
//! fence == "x" then N puts (~400-byte JSON records) else get fence`. One more task keeps a
//! 2 s lease alive every 250 ms (the round trip from the request to its reply) and gets a
//! small prefix every 500 ms (like the not-leader hint's election lookup). Every call is timed
//! by the monotonic wall clock, in microseconds; a call that fails or takes more than 10 s
//! counts as an error, not as a sample. The puts overwrite a bounded key space (1000 keys per
//! writer), but etcd keeps every revision until compacted: a long run against an etcd without
//! auto-compaction grows its database (about `puts * 400 B` per txn).

use anyhow::{bail, Context, Result};
use etcd_client::{Client, Compare, CompareOp, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp};
use faultline::node::NodeClock;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

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

/// The monotonic wall clock. The node code reads time only through `NodeClock` (clippy.toml),
/// whose readings are whole milliseconds; this benchmark measures the real store's latency
/// in wall time, to the microsecond, so it reads `Instant` directly, here only.
#[allow(clippy::disallowed_methods)]
fn now() -> Instant {
    Instant::now()
}

/// Samples (microseconds) and failures of one kind of call.
#[derive(Default)]
struct Calls {
    samples_us: Vec<u64>,
    errors: u64,
}

impl Calls {
    fn record<T, E>(
        &mut self,
        started: Instant,
        result: Result<Result<T, E>, faultline::node::clock::Elapsed>,
    ) -> bool {
        match result {
            Ok(Ok(_)) => {
                self.samples_us.push(started.elapsed().as_micros() as u64);
                true
            }
            _ => {
                self.errors += 1;
                false
            }
        }
    }

    fn merge(&mut self, other: Calls) {
        self.samples_us.extend(other.samples_us);
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

#[derive(Serialize)]
struct BenchReport {
    etcd: Vec<String>,
    seconds: u64,
    writers: u64,
    puts_per_txn: u64,
    value_bytes: usize,
    calls: Vec<KindReport>,
}

/// Nearest-rank quantile of sorted samples, ms.
fn quantile_ms(sorted_us: &[u64], level: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (level * sorted_us.len() as f64).ceil() as usize;
    sorted_us[rank.clamp(1, sorted_us.len()) - 1] as f64 / 1000.0
}

fn summarize(call: &str, mut calls: Calls, seconds: f64) -> KindReport {
    calls.samples_us.sort_unstable();
    let s = &calls.samples_us;
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
async fn writer(endpoints: Vec<String>, id: u64, puts: u64, end: Instant) -> Result<Calls> {
    let clock = NodeClock::real();
    let client = connect(&endpoints, &clock).await?;
    let mut calls = Calls::default();
    let mut seq = 0u64;
    while now() < end {
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
        let started = now();
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
async fn monitor(endpoints: Vec<String>, end: Instant) -> Result<(Calls, Calls)> {
    let clock = NodeClock::real();
    let client = connect(&endpoints, &clock).await?;
    let (mut keep_alives, mut gets) = (Calls::default(), Calls::default());
    let mut session = None;
    let start = now();
    let mut tick = 0u64;
    while now() < end {
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
            let started = now();
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
            let started = now();
            let get = kv.get(ELECTION, Some(GetOptions::new().with_prefix()));
            gets.record(started, clock.timeout(CALL_LIMIT_MS, get).await);
        }
        tick += 1;
        let next = start + Duration::from_millis(tick * KEEP_ALIVE_EVERY_MS);
        clock.sleep(next.saturating_duration_since(now()).as_millis() as u64).await;
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
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |\n",
            k.call,
            k.n,
            k.errors,
            k.per_second,
            ms(k.mean_ms),
            ms(k.p50_ms),
            ms(k.p90_ms),
            ms(k.p99_ms),
            ms(k.p999_ms),
            ms(k.max_ms)
        ));
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
    out
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
        let end = now() + Duration::from_secs(args.seconds);
        let writers: Vec<_> =
            (1..=args.writers).map(|id| tokio::spawn(writer(args.etcd.clone(), id, args.puts, end))).collect();
        let monitor = tokio::spawn(monitor(args.etcd.clone(), end));
        let mut txns = Calls::default();
        for w in writers {
            txns.merge(w.await.context("a writer task panicked")??);
        }
        let (keep_alives, gets) = monitor.await.context("the monitor task panicked")??;
        let secs = args.seconds as f64;
        Ok(BenchReport {
            etcd: args.etcd.clone(),
            seconds: args.seconds,
            writers: args.writers,
            puts_per_txn: args.puts,
            value_bytes: VALUE_BYTES,
            calls: vec![
                summarize(&format!("txn ({} puts)", args.puts), txns, secs),
                summarize("lease keep-alive", keep_alives, secs),
                summarize("get prefix", gets, secs),
            ],
        })
    })?;
    print!("{}", markdown(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report).expect("the report serializes");
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(true)
}
