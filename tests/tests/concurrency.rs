//! Concurrent writers: correlation counts stay exact, and a DBA's taxonomy change reaches a
//! session that is already connected.

mod common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn correlation_counts_are_exact_with_two_concurrent_writers() {
    common::fresh_db("it_concurrency").await;
    const PER_WRITER: i64 = 400;
    let writers: Vec<_> = (0..2)
        .map(|w| {
            tokio::spawn(async move {
                let c = common::connect("it_concurrency").await;
                let stmt = c
                    .prepare("SELECT audit_log('data.client.read', jsonb_build_object('i', $1::int8), $2::jsonb)")
                    .await
                    .unwrap();
                for i in 0..PER_WRITER {
                    // Both writers hit one shared correlation and one of their own.
                    let corr = if i % 2 == 0 { "CORR_SHARED".to_string() } else { format!("CORR_W{w}") };
                    let ctx = serde_json::json!({"correlation_id": corr, "user_id": w});
                    c.execute(&stmt, &[&i, &ctx]).await.unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let c = common::connect("it_concurrency").await;
    let rows = c
        .query(
            "SELECT correlation_id, event_count FROM audit.correlation_metadata ORDER BY correlation_id",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        got,
        vec![
            ("CORR_SHARED".to_string(), PER_WRITER),
            ("CORR_W0".to_string(), PER_WRITER / 2),
            ("CORR_W1".to_string(), PER_WRITER / 2)
        ]
    );
    let events: i64 = c
        .query_one("SELECT count(*) FROM audit.audit_events", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 2 * PER_WRITER);
}

#[tokio::test]
async fn taxonomy_change_applies_to_a_connected_session_at_once() {
    let dba = common::fresh_db("it_taxonomy").await;
    let app = common::connect("it_taxonomy").await;
    let severity = |id: uuid::Uuid| {
        let app = &app;
        async move {
            let row = app
                .query_one("SELECT classification ->> 'severity' FROM audit.audit_events WHERE event_id = $1", &[&id])
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    let log = "SELECT audit_log('auth.logout')";
    let first: uuid::Uuid = app.query_one(log, &[]).await.unwrap().get(0);
    assert_eq!(severity(first).await, "info");
    dba.execute(
        "UPDATE audit.event_types SET severity = 'critical' WHERE event_type = 'auth.logout'",
        &[],
    )
    .await
    .unwrap();
    let second: uuid::Uuid = app.query_one(log, &[]).await.unwrap().get(0);
    assert_eq!(severity(second).await, "critical");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_and_sealing_at_once_seal_every_event_exactly_once() {
    common::fresh_db("it_sealing").await;
    const WRITERS: i64 = 3;
    const PER_WRITER: i64 = 300;
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(async move {
                let mut c = common::connect("it_sealing").await;
                for i in 0..PER_WRITER {
                    // Some transactions hold several events, so commits interleave with seals.
                    let tx = c.transaction().await.unwrap();
                    tx.execute("SELECT audit_log('auth.login.success', jsonb_build_object('w', $1::int8, 'i', $2::int8))", &[&w, &i])
                        .await
                        .unwrap();
                    if i % 3 == 0 {
                        tx.execute("SELECT pg_sleep(0.002)", &[]).await.unwrap();
                    }
                    tx.commit().await.unwrap();
                }
            })
        })
        .collect();
    let sealers: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let c = common::connect("it_sealing").await;
                let mut sealed = 0i64;
                for _ in 0..60 {
                    sealed += c
                        .query_one("SELECT seal_audit_events()", &[])
                        .await
                        .unwrap()
                        .get::<_, i64>(0);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                sealed
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let mut sealed: i64 = 0;
    for s in sealers {
        sealed += s.await.unwrap();
    }
    let c = common::connect("it_sealing").await;
    sealed += c
        .query_one("SELECT seal_audit_events()", &[])
        .await
        .unwrap()
        .get::<_, i64>(0);
    assert_eq!(sealed, WRITERS * PER_WRITER, "every event sealed once");
    let row = c
        .query_one(
            "SELECT (SELECT count(*) FROM audit.audit_events), (SELECT count(*) FROM audit.event_positions),
                    (SELECT count(DISTINCT event_id) FROM audit.event_positions), (SELECT max(position) FROM audit.event_positions),
                    (SELECT count(*) FROM audit.audit_log_integrity) > 1",
            &[],
        )
        .await
        .unwrap();
    let counts: (i64, i64, i64, i64, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    assert_eq!(
        counts,
        (
            WRITERS * PER_WRITER,
            WRITERS * PER_WRITER,
            WRITERS * PER_WRITER,
            WRITERS * PER_WRITER,
            true
        )
    );
    let verdict = common::verify_kinds(&c).await;
    assert_eq!(verdict, ["ok"]);
}

/// The detection rules count what every session logs as it logs it (auditlog is preloaded here,
/// so the windows are in shared memory): login failures still in another session's open
/// transaction count toward brute force, and stop counting when it rolls back.
#[tokio::test]
async fn detection_counts_other_sessions_events_in_flight_and_not_once_rolled_back() {
    let dba = common::fresh_db("it_detection").await;
    dba.batch_execute(
        "UPDATE audit.detection_rules SET enabled = (rule_id = 'brute_force');
         SELECT pg_sleep(1.1);",
    )
    .await
    .unwrap();
    // Logs a failure for user 7 and says whether brute force flagged it.
    async fn fail(c: &tokio_postgres::Client) -> bool {
        let id: uuid::Uuid = c
            .query_one(
                "SELECT audit_log('auth.login.failure', '{}', '{\"user_id\": 7}')",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        c.query_one(
            "SELECT classification -> 'tags' ? 'rule:brute_force' FROM audit.audit_events WHERE event_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0)
    }
    let a = common::connect("it_detection").await;
    let b = common::connect("it_detection").await;
    a.batch_execute("BEGIN").await.unwrap();
    for _ in 0..4 {
        assert!(!fail(&a).await);
    }
    // Four failures not yet committed in session a, the fifth in session b.
    assert!(
        fail(&b).await,
        "the uncommitted failures of another session count"
    );
    a.batch_execute("ROLLBACK").await.unwrap();
    // Now only b's own failure and this one.
    assert!(!fail(&b).await, "rolled-back failures no longer count");
}
