//! The real-mode CLI (plain tokio, real gRPC, real etcd): `serve` runs one node with the
//! same drivers the simulator runs, `submit` runs a scenario's workload against a live
//! cluster. Each process streams its history as JSON Lines, stamped with wall-clock time,
//! so `faultline check` can judge the merged histories of a whole cluster.

use anyhow::{bail, Context, Result};
use faultline::bugs::BugSet;
use faultline::node::coordinator::CoordinatorSettings;
use faultline::node::executor::ExecutorSettings;
use faultline::node::faults::{LinkRule, TaskRule};
use faultline::node::tls::{self, Tls};
use faultline::node::{client, coordinator, executor, sink, NodeClock, NodeContext, NodeFaults};
use faultline::record::Recorder;
use faultline::scenario::Scenario;
use faultline::settings;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Which node `serve` runs.
#[derive(clap::Subcommand)]
pub enum Role {
    /// A coordinator replica: campaigns for leadership in etcd and schedules while leading.
    Coordinator {
        #[arg(long)]
        listen: SocketAddr,
        /// etcd endpoints, comma-separated (host:port).
        #[arg(long, value_delimiter = ',', required = true)]
        etcd: Vec<String>,
    },
    /// An executor: heartbeats the leader, runs tasks, applies their effect at the sink.
    Executor {
        /// Coordinators as name=host:port, comma-separated.
        #[arg(long, value_delimiter = ',', required = true, value_parser = parse_peer)]
        coordinators: Vec<(String, String)>,
        #[arg(long)]
        sink: String,
        /// The failure zone this executor runs in (placement spreads retries over zones).
        #[arg(long, default_value = "z1")]
        zone: String,
        /// Run a fleet of this many executors in this one process, named NAME-1..NAME-N
        /// (a load generator: `scripts/leader-limit`); each second the fleet prints
        /// `beats: UNIX_MS answered=A unanswered=U` to stderr, counted over the fleet.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        count: u32,
        /// On SIGTERM or SIGINT the executor takes no new work and lets its attempts finish
        /// and be reported, for at most this long; then it exits (what is left, the leader
        /// takes back).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        drain_timeout: std::time::Duration,
    },
    /// The effect sink.
    Sink {
        #[arg(long)]
        listen: SocketAddr,
        /// Where the ledger lives: a SQLite file, created if absent, or a PostgreSQL database
        /// (`postgres://user@host:port/db`; its `effects` table is created if absent). Each
        /// verdict is committed before it is answered, so a restarted sink remembers every
        /// effect that landed and every token it fenced. `:memory:` keeps it in memory: a
        /// restart forgets it.
        #[arg(long)]
        ledger: String,
    },
}

impl Role {
    /// The role a node's certificate must name.
    fn cert_role(&self) -> tls::Role {
        match self {
            Role::Coordinator { .. } => tls::Role::Coordinator,
            Role::Executor { .. } => tls::Role::Executor,
            Role::Sink { .. } => tls::Role::Sink,
        }
    }
}

/// Options every real process takes.
#[derive(clap::Args)]
pub struct Common {
    /// This node's name (coordinators: the name others use for it).
    #[arg(long)]
    pub name: String,
    /// Scheduler, retry and workload settings (defaults: those of an empty scenario).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Append this process's history here as JSON Lines (what `faultline check` reads;
    /// about 3.4 MB a minute per busy coordinator: rotate it with logrotate's `copytruncate`).
    /// Without it no history is kept.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Inject message faults on this process's outgoing calls, e.g.
    /// `peer=sink,drop_response=0.1,delay_ms=5..20` (repeatable; keys: peer, drop_request,
    /// drop_response, duplicate, delay_ms).
    #[arg(long = "link-fault", value_name = "RULE")]
    pub link_faults: Vec<LinkRule>,
    /// Inject faults into the task bodies this executor runs, e.g. `panic=0.01,hang=0.01`
    /// (keys: panic, fail, hang).
    #[arg(long = "task-fault", value_name = "RULE")]
    pub task_fault: Option<TaskRule>,
    /// Serve Prometheus metrics at http://ADDR/metrics (counted from this node's history:
    /// leadership, dispatches, outcomes, executor verdicts, attempts, sink verdicts).
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    #[command(flatten)]
    pub security: Security,
}

