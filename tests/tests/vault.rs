//! A central audit vault on PostgreSQL's logical replication: two source clusters publish their
//! logs insert-only, one vault cluster subscribes, one vault database per source, and verifies
//! every seal as it lands. Tampering on a source (an edit, a delete, a dropped partition) breaks
//! the source's own verification but never reaches the vault; a rewritten or forged seal stops
//! that source's subscription and is reported; a vault killed mid-load catches up with nothing
//! lost or doubled. History archived and redacted before the subscription arrives by its copy.

mod common;
use common::*;
use std::time::Duration;
use tokio_postgres::Client;

/// The tables a source publishes to its vault (docs/scaling.md).
const PUBLICATION: &str = "CREATE PUBLICATION auditlog_vault FOR TABLE
        audit.audit_events, audit.event_ids, audit.unsealed_events, audit.event_positions,
        audit.audit_log_integrity, audit.redactions, audit.signed_checkpoints, audit.checkpoints,
        audit.log_origin, audit.audit_events_archive
    WITH (publish = 'insert', publish_via_partition_root = true)";

const SOURCE_CONF: [&str; 4] = [
    "shared_preload_libraries = 'auditlog'",
    "auditlog.seal_database = 'postgres'",
    "auditlog.seal_interval = 1",
    "wal_level = logical",
];

async fn size(db: &Client) -> i64 {
    db.query_one("SELECT tree_size FROM audit_tree_head()", &[])
        .await
        .unwrap()
        .get(0)
}

/// (enabled, held, verified, break) of the vault's one subscription.
async fn status(vault: &Client) -> (bool, i64, i64, Option<String>) {
    let r = vault
        .query_one(
            "SELECT enabled, held_size, verified_size, last_break FROM audit.vault_status",
            &[],
        )
        .await
        .unwrap();
    (r.get(0), r.get(1), r.get(2), r.get(3))
}

