//! Checkpoints outside the database, through the shim: a clean history verifies; a cut tail, a
//! history rewritten after a checkpoint and a forged checkpoint are each named; an inclusion
//! proof checks against a checkpoint without the database.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn shim(args: &[&str]) -> Output {
    let bin = std::env::var("AUDITLOG_SHIM").expect("AUDITLOG_SHIM is set by `make test`");
    Command::new(bin)
        .args(["--database-url", &common::dsn("it_checkpoints")])
        .args(args)
        .output()
        .expect("run auditlog-shim")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(args: &[&str]) -> String {
    let o = shim(args);
    assert!(
        o.status.success(),
        "auditlog-shim {args:?} failed: {}",
        text(&o)
    );
    text(&o)
}

fn fails(args: &[&str]) -> String {
    let o = shim(args);
    assert!(
        !o.status.success(),
        "auditlog-shim {args:?} should have failed: {}",
        text(&o)
    );
    text(&o)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test]
async fn checkpoints_catch_what_the_database_alone_cannot() {
    let db = common::fresh_db("it_checkpoints").await;
    let dir: PathBuf = std::env::temp_dir().join("auditlog_it_checkpoints");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cps = dir.join("checkpoints");
    let prefix = dir.join("signer");
    let (key, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    ok(&["keygen", "--out", s(&prefix)]);
    fails(&["keygen", "--out", s(&prefix)]);

    // An empty log is checkpointed too: silence is visible.
    ok(&["checkpoint", "--key", s(&key), "--dir", s(&cps)]);
    let log = "SELECT count(audit_log('auth.login.success', jsonb_build_object('n', n))) FROM generate_series(1, 6) n";
    db.batch_execute(log).await.unwrap();
    db.batch_execute("SELECT seal_audit_events()")
        .await
        .unwrap();
    ok(&["checkpoint", "--key", s(&key), "--dir", s(&cps)]);
    db.batch_execute(&format!("{log}; SELECT seal_audit_events();"))
        .await
        .unwrap();
    ok(&["checkpoint", "--key", s(&key), "--dir", s(&cps)]);
    let out = ok(&["verify", "--dir", s(&cps), "--pubkey", s(&public)]);
    assert!(out.contains("all checkpoints verify"), "{out}");
    let stored: i64 = db
        .query_one("SELECT count(*) FROM audit.checkpoints", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 3);

    // An inclusion proof checks against the last checkpoint, and a forged one does not.
    let proof: serde_json::Value = db
        .query_one("SELECT audit_inclusion_proof((SELECT event_id FROM audit.event_positions WHERE position = 3))", &[])
        .await
        .unwrap()
        .get(0);
    let proof_file = dir.join("proof.json");
    std::fs::write(&proof_file, proof.to_string()).unwrap();
    let last = cps.join("checkpoint-00000003.json");
    let verify_proof = [
        "verify-proof",
        "--proof",
        s(&proof_file),
        "--checkpoint",
        s(&last),
        "--pubkey",
        s(&public),
    ];
    let out = ok(&verify_proof);
    assert!(out.contains("at position 3"), "{out}");
    let mut bad = proof.clone();
    bad["leaf"]["event_hash"] = serde_json::json!("00".repeat(32));
    std::fs::write(&proof_file, bad.to_string()).unwrap();
    let out = fails(&verify_proof);
    assert!(out.contains("does not hold"), "{out}");

    // Cut the tail: the newest events and their batch record, as a superuser. The database's own
    // copy of the checkpoints tells verify_audit_chain(); the files tell the shim.
    let cut = "ALTER TABLE audit.audit_events DISABLE TRIGGER ALL;
        ALTER TABLE audit.event_positions DISABLE TRIGGER ALL;
        ALTER TABLE audit.audit_log_integrity DISABLE TRIGGER ALL;
        DELETE FROM audit.audit_events WHERE event_id IN (SELECT event_id FROM audit.event_positions WHERE position > 6);
        DELETE FROM audit.event_positions WHERE position > 6;
        DELETE FROM audit.audit_log_integrity WHERE id = 2;";
    db.batch_execute(cut).await.unwrap();
    let out = fails(&["verify", "--dir", s(&cps), "--pubkey", s(&public)]);
    assert!(out.contains("truncated tail"), "{out}");
    let kinds = common::verify_kinds(&db).await;
    assert_eq!(kinds, ["truncated_tail"]);
    // ...and the shim refuses to sign over the cut.
    let out = fails(&["checkpoint", "--key", s(&key), "--dir", s(&cps)]);
    assert!(out.contains("truncated tail"), "{out}");

    // Rewrite the whole history after a checkpoint: a new, self-consistent chain of other events.
    db.batch_execute(&format!(
        "DROP EXTENSION auditlog CASCADE; CREATE EXTENSION auditlog;
         SELECT count(audit_log('auth.logout', jsonb_build_object('n', n))) FROM generate_series(1, 6) n;
         SELECT seal_audit_events(); {log}; SELECT seal_audit_events();"
    ))
    .await
    .unwrap();
    let kinds = common::verify_kinds(&db).await;
    assert_eq!(kinds, ["ok"], "the rewritten chain is consistent in itself");
    let out = fails(&["verify", "--dir", s(&cps), "--pubkey", s(&public)]);
    assert!(out.contains("history rewritten"), "{out}");

    // Forge a checkpoint: signed with another key, appended to the directory.
    let forger = dir.join("forger");
    ok(&["keygen", "--out", s(&forger)]);
    let forged_dir = dir.join("forged");
    std::fs::create_dir_all(&forged_dir).unwrap();
    for f in ["checkpoint-00000001.json", "checkpoint-00000002.json"] {
        std::fs::copy(cps.join(f), forged_dir.join(f)).unwrap();
    }
    let mut forged: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cps.join("checkpoint-00000003.json")).unwrap())
            .unwrap();
    forged["checkpoint"]["head"]["tree_size"] = serde_json::json!(1000);
    std::fs::write(
        forged_dir.join("checkpoint-00000003.json"),
        forged.to_string(),
    )
    .unwrap();
    let out = fails(&["verify", "--dir", s(&forged_dir), "--pubkey", s(&public)]);
    assert!(out.contains("forged checkpoint"), "{out}");
}