/// How a real process proves who it is and whom it trusts: mutual TLS on every gRPC port
/// and to etcd, or plaintext only when asked for by name.
#[derive(clap::Args, Clone)]
pub struct Security {
    /// The cluster's CA certificate (PEM): every peer's certificate must be signed by it.
    /// `scripts/make-certs` makes a local CA and a certificate per node.
    #[arg(long = "tls-ca", value_name = "FILE", requires_all = ["tls_cert", "tls_key"])]
    pub tls_ca: Option<PathBuf>,
    /// This process's certificate (PEM). Its subject names it: CN the node's name, OU its
    /// role (coordinator, executor, sink, client).
    #[arg(long = "tls-cert", value_name = "FILE", requires_all = ["tls_ca", "tls_key"])]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long = "tls-key", value_name = "FILE", requires_all = ["tls_ca", "tls_cert"])]
    pub tls_key: Option<PathBuf>,
    /// Plaintext gRPC and etcd, no authentication: anyone who reaches a port may heartbeat
    /// for any executor, apply any effect or submit. For a test on one trusted host only.
    #[arg(long, conflicts_with_all = ["tls_ca", "tls_cert", "tls_key"])]
    pub insecure: bool,
}

impl Security {
    /// The credentials as given, whoever they name, or `None` with `--insecure`.
    pub fn credentials(&self) -> Result<Option<Tls>> {
        if self.insecure {
            return Ok(None);
        }
        let (Some(ca), Some(cert), Some(key)) = (&self.tls_ca, &self.tls_cert, &self.tls_key) else {
            bail!(
                "give --tls-ca, --tls-cert and --tls-key (scripts/make-certs makes them), or --insecure for plaintext"
            );
        };
        Ok(Some(Tls::load(ca, cert, key).map_err(anyhow::Error::msg)?))
    }

    /// The credentials, checked to name `want` (a role, and the node's name for a node), or
    /// `None` with `--insecure`.
    pub fn load(&self, want: tls::Role, name: Option<&str>) -> Result<Option<Arc<Tls>>> {
        let Some(tls) = self.credentials()? else {
            return Ok(None);
        };
        let who = tls.identity();
        if who.role != want || name.is_some_and(|n| n != who.name) {
            let wanted = match name {
                Some(n) => format!("{} {n}", want.as_str()),
                None => format!("a {}", want.as_str()),
            };
            let cert = self.tls_cert.as_deref().unwrap_or(Path::new("--tls-cert"));
            bail!("{}: the certificate is for {who}, not {wanted} (CN is the name, OU the role)", cert.display());
        }
        Ok(Some(Arc::new(tls)))
    }
}

pub fn parse_peer(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, addr)) if !name.is_empty() && !addr.is_empty() => Ok((name.into(), addr.into())),
        _ => Err(format!("expected name=host:port, found `{s}`")),
    }
}

fn scenario(path: Option<&Path>) -> Result<Scenario> {
    match path {
        Some(p) => Ok(Scenario::load(p)?),
        None => Ok(Scenario::parse(Path::new("(defaults)"), "")?),
    }
}

fn context(common: &Common, role: tls::Role) -> Result<NodeContext> {
    let name = (role != tls::Role::Client).then_some(common.name.as_str());
    let tls = common.security.load(role, name)?;
    let out: Box<dyn std::io::Write + Send> = match &common.history {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        None => Box::new(std::io::sink()),
    };
    let faults = NodeFaults::default();
    for (id, rule) in common.link_faults.iter().enumerate() {
        faults.add_link(id as u64, rule.clone());
    }
    if let Some(rule) = common.task_fault {
        faults.add_task(u64::MAX, rule);
    }
    Ok(NodeContext {
        name: common.name.as_str().into(),
        clock: NodeClock::real(),
        faults,
        recorder: Recorder::streaming(out),
        bugs: BugSet::none(),
        tls,
    })
}

