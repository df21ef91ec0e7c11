//! A real node's Prometheus endpoint (`serve --metrics ADDR`, `GET /metrics`). Every number
//! is counted from the node's own history events as they are recorded (a `Recorder`
//! subscription), so the metrics and `faultline check` read the same facts, and the
//! scheduler carries no second bookkeeping.

use crate::record::Recorder;
use crate::trace::{Event, EventKind};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::{Arc, Mutex};

type Labels = Vec<(String, String)>;

/// The node's metrics, updated from its history.
#[derive(Default)]
struct Metrics {
    leader: Gauge,
    epoch: Gauge,
    elections: Counter,
    depositions: Counter,
    submits_acknowledged: Counter,
    dispatches: Counter,
    retries: Counter,
    compacted: Counter,
    loaded_finished: Counter,
    outcomes: Family<Labels, Counter>,
    executors: Family<Labels, Counter>,
    attempts: Family<Labels, Counter>,
    applies: Family<Labels, Counter>,
    refused: Counter,
}

impl Metrics {
    fn registry(&self) -> Registry {
        let mut r = Registry::with_prefix("faultline");
        r.register("leader", "1 while this coordinator leads", self.leader.clone());
        r.register("epoch", "The epoch this coordinator leads (0: none)", self.epoch.clone());
        r.register("leader_elections", "Terms this coordinator won", self.elections.clone());
        r.register("leader_depositions", "Terms this coordinator stopped leading", self.depositions.clone());
        r.register(
            "submits_persisted",
            "Tasks whose create write the leader confirmed",
            self.submits_acknowledged.clone(),
        );
        r.register("dispatches", "Attempts the leader handed to executors", self.dispatches.clone());
        r.register("retries", "Failed attempts the leader scheduled again", self.retries.clone());
        r.register("tasks_terminal", "Tasks the leader recorded terminal, by state", self.outcomes.clone());
        r.register(
            "tasks_compacted",
            "Finished tasks deleted from the store, their retention over",
            self.compacted.clone(),
        );
        r.register(
            "tasks_loaded_finished",
            "Finished tasks a new leader found in the store when it took office (its load's history part)",
            self.loaded_finished.clone(),
        );
        r.register("executor_verdicts", "Executors declared dead, quarantined or released", self.executors.clone());
        r.register("attempts", "Attempts this executor finished, by outcome", self.attempts.clone());
        r.register("applies", "Effects this sink judged, by verdict", self.applies.clone());
        r.register(
            "refused_requests",
            "Requests refused because the sender's certificate does not allow them (forged heartbeats or applies)",
            self.refused.clone(),
        );
        r
    }

    fn count(&self, event: &Event) {
        let label = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        match &event.kind {
            EventKind::LeaderElected { epoch } => {
                self.leader.set(1);
                self.epoch.set(i64::try_from(*epoch).unwrap_or(i64::MAX));
                self.elections.inc();
            }
            EventKind::LeaderLost { .. } => {
                self.leader.set(0);
                self.epoch.set(0);
                self.depositions.inc();
            }
            EventKind::Persist { state, .. } if state == "pending" => {
                self.submits_acknowledged.inc();
            }
            EventKind::Dispatch { .. } => {
                self.dispatches.inc();
            }
            EventKind::Retry { .. } => {
                self.retries.inc();
            }
            EventKind::Succeeded { .. } => {
                self.outcomes.get_or_create(&label("state", "succeeded")).inc();
            }
            EventKind::DeadLettered { .. } => {
                self.outcomes.get_or_create(&label("state", "dead_lettered")).inc();
            }
            EventKind::Compacted { .. } => {
                self.compacted.inc();
            }
            EventKind::Recovered { .. } => {
                self.loaded_finished.inc();
            }
            EventKind::Refused { .. } => {
                self.refused.inc();
            }
            EventKind::ExecutorDead { .. } => {
                self.executors.get_or_create(&label("verdict", "dead")).inc();
            }
            EventKind::ExecutorQuarantined { .. } => {
                self.executors.get_or_create(&label("verdict", "quarantined")).inc();
            }
            EventKind::ExecutorReleased { .. } => {
                self.executors.get_or_create(&label("verdict", "released")).inc();
            }
            EventKind::Complete { outcome, .. } => {
                self.attempts.get_or_create(&label("outcome", outcome)).inc();
            }
            EventKind::Apply { verdict, .. } => {
                self.applies.get_or_create(&label("verdict", verdict.name())).inc();
            }
            _ => {}
        }
    }
}

/// The metrics text of a node whose recorder is `recorder`, kept current by a task.
#[derive(Clone)]
pub struct Exporter {
    registry: Arc<Mutex<Registry>>,
}

impl Exporter {
    /// Starts counting what `recorder` records from now on; a coordinator's `load` (what
    /// its driver measures directly) is served beside it.
    pub fn start(recorder: &Recorder, load: Option<&crate::node::load::LeaderLoad>) -> Self {
        let metrics = Metrics::default();
        let mut registry = metrics.registry();
        if let Some(load) = load {
            load.register(&mut registry);
        }
        let registry = Arc::new(Mutex::new(registry));
        let mut events = recorder.subscribe();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                metrics.count(&event);
            }
        });
        Exporter { registry }
    }

    /// The Prometheus text exposition of every metric.
    pub fn text(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry.lock().expect("metrics poisoned")).expect("writing to a String");
        out
    }

    /// Serves `GET /metrics` on `listen` until the process ends.
    pub async fn serve(self, listen: std::net::SocketAddr) -> std::io::Result<()> {
        use axum::routing::get;
        let app = axum::Router::new().route(
            "/metrics",
            get(move || {
                let text = self.text();
                async move { ([("content-type", "text/plain; version=0.0.4")], text) }
            }),
        );
        let listener = tokio::net::TcpListener::bind(listen).await?;
        axum::serve(listener, app).await
    }
}

#[cfg(test)]
mod tests;