#[tokio::test]
async fn archived_events_verify_against_checkpoints_as_live_ones_do() {
    let db = common::fresh_db("it_checkpoints_archive").await;
    let dir: PathBuf = std::env::temp_dir().join("auditlog_it_checkpoints_archive");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (cps, prefix) = (dir.join("checkpoints"), dir.join("signer"));
    let run = |args: &[&str]| {
        let o = Command::new(std::env::var("AUDITLOG_SHIM").unwrap())
            .args(["--database-url", &common::dsn("it_checkpoints_archive")])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "auditlog-shim {args:?}: {}", text(&o));
        text(&o)
    };
    let (key, public) = (prefix.with_extension("key"), prefix.with_extension("pub"));
    run(&["keygen", "--out", s(&prefix)]);
    db.batch_execute(
        r#"SELECT count(*) FROM audit_log_batch(
               '{"event_type": "auth.logout", "timestamp": "2001-01-10T00:00:00Z"}' || E'\n' ||
               '{"event_type": "auth.logout", "timestamp": "2001-02-10T00:00:00Z"}' || E'\n' ||
               '{"event_type": "auth.logout"}');
           SELECT audit_maintain_partitions();
           SELECT seal_audit_events();"#,
    )
    .await
    .unwrap();
    run(&["checkpoint", "--key", s(&key), "--dir", s(&cps)]);
    let archived: i32 = db
        .query_one("SELECT archive_audit_logs(30)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(archived, 2);
    db.batch_execute("SELECT audit_log('auth.logout', '{}', '{}'); SELECT seal_audit_events();")
        .await
        .unwrap();
    run(&["checkpoint", "--key", s(&key), "--dir", s(&cps)]);
    let out = run(&["verify", "--dir", s(&cps), "--pubkey", s(&public)]);
    assert!(out.contains("all checkpoints verify"), "{out}");
    assert_eq!(common::verify_kinds(&db).await, ["ok"]);
}