/// The sink's ledger: PostgreSQL for a `postgres://` or `postgresql://` URL, else SQLite.
fn open_ledger(ledger: &str) -> Result<sink::SharedLedger> {
    let opened: Box<dyn sink::Ledger> = if ledger.starts_with("postgres://") || ledger.starts_with("postgresql://") {
        let shown = ledger.split_once('@').map_or(ledger, |(_, at)| at); // no password in messages
        Box::new(
            sink::postgres::PostgresLedger::open(ledger)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("opening the sink's ledger in PostgreSQL at {shown}"))?,
        )
    } else {
        Box::new(
            sink::sqlite::SqliteLedger::open(Path::new(ledger))
                .with_context(|| format!("opening the sink's ledger {ledger}"))?,
        )
    };
    Ok(std::sync::Arc::new(std::sync::Mutex::new(opened)))
}

/// Completes on SIGTERM or SIGINT (a planned stop).
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// `faultline serve ROLE`: runs one node until it is killed; on SIGTERM or SIGINT a
/// coordinator ends its term and revokes its lease (a standby takes over at once), and an
/// executor drains (no new work; its attempts finish and are reported) before it exits.
pub fn serve(role: Role, common: Common) -> Result<bool> {
    let s = scenario(common.scenario.as_deref())?;
    let ctx = context(&common, role.cert_role())?;
    if let Role::Executor { count, .. } = role {
        if count > 1 && ctx.tls.is_some() {
            let name = &ctx.name;
            bail!("--count {count}: a fleet's members are named {name}-1..{name}-{count}, which no one certificate names: run a fleet --insecure");
        }
    }
    let ledger = match &role {
        Role::Sink { ledger, .. } => Some(open_ledger(ledger)?),
        _ => None,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let load = faultline::node::load::LeaderLoad::default();
    let stopped = rt.block_on(async move {
        if let Some(addr) = common.metrics {
            let coordinator = matches!(role, Role::Coordinator { .. }).then_some(&load);
            let exporter = faultline::node::metrics::Exporter::start(&ctx.recorder, coordinator);
            tokio::spawn(async move {
                if let Err(e) = exporter.serve(addr).await {
                    tracing::error!("metrics endpoint on {addr}: {e}");
                }
            });
        }
        match role {
            Role::Coordinator { listen, etcd } => {
                let seed = madsim::rand::random::<u64>();
                let mut config = s.coordinator_config();
                config.jobs.base_unix_ms = 0; // real clocks read UNIX time: no simulated start
                let timing = settings::timing(&s);
                let settings = CoordinatorSettings { listen, store_endpoints: etcd, config, timing, seed, load };
                let name = ctx.name;
                coordinator::run(ctx, settings, shutdown_signal()).await;
                eprintln!("{name}: stopped (its term ended, its lease revoked)");
                true
            }
            Role::Executor { coordinators, sink, zone, count, drain_timeout } => {
                let capacity = s.topology.executor_capacity as u32;
                let timing = settings::timing(&s);
                let beats = Arc::new(executor::BeatCount::default());
                let drain_ms = millis(drain_timeout);
                let settings =
                    ExecutorSettings { capacity, zone, coordinators, sink, timing, beats: beats.clone(), drain_ms };
                if count == 1 {
                    let name = ctx.name;
                    executor::run(ctx, settings, Some(Box::pin(shutdown_signal()))).await;
                    eprintln!("{name}: stopped (drained)");
                    true
                } else {
                    for i in 1..=count {
                        let ctx = NodeContext { name: format!("{}-{i}", ctx.name).into(), ..ctx.clone() };
                        tokio::spawn(executor::run(ctx, settings.clone(), None));
                    }
                    loop {
                        ctx.clock.sleep(1_000).await;
                        let (answered, unanswered) =
                            (beats.answered.load(Ordering::Relaxed), beats.unanswered.load(Ordering::Relaxed));
                        eprintln!("beats: {} answered={answered} unanswered={unanswered}", ctx.clock.wall_ms());
                    }
                }
            }
            Role::Sink { listen, .. } => {
                sink::run(ctx, listen, ledger.expect("opened above")).await;
                false
            }
        }
    });
    if stopped {
        return Ok(true);
    }
    bail!("the node stopped")
}

/// `faultline submit`: submits the scenario's workload and returns once every task is
/// acknowledged.
pub fn submit(coordinators: Vec<(String, String)>, common: Common) -> Result<bool> {
    let s = scenario(common.scenario.as_deref())?;
    let ctx = context(&common, tls::Role::Client)?;
    let settings = settings::client(&s, coordinators);
    let total = s.workload.tasks;
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    rt.block_on(async move {
        let acked = Arc::new(AtomicU64::new(0));
        let clock = ctx.clock.clone();
        client::run(ctx, settings, acked.clone()).await;
        let mut last = 0;
        while acked.load(Ordering::SeqCst) < total {
            let now = acked.load(Ordering::SeqCst);
            if now != last {
                eprintln!("submit: {now}/{total} acknowledged");
                last = now;
            }
            clock.sleep(200).await;
        }
        eprintln!("submit: {total}/{total} acknowledged");
    });
    Ok(true)
}

/// `faultline task`: one task with a command body (`faultline task ... -- PROGRAM ARGS`) or an
/// HTTP body (`faultline task ... --http URL`).
#[derive(clap::Args)]
pub struct TaskArgs {
    /// Coordinators as name=host:port, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_peer)]
    coordinators: Vec<(String, String)>,
    /// The task's idempotency key (1-256 bytes): sending the same key again names the same
    /// task, so a submit that timed out can be repeated safely.
    #[arg(long)]
    key: String,
    /// Attempts (failed or timed out) before the task is dead-lettered, 1-100.
    #[arg(long, default_value_t = 3)]
    max_attempts: u32,
    /// Each attempt's limit; the command's whole process group is killed then.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    attempt_timeout: std::time::Duration,
    /// `NAME=VALUE` added to the command's environment (repeatable).
    #[arg(long = "env", value_parser = parse_env)]
    env: Vec<(String, String)>,
    /// The command's working directory (the executor's own if absent).
    #[arg(long)]
    dir: Option<String>,
    /// Give up if no leader acknowledged the task within this long.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    /// Call this URL instead of running a command: 2xx is success; the task's key and
    /// fencing token go as headers (Idempotency-Key, Faultline-Token-Epoch/-Attempt).
    #[arg(long, conflicts_with_all = ["command", "env", "dir"])]
    http: Option<String>,
    /// The HTTP call's method.
    #[arg(long, default_value = "POST", requires = "http")]
    method: String,
    /// `Name: value` sent with the HTTP call (repeatable).
    #[arg(long = "header", requires = "http", value_parser = parse_header)]
    headers: Vec<(String, String)>,
    /// The HTTP call's body.
    #[arg(long, requires = "http")]
    data: Option<String>,
    /// The program and its arguments, after `--` (no shell: write `-- sh -c '...'` for one).
    #[arg(last = true, required_unless_present = "http")]
    command: Vec<String>,
    #[command(flatten)]
    security: Security,
}

fn parse_header(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.trim().to_string())),
        _ => Err(format!("expected `Name: value`, found `{text}`")),
    }
}

