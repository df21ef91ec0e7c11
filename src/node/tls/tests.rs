use super::*;

fn known(role: Role, name: &str) -> Peer {
    Peer::Known(Identity { role, name: name.into() })
}

#[test]
fn an_executor_speaks_only_for_itself() {
    let exec1 = known(Role::Executor, "exec-1");
    assert!(authorize(&exec1, Act::Beat { executor: "exec-1" }).is_ok());
    assert!(authorize(&exec1, Act::Apply { executor: "exec-1" }).is_ok());
    let forged = authorize(&known(Role::Executor, "exec-2"), Act::Beat { executor: "exec-1" }).unwrap_err();
    assert_eq!(forged, Refusal { peer: "executor exec-2".into(), request: "to heartbeat as executor exec-1".into() });
    assert_eq!(forged.status().code(), tonic::Code::PermissionDenied);
    let forged = authorize(&known(Role::Executor, "exec-2"), Act::Apply { executor: "exec-1" }).unwrap_err();
    assert_eq!(forged.request, "to apply an effect as executor exec-1");
    assert!(authorize(&exec1, Act::Submit).is_err(), "an executor is not a client");
}

#[test]
fn only_executors_apply_and_only_clients_submit() {
    for role in [Role::Client, Role::Coordinator, Role::Sink] {
        let peer = known(role, "exec-1");
        assert!(authorize(&peer, Act::Apply { executor: "exec-1" }).is_err(), "{role:?} applied");
        assert!(authorize(&peer, Act::Beat { executor: "exec-1" }).is_err(), "{role:?} heartbeat");
    }
    assert!(authorize(&known(Role::Client, "ops"), Act::Submit).is_ok());
    for role in [Role::Executor, Role::Coordinator, Role::Sink] {
        assert!(authorize(&known(role, "ops"), Act::Submit).is_err(), "{role:?} submitted");
    }
}

#[test]
fn open_allows_everything_and_unrecognised_nothing() {
    for act in [Act::Submit, Act::Beat { executor: "e" }, Act::Apply { executor: "e" }] {
        assert!(authorize(&Peer::Open, act).is_ok());
        assert!(authorize(&Peer::Unrecognised("no role".into()), act).is_err());
    }
}

/// The rule on the wire: real TLS servers (the sink, a coordinator) with certificates from
/// `scripts/make-certs`, and callers with the wrong identity, another CA's, or none.
#[cfg(not(madsim))]
mod wire {
    use super::*;
    use crate::node::coordinator::{self, CoordinatorSettings};
    use crate::node::rpc::{channel, CoordinatorClient, SinkClient};
    use crate::node::{sink, NodeClock, NodeContext};
    use crate::proto;
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::sync::{Arc, OnceLock};