/// Waits until everything the source has sealed and queued is in the vault and verified there.
async fn caught_up(source: &Client, vault: &Client) {
    let mut last = (false, 0, 0, None);
    for _ in 0..600 {
        let queued: i64 = source
            .query_one("SELECT count(*) FROM audit.unsealed_events", &[])
            .await
            .unwrap()
            .get(0);
        let want = size(source).await;
        last = status(vault).await;
        if queued == 0 && last.1 == want && last.2 == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the vault did not catch up: {last:?}");
}

async fn log(db: &Client, phase: &str, n: i32) {
    db.execute(
        "SELECT count(audit_log('auth.login.success', jsonb_build_object('phase', $1::text, 'n', i), '{\"user_id\": 7}'))
           FROM generate_series(1, $2) i",
        &[&phase, &n],
    )
    .await
    .unwrap();
}

/// A vault database for `source` in the vault cluster, subscribed to it.
async fn vault_for(vault_admin: &Client, vault: &Cluster, name: &str, source: &Cluster) -> Client {
    recreate_db(vault_admin, name).await;
    vault_admin
        .batch_execute(&format!(
            "ALTER DATABASE {name} SET auditlog.vault_mode = on"
        ))
        .await
        .unwrap();
    let db = connect_dsn(&vault.dsn(name)).await;
    db.batch_execute("CREATE EXTENSION auditlog").await.unwrap();
    db.batch_execute(&format!(
        "CREATE SUBSCRIPTION {name} CONNECTION '{}' PUBLICATION auditlog_vault
           WITH (disable_on_error = true)",
        source.dsn("postgres")
    ))
    .await
    .unwrap();
    // The initial copy lands unverified (a seal may arrive before its positions); the first seal
    // after it verifies everything the copy brought.
    for _ in 0..600 {
        let syncing = count(
            &db,
            "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'",
        )
        .await;
        if syncing == 0 {
            return db;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the initial copy did not end");
}

async fn count(db: &Client, q: &str) -> i64 {
    db.query_one(q, &[]).await.unwrap().get(0)
}

#[tokio::test]
async fn a_vault_keeps_and_verifies_what_its_sources_sealed() {
    let a_cluster = Cluster::start_with("test-vault-source-a", 55510, &SOURCE_CONF);
    let b_cluster = Cluster::start_with("test-vault-source-b", 55511, &SOURCE_CONF);
    let vault_cluster = Cluster::start("test-vault", 55512);
    let a = connect_dsn(&a_cluster.dsn("postgres")).await;
    let b = connect_dsn(&b_cluster.dsn("postgres")).await;
    for source in [&a, &b] {
        source
            .batch_execute(&format!("CREATE EXTENSION auditlog; {PUBLICATION}"))
            .await
            .unwrap();
        // Sealed, archived and redacted before the vault subscribes: it arrives by the initial
        // copy, archived events as the archive's rows and redacted ones redacted.
        source
            .batch_execute(
                r#"SELECT count(*) FROM audit_log_batch('{"event_type": "auth.logout", "timestamp": "2001-01-10T00:00:00Z"}');
                   SELECT audit_maintain_partitions();
                   SELECT seal_audit_events();
                   SELECT archive_audit_logs(30);"#,
            )
            .await
            .unwrap();
        log(source, "before", 150).await;
        source
            .batch_execute(
                "SELECT seal_audit_events();
                 SELECT redact_audit_event(event_id, 'erasure request 7')
                   FROM audit.audit_events WHERE event_data->>'n' = '3';
                 SELECT seal_audit_events();",
            )
            .await
            .unwrap();
    }
    let vault_admin = connect_dsn(&vault_cluster.dsn("postgres")).await;
    let va = vault_for(&vault_admin, &vault_cluster, "vault_a", &a_cluster).await;
    let vb = vault_for(&vault_admin, &vault_cluster, "vault_b", &b_cluster).await;
    for (source, vault) in [(&a, &va), (&b, &vb)] {
        log(source, "after", 100).await;
        caught_up(source, vault).await;
        assert_eq!(
            size(vault).await,
            size(source).await,
            "the vault's own tree has every sealed event"
        );
        let archived = count(vault, "SELECT count(*) FROM audit.audit_events_archive").await;
        assert_eq!(archived, 1);
        assert_eq!(verify_kinds(vault).await, ["ok"]);
    }
    // The vault carries its source's origin, so the source's checkpoints name it.
    let origin = |db: &'static str| format!("SELECT origin FROM audit.log_origin /* {db} */");
    let (oa, ova): (String, String) = (
        a.query_one(&origin("a"), &[]).await.unwrap().get(0),
        va.query_one(&origin("va"), &[]).await.unwrap().get(0),
    );
    assert_eq!(oa, ova);
    assert_eq!(
        a.query_one("SELECT root_hash FROM audit_tree_head()", &[])
            .await
            .unwrap()
            .get::<_, Vec<u8>>(0),
        va.query_one("SELECT root_hash FROM audit_tree_head()", &[])
            .await
            .unwrap()
            .get::<_, Vec<u8>>(0),
        "the tree the vault built is the source's"
    );

    // Nothing is written in a vault but what replication brings.
    for write in [
        "SELECT audit_log('auth.login.success', '{}', '{}')",
        "SELECT seal_audit_events()",
        "SELECT * FROM audit_log_batch('{\"event_type\": \"auth.logout\"}')",
    ] {
        let e = va.batch_execute(write).await.unwrap_err();
        assert!(format!("{e:?}").contains("audit vault"), "{write}: {e:?}");
    }

    // Tampering on source A: an edit, a delete, a dropped partition. Its own verification fails;
    // the vault still holds the originals and verifies them.
    let edited: uuid::Uuid = a
        .query_one(
            "SELECT event_id FROM audit.audit_events WHERE event_data->>'phase' = 'before' ORDER BY event_id LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let partition: String = a
        .query_one(
            "SELECT tableoid::regclass::text FROM audit.audit_events WHERE event_id = $1",
            &[&edited],
        )
        .await
        .unwrap()
        .get(0);
    a.batch_execute(&format!(
        "ALTER TABLE {partition} DISABLE TRIGGER USER;
         UPDATE {partition} SET event_data = '{{\"phase\": \"forged\"}}' WHERE event_id = '{edited}';
         DELETE FROM {partition} WHERE event_id = (SELECT event_id FROM {partition} ORDER BY event_id DESC LIMIT 1);
         ALTER TABLE {partition} ENABLE TRIGGER USER;"
    ))
    .await
    .unwrap();
    assert_ne!(
        verify_kinds(&a).await,
        ["ok"],
        "an edit and a delete break the source's chain"
    );
    a.batch_execute(&format!(
        "ALTER TABLE audit.audit_events DETACH PARTITION {partition}; DROP TABLE {partition}"
    ))
    .await
    .unwrap();
    assert_eq!(
        count(&a, "SELECT count(*) FROM audit.audit_events").await,
        0
    );
    let held = count(&va, "SELECT count(*) FROM audit.audit_events").await;
    assert!(verify_kinds(&a)
        .await
        .contains(&"missing_event".to_string()));
    log(&a, "after tampering", 20).await;
    caught_up(&a, &va).await;
    assert_eq!(
        count(&va, "SELECT count(*) FROM audit.audit_events").await,
        held + 20
    );
    let kept: String = va
        .query_one(
            "SELECT event_data->>'phase' FROM audit.audit_events WHERE event_id = $1",
            &[&edited],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        kept, "before",
        "the vault keeps the original of an edited event"
    );
    assert_eq!(verify_kinds(&va).await, ["ok"]);

    // Source B rewrites its last seal (deleted, and inserted again with another hash): the vault,
    // which holds that batch, refuses it; B's subscription stops and the break is reported. A's
    // goes on.
    let shim_vault = |vault: &str, source: &Cluster| {
        shim_at(
            &vault_cluster.dsn("postgres"),
            &[
                "vault-status",
                "--vault",
                &vault_cluster.dsn(vault),
                "--source",
                &source.dsn("postgres"),
            ],
        )
    };
    let healthy = shim_vault("vault_a", &a_cluster).unwrap();
    assert!(
        healthy.contains("receiving") && healthy.contains("caught up"),
        "{healthy}"
    );
    let before = status(&vb).await;
    b.batch_execute(
        "ALTER TABLE audit.audit_log_integrity DISABLE TRIGGER USER;
         CREATE TEMP TABLE last_batch AS SELECT * FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1;
         DELETE FROM audit.audit_log_integrity WHERE id = (SELECT id FROM last_batch);
         INSERT INTO audit.audit_log_integrity
               (id, prev_batch_hash, merkle_root, first_position, last_position, event_count,
                batch_start_time, batch_end_time, created_at, seal_version, batch_hash, tree_root)
         SELECT id, prev_batch_hash, merkle_root, first_position, last_position, event_count,
                batch_start_time, batch_end_time, created_at, seal_version, repeat('0', 64), tree_root
           FROM last_batch;
         ALTER TABLE audit.audit_log_integrity ENABLE TRIGGER USER;",
    )
    .await
    .unwrap();
    let state = stopped(&vb).await;
    assert_eq!(
        (state.1, state.2),
        (before.1, before.2),
        "the rewrite did not land"
    );
    let why = state.3.expect("the break is recorded");
    assert!(why.contains("history was rewritten"), "{why}");
    let report = shim_vault("vault_b", &b_cluster).unwrap_err();
    assert!(
        report.contains("STOPPED") && report.contains("BREAK"),
        "{report}"
    );
    assert_eq!(verify_kinds(&vb).await, ["ok"]);
    assert!(shim_vault("vault_a", &a_cluster).is_ok());

    // The vault killed -9 while source A logs: after its restart it catches up, every event
    // once.
    let load = {
        let dsn = a_cluster.dsn("postgres");
        tokio::spawn(async move {
            let db = connect_dsn(&dsn).await;
            for _ in 0..40 {
                log(&db, "load", 25).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let loaded = "SELECT count(*) FROM audit.audit_events WHERE event_data->>'phase' = 'load'";
    assert!(count(&va, loaded).await < 1000, "killed mid-load");
    let pid = std::fs::read_to_string(vault_cluster.0.join("data/postmaster.pid")).unwrap();
    let pid = pid.lines().next().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .unwrap()
        .success());
    // Its children notice the postmaster is gone and exit; until then it cannot start again.
    let restarted = (0..60).any(|_| {
        std::thread::sleep(Duration::from_millis(500));
        std::process::Command::new(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pgcluster.sh"),
        )
        .args(["resume", vault_cluster.0.to_str().unwrap()])
        .status()
        .unwrap()
        .success()
    });
    assert!(restarted, "the vault restarts after kill -9");
    load.await.unwrap();
    let va = connect_dsn(&vault_cluster.dsn("vault_a")).await;
    caught_up(&a, &va).await;
    assert_eq!(count(&va, loaded).await, 1000);
    assert_eq!(
        count(
            &va,
            "SELECT count(*) - count(DISTINCT event_id) FROM audit.audit_events"
        )
        .await,
        0,
        "nothing arrived twice"
    );
    assert_eq!(verify_kinds(&va).await, ["ok"]);

    // A forged seal on source A (a batch over a position its sealer never made, of an event that
    // does not exist) stops A's subscription too, and does not land.
    let before = status(&va).await;
    a.batch_execute(
        "INSERT INTO audit.event_positions
         SELECT last_position + 1, gen_random_uuid(), sha256('forged'), sha256('forged'), now()
           FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1;
         INSERT INTO audit.audit_log_integrity
               (id, prev_batch_hash, merkle_root, first_position, last_position, event_count,
                batch_start_time, batch_end_time, created_at, seal_version, batch_hash, tree_root)
         SELECT id + 1, batch_hash, merkle_root, last_position + 1, last_position + 1, 1,
                now(), now(), now(), seal_version, batch_hash, tree_root
           FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1;",
    )
    .await
    .unwrap();
    let state = stopped(&va).await;
    assert_eq!(
        (state.1, state.2),
        (before.1, before.2),
        "the forged batch did not land"
    );
    let why = state.3.expect("the break is recorded");
    assert!(why.contains("does not verify"), "{why}");
    assert_eq!(verify_kinds(&va).await, ["ok"]);
}

/// Waits for the vault's subscription to stop; returns its status then.
async fn stopped(vault: &Client) -> (bool, i64, i64, Option<String>) {
    let mut state = status(vault).await;
    for _ in 0..300 {
        if !state.0 {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        state = status(vault).await;
    }
    panic!("the subscription did not stop: {state:?}");
}