/// A flag's duration in ms (a duration too long for u64 ms is as good as forever).
pub fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn parse_env(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, found `{text}`")),
    }
}

/// `faultline task`: submits one command or HTTP task; returns once a leader made it durable
/// (the task id is printed) or refused it.
pub fn task(args: TaskArgs) -> Result<bool> {
    use faultline::node::body::{Body, CommandBody, HttpBody};
    let body = match args.http {
        Some(url) => {
            let parsed = reqwest::Url::parse(&url).with_context(|| format!("--http {url}"))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                bail!("--http {url}: expected an http:// or https:// URL");
            }
            reqwest::Method::from_bytes(args.method.as_bytes())
                .with_context(|| format!("--method {}: not an HTTP method", args.method))?;
            let headers = args.headers.into_iter().collect();
            Body::Http { http: HttpBody { url, method: args.method, headers, body: args.data } }
        }
        None => {
            if !args.headers.is_empty() || args.data.is_some() {
                bail!("--header and --data go with --http URL, not with a command");
            }
            let (program, rest) = args.command.split_first().context("give the program to run after --")?;
            let command = CommandBody {
                program: program.clone(),
                args: rest.to_vec(),
                env: args.env.into_iter().collect(),
                dir: args.dir,
            };
            Body::Command { command }
        }
    };
    let spec = faultline::core::TaskSpec {
        key: args.key,
        payload: body.payload(),
        max_attempts: args.max_attempts,
        timeout_ms: millis(args.attempt_timeout),
        not_before_ms: 0,
    };
    spec.validate_submit().map_err(|why| anyhow::anyhow!("the task is not valid: {why}"))?;
    let ctx = cli_context(&args.security)?;
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    rt.block_on(async move {
        let cursor = faultline::node::rpc::LeaderCursor::new(&args.coordinators, ctx.tls.as_deref())?;
        let leaders = std::sync::Mutex::new(cursor);
        let send = client::send_task(&ctx, &leaders, &spec, 1_000);
        match ctx.clock.timeout(millis(args.timeout), send).await {
            Ok(Ok(task)) => {
                println!("task: {}: acknowledged as {task}", spec.key);
                Ok(true)
            }
            Ok(Err(why)) => {
                eprintln!("task: {}: refused: {why}", spec.key);
                Ok(false)
            }
            Err(_) => bail!(
                "task: {}: no leader acknowledged it within {}",
                spec.key,
                humantime::format_duration(args.timeout)
            ),
        }
    })
}