    /// A CA with a certificate per node, and a second CA's `exec-1` (same name, not trusted).
    fn certs() -> &'static PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("faultline-tls-test-{}", std::process::id()));
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/make-certs");
            let make = |dir: &PathBuf, nodes: &[&str]| {
                let out = std::process::Command::new(script).arg(dir).args(nodes).output().expect("run make-certs");
                assert!(out.status.success(), "make-certs: {}", String::from_utf8_lossy(&out.stderr));
            };
            let nodes = ["coordinator:coord-1", "executor:exec-1", "executor:exec-2", "sink:sink", "client:ops"];
            make(&dir, &nodes);
            make(&dir.join("other-ca"), &["executor:exec-1"]);
            dir
        })
    }

    fn tls(name: &str) -> Arc<Tls> {
        let dir = certs();
        let (ca, cert, key) = (dir.join("ca.pem"), dir.join(format!("{name}.pem")), dir.join(format!("{name}.key")));
        Arc::new(Tls::load(&ca, &cert, &key).expect("certificates load"))
    }

    /// `exec-1` with a certificate from the other CA, trusting the cluster's CA.
    fn impostor() -> Arc<Tls> {
        let dir = certs();
        let other = dir.join("other-ca");
        Arc::new(Tls::load(&dir.join("ca.pem"), &other.join("exec-1.pem"), &other.join("exec-1.key")).expect("load"))
    }

    fn ctx(name: &str, tls: Option<Arc<Tls>>) -> NodeContext {
        NodeContext {
            name: name.into(),
            clock: NodeClock::real(),
            faults: Default::default(),
            recorder: crate::record::Recorder::new(),
            bugs: crate::bugs::BugSet::none(),
            tls,
        }
    }

    fn free_addr() -> SocketAddr {
        std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr")
    }

    async fn until_open(addr: SocketAddr) {
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return;
            }
            NodeClock::real().sleep(10).await;
        }
        panic!("{addr} never opened");
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt").block_on(f)
    }

    #[test]
    fn identities_come_from_the_certificates() {
        assert_eq!(tls("exec-1").identity(), &Identity { role: Role::Executor, name: "exec-1".into() });
        assert_eq!(tls("ops").identity(), &Identity { role: Role::Client, name: "ops".into() });
        let dir = certs();
        let no_role = Tls::load(&dir.join("ca.pem"), &dir.join("ca.pem"), &dir.join("ca.key")).unwrap_err();
        assert!(no_role.contains("organizational unit"), "{no_role}");
        let wrong_key = Tls::load(&dir.join("ca.pem"), &dir.join("exec-1.pem"), &dir.join("exec-2.key")).unwrap_err();
        assert!(wrong_key.contains("not a usable"), "{wrong_key}");
    }

    #[test]
    fn the_sink_takes_applies_only_from_the_executor_they_name() {
        block_on(async {
            let addr = free_addr();
            let sink_ctx = ctx("sink", Some(tls("sink")));
            let history = sink_ctx.recorder.clone();
            tokio::spawn(sink::run(sink_ctx, addr, sink::in_memory(crate::bugs::BugSet::none())));
            until_open(addr).await;
            let apply = |who: Option<Arc<Tls>>, executor: &str, key: &str, epoch: u64| {
                let req = proto::ApplyRequest {
                    task_id: format!("t-{key}"),
                    key: key.into(),
                    token: Some(proto::Token { epoch, attempt: u32::MAX }),
                    executor: executor.into(),
                };
                let client = channel(&addr.to_string(), who.as_deref()).map(SinkClient::new);
                async move { client.expect("channel").apply(req).await }
            };
            // The measured attack: a token no leader will reach, for a key not yet submitted.
            let forged = apply(Some(tls("exec-2")), "exec-1", "charge-1", i64::MAX as u64).await.unwrap_err();
            assert_eq!(forged.code(), tonic::Code::PermissionDenied, "{forged}");
            let client = apply(Some(tls("ops")), "ops", "charge-1", i64::MAX as u64).await.unwrap_err();
            assert_eq!(client.code(), tonic::Code::PermissionDenied, "{client}");
            let coordinator = apply(Some(tls("coord-1")), "coord-1", "charge-1", i64::MAX as u64).await.unwrap_err();
            assert_eq!(coordinator.code(), tonic::Code::PermissionDenied, "{coordinator}");
            let untrusted = apply(Some(impostor()), "exec-1", "charge-1", i64::MAX as u64).await.unwrap_err();
            assert_ne!(untrusted.code(), tonic::Code::Ok, "another CA's certificate: no handshake");
            let plaintext = apply(None, "exec-1", "charge-1", i64::MAX as u64).await.unwrap_err();
            assert_ne!(plaintext.code(), tonic::Code::Ok, "plaintext to a TLS port");
            // Nothing forged landed or fenced: the real executor's low token is accepted.
            let real = apply(Some(tls("exec-1")), "exec-1", "charge-1", 1).await.expect("exec-1 applies");
            assert_eq!(real.into_inner().verdict, 0, "accepted");
            let refused: Vec<String> = history
                .snapshot()
                .iter()
                .filter_map(|e| match &e.kind {
                    crate::trace::EventKind::Refused { peer, .. } => Some(peer.to_string()),
                    _ => None,
                })
                .collect();
            assert_eq!(refused, ["executor exec-2", "client ops", "coordinator coord-1"], "each refusal recorded");
        });
    }

    #[test]
    fn a_heartbeat_speaks_only_for_the_executor_it_authenticates_as() {
        block_on(async {
            let listen = free_addr();
            let settings = CoordinatorSettings {
                listen,
                store_endpoints: vec![free_addr().to_string()], // no etcd: never leads
                config: crate::core::coordinator::CoordinatorConfig::default(),
                timing: crate::node::Timing {
                    heartbeat_interval_ms: 100,
                    rpc_timeout_ms: 200,
                    store_timeout_ms: 1_000,
                    lease_ttl_s: 2,
                    clock_drift_bound: 0.01,
                },
                seed: 1,
                load: Default::default(),
            };
            tokio::spawn(coordinator::run(ctx("coord-1", Some(tls("coord-1"))), settings, std::future::pending()));
            until_open(listen).await;
            let client = |who: &str| CoordinatorClient::new(channel(&listen.to_string(), Some(&tls(who))).expect("ch"));
            let beat = |executor: &str| proto::HeartbeatRequest {
                executor: executor.into(),
                incarnation: 7,
                seq: 1,
                capacity: 4,
                ..Default::default()
            };
            let forged = client("exec-2").heartbeat(beat("exec-1")).await.unwrap_err();
            assert_eq!(forged.code(), tonic::Code::PermissionDenied, "{forged}");
            let from_client = client("ops").heartbeat(beat("exec-1")).await.unwrap_err();
            assert_eq!(from_client.code(), tonic::Code::PermissionDenied, "{from_client}");
            let own = client("exec-1").heartbeat(beat("exec-1")).await.expect("exec-1 heartbeats");
            assert!(own.into_inner().not_leader, "heard, and told no one leads here");
            let submit = client("exec-1").submit(proto::SubmitRequest::default()).await.unwrap_err();
            assert_eq!(submit.code(), tonic::Code::PermissionDenied, "an executor submitted: {submit}");
            let by_client = client("ops").submit(proto::SubmitRequest::default()).await.unwrap_err();
            assert_eq!(by_client.code(), tonic::Code::InvalidArgument, "a client's submit is judged: {by_client}");
        });
    }
}
