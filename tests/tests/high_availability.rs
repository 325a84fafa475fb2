//! A primary and its streaming hot standby (PostgreSQL's own replication), each a cluster of its
//! own: the background sealer runs only on the primary; verification, the tree head and proofs
//! answer on the standby without writing; the checkpoint signer signs only what the standby has
//! replayed; after the primary crashes and the standby is promoted, its sealer starts, sealing
//! resumes on the same tree, detection counts what the old primary logged, and every checkpoint
//! signed before verifies against it.

mod common;
use common::*;

/// Waits until `standby` has replayed everything `primary` has written so far.
async fn replayed(primary: &tokio_postgres::Client, standby: &tokio_postgres::Client) {
    let lsn: String = primary
        .query_one("SELECT pg_current_wal_lsn()::text", &[])
        .await
        .unwrap()
        .get(0);
    for _ in 0..600 {
        let done: bool = standby
            .query_one(
                "SELECT pg_last_wal_replay_lsn() >= $1::text::pg_lsn",
                &[&lsn],
            )
            .await
            .unwrap()
            .get(0);
        if done {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the standby did not replay up to {lsn}");
}

async fn head(db: &tokio_postgres::Client) -> (i64, Vec<u8>) {
    let r = db
        .query_one("SELECT tree_size, root_hash FROM audit_tree_head()", &[])
        .await
        .unwrap();
    (r.get(0), r.get(1))
}

#[tokio::test]
async fn a_hot_standby_verifies_read_only_and_takes_over_sealing_when_promoted() {
    let conf = [
        "shared_preload_libraries = 'auditlog'",
        "auditlog.seal_database = 'postgres'",
        "auditlog.seal_interval = 1",
    ];
    let primary_cluster = Cluster::start_with("test-ha-primary", 55440, &conf);
    let primary = connect_dsn(&primary_cluster.dsn("postgres")).await;
    primary
        .batch_execute(
            "CREATE EXTENSION auditlog;
             SELECT count(audit_log('auth.login.success', jsonb_build_object('n', i), '{\"user_id\": 7}'))
               FROM generate_series(1, 296) i;
             SELECT count(audit_log('auth.login.failure', '{}', '{\"user_id\": 99}')) FROM generate_series(1, 4);
             SELECT seal_audit_events();",
        )
        .await
        .unwrap();
    let standby_cluster = primary_cluster.standby("test-ha-standby", 55441);
    let standby = connect_dsn(&standby_cluster.dsn("postgres")).await;
    primary
        .batch_execute("SELECT count(audit_log('auth.logout', '{}', '{}')) FROM generate_series(1, 20); SELECT seal_audit_events();")
        .await
        .unwrap();
    replayed(&primary, &standby).await;

    let in_recovery: bool = standby
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(in_recovery);
    assert_eq!(
        (sealers(&primary).await, sealers(&standby).await),
        (1, 0),
        "the sealer runs on the primary only"
    );

    // Verification, the head and proofs answer on the standby, writing nothing.
    assert_eq!(verify_kinds(&standby).await, ["ok"]);
    let window_ok: bool = standby
        .query_one("SELECT verify_audit_batch_integrity(now() - interval '1 day', now() + interval '1 day')", &[])
        .await
        .unwrap()
        .get(0);
    assert!(window_ok);
    let pending: i64 = standby
        .query_one(
            "SELECT count(*) FROM audit.audit_log_integrity WHERE verification_status <> 'pending'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(pending, 0, "the standby recorded no status");
    let (size, root) = head(&standby).await;
    assert_eq!((size, root.clone()), head(&primary).await);
    assert_eq!(size, 320);
    let proof: Vec<Vec<u8>> = standby
        .query_one("SELECT audit_consistency_proof(300, 320)", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!proof.is_empty());
    standby
        .query_one("SELECT * FROM audit_inclusion_proof((SELECT event_id FROM audit.event_positions WHERE position = 7))", &[])
        .await
        .unwrap();
    // The same checks record their statuses on the primary.
    assert_eq!(verify_kinds(&primary).await, ["ok"]);
    let verified: i64 = primary
        .query_one(
            "SELECT count(*) FROM audit.audit_log_integrity WHERE verification_status = 'verified'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(verified > 0);

    // The signer signs only a head the standby has replayed: with replay paused and more
    // sealed, it refuses; once replayed, it signs.
    let dir = std::env::temp_dir().join("auditlog_it_high_availability");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (key, cps) = (dir.join("log"), dir.join("checkpoints"));
    let (p, s) = (
        primary_cluster.dsn("postgres"),
        standby_cluster.dsn("postgres"),
    );
    let path = |p: &std::path::Path| p.to_str().unwrap().to_owned();
    shim_at(
        &p,
        &["keygen", "--out", &path(&key), "--name", "ha.example/log"],
    )
    .unwrap();
    let sign = [
        "checkpoint",
        "--key",
        &path(&key.with_extension("key")),
        "--dir",
        &path(&cps),
        "--replica",
        &s,
    ];
    shim_at(&p, &sign).unwrap();
    standby
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    primary
        .batch_execute("SELECT count(audit_log('auth.logout', '{}', '{}')) FROM generate_series(1, 10); SELECT seal_audit_events();")
        .await
        .unwrap();
    let err = shim_at(&p, &sign).unwrap_err();
    assert!(
        err.contains("has replayed 320 of the 330 sealed events"),
        "{err}"
    );
    standby
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    replayed(&primary, &standby).await;
    shim_at(&p, &sign).unwrap();

    // Replication made synchronous: a commit is acknowledged once the standby has it.
    for q in [
        "ALTER SYSTEM SET synchronous_standby_names = '*'",
        "SELECT pg_reload_conf()",
    ] {
        primary.batch_execute(q).await.unwrap();
    }
    for _ in 0..300 {
        let sync: i64 = primary
            .query_one(
                "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if sync == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // The primary crashes (kill -9) while a client logs event after event; the standby is
    // promoted: every event acknowledged to the client is there, its sealer starts and seals
    // what is logged from then on, extending the same tree, and every checkpoint signed before
    // still verifies against it.
    let logging = log_until_cut_off(&p).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drop(primary);
    let pid = std::fs::read_to_string(primary_cluster.0.join("data/postmaster.pid")).unwrap();
    let pid = pid.lines().next().unwrap();
    assert!(std::process::Command::new("kill")
        .args(["-9", pid])
        .status()
        .unwrap()
        .success());
    standby.batch_execute("SELECT pg_promote()").await.unwrap();
    let mut started = false;
    for _ in 0..300 {
        if sealers(&standby).await == 1 {
            started = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    acknowledged_all_kept(logging, &standby).await;
    assert!(started, "the sealer starts after the promotion");
    // Detection counts what the old primary logged: a fifth login failure of user 99 within the
    // brute_force rule's five minutes escalates.
    let id: uuid::Uuid = standby
        .query_one(
            "SELECT audit_log('auth.login.failure', '{}', '{\"user_id\": 99}')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let tags: String = standby
        .query_one(
            "SELECT classification ->> 'tags' FROM audit.audit_events WHERE event_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(tags.contains("rule:brute_force"), "{tags}");
    standby
        .batch_execute(
            "SELECT count(audit_log('auth.logout', '{}', '{}')) FROM generate_series(1, 5)",
        )
        .await
        .unwrap();
    // The promoted server's sealer seals every event.
    all_sealed(&standby, 30).await;
    assert_eq!(verify_kinds(&standby).await, ["ok"]);
    let vkey = path(&key.with_extension("vkey"));
    let out = shim_at(&s, &["verify", "--dir", &path(&cps), "--pubkey", &vkey]).unwrap();
    assert!(out.contains("all checkpoints verify"), "{out}");
}
