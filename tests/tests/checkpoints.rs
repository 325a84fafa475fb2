//! Checkpoints outside the database, through the shim: a clean history verifies; a cut tail, a
//! history rewritten after a checkpoint and a forged checkpoint are each named; an offline proof
//! checks against a checkpoint, and an event row against it, without the database.

mod common;

use std::path::{Path, PathBuf};

fn shim(args: &[&str]) -> Result<String, String> {
    common::shim_at(&common::dsn("it_checkpoints"), args)
}

fn ok(args: &[&str]) -> String {
    shim(args).unwrap_or_else(|e| panic!("auditlog-shim {args:?} failed: {e}"))
}

fn fails(args: &[&str]) -> String {
    shim(args)
        .err()
        .unwrap_or_else(|| panic!("auditlog-shim {args:?} should have failed"))
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
    let (key, public) = (prefix.with_extension("key"), prefix.with_extension("vkey"));
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
        .query_one("SELECT count(*) FROM audit.signed_checkpoints", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 3);
    let last = cps.join("checkpoint-00000003.note");
    assert!(std::fs::read_to_string(&last).unwrap().contains("\n12\n"));

    // An offline proof (c2sp.org/tlog-proof) checks with nothing but the file and the key, and
    // with the event's row; an edited row or proof does not.
    let event: uuid::Uuid = db
        .query_one(
            "SELECT event_id FROM audit.event_positions WHERE position = 3",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let proof = ok(&["proof", &event.to_string(), "--dir", s(&cps)]);
    assert!(proof.starts_with("c2sp.org/tlog-proof@v1\n"), "{proof}");
    let proof_file = dir.join("event.tlog-proof");
    std::fs::write(&proof_file, &proof).unwrap();
    let row: serde_json::Value = db
        .query_one(
            "SELECT to_jsonb(e) FROM audit.all_events e WHERE event_id = $1",
            &[&event],
        )
        .await
        .unwrap()
        .get(0);
    let row_file = dir.join("event.json");
    std::fs::write(&row_file, row.to_string()).unwrap();
    let check = [
        "verify-proof",
        "--proof",
        s(&proof_file),
        "--pubkey",
        s(&public),
        "--event",
        s(&row_file),
    ];
    let out = ok(&check);
    assert!(
        out.contains("at position 3") && out.contains("hashes to what was sealed"),
        "{out}"
    );
    let mut edited = row.clone();
    edited["event_data"]["n"] = serde_json::json!(99);
    std::fs::write(&row_file, edited.to_string()).unwrap();
    assert!(fails(&check).contains("modified event"));
    std::fs::write(&row_file, row.to_string()).unwrap();
    let index_line = proof.lines().find(|l| l.starts_with("index ")).unwrap();
    std::fs::write(&proof_file, proof.replace(index_line, "index 4")).unwrap();
    fails(&check);

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

    // Rewrite the whole history after a checkpoint: a new, self-consistent tree of other events,
    // larger than the one signed.
    db.batch_execute(&format!(
        "DROP EXTENSION auditlog CASCADE; CREATE EXTENSION auditlog;
         SELECT count(audit_log('auth.logout', jsonb_build_object('n', n))) FROM generate_series(1, 6) n;
         SELECT seal_audit_events(); {log}; {log}; SELECT seal_audit_events();"
    ))
    .await
    .unwrap();
    let kinds = common::verify_kinds(&db).await;
    assert_eq!(kinds, ["ok"], "the rewritten tree is consistent in itself");
    let out = fails(&["verify", "--dir", s(&cps), "--pubkey", s(&public)]);
    assert!(out.contains("history rewritten"), "{out}");
    let out = fails(&["checkpoint", "--key", s(&key), "--dir", s(&cps)]);
    assert!(out.contains("history rewritten"), "{out}");

    // Forge a checkpoint: another size under the old signature, or signed with another key.
    let forged_dir = dir.join("forged");
    std::fs::create_dir_all(&forged_dir).unwrap();
    for f in ["checkpoint-00000001.note", "checkpoint-00000002.note"] {
        std::fs::copy(cps.join(f), forged_dir.join(f)).unwrap();
    }
    let note = std::fs::read_to_string(&last).unwrap();
    std::fs::write(
        forged_dir.join("checkpoint-00000003.note"),
        note.replace("\n12\n", "\n1000\n"),
    )
    .unwrap();
    let out = fails(&["verify", "--dir", s(&forged_dir), "--pubkey", s(&public)]);
    assert!(out.contains("checkpoint-00000003.note"), "{out}");
    let forger = dir.join("forger");
    ok(&["keygen", "--out", s(&forger)]);
    let out = fails(&[
        "verify",
        "--dir",
        s(&cps),
        "--pubkey",
        s(&forger.with_extension("vkey")),
    ]);
    assert!(out.contains("checkpoint-00000001.note"), "{out}");
}

#[tokio::test]
async fn archived_events_verify_against_checkpoints_as_live_ones_do() {
    let db = common::fresh_db("it_checkpoints_archive").await;
    let dir: PathBuf = std::env::temp_dir().join("auditlog_it_checkpoints_archive");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (cps, prefix) = (dir.join("checkpoints"), dir.join("signer"));
    let run = |args: &[&str]| {
        common::shim_at(&common::dsn("it_checkpoints_archive"), args)
            .unwrap_or_else(|e| panic!("auditlog-shim {args:?}: {e}"))
    };
    let (key, public) = (prefix.with_extension("key"), prefix.with_extension("vkey"));
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
