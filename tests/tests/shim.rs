//! The ingest shim against a real PostgreSQL with the extension: bad input, dead letters, kill -9,
//! SIGTERM, a full queue, bulk import and the client library.

mod common;
use common::*;
use std::collections::HashSet;

#[tokio::test]
async fn bad_input_gets_its_answer_and_loses_nothing_else() {
    let db = fresh_db("shim_bad").await;
    let shim = Shim::start("bad", &dsn("shim_bad"), &["--batch-timeout-ms", "100"]).await;
    let good = r#"{"event_type": "auth.logout", "user_context": {"user_id": 1}}"#;
    let mut body = Vec::new();
    for line in [
        good,
        "{not json",
        r#"{"event_data": {}}"#,
        r#"{"event_type": ""}"#,
        r#"{"event_type": 5}"#,
        r#"{"event_type": "x", "event_data": [1]}"#,
        r#"{"event_type": "x", "timestamp": 17}"#,
        r#"{"event_type": "x", "event_id": 7}"#,
        r#"{"event_type": "x", "event_data": {"a": "\u0000"}}"#,
    ] {
        body.extend_from_slice(line.as_bytes());
        body.push(b'\n');
    }
    body.extend_from_slice(b"{\"event_type\": \"x\xff\"}\n");
    body.extend_from_slice(
        format!(
            "{{\"event_type\": \"x\", \"event_data\": {{\"big\": \"{}\"}}}}\n",
            "y".repeat(10 << 20)
        )
        .as_bytes(),
    );
    body.extend_from_slice(good.as_bytes());
    let (status, answer) = shim.post("application/x-ndjson", body).await;
    assert_eq!(status, 400, "{answer}");
    let accepted: Vec<u64> = answer["accepted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["line"].as_u64().unwrap())
        .collect();
    assert_eq!(accepted, [1, 12]);
    let rejected: Vec<(u64, String)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["error"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = [
        (2, "invalid JSON"),
        (3, "event_type must be a non-empty string"),
        (4, "event_type must be a non-empty string"),
        (5, "event_type must be a non-empty string, not a number"),
        (6, "event_data must be a JSON object, not an array"),
        (7, "timestamp must be an ISO 8601 string, not a number"),
        (8, "event_id must be a UUID string, not a number"),
        (9, "contains \\u0000"),
        (10, "not valid UTF-8"),
        (11, "over the limit of 1048576 (--max-line-bytes)"),
    ];
    assert_eq!(rejected.len(), expect.len(), "{rejected:?}");
    for ((line, error), (want_line, want)) in rejected.iter().zip(expect) {
        assert_eq!(*line, want_line);
        assert!(error.contains(want), "line {line}: {error}");
    }
    // A single event as application/json; an empty body; another content type; too large.
    let (status, answer) = shim
        .post(
            "application/json",
            "{\"event_type\": \"auth.logout\",\n \"event_data\": {}}",
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let (status, answer) = shim.post("application/x-ndjson", "").await;
    assert_eq!(
        (status, answer["error"].as_str().unwrap()),
        (400, "empty body: no event in it")
    );
    let (status, _) = shim.post("text/csv", good.to_string()).await;
    assert_eq!(status, 415);
    let (status, _) = shim
        .post("application/x-ndjson", vec![b' '; 17 << 20])
        .await;
    assert_eq!(status, 413);
    shim.drained(30).await;
    assert_eq!(
        event_ids(&db).await.len(),
        3,
        "exactly the three accepted events are stored"
    );
    let metrics = shim.get("/metrics").await;
    for line in [
        "auditlog_shim_events_received_total 3",
        "auditlog_shim_events_rejected_total 10",
        "auditlog_shim_events_delivered_total 3",
        "auditlog_shim_queue_depth 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from\n{metrics}");
    }
}

#[tokio::test]
async fn an_event_the_database_refuses_is_dead_lettered_and_its_batch_commits() {
    let db = fresh_db("shim_dead").await;
    db.batch_execute("ALTER DATABASE shim_dead SET auditlog.max_event_data_bytes = 1024")
        .await
        .unwrap();
    let shim = Shim::start("dead", &dsn("shim_dead"), &["--batch-timeout-ms", "100"]).await;
    let body = format!(
        "{{\"event_type\": \"auth.logout\"}}\n{{\"event_type\": \"auth.logout\", \"event_data\": {{\"big\": \"{}\"}}}}\n{{\"event_type\": \"auth.logout\"}}\n",
        "z".repeat(2000)
    );
    let (status, answer) = shim.post("application/x-ndjson", body).await;
    assert_eq!(status, 202, "{answer}");
    let ids = accepted_ids(&answer);
    shim.drained(30).await;
    let stored: HashSet<_> = event_ids(&db).await.into_iter().collect();
    assert_eq!(stored, HashSet::from([ids[0], ids[2]]));
    let dead = std::fs::read_to_string(shim.spool.join("dead-letter.ndjson")).unwrap();
    let entries: Vec<serde_json::Value> = dead
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["event"]["event_id"].as_str().unwrap(),
        ids[1].to_string()
    );
    assert!(
        entries[0]["error"]
            .as_str()
            .unwrap()
            .contains("auditlog.max_event_data_bytes"),
        "{}",
        entries[0]
    );
    assert!(shim
        .get("/metrics")
        .await
        .contains("auditlog_shim_events_dead_lettered_total 1"));
}

/// Requests of 1000 events with client-given ids; returns the body and its ids.
fn load(n_requests: usize) -> Vec<(String, Vec<uuid::Uuid>)> {
    (0..n_requests)
        .map(|r| {
            let ids: Vec<uuid::Uuid> = (0..1000).map(|_| uuid::Uuid::now_v7()).collect();
            let body = ndjson_events(r * 1000, 1000)
                .lines()
                .zip(&ids)
                .map(|(line, id)| format!("{{\"event_id\": \"{id}\", {}\n", &line[1..]))
                .collect();
            (body, ids)
        })
        .collect()
}

#[tokio::test]
async fn kill_9_in_the_middle_of_a_load_loses_no_acknowledged_event() {
    let db = fresh_db("shim_kill").await;
    let mut shim = Shim::start("kill", &dsn("shim_kill"), &["--batch-timeout-ms", "200"]).await;
    let requests = load(100);
    let url = shim.url.clone();
    // Four clients; the shim is killed once 40 requests are acknowledged.
    let acked = std::sync::Arc::new(std::sync::Mutex::new(vec![false; requests.len()]));
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (acked, next, url, requests) =
            (acked.clone(), next.clone(), url.clone(), requests.clone());
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some((body, _)) = requests.get(i) else {
                    return;
                };
                let r = http
                    .post(format!("{url}/v1/events"))
                    .header("content-type", "application/x-ndjson")
                    .body(body.clone())
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status() == 202) {
                    acked.lock().unwrap()[i] = true;
                }
            }
        }));
    }
    while acked.lock().unwrap().iter().filter(|a| **a).count() < 40 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    shim.kill9();
    for c in clients {
        c.await.unwrap();
    }
    let acked_before: Vec<usize> = (0..requests.len())
        .filter(|i| acked.lock().unwrap()[*i])
        .collect();
    assert!(
        acked_before.len() < requests.len(),
        "the kill came before the load ended"
    );
    // Started again on the same spool; the client sends again what was not acknowledged (the
    // same ids, so whatever did get through is not stored twice).
    shim.restart().await;
    for (i, (body, _)) in requests
        .iter()
        .enumerate()
        .filter(|(i, _)| !acked_before.contains(i))
    {
        let (status, answer) = shim.post("application/x-ndjson", body.clone()).await;
        assert_eq!(status, 202, "request {i}: {answer}");
    }
    shim.drained(120).await;
    let stored = event_ids(&db).await;
    let unique: HashSet<_> = stored.iter().copied().collect();
    assert_eq!(unique.len(), stored.len(), "an event stored twice");
    assert_eq!(stored.len(), 100_000);
    for i in acked_before {
        assert!(
            requests[i].1.iter().all(|id| unique.contains(id)),
            "request {i} was acknowledged and lost"
        );
    }
    let seal = db
        .query_one("SELECT seal_audit_events()", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(seal, 100_000);
    assert_eq!(verify_kinds(&db).await, ["ok"]);
}

