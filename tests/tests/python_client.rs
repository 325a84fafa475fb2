//! The Python client (clients/python) against the real shim and database. Its unittest tests
//! list every event they hand to the client in a manifest (tests/support.py); here each one is
//! checked in the database: stored exactly once with its fields, correlation and parent, or, if
//! the shim rejected it, not stored; and nothing else is stored. The same holds through a shim
//! killed mid-stream, and one that answers 413 (bodies over its limit) and 503 (full).

mod common;
use common::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn client_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/python")
}

/// `python3 -m unittest ARGS -v` in clients/python, for the shim at `url`, listing its events in
/// `manifest` (made anew).
fn unittest(url: &str, manifest: &Path, args: &[&str]) -> Command {
    let _ = std::fs::remove_file(manifest);
    let mut python = Command::new("python3");
    python
        .args(["-m", "unittest"])
        .args(args)
        .arg("-v")
        .current_dir(client_dir())
        .env("PYTHONPATH", client_dir())
        .env("AUDITLOG_SHIM_URL", url)
        .env("AUDITLOG_CLIENT_MANIFEST", manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    python
}

/// Every test ran and passed: none skipped (a missing variable would skip them).
fn passed(o: std::process::Output) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    eprintln!("{text}");
    assert!(o.status.success(), "the Python tests failed");
    assert!(!text.contains("skipped"), "a Python test was skipped");
}

/// Checks the database against the manifest; how many events are stored.
async fn check_manifest(db: &tokio_postgres::Client, manifest: &Path) -> usize {
    let rows = db
        .query(
            "SELECT event_id, event_type, event_data, user_id, correlation_id, parent_correlation_id
               FROM audit.audit_events",
            &[],
        )
        .await
        .unwrap();
    let mut stored: HashMap<uuid::Uuid, Vec<&tokio_postgres::Row>> = HashMap::new();
    for row in &rows {
        stored.entry(row.get(0)).or_default().push(row);
    }
    let listed: Vec<serde_json::Value> = std::fs::read_to_string(manifest)
        .expect("the Python tests wrote their manifest")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut expected_rows = 0;
    for e in &listed {
        let id: uuid::Uuid = e["event_id"].as_str().unwrap().parse().unwrap();
        let found = stored.get(&id).map_or(&[][..], Vec::as_slice);
        if e["stored"] == false {
            assert!(found.is_empty(), "rejected event {id} is stored");
            continue;
        }
        expected_rows += 1;
        assert_eq!(
            found.len(),
            1,
            "event {id} ({e}) is stored {} times",
            found.len()
        );
        let row = found[0];
        let context = format!("event {id}: {e}");
        assert_eq!(
            row.get::<_, String>(1),
            e["event_type"].as_str().unwrap(),
            "{context}"
        );
        assert_eq!(
            row.get::<_, serde_json::Value>(2),
            e["event_data"],
            "{context}"
        );
        assert_eq!(
            row.get::<_, Option<i64>>(3),
            e["user_id"].as_i64(),
            "{context}"
        );
        let correlation: String = row.get(4);
        match e["correlation_id"].as_str() {
            Some(want) => assert_eq!(correlation, want, "{context}"),
            // None listed: the database made one, CORR_{seconds}_{user or anonymous}_{hex}.
            None => {
                let user = e["user_id"]
                    .as_i64()
                    .map_or("anonymous".to_string(), |u| u.to_string());
                assert!(
                    correlation.starts_with("CORR_") && correlation.contains(&format!("_{user}_")),
                    "{context}: {correlation}"
                );
            }
        }
        assert_eq!(
            row.get::<_, Option<String>>(5).as_deref(),
            e["parent_correlation_id"].as_str(),
            "{context}"
        );
    }
    assert_eq!(
        rows.len(),
        expected_rows,
        "the database holds only the listed events"
    );
    rows.len()
}

#[tokio::test]
async fn the_python_client_delivers_every_event_once_with_its_correlation() {
    let db = fresh_db("py_client").await;
    let shim = Shim::start(
        "py_client",
        &dsn("py_client"),
        &["--batch-timeout-ms", "100"],
    )
    .await;
    let manifest = std::env::temp_dir().join("auditlog-test-py-client.ndjson");
    let output = unittest(
        &shim.url,
        &manifest,
        &["discover", "-s", "tests", "-t", "."],
    )
    .output()
    .expect("python3");
    passed(output);
    shim.drained(30).await;
    let stored = check_manifest(&db, &manifest).await;
    // Batching (12 + 3), nested contexts (6), threads (100), exit (1), rejections (3),
    // asyncio (51).
    assert_eq!(stored, 176);
}

#[tokio::test]
async fn a_shim_restart_mid_stream_loses_nothing() {
    let db = fresh_db("py_client_restart").await;
    let dsn = dsn("py_client_restart");
    let mut shim = Shim::start("py_client_restart", &dsn, &["--batch-timeout-ms", "100"]).await;
    let manifest = std::env::temp_dir().join("auditlog-test-py-client-restart.ndjson");
    let restarted = std::env::temp_dir().join("auditlog-test-py-client-restarted");
    let _ = std::fs::remove_file(&restarted);
    let streaming = unittest(&shim.url, &manifest, &["tests.restart_stream"])
        .env("AUDITLOG_RESTARTED", &restarted)
        .spawn()
        .expect("python3");
    // The stream is under way and delivered: kill the shim, keep it down a while (the client
    // keeps logging and retrying), start it again where it was.
    for _ in 0..600 {
        if event_ids(&db).await.len() >= 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    shim.kill9();
    let before = event_ids(&db).await.len();
    assert!(before >= 200, "the stream had begun: {before} events");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    shim.restart_in_place().await;
    std::fs::write(&restarted, b"").unwrap();
    passed(streaming.wait_with_output().unwrap());
    shim.drained(30).await;
    let stored = check_manifest(&db, &manifest).await;
    assert!(
        stored >= before + 200,
        "{stored} events, {before} before the kill"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_and_a_full_shim_lose_nothing() {
    // The shim starts before its database exists: what it acknowledges piles up to --max-queue.
    let admin = connect("postgres").await;
    admin
        .execute(
            "DROP DATABASE IF EXISTS py_client_pressure WITH (FORCE)",
            &[],
        )
        .await
        .unwrap();
    let dsn = dsn("py_client_pressure");
    let limits = [
        "--batch-timeout-ms",
        "100",
        "--max-body-bytes",
        "4096",
        "--max-queue",
        "100",
        "--max-backoff-seconds",
        "1",
    ];
    let shim = Shim::start("py_client_pressure", &dsn, &limits).await;
    let manifest = std::env::temp_dir().join("auditlog-test-py-client-pressure.ndjson");
    let streaming = unittest(&shim.url, &manifest, &["tests.pressure_stream"])
        .spawn()
        .expect("python3");
    let refused = || async {
        shim.get("/metrics")
            .await
            .lines()
            .find_map(|l| l.strip_prefix("auditlog_shim_requests_refused_full_total "))
            .map_or(0.0, |v| v.parse::<f64>().unwrap())
    };
    for _ in 0..600 {
        if refused().await > 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused().await > 0.0, "the shim never answered 503");
    let db = fresh_db("py_client_pressure").await;
    passed(streaming.wait_with_output().unwrap());
    shim.drained(30).await;
    assert_eq!(check_manifest(&db, &manifest).await, 300);
}
