use super::*;
use crate::trace::Verdict;

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
}

#[test]
fn the_metrics_count_what_the_history_records_and_are_served_over_http() {
    block_on(async {
        let recorder = Recorder::new();
        let load = crate::node::load::LeaderLoad::default();
        load.show(3, 2);
        load.store_call_seconds.observe(0.004);
        let exporter = Exporter::start(&recorder, Some(&load));
        recorder.record(1, "coord-1", EventKind::LeaderElected { epoch: 7 });
        recorder.record(2, "coord-1", EventKind::Succeeded { task: "t7-1".into(), epoch: 7, attempt: 1 });
        recorder.record(3, "coord-1", EventKind::Succeeded { task: "t7-2".into(), epoch: 7, attempt: 1 });
        let apply = EventKind::Apply {
            task: "t7-1".into(),
            key: "k".into(),
            executor: "exec-1".into(),
            epoch: 7,
            attempt: 1,
            verdict: Verdict::Duplicate,
        };
        recorder.record(4, "sink", apply);
        recorder.record(5, "coord-1", EventKind::Compacted { task: "t7-1".into(), epoch: 7 });
        let recovered = EventKind::Recovered { task: "t6-9".into(), state: "succeeded".into(), reason: None };
        recorder.record(6, "coord-1", recovered);
        let forged =
            EventKind::Refused { peer: "executor exec-2".into(), request: "to heartbeat as executor exec-1".into() };
        recorder.record(7, "coord-1", forged);
        tokio::task::yield_now().await;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        tokio::spawn(exporter.serve(addr));
        let body = tokio::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            for _ in 0..50 {
                if let Ok(mut stream) = std::net::TcpStream::connect(addr) {
                    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                    let mut text = String::new();
                    stream.read_to_string(&mut text).unwrap();
                    return text;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            panic!("the metrics endpoint never answered");
        })
        .await
        .unwrap();
        assert!(body.starts_with("HTTP/1.1 200"), "{body}");
        for line in [
            "faultline_leader 1",
            "faultline_epoch 7",
            "faultline_leader_elections_total 1",
            "faultline_tasks_terminal_total{state=\"succeeded\"} 2",
            "faultline_applies_total{verdict=\"duplicate\"} 1",
            "faultline_tasks_compacted_total 1",
            "faultline_tasks_loaded_finished_total 1",
            "faultline_refused_requests_total 1",
            "faultline_open_tasks 3",
            "faultline_ready_tasks 2",
            "faultline_store_call_seconds_count 1",
            "faultline_store_call_seconds_bucket{le=\"0.004\"} 1",
        ] {
            assert!(body.lines().any(|l| l == line), "no `{line}` in:\n{body}");
        }
    });
}
