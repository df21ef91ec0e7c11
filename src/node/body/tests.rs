use super::*;

#[test]
fn a_payload_names_its_body_and_the_stand_in_keeps_its_bytes() {
    let stand_in = Body::StandIn(StandIn { duration_ms: 100, fail_probability: 0.5 });
    // The simulated workload's payloads (and so every trace) are what they were.
    assert_eq!(String::from_utf8(stand_in.payload()).unwrap(), r#"{"duration_ms":100,"fail_probability":0.5}"#);
    assert_eq!(Body::of(&stand_in.payload()), stand_in);
    let http = br#"{"http": {"url": "http://127.0.0.1:9/x"}}"#;
    let Body::Http { http } = Body::of(http) else { panic!("an HTTP body") };
    assert_eq!((http.method.as_str(), http.body), ("POST", None), "POST by default");
    let command = br#"{"command": {"program": "/bin/echo", "args": ["hi"]}}"#;
    let Body::Command { command } = Body::of(command) else { panic!("a command body") };
    assert_eq!((command.program.as_str(), command.args.as_slice()), ("/bin/echo", &["hi".to_string()][..]));
    assert_eq!(Body::of(b"not json"), Body::StandIn(StandIn::default()));
}

#[test]
fn the_stand_in_fast_path_reads_every_payload_as_the_untagged_parse_does() {
    let untagged = |p: &[u8]| serde_json::from_slice::<Body>(p).unwrap_or(Body::StandIn(StandIn::default()));
    let payloads: &[&[u8]] = &[
        br#"{"duration_ms":100,"fail_probability":0.5}"#,
        br#"{"fail_probability":0,"duration_ms":7}"#,
        br#"{"duration_ms":1.5,"fail_probability":0.5}"#,
        br#"{"duration_ms":100,"fail_probability":0.5,"extra":1}"#,
        br#"{"duration_ms":100,"fail_probability":0.5,"command":{"program":"/bin/true"}}"#,
        br#"{"duration_ms":100,"fail_probability":0.5,"http":{"url":"http://127.0.0.1:9/x"}}"#,
        br#"{"duration_ms":100,"duration_ms":5,"fail_probability":0.5}"#,
        br#"{"duration_ms":100}"#,
        br#"{}"#,
        br#"[100,0.5]"#,
        b"",
    ];
    for payload in payloads {
        assert_eq!(Body::of(payload), untagged(payload), "{}", String::from_utf8_lossy(payload));
    }
}

#[cfg(not(madsim))]
mod real {
    use super::*;
    use crate::node::clock::NodeClock;

    fn ctx() -> NodeContext {
        NodeContext {
            name: "exec-test".into(),
            clock: NodeClock::real(),
            faults: Default::default(),
            recorder: crate::record::Recorder::new(),
            bugs: crate::bugs::BugSet::none(),
            tls: None,
        }
    }

    const ATTEMPT: Attempt<'static> = Attempt { task: "t5-1", key: "charge-42", token: Token { epoch: 5, attempt: 2 } };

    fn sh(script: &str) -> CommandBody {
        CommandBody { program: "/bin/sh".into(), args: vec!["-c".into(), script.into()], ..Default::default() }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
    }

    #[test]
    fn a_command_succeeds_on_status_0_and_fails_with_its_status_and_stderr_tail() {
        assert_eq!(block_on(sh("exit 0").run(&ctx(), ATTEMPT)), Ok(()));
        let err = block_on(sh("echo starting; echo 'disk full' >&2; exit 3").run(&ctx(), ATTEMPT)).unwrap_err();
        assert_eq!(err, "`/bin/sh` exited with status 3; stderr: disk full");
        let long = block_on(sh("head -c 5000 /dev/zero | tr '\\0' x >&2; exit 1").run(&ctx(), ATTEMPT)).unwrap_err();
        assert!(long.ends_with(&"x".repeat(TAIL_BYTES)) && !long.contains(&"x".repeat(TAIL_BYTES + 1)), "{long}");
        let missing = CommandBody { program: "/no/such/program".into(), ..Default::default() };
        assert!(block_on(missing.run(&ctx(), ATTEMPT)).unwrap_err().starts_with("cannot start `/no/such/program`"));
    }

    #[test]
    fn a_command_sees_its_env_and_dir() {
        let mut body = sh("test \"$GREETING\" = hello && test \"$(pwd)\" = /tmp");
        body.env.insert("GREETING".into(), "hello".into());
        body.dir = Some("/tmp".into());
        assert_eq!(block_on(body.run(&ctx(), ATTEMPT)), Ok(()));
    }

    /// Dropping the attempt (a timeout, an abort) kills the command's whole process group:
    /// a background child of the shell dies too.
    #[test]
    fn a_dropped_attempt_kills_the_whole_process_group() {
        let dir = std::env::temp_dir().join(format!("faultline-body-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("child.pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pid_file.display());
        // Alive: in /proc and not a zombie (killed, and waiting for whoever reaps orphans).
        let alive = |pid: i32| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z'))
        };
        block_on(async {
            let (body, ctx) = (sh(&script), ctx());
            let run = body.run(&ctx, ATTEMPT);
            let timed_out = ctx.clock.timeout(500, run).await;
            assert!(timed_out.is_err(), "the command was still running");
        });
        let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
        // The group got SIGKILL; give the kernel a moment to deliver it.
        let gone = (0..50).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            !alive(pid)
        });
        assert!(gone, "the background child {pid} outlived its attempt");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A local HTTP service: `/ok` answers 200, anything else 503 with a long text; every
    /// request's method and headers are kept.
    async fn service() -> (String, std::sync::Arc<std::sync::Mutex<Vec<(String, axum::http::HeaderMap)>>>) {
        use axum::http::{HeaderMap, Method, StatusCode, Uri};
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = seen.clone();
        let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
            let kept = kept.clone();
            async move {
                kept.lock().unwrap().push((format!("{method} {uri}"), headers));
                if uri.path() == "/ok" {
                    (StatusCode::OK, String::new())
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, format!("{}overloaded", "y".repeat(2 * TAIL_BYTES)))
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}"), seen)
    }

    #[test]
    fn an_http_call_carries_the_key_and_token_and_succeeds_on_2xx_only() {
        block_on(async {
            let (base, seen) = service().await;
            let mut body = HttpBody {
                url: format!("{base}/ok"),
                method: "PUT".into(),
                headers: [("X-Team".to_string(), "billing".to_string())].into(),
                body: Some("{}".into()),
            };
            assert_eq!(body.run(&ctx(), ATTEMPT).await, Ok(()));
            {
                let seen = seen.lock().unwrap();
                let (line, headers) = &seen[0];
                assert_eq!(line, "PUT /ok");
                let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
                assert_eq!(header("idempotency-key").as_deref(), Some("charge-42"));
                assert_eq!(header("faultline-task").as_deref(), Some("t5-1"));
                assert_eq!(header("faultline-token-epoch").as_deref(), Some("5"));
                assert_eq!(header("faultline-token-attempt").as_deref(), Some("2"));
                assert_eq!(header("x-team").as_deref(), Some("billing"));
            }
            body.url = format!("{base}/busy");
            let err = body.run(&ctx(), ATTEMPT).await.unwrap_err();
            assert!(err.starts_with(&format!("PUT {base}/busy answered 503 Service Unavailable; answer: y")), "{err}");
            assert!(err.ends_with("overloaded") && err.len() < TAIL_BYTES + 100, "the answer's tail only: {err}");
            body.headers.insert("Idempotency-Key".into(), "forged".into());
            assert!(body.run(&ctx(), ATTEMPT).await.unwrap_err().contains("is faultline's own"));
            let nobody = HttpBody { url: "http://127.0.0.1:9/".into(), ..body };
            assert!(nobody.run(&ctx(), ATTEMPT).await.unwrap_err().starts_with("PUT http://127.0.0.1:9/: "));
        });
    }
}
