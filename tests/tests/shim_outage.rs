//! Postgres stopped for 10 s in the middle of a load through the shim: nothing acknowledged is
//! lost. A cluster of its own (the shared one stays up for the other tests).

mod common;
use common::*;
use std::collections::HashSet;

#[tokio::test]
async fn postgres_stopped_for_10_s_during_a_load_loses_nothing_acknowledged() {
    let cluster = Cluster::start("test-outage", 55434);
    let dir = cluster.0.clone();
    let dsn = cluster.dsn("postgres");
    connect_dsn(&dsn)
        .await
        .batch_execute("CREATE EXTENSION auditlog")
        .await
        .unwrap();

    let shim = Shim::start(
        "outage",
        &dsn,
        &["--batch-timeout-ms", "100", "--max-backoff-seconds", "1"],
    )
    .await;
    let mut acked = Vec::new();
    let started = std::time::Instant::now();
    let (mut stopped_at, mut resumed) = (None, false);
    // Requests of 200 events, one after another, for about 16 s; Postgres is down from about 3 s
    // to 13 s.
    for r in 0.. {
        let elapsed = started.elapsed().as_secs_f64();
        if elapsed > 16.0 {
            break;
        }
        if elapsed > 3.0 && stopped_at.is_none() {
            cluster.run(&["stop", dir.to_str().unwrap()]);
            stopped_at = Some(std::time::Instant::now());
        }
        if !resumed && stopped_at.is_some_and(|t| t.elapsed().as_secs() >= 10) {
            cluster.run(&["resume", dir.to_str().unwrap()]);
            resumed = true;
        }
        let (status, answer) = shim
            .post("application/x-ndjson", ndjson_events(r * 200, 200))
            .await;
        assert_eq!(
            status, 202,
            "acknowledged even while the database is down: {answer}"
        );
        acked.extend(accepted_ids(&answer));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(resumed, "the database was stopped and started again");
    shim.drained(120).await;
    let db = connect_dsn(&dsn).await;
    let stored: HashSet<uuid::Uuid> = event_ids(&db).await.into_iter().collect();
    assert_eq!(stored.len(), acked.len());
    assert!(
        acked.iter().all(|id| stored.contains(id)),
        "an acknowledged event is missing"
    );
    let metrics = shim.get("/metrics").await;
    let retried = metrics
        .lines()
        .find(|l| l.starts_with("auditlog_shim_events_retried_total"))
        .unwrap();
    assert_ne!(
        retried, "auditlog_shim_events_retried_total 0",
        "the outage was seen"
    );
}
