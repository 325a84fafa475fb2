//! Upgrades: a 0.1.0 database with sealed events, a 0.2.0 one with a chain, a checkpoint and an
//! archived partition, and a 0.3.0 one with a tree and a signed checkpoint, updated with ALTER
//! EXTENSION, keep every event and a chain that verifies, and get the log's tree built from their
//! sealed leaves (0.3.0's is kept as it is); and their schema is the
//! schema a fresh install of the current version makes (this is how CI notices an upgrade
//! script that disagrees with the generated schema).

mod common;
use common::*;

/// Every object the extension defines, as text, one line each: relations (not partitions, which
/// are data), columns, indexes, constraints, triggers, functions, views, privileges and what
/// pg_dump keeps. Two databases with the same lines have the same schema.
const DESCRIBE: &str = r#"
WITH rels AS (
    SELECT c.oid, c.oid::regclass::text AS name, c.relkind
      FROM pg_class c
     WHERE c.relnamespace = 'audit'::regnamespace AND NOT c.relispartition
       AND c.relkind IN ('r', 'p', 'v', 'S')
)
SELECT line FROM (
    SELECT format('relation %s kind=%s owner=%s acl=%s', r.name, r.relkind,
                  pg_get_userbyid(c.relowner), (SELECT array_agg(a ORDER BY a::text) FROM unnest(c.relacl) a)) AS line
      FROM rels r JOIN pg_class c ON c.oid = r.oid
    UNION ALL
    SELECT format('column %s.%s #%s %s notnull=%s default=%s', r.name, a.attname, a.attnum,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
      FROM rels r JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    UNION ALL
    SELECT format('index %s', pg_get_indexdef(i.indexrelid))
      FROM rels r JOIN pg_index i ON i.indrelid = r.oid
    UNION ALL
    SELECT format('constraint %s %s %s', r.name, co.conname, pg_get_constraintdef(co.oid))
      FROM rels r JOIN pg_constraint co ON co.conrelid = r.oid
    UNION ALL
    SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
      FROM rels r JOIN pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
    UNION ALL
    SELECT format('view %s %s', r.name, pg_get_viewdef(r.oid))
      FROM rels r WHERE r.relkind = 'v'
    UNION ALL
    SELECT format('function %s owner=%s acl=%s definition=%s', p.oid::regprocedure,
                  pg_get_userbyid(p.proowner), (SELECT array_agg(a ORDER BY a::text) FROM unnest(p.proacl) a),
                  md5(pg_get_functiondef(p.oid)))
      FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
      JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'auditlog'
     WHERE p.prokind <> 'a'
    UNION ALL
    SELECT format('schema acl=%s', (SELECT array_agg(a ORDER BY a::text) FROM unnest(nspacl) a))
      FROM pg_namespace WHERE nspname = 'audit'
    UNION ALL
    SELECT format('dumped %s %s', c::regclass, cond)
      FROM pg_extension x, unnest(x.extconfig, x.extcondition) AS u(c, cond)
     WHERE x.extname = 'auditlog' AND NOT (SELECT relispartition FROM pg_class WHERE oid = c)
) lines ORDER BY line"#;

async fn describe(db: &tokio_postgres::Client) -> Vec<String> {
    db.query(DESCRIBE, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The schema an upgrade made is the schema a fresh install makes.
async fn assert_same_schema_as_fresh(
    admin: &tokio_postgres::Client,
    cluster: &Cluster,
    db: &tokio_postgres::Client,
) {
    recreate_db(admin, "upgrade_fresh").await;
    let fresh = connect_dsn(&cluster.dsn("upgrade_fresh")).await;
    fresh
        .batch_execute("CREATE EXTENSION auditlog")
        .await
        .unwrap();
    let (upgraded, installed) = (describe(db).await, describe(&fresh).await);
    assert!(
        installed.len() > 200,
        "the description covers the schema: {} lines",
        installed.len()
    );
    let only_upgraded: Vec<_> = upgraded.iter().filter(|l| !installed.contains(l)).collect();
    let only_fresh: Vec<_> = installed.iter().filter(|l| !upgraded.contains(l)).collect();
    assert!(
        only_upgraded.is_empty() && only_fresh.is_empty(),
        "the upgrade script and the fresh schema disagree:\nonly after the upgrade:\n  {}\nonly in a fresh install:\n  {}",
        only_upgraded.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
        only_fresh.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  ")
    );
}

/// 0.1.0 runs its own build (scripts/release-lib.sh installs it), on a cluster of its own: a
/// backend cannot load two builds that define the same settings, and the shared cluster
/// preloads the current one.
#[tokio::test]
async fn a_0_1_0_database_updates_with_its_events_and_chain_intact() {
    let cluster = Cluster::start("test-upgrade", 55435);
    let admin = connect_dsn(&cluster.dsn("postgres")).await;
    recreate_db(&admin, "upgrade_from").await;
    let db = connect_dsn(&cluster.dsn("upgrade_from")).await;
    db.batch_execute("CREATE EXTENSION auditlog VERSION '0.1.0'")
        .await
        .unwrap();
    db.batch_execute(
        "SELECT audit_log('auth.login.success', jsonb_build_object('n', i), '{\"user_id\": 7}') FROM generate_series(1, 50) i;
         SELECT seal_audit_events();
         SELECT audit_log('data.client.read', '{\"field_path\": \"clients.ssn\"}', '{\"user_id\": 8}');",
    )
    .await
    .unwrap();
    let before = event_ids(&db).await;
    assert_eq!(verify_kinds(&db).await, ["ok"]);

    // The update runs in a new session, which has not loaded the 0.1.0 build.
    drop(db);
    let db = connect_dsn(&cluster.dsn("upgrade_from")).await;
    db.batch_execute("ALTER EXTENSION auditlog UPDATE")
        .await
        .unwrap();
    let version: String = db
        .query_one(
            "SELECT extversion FROM pg_extension WHERE extname = 'auditlog'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
    let after = event_ids(&db).await;
    assert_eq!(after, before, "every event is still there");
    // The update made the partitions ahead (this month is the 0.1.0 table's), nothing waits in
    // the default partition; the one logged after the last 0.1.0 seal is sealed by 0.2.0; new
    // events join the chain.
    let ahead: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit.audit_events'::regclass",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ahead, 1 + 1 + 3, "default, 0.1.0's and three ahead");
    db.batch_execute(
        "SELECT audit_log('auth.logout', '{}', '{\"user_id\": 7}');
         SELECT seal_audit_events();",
    )
    .await
    .unwrap();
    let waiting = default_partition_rows(&db).await;
    assert_eq!(waiting, 0);
    assert_eq!(verify_kinds(&db).await, ["ok"]);
    let mismatches: i64 = db
        .query_one("SELECT count(*) FROM audit.audit_events e WHERE integrity_hash <> audit.event_integrity_hash(e)", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatches, 0);

    assert_same_schema_as_fresh(&admin, &cluster, &db).await;
}

/// 0.2.0 (its own build, on a cluster of its own as above) with three sealed batches, one event
/// archived, and a JSON checkpoint as its shim signed it: the update builds the tree from the
/// sealed leaves (no event re-hashed), the old chain and checkpoint still verify, a C2SP
/// checkpoint signed with the same key extends it, and new seals extend the tree.
#[tokio::test]
async fn a_0_2_0_database_updates_with_its_tree_built_from_the_sealed_leaves() {
    let cluster = Cluster::start("test-upgrade-0.2.0", 55438);
    let admin = connect_dsn(&cluster.dsn("postgres")).await;
    recreate_db(&admin, "upgrade_from_0_2_0").await;
    let dsn = cluster.dsn("upgrade_from_0_2_0");
    let db = connect_dsn(&dsn).await;
    db.batch_execute("CREATE EXTENSION auditlog VERSION '0.2.0'")
        .await
        .unwrap();
    db.batch_execute(
        r#"SELECT count(*) FROM audit_log_batch('{"event_type": "auth.logout", "timestamp": "2001-01-10T00:00:00Z"}');
           SELECT audit_maintain_partitions();
           SELECT seal_audit_events();
           SELECT count(audit_log('auth.login.success', jsonb_build_object('n', i), '{"user_id": 7}')) FROM generate_series(1, 300) i;
           SELECT seal_audit_events();
           SELECT count(audit_log('auth.logout', '{}', '{}')) FROM generate_series(1, 5);
           SELECT seal_audit_events();
           SELECT archive_audit_logs(30);"#,
    )
    .await
    .unwrap();
    let hashes = "SELECT string_agg(event_id || integrity_hash, ',' ORDER BY event_id) FROM audit.all_events";
    let before: String = db.query_one(hashes, &[]).await.unwrap().get(0);
    assert_eq!(verify_kinds(&db).await, ["ok"]);

    // The checkpoint 0.2.0's shim wrote: its JSON format, signed with a hex key.
    let dir = std::env::temp_dir().join("auditlog_it_upgrade_0_2_0");
    let _ = std::fs::remove_dir_all(&dir);
    let cps = dir.join("checkpoints");
    std::fs::create_dir_all(&cps).unwrap();
    let old_key = dir.join("old.key");
    std::fs::write(&old_key, "07".repeat(32)).unwrap();
    let key = auditlog_shim::anchor::signing_key(&old_key).unwrap();
    let head: serde_json::Value = db
        .query_one("SELECT audit_chain_head()", &[])
        .await
        .unwrap()
        .get(0);
    let signed = auditlog_shim::checkpoint::Signed::sign(
        auditlog_shim::checkpoint::next(
            None,
            serde_json::from_value(head).unwrap(),
            "2026-11-30T00:00:00Z".into(),
            &key.verifying_key(),
        ),
        &key,
    );
    std::fs::write(
        cps.join(auditlog_shim::checkpoint::file_name(1)),
        serde_json::to_string(&signed).unwrap(),
    )
    .unwrap();
    db.execute(
        "SELECT audit_store_checkpoint($1)",
        &[&serde_json::to_value(&signed).unwrap()],
    )
    .await
    .unwrap();

    drop(db);
    let db = connect_dsn(&dsn).await;
    db.batch_execute("ALTER EXTENSION auditlog UPDATE")
        .await
        .unwrap();
    let after: String = db.query_one(hashes, &[]).await.unwrap().get(0);
    assert_eq!(after, before, "every event is there, unchanged");
    let (size, versions, roots): (i64, String, i64) = {
        let r = db
            .query_one(
                "SELECT (SELECT tree_size FROM audit_tree_head()),
                        (SELECT string_agg(DISTINCT seal_version::text, ',') FROM audit.audit_log_integrity),
                        (SELECT count(DISTINCT tree_root) FROM audit.audit_log_integrity)",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!((size, versions.as_str(), roots), (306, "1", 3));
    // verify_audit_chain() rebuilds the tree from the leaves and checks every batch's root.
    assert_eq!(verify_kinds(&db).await, ["ok"]);
    let archived: i64 = db
        .query_one(
            "SELECT leaf_index FROM audit_inclusion_proof((SELECT event_id FROM audit.audit_events_archive LIMIT 1))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(archived, 0, "the archived event is the first leaf");

    // The old checkpoint verifies with the key converted to a note key; a C2SP checkpoint signed
    // with it extends the tree, and so does the next one after a new seal.
    let note_key = dir.join("log");
    shim_at(
        &dsn,
        &[
            "keygen",
            "--out",
            note_key.to_str().unwrap(),
            "--from",
            old_key.to_str().unwrap(),
        ],
    )
    .unwrap();
    let (skey, vkey) = (
        note_key.with_extension("key"),
        note_key.with_extension("vkey"),
    );
    let (s, v, c) = (
        skey.to_str().unwrap(),
        vkey.to_str().unwrap(),
        cps.to_str().unwrap(),
    );
    shim_at(&dsn, &["checkpoint", "--key", s, "--dir", c]).unwrap();
    db.batch_execute("SELECT audit_log('auth.logout', '{}', '{}'); SELECT seal_audit_events();")
        .await
        .unwrap();
    shim_at(&dsn, &["checkpoint", "--key", s, "--dir", c]).unwrap();
    let out = shim_at(&dsn, &["verify", "--dir", c, "--pubkey", v]).unwrap();
    assert!(out.contains("all checkpoints verify"), "{out}");
    let newest: i16 = db
        .query_one(
            "SELECT seal_version FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(newest, 2);
    assert_eq!(verify_kinds(&db).await, ["ok"]);

    // A 0.2.0 log that sealed nothing updates to an empty tree, which the next seal starts.
    recreate_db(&admin, "upgrade_empty_0_2_0").await;
    let empty = connect_dsn(&cluster.dsn("upgrade_empty_0_2_0")).await;
    empty
        .batch_execute("CREATE EXTENSION auditlog VERSION '0.2.0'")
        .await
        .unwrap();
    drop(empty);
    let empty = connect_dsn(&cluster.dsn("upgrade_empty_0_2_0")).await;
    empty
        .batch_execute("ALTER EXTENSION auditlog UPDATE")
        .await
        .unwrap();
    let (size, root): (i64, Vec<u8>) = {
        let r = empty
            .query_one("SELECT tree_size, root_hash FROM audit_tree_head()", &[])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        (size, hex::encode(root).as_str()),
        (
            0,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        )
    );
    empty
        .batch_execute("SELECT audit_log('auth.logout', '{}', '{}'); SELECT seal_audit_events();")
        .await
        .unwrap();
    assert_eq!(verify_kinds(&empty).await, ["ok"]);

    assert_same_schema_as_fresh(&admin, &cluster, &db).await;
}

/// 0.3.0 (its own build) with sealed batches and a C2SP checkpoint: the update keeps the tree as
/// it is (the checkpoint still verifies and the next one extends it), and the database can now
/// be a vault's source (vault_status exists, the seal trigger lets its own sealer through).
#[tokio::test]
async fn a_0_3_0_database_updates_keeping_its_tree_and_checkpoints() {
    let cluster = Cluster::start("test-upgrade-0.3.0", 55439);
    let admin = connect_dsn(&cluster.dsn("postgres")).await;
    recreate_db(&admin, "upgrade_from_0_3_0").await;
    let dsn = cluster.dsn("upgrade_from_0_3_0");
    let db = connect_dsn(&dsn).await;
    db.batch_execute(
        "CREATE EXTENSION auditlog VERSION '0.3.0';
         SELECT count(audit_log('auth.login.success', jsonb_build_object('n', i), '{\"user_id\": 7}')) FROM generate_series(1, 300) i;
         SELECT seal_audit_events();
         SELECT count(audit_log('auth.logout', '{}', '{}')) FROM generate_series(1, 5);
         SELECT seal_audit_events();",
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join("auditlog_it_upgrade_0_3_0");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("log");
    let (k, cps) = (key.to_str().unwrap(), dir.join("checkpoints"));
    let c = cps.to_str().unwrap();
    shim_at(&dsn, &["keygen", "--out", k, "--name", "upgrade-0.3.0"]).unwrap();
    let (skey, vkey) = (key.with_extension("key"), key.with_extension("vkey"));
    let (s, v) = (skey.to_str().unwrap(), vkey.to_str().unwrap());
    shim_at(&dsn, &["checkpoint", "--key", s, "--dir", c]).unwrap();
    let head = "SELECT tree_size, root_hash FROM audit_tree_head()";
    let before = db.query_one(head, &[]).await.unwrap();
    let before: (i64, Vec<u8>) = (before.get(0), before.get(1));
    drop(db);

    let db = connect_dsn(&dsn).await;
    db.batch_execute("ALTER EXTENSION auditlog UPDATE")
        .await
        .unwrap();
    let after = db.query_one(head, &[]).await.unwrap();
    assert_eq!(before, (after.get(0), after.get(1)), "the tree is kept");
    assert_eq!(verify_kinds(&db).await, ["ok"]);
    db.batch_execute("SELECT audit_log('auth.logout', '{}', '{}'); SELECT seal_audit_events();")
        .await
        .unwrap();
    shim_at(&dsn, &["checkpoint", "--key", s, "--dir", c]).unwrap();
    let out = shim_at(&dsn, &["verify", "--dir", c, "--pubkey", v]).unwrap();
    assert!(out.contains("all checkpoints verify"), "{out}");
    assert_eq!(verify_kinds(&db).await, ["ok"]);
    let subscriptions: i64 = db
        .query_one("SELECT count(*) FROM audit.vault_status", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(subscriptions, 0, "not a vault");

    assert_same_schema_as_fresh(&admin, &cluster, &db).await;
}