#[tokio::test]
async fn sigterm_delivers_what_is_spooled_and_exits_zero() {
    let db = fresh_db("shim_term").await;
    // A batch that would wait a minute to fill: SIGTERM must not wait for it.
    let mut shim = Shim::start("term", &dsn("shim_term"), &["--batch-timeout-ms", "60000"]).await;
    let (status, answer) = shim
        .post("application/x-ndjson", ndjson_events(0, 250))
        .await;
    assert_eq!(status, 202, "{answer}");
    let started = std::time::Instant::now();
    let exit = shim.terminate();
    assert!(exit.success(), "{exit:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    assert_eq!(event_ids(&db).await.len(), 250);
}

#[tokio::test]
async fn a_full_queue_answers_503_with_retry_after_and_keeps_what_it_acknowledged() {
    let db = fresh_db("shim_full").await;
    // The database is out of reach (nothing listens on port 1), so nothing drains.
    let unreachable = "host=127.0.0.1 port=1 user=postgres dbname=shim_full connect_timeout=1";
    let mut shim = Shim::start(
        "full",
        unreachable,
        &[
            "--max-queue",
            "100",
            "--max-backoff-seconds",
            "1",
            "--drain-seconds",
            "1",
        ],
    )
    .await;
    let (status, answer) = shim
        .post("application/x-ndjson", ndjson_events(0, 100))
        .await;
    assert_eq!(status, 202, "{answer}");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/events", shim.url))
        .header("content-type", "application/x-ndjson")
        .body(ndjson_events(100, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(shim.queue_depth().await, 100);
    assert!(shim
        .get("/metrics")
        .await
        .contains("auditlog_shim_requests_refused_full_total 1"));
    // Stopped and started against the database: the spooled events arrive.
    assert!(shim.terminate().success());
    shim.set_dsn(&dsn("shim_full"));
    shim.restart().await;
    shim.drained(60).await;
    assert_eq!(event_ids(&db).await.len(), 100);
}

#[tokio::test]
async fn send_imports_a_file_once_however_often_it_is_sent() {
    let db = fresh_db("shim_send").await;
    let file = std::env::temp_dir().join("auditlog-test-send.ndjson");
    std::fs::write(&file, format!("{}{{bad\n", ndjson_events(0, 2500))).unwrap();
    let run = || {
        std::process::Command::new(std::env::var("AUDITLOG_SHIM").unwrap())
            .arg("send")
            .arg(&file)
            .env("DATABASE_URL", dsn("shim_send"))
            .output()
            .unwrap()
    };
    let first = run();
    assert_eq!(
        first.status.code(),
        Some(1),
        "a rejected line makes the exit status 1"
    );
    assert_eq!(
        String::from_utf8_lossy(&first.stdout).trim(),
        "2500 events logged, 0 already in the database, 1 lines rejected"
    );
    assert!(String::from_utf8_lossy(&first.stderr).contains("line 2501: rejected: invalid JSON"));
    let second = run();
    assert_eq!(
        String::from_utf8_lossy(&second.stdout).trim(),
        "0 events logged, 2500 already in the database, 1 lines rejected"
    );
    assert_eq!(event_ids(&db).await.len(), 2500);
}

#[tokio::test]
async fn the_client_library_batches_and_flushes() {
    use auditlog_shim::client::{Collector, Config};
    let db = fresh_db("shim_client").await;
    let config = Config {
        batch_size: 100,
        batch_timeout: std::time::Duration::from_secs(60),
        ..Config::default()
    };
    let audit = Collector::start(&dsn("shim_client"), config);
    for i in 0..250 {
        audit
            .log(
                "auth.login.success",
                serde_json::json!({"n": i}),
                serde_json::json!({"user_id": 7}),
            )
            .await
            .unwrap();
    }
    // Two full batches went on their own; the rest waits for its timeout or a flush.
    for _ in 0..100 {
        if event_ids(&db).await.len() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(event_ids(&db).await.len(), 200);
    let report = audit.close().await;
    assert_eq!((report.logged, report.refused.len()), (250, 0));
    assert_eq!(event_ids(&db).await.len(), 250);
    let err = audit_err().await;
    assert!(
        err.contains("event_type must be a non-empty string"),
        "{err}"
    );
}

#[tokio::test]
async fn the_client_library_logs_the_correlation_in_scope() {
    use auditlog_shim::client::{Collector, Config};
    use auditlog_shim::correlation::{current, with_correlation_id, CorrelationContext};
    use serde_json::json;
    let db = fresh_db("shim_client_correlation").await;
    let audit = Collector::start(&dsn("shim_client_correlation"), Config::default());
    let log = |n: i32| audit.log("auth.logout", json!({"n": n}), json!({"user_id": 7}));
    let (root, child) = CorrelationContext::default()
        .run(async {
            log(1).await.unwrap();
            let child = with_correlation_id("payment", async {
                log(2).await.unwrap();
                current().unwrap().id
            })
            .await;
            (current().unwrap().id, child)
        })
        .await;
    log(3).await.unwrap();
    assert_eq!(audit.close().await.logged, 3);
    let rows: Vec<(String, String, Option<String>)> = db
        .query(
            "SELECT event_data->>'n', correlation_id, parent_correlation_id
               FROM audit.audit_events ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert!(root.ends_with("_root") && child.ends_with("_payment"));
    assert_eq!(
        rows[..2],
        [
            ("1".into(), root.clone(), None),
            ("2".into(), child, Some(root))
        ]
    );
    // Outside any context, the database makes one from the user, as for any event.
    assert!(
        rows[2].1.starts_with("CORR_") && rows[2].1.contains("_7_"),
        "{rows:?}"
    );
    assert_eq!(rows[2].2, None);
}

async fn audit_err() -> String {
    use auditlog_shim::client::{Collector, Config};
    let audit = Collector::start(&dsn("shim_client"), Config::default());
    audit
        .log(" ", serde_json::json!({}), serde_json::json!({}))
        .await
        .unwrap_err()
        .to_string()
}

/// The same events through the shim and through audit_log() get the same enrichment: user,
/// session, resource and place, a failing lookup recorded the same way.
#[tokio::test]
async fn the_shim_enriches_as_audit_log_does() {
    let db = fresh_db("shim_enrich").await;
    let fixtures = format!("{}/fixtures", env!("CARGO_MANIFEST_DIR"));
    db.batch_execute(&format!(
        "CREATE TABLE public.sessions (id text PRIMARY KEY, ip inet, mfa boolean);
         INSERT INTO public.sessions VALUES ('s1', '10.1.1.1', true);
         CREATE FUNCTION public.session_info(session_id text) RETURNS jsonb LANGUAGE plpgsql AS $$
         BEGIN
             IF session_id = 'broken' THEN RAISE EXCEPTION 'session store down'; END IF;
             RETURN (SELECT jsonb_build_object('session_ip', ip, 'mfa_verified', mfa)
                       FROM public.sessions WHERE id = session_id);
         END $$;
         CREATE FUNCTION public.resource_info(resource_type text, resource_id text) RETURNS jsonb
         LANGUAGE sql AS $$ SELECT jsonb_build_object('owner', 'team_' || resource_id, 'type', resource_type) $$;
         CREATE FUNCTION public.user_info(user_id text) RETURNS jsonb
         LANGUAGE sql AS $$ SELECT jsonb_build_object('roles', jsonb_build_array('admin')) $$;
         GRANT SELECT ON public.sessions TO auditlog_owner;
         ALTER DATABASE shim_enrich SET auditlog.session_context_function = 'public.session_info';
         ALTER DATABASE shim_enrich SET auditlog.resource_context_function = 'public.resource_info';
         ALTER DATABASE shim_enrich SET auditlog.user_context_function = 'public.user_info';
         ALTER DATABASE shim_enrich SET auditlog.geolocation_databases =
             '{fixtures}/geo-city.mmdb,{fixtures}/geo-asn.mmdb';"
    ))
    .await
    .unwrap();
    let events = [
        r#"{"event_type": "data.client.read", "event_data": {"resource_type": "client", "resource_id": 7, "via": "VIA", "n": 0}, "user_context": {"user_id": 3, "session_id": "s1", "ip_address": "81.2.69.142"}}"#,
        r#"{"event_type": "data.client.read", "event_data": {"via": "VIA", "n": 1}, "user_context": {"session_id": "s1", "ip_address": "10.1.1.1"}}"#,
        r#"{"event_type": "auth.logout", "event_data": {"via": "VIA", "n": 2}, "user_context": {"session_id": "broken", "ip_address": "2001:67c:2e8::9"}}"#,
        r#"{"event_type": "auth.logout", "event_data": {"via": "VIA", "n": 3}, "user_context": {"session_id": "unknown", "ip_address": "203.0.113.1"}}"#,
    ];
    let shim = Shim::start("enrich", &dsn("shim_enrich"), &["--batch-timeout-ms", "50"]).await;
    let body = events.map(|e| e.replace("VIA", "shim")).join("\n");
    let (status, answer) = shim.post("application/x-ndjson", body).await;
    assert_eq!(status, 202, "{answer}");
    shim.drained(20).await;
    // A new connection, so that it reads the database's settings.
    let direct = connect("shim_enrich").await;
    for e in events {
        let e: serde_json::Value = serde_json::from_str(&e.replace("VIA", "sql")).unwrap();
        direct
            .execute(
                "SELECT audit_log($1, $2, $3)",
                &[
                    &e["event_type"].as_str().unwrap(),
                    &e["event_data"],
                    &e["user_context"],
                ],
            )
            .await
            .unwrap();
    }
    let enriched = |via: &'static str| {
        let direct = &direct;
        async move {
            direct
                .query(
                    "SELECT jsonb_build_object(
                         'enrichment', enrichment_data - 'temporal_context',
                         'risk', classification -> 'risk_score',
                         'tags', (SELECT jsonb_agg(t) FROM jsonb_array_elements_text(classification -> 'tags') t
                                   WHERE t !~ '^(hour|day_of_week):'),
                         'errors', context_errors)
                       FROM audit.audit_events WHERE event_data ->> 'via' = $1
                      ORDER BY (event_data ->> 'n')::int",
                    &[&via],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<_, serde_json::Value>(0))
                .collect::<Vec<_>>()
        }
    };
    let (through_shim, through_sql) = (enriched("shim").await, enriched("sql").await);
    assert_eq!(through_shim.len(), 4);
    assert_eq!(through_shim, through_sql);
    let first = &through_shim[0]["enrichment"];
    assert_eq!(first["geolocation"]["city"], "London");
    assert_eq!(first["geolocation"]["asn"], 20712);
    assert_eq!(first["user_context"]["roles"], serde_json::json!(["admin"]));
    assert_eq!(first["resource_context"]["owner"], "team_7");
    assert_eq!(first["session_context"]["mfa_verified"], true);
    assert!(through_shim[0]["tags"]
        .as_array()
        .unwrap()
        .contains(&"session_ip_mismatch".into()));
    assert!(!through_shim[1]["tags"]
        .as_array()
        .unwrap()
        .contains(&"session_ip_mismatch".into()));
    assert_eq!(through_shim[2]["errors"][0]["key"], "session_lookup");
    assert_eq!(
        through_shim[2]["enrichment"]["geolocation"]["country"],
        "NL"
    );
    assert_eq!(
        through_shim[3]["enrichment"]["session_context"],
        serde_json::json!({"is_active": false, "session_found": false})
    );
    assert!(through_shim[3]["enrichment"]["geolocation"]
        .get("country")
        .is_none());
}
