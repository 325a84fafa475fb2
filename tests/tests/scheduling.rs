//! Sealing and verification on their own: the background sealer, and pg_cron running
//! verify_recent() for real (succeeded on a clean chain, failed after tampering).

mod common;

use std::time::{Duration, Instant};

async fn until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn the_background_sealer_seals_new_events() {
    // The test cluster runs the sealer in the postgres database every second.
    let db = common::connect("postgres").await;
    db.batch_execute("CREATE EXTENSION IF NOT EXISTS auditlog")
        .await
        .unwrap();
    let ids: Vec<uuid::Uuid> = db
        .query("SELECT audit_log('system.startup', jsonb_build_object('n', n)) FROM generate_series(1, 5) n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    until("the sealer", Duration::from_secs(30), || async {
        let sealed: i64 = db
            .query_one(
                "SELECT count(*) FROM audit.event_positions WHERE event_id = ANY($1)",
                &[&ids],
            )
            .await
            .unwrap()
            .get(0);
        sealed == 5
    })
    .await;
    let kinds = common::verify_kinds(&db).await;
    assert_eq!(kinds, ["ok"]);
}

/// The lines a DBA runs (README): pg_cron seals every minute and verifies the last hour.
const SCHEDULE: &str = "
    SELECT cron.schedule_in_database('auditlog-seal', '* * * * *', 'SELECT seal_audit_events()', 'it_cron');
    SELECT cron.schedule_in_database('auditlog-verify', '* * * * *', $$CALL verify_recent('1 hour')$$, 'it_cron');";

async fn runs(
    cron: &tokio_postgres::Client,
    status: &str,
    since: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    cron.query(
        "SELECT coalesce(d.return_message, '') FROM cron.job_run_details d JOIN cron.job j USING (jobid)
          WHERE j.jobname = 'auditlog-verify' AND d.status = $1 AND d.start_time >= $2",
        &[&status, &since],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[tokio::test]
async fn pg_cron_records_verification_success_then_failure() {
    let cron = common::connect("postgres").await;
    cron.batch_execute(
        "CREATE EXTENSION IF NOT EXISTS pg_cron;
         SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname LIKE 'auditlog-%';",
    )
    .await
    .unwrap();
    let db = common::fresh_db("it_cron").await;
    db.batch_execute(
        "SELECT count(audit_log('auth.login.success', jsonb_build_object('n', n))) FROM generate_series(1, 10) n;
         SELECT seal_audit_events();",
    )
    .await
    .unwrap();
    let start = chrono::Utc::now();
    cron.batch_execute(SCHEDULE).await.unwrap();

    until(
        "a succeeded verify_recent run",
        Duration::from_secs(150),
        || async { !runs(&cron, "succeeded", start).await.is_empty() },
    )
    .await;

    // Tamper as a superuser, with the append-only trigger switched off.
    db.batch_execute(
        "ALTER TABLE audit.audit_events DISABLE TRIGGER audit_events_append_only;
         UPDATE audit.audit_events SET event_data = '{\"n\": 0}' WHERE event_data ->> 'n' = '7';
         ALTER TABLE audit.audit_events ENABLE ALWAYS TRIGGER audit_events_append_only;",
    )
    .await
    .unwrap();
    let tampered = chrono::Utc::now();
    until(
        "a failed verify_recent run",
        Duration::from_secs(150),
        || async { !runs(&cron, "failed", tampered).await.is_empty() },
    )
    .await;
    let failed = runs(&cron, "failed", tampered).await;
    assert!(
        failed[0].contains("audit log integrity check failed"),
        "{failed:?}"
    );

    // The run and its alert were kept despite the error.
    let row = db
        .query_one(
            "SELECT (SELECT count(*) FROM audit.verification_runs WHERE NOT ok),
                    (SELECT count(*) FROM audit.audit_alerts WHERE alert_type = 'integrity_failure')",
            &[],
        )
        .await
        .unwrap();
    assert!(row.get::<_, i64>(0) >= 1 && row.get::<_, i64>(1) >= 1);
    cron.batch_execute(
        "SELECT cron.unschedule(jobname) FROM cron.job WHERE jobname LIKE 'auditlog-%'",
    )
    .await
    .unwrap();
}
