//! OpenTelemetry logs in: the OpenTelemetry SDK for Python (tests/interop/otel_send.py, in the venv
//! scripts/setup.sh makes) exports to `serve`'s `POST /v1/logs` while PostgreSQL cannot take the
//! events; the shim is killed with -9 and started again on the right database, and every audit
//! record arrives once, mapped; the other records are not logged and the bad one is kept.

mod common;
use common::*;
use std::collections::HashMap;

const N: usize = 150;

/// Runs otel_send.py against `endpoint`: trace id of each audit record by its number.
fn send_with_the_sdk(endpoint: &str) -> HashMap<i64, String> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = std::process::Command::new(root.join("tmp/interop-venv/bin/python"))
        .arg(root.join("tests/interop/otel_send.py"))
        .args([endpoint, &N.to_string()])
        .output()
        .expect("the interop venv (scripts/setup.sh makes it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["n"].as_i64().unwrap(),
                v["trace_id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_sdks_records_arrive_once_mapped_across_an_outage_and_a_kill() {
    let db = fresh_db("otel").await;
    // Delivery first goes to a database that does not exist: every answer comes from the spool.
    let mut shim = Shim::start(
        "otel",
        &dsn("otel_not_there"),
        &["--batch-timeout-ms", "100"],
    )
    .await;
    let traces = send_with_the_sdk(&format!("{}/v1/logs", shim.url));
    assert_eq!(traces.len(), N);
    assert_eq!(shim.queue_depth().await, N as u64);
    let dead = std::fs::read_to_string(shim.spool.join("dead-letter.ndjson")).unwrap();
    assert_eq!(dead.lines().count(), 1, "{dead}");
    assert!(
        dead.contains("audit.event_type must be a string, not 7"),
        "{dead}"
    );
    assert!(shim
        .get("/metrics")
        .await
        .contains("auditlog_shim_otlp_records_not_audit_total 1"));
    shim.kill9();
    shim.set_dsn(&dsn("otel"));
    shim.restart().await;
    shim.drained(60).await;

    let rows = db
        .query(
            "SELECT (event_data->>'n')::bigint, user_id, session_id, host(ip_address), user_agent,
                    correlation_id, event_data->>'message',
                    event_data->'otel'->'resource'->>'service.name', event_data->'otel'->>'trace_id'
               FROM audit.audit_events ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(rows.len(), N, "each audit record once, and nothing else");
    for (i, r) in rows.iter().enumerate() {
        let n: i64 = r.get(0);
        assert_eq!(n, i as i64);
        let trace = &traces[&n];
        assert_eq!(r.get::<_, Option<i64>>(1), Some(1000 + n));
        assert_eq!(r.get::<_, String>(2), format!("sess-{n}"));
        assert_eq!(
            r.get::<_, String>(3),
            format!("10.0.{}.{}", n / 256, n % 256)
        );
        assert_eq!(r.get::<_, String>(4), "otel-interop/1.0");
        assert_eq!(&r.get::<_, String>(5), trace);
        assert_eq!(r.get::<_, String>(6), "user signed in");
        assert_eq!(r.get::<_, String>(7), "otel-interop");
        assert_eq!(&r.get::<_, String>(8), trace);
    }
}

/// One record in OTLP's JSON encoding, with a time of its own.
const JSON_REQUEST: &str = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
    {"timeUnixNano":"1795780800000000000","traceId":"5B8EFFF798038103D269B633813FC60C",
     "attributes":[{"key":"audit.event_type","value":{"stringValue":"data.customer.read"}},
                   {"key":"enduser.id","value":{"intValue":"7"}},
                   {"key":"ratio","value":{"doubleValue":0.25}}]},
    {"timeUnixNano":"1795780800000000001","body":{"stringValue":"not an audit record"}}]}]}]}"#;

#[tokio::test]
async fn json_requests_retried_by_an_exporter_are_logged_once() {
    let db = fresh_db("otel_json").await;
    let shim = Shim::start(
        "otel_json",
        &dsn("otel_json"),
        &["--batch-timeout-ms", "100"],
    )
    .await;
    for _ in 0..2 {
        let (status, answer) = shim
            .post_to("/v1/logs", "application/json", JSON_REQUEST)
            .await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "0");
        assert!(answer["partialSuccess"]["errorMessage"]
            .as_str()
            .unwrap()
            .contains("1 log records without the attribute audit.event_type"));
    }
    shim.drained(30).await;
    let r = db
        .query_one(
            "SELECT count(*), min(user_id), min(correlation_id), min(event_data->>'ratio')
               FROM audit.audit_events",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(r.get::<_, i64>(0), 1, "the retry is a duplicate");
    assert_eq!(r.get::<_, Option<i64>>(1), Some(7));
    assert_eq!(r.get::<_, String>(2), "5b8efff798038103d269b633813fc60c");
    assert_eq!(r.get::<_, String>(3), "0.25");

    let (status, answer) = shim
        .post_to("/v1/logs", "application/x-protobuf", "\u{1}garbage")
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("protobuf"));
    let (status, _) = shim.post_to("/v1/logs", "text/plain", "x").await;
    assert_eq!(status, 415);
}
