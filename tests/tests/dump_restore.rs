//! pg_dump keeps every audit row; a restore into a fresh database gives the same rows with the
//! same hashes, the hashes still verify, and nothing is re-hashed or double counted.

mod common;

use std::process::Command;

const BIN: &str = "/usr/lib/postgresql/15/bin";

fn run(tool: &str, args: &[&str]) {
    let out = Command::new(format!("{BIN}/{tool}"))
        .args([
            "-h",
            &common::host(),
            "-p",
            &common::port(),
            "-U",
            "postgres",
        ])
        .args(args)
        .output()
        .expect("run a PostgreSQL client tool");
    assert!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every event, live or archived, with its partition and whether its hash verifies.
const SNAPSHOT: &str = "
    SELECT string_agg(concat_ws('|', event_id, tableoid::regclass, integrity_hash,
                                audit.compute_event_hash(e.event_id, e.\"timestamp\", e.event_type, e.event_data,
                                    e.user_id, e.session_id, e.correlation_id, e.parent_correlation_id,
                                    host(e.ip_address), e.user_agent, e.user_context, e.status, e.enrichment_data,
                                    e.classification, e.context_errors, e.hash_version, e.created_at,
                                    e.updated_at) = integrity_hash), ',' ORDER BY event_id)
      FROM (SELECT tableoid, * FROM audit.audit_events
            UNION ALL SELECT tableoid, * FROM audit.audit_events_archive) e";
const DERIVED: &str = "
    SELECT (SELECT string_agg(concat_ws('|', correlation_id, parent_correlation_id, event_count, risk_score,
                                        first_event_time, last_event_time), ',' ORDER BY correlation_id)
              FROM audit.correlation_metadata),
           (SELECT string_agg(concat_ws('|', alert_id, status), ',' ORDER BY alert_id) FROM audit.audit_alerts),
           (SELECT string_agg(concat_ws('|', event_id, field_path), ',' ORDER BY event_id) FROM audit.field_access_audit),
           (SELECT string_agg(concat_ws('|', event_type, severity, builtin), ',' ORDER BY event_type) FROM audit.event_types),
           (SELECT string_agg(concat_ws('|', position, event_id), ',' ORDER BY position) FROM audit.event_positions),
           (SELECT string_agg(concat_ws('|', id, batch_hash), ',' ORDER BY id) FROM audit.audit_log_integrity),
           (SELECT string_agg(event_id::text, ',') FROM audit.unsealed_events),
           (SELECT string_agg(kind || ':' || detail, ',') FROM verify_audit_chain()),
           (SELECT string_agg(c.relname || ' in ' || i.inhparent::regclass, ',' ORDER BY c.relname)
              FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
             WHERE i.inhparent IN ('audit.audit_events'::regclass, 'audit.audit_events_archive'::regclass))";

async fn state(db: &str) -> (String, Vec<Option<String>>) {
    let c = common::connect(db).await;
    let events: String = c.query_one(SNAPSHOT, &[]).await.unwrap().get(0);
    let row = c.query_one(DERIVED, &[]).await.unwrap();
    (events, (0..9).map(|i| row.get(i)).collect())
}

#[tokio::test]
async fn dump_and_restore_keep_rows_and_hashes() {
    let src = common::fresh_db("it_dump_src").await;
    src.batch_execute(
        "UPDATE audit.event_types SET severity = 'critical' WHERE event_type = 'auth.logout';
         INSERT INTO audit.event_types VALUES ('billing.invoice.paid', 'billing', 'invoice_paid', 'info', 'low', 365, 'low', 'low');
         SELECT audit_log('auth.logout', '{\"n\": 1}', '{\"correlation_id\": \"C1\", \"parent_correlation_id\": \"C0\"}');
         SELECT audit_log('security.breach.suspected', '{\"n\": 2}', '{\"correlation_id\": \"C1\", \"ip_address\": \"8.8.8.8\"}');
         SELECT audit_log('data.client.read', '{\"field_path\": \"clients.ssn\", \"n\": 3.10}', '{\"user_id\": 5}');
         SELECT audit_log('billing.invoice.paid', '{\"amount\": 12345678901234567890123}', '{\"correlation_id\": \"C2\"}');
         SELECT seal_audit_events();
         SELECT audit_log_batch('{\"event_type\": \"auth.logout\", \"timestamp\": \"2001-02-03T04:05:06Z\"}');
         SELECT audit_maintain_partitions();
         SELECT archive_audit_logs(30);
         SELECT audit_log('auth.logout', '{\"n\": \"logged after the seal, still queued\"}');",
    )
    .await
    .unwrap();
    let before = state("it_dump_src").await;
    assert!(
        before.0.split(',').all(|row| row.ends_with("|t")),
        "source hashes verify: {}",
        before.0
    );
    assert_eq!(before.0.split(',').count(), 6);
    // Events in a partition made later, and in an archived one: the dump must carry both.
    assert!(
        before.0.contains("audit.audit_events_p2001"),
        "{}",
        before.0
    );
    assert!(
        before.1[8]
            .as_deref()
            .unwrap_or_default()
            .contains("audit_events_p20010201 in audit.audit_events_archive"),
        "{:?}",
        before.1[8]
    );
    assert_eq!(
        before.1[7].as_deref(),
        Some("ok:2 batches and 5 sealed events verify")
    );

    let file = std::env::temp_dir().join("auditlog_it_dump.pgdump");
    let file = file.to_str().unwrap();
    run("pg_dump", &["-Fc", "-f", file, "it_dump_src"]);
    let admin = common::connect("postgres").await;
    common::recreate_db(&admin, "it_dump_dst").await;
    run(
        "pg_restore",
        &["--exit-on-error", "-d", "it_dump_dst", file],
    );

    let after = state("it_dump_dst").await;
    assert_eq!(
        after, before,
        "restored rows, hashes, derived metadata and taxonomy match the source"
    );
}
