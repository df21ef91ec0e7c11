//! `faultline probe`: sends one request in an executor's name, as an impostor would, to see
//! what a real cluster answers. A cluster with TLS must refuse a heartbeat or an apply that
//! names an executor other than the certificate's holder (PermissionDenied); `--insecure`
//! clusters take anything. `scripts/real-smoke` forges both this way.

use crate::serve::{millis, Security};
use anyhow::{Context, Result};
use faultline::node::rpc::{channel, CoordinatorClient, SinkClient};
use faultline::proto;

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// The executor the request claims to come from.
    #[arg(long = "as", value_name = "EXECUTOR")]
    executor: String,
    /// Give up on an answer after this long.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: std::time::Duration,
    #[command(flatten)]
    security: Security,
    #[command(subcommand)]
    request: Request,
}

#[derive(clap::Subcommand)]
enum Request {
    /// A heartbeat with a new incarnation (were it taken, the real executor's attempts would
    /// be taken back and the executor retired).
    Heartbeat {
        /// The coordinator to send it to (host:port).
        #[arg(long)]
        coordinator: String,
    },
    /// An effect with a token no leader will reach (were it taken, the key's real effect
    /// would be refused as fenced).
    Apply {
        /// The sink (host:port).
        #[arg(long)]
        sink: String,
        /// The effect's idempotency key.
        #[arg(long)]
        key: String,
    },
}

/// Prints the answer; true if the request was taken.
pub fn run(args: ProbeArgs) -> Result<bool> {
    // Any certificate will do: the probe plays a node that lies about who it is.
    let tls = args.security.credentials()?;
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    let executor = args.executor.clone();
    let answer = rt.block_on(async move {
        let timeout = millis(args.timeout);
        let call = async {
            match args.request {
                Request::Heartbeat { coordinator } => {
                    let mut client = CoordinatorClient::new(channel(&coordinator, tls.as_ref())?);
                    let beat = proto::HeartbeatRequest {
                        executor: args.executor,
                        incarnation: u64::MAX,
                        seq: 1,
                        capacity: 1,
                        ..Default::default()
                    };
                    Ok::<_, anyhow::Error>(client.heartbeat(beat).await.map(|r| format!("{:?}", r.into_inner())))
                }
                Request::Apply { sink, key } => {
                    let mut client = SinkClient::new(channel(&sink, tls.as_ref())?);
                    let token = Some(proto::Token { epoch: i64::MAX as u64, attempt: u32::MAX });
                    let apply = proto::ApplyRequest { task_id: "probe".into(), key, token, executor: args.executor };
                    Ok(client.apply(apply).await.map(|r| format!("{:?}", r.into_inner())))
                }
            }
        };
        faultline::node::NodeClock::real().timeout(timeout, call).await
    });
    match answer {
        Ok(Ok(Ok(reply))) => {
            println!("probe as {executor}: taken: {reply}");
            Ok(true)
        }
        Ok(Ok(Err(status))) => {
            println!("probe as {executor}: refused: {:?}: {}", status.code(), status.message());
            Ok(false)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => anyhow::bail!("probe as {executor}: no answer within {}", humantime::format_duration(args.timeout)),
    }
}