/// The context of a one-shot client command (`task`, `job`): real clock, no faults, no
/// history, a client's credentials.
fn cli_context(security: &Security) -> Result<NodeContext> {
    Ok(NodeContext {
        name: "cli".into(),
        clock: NodeClock::real(),
        faults: NodeFaults::default(),
        recorder: Recorder::streaming(Box::new(std::io::sink())),
        bugs: BugSet::none(),
        tls: security.load(tls::Role::Client, None)?,
    })
}

/// What `faultline job` does.
#[derive(clap::Subcommand)]
pub enum JobOp {
    /// Creates every `[[jobs]]` table of a scenario file (the format of scenarios/README.md).
    Create { file: PathBuf },
    /// No fire is decided until the job is resumed.
    Pause { name: String },
    /// The job goes on at its first instant after now; instants while paused never fire.
    Resume { name: String },
    /// The job never fires again.
    Delete { name: String },
}

/// `faultline job`: sends the commands and waits until each is durable.
pub fn job(
    coordinators: Vec<(String, String)>,
    timeout: std::time::Duration,
    op: JobOp,
    security: &Security,
) -> Result<bool> {
    use faultline::schedule::JobCommand;
    let commands = match op {
        JobOp::Create { file } => {
            let s = Scenario::load(&file)?;
            if s.jobs.is_empty() {
                bail!("{}: no [[jobs]] table", file.display());
            }
            let settings = settings::jobs(&s, coordinators.clone());
            settings.jobs.into_iter().map(|spec| JobCommand::Create { spec }).collect()
        }
        JobOp::Pause { name } => vec![JobCommand::Pause { name }],
        JobOp::Resume { name } => vec![JobCommand::Resume { name }],
        JobOp::Delete { name } => vec![JobCommand::Delete { name }],
    };
    let ctx = cli_context(security)?;
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    rt.block_on(async move {
        let mut leaders = faultline::node::rpc::LeaderCursor::new(&coordinators, ctx.tls.as_deref())?;
        let mut ok = true;
        for command in commands {
            let what = format!("{} {}", command.op_name(), command.job());
            let send = client::send_job(&ctx, &mut leaders, command, 1_000);
            match ctx.clock.timeout(millis(timeout), send).await {
                Ok(Ok(())) => println!("job: {what}: done"),
                Ok(Err(why)) => {
                    eprintln!("job: {what}: refused: {why}");
                    ok = false;
                }
                Err(_) => {
                    bail!("job: {what}: no leader made it durable within {}", humantime::format_duration(timeout))
                }
            }
        }
        Ok(ok)
    })
}
