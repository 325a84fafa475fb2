//! Sharded ingest (issue 14): a router database whose audit_log() and audit_log_batch() are
//! PL/Proxy functions (sql/router.sql) in front of four shard databases on two clusters, each an
//! ordinary auditlog database with its own tree, and one combined checkpoint over them all.
//! Three clusters of this test's own: A holds partitions 0 and 1, B partitions 2 and 3, and the
//! router has one to itself.

mod common;
use common::*;
use std::collections::{HashMap, HashSet};
use tokio_postgres::Client;

const PARTITIONS: usize = 4;

/// Partition p's database: auditlog_p{p}, on cluster A (p < 2) or B.
fn shard_db(p: usize) -> String {
    format!("auditlog_p{p}")
}

struct Shards {
    clusters: [Cluster; 2],
    ports: [u16; 2],
}

impl Shards {
    fn cluster(&self, p: usize) -> (&Cluster, u16) {
        (&self.clusters[p / 2], self.ports[p / 2])
    }

    /// Partition p's connection string, as the router and the shim are given it.
    fn dsn(&self, p: usize) -> String {
        self.cluster(p).0.dsn(&shard_db(p))
    }

    async fn connect(&self, p: usize) -> Client {
        connect_dsn(&self.dsn(p)).await
    }

    /// The ids stored on each partition.
    async fn ids(&self) -> Vec<HashSet<uuid::Uuid>> {
        let mut out = Vec::new();
        for p in 0..PARTITIONS {
            out.push(
                event_ids(&self.connect(p).await)
                    .await
                    .into_iter()
                    .collect(),
            );
        }
        out
    }

    async fn seal_all(&self) {
        for p in 0..PARTITIONS {
            self.connect(p)
                .await
                .batch_execute("SELECT seal_audit_events()")
                .await
                .unwrap();
        }
    }
}

/// The partition PL/Proxy picks for `key` (4 partitions: the hash's two low bits), asked of
/// PostgreSQL itself.
async fn partition_of(router: &Client, key: &str) -> usize {
    let p: i32 = router
        .query_one("SELECT hashtext($1) & 3", &[&key])
        .await
        .unwrap()
        .get(0);
    p as usize
}

/// One batch through the router: (line, event id, outcome) of each event line.
async fn batch(
    router: &Client,
    lines: &[String],
) -> Result<Vec<(i32, Option<uuid::Uuid>, String)>, tokio_postgres::Error> {
    let rows = router
        .query(
            "SELECT line, event_id, outcome FROM audit_log_batch($1)",
            &[&lines.join("\n")],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect())
}

fn line(user_context: serde_json::Value, event_id: Option<uuid::Uuid>, n: usize) -> String {
    let mut e = serde_json::json!({
        "event_type": "data.client.read",
        "event_data": {"n": n},
        "user_context": user_context,
    });
    if let Some(id) = event_id {
        e["event_id"] = id.to_string().into();
    }
    e.to_string()
}

fn id(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x019ad4f0_0000_7000_8000_000000000000 | n)
}

fn stop_immediately(c: &Cluster) {
    let ok = std::process::Command::new("sudo")
        .args(["-u", "postgres", "/usr/lib/postgresql/15/bin/pg_ctl", "-D"])
        .arg(c.0.join("data"))
        .args(["-m", "immediate", "-w", "stop"])
        .status()
        .unwrap()
        .success();
    assert!(ok, "pg_ctl stop -m immediate");
}

fn path(p: &std::path::Path) -> String {
    p.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_router_spreads_events_over_four_shards_and_one_checkpoint_covers_them() {
    let ports = [55490, 55491];
    let shards = Shards {
        clusters: [
            Cluster::start("test-shards-a", ports[0]),
            Cluster::start("test-shards-b", ports[1]),
        ],
        ports,
    };
    for p in 0..PARTITIONS {
        let (cluster, _) = shards.cluster(p);
        recreate_db(&connect_dsn(&cluster.dsn("postgres")).await, &shard_db(p)).await;
        shards
            .connect(p)
            .await
            .batch_execute("CREATE EXTENSION auditlog")
            .await
            .unwrap();
    }
    let router_cluster = Cluster::start("test-shards-router", 55492);
    recreate_db(
        &connect_dsn(&router_cluster.dsn("postgres")).await,
        "router",
    )
    .await;
    let router_dsn = router_cluster.dsn("router");
    let router = connect_dsn(&router_dsn).await;
    // As docs/scaling.md sets it up: the cluster as a server, a user mapping, sql/router.sql.
    let partitions: Vec<String> = (0..PARTITIONS)
        .map(|p| {
            let (cluster, port) = shards.cluster(p);
            format!(
                "p{p} 'host={} port={port} dbname={}'",
                cluster.0.display(),
                shard_db(p)
            )
        })
        .collect();
    router
        .batch_execute(&format!(
            "CREATE EXTENSION plproxy;
             CREATE SERVER auditlog_shards FOREIGN DATA WRAPPER plproxy OPTIONS ({});
             CREATE USER MAPPING FOR PUBLIC SERVER auditlog_shards OPTIONS (user 'postgres');",
            partitions.join(", ")
        ))
        .await
        .unwrap();
    router
        .batch_execute(include_str!("../../sql/router.sql"))
        .await
        .unwrap();
    // The router's functions are the extension's, to the letter (what the shim calls).
    let signature = "SELECT string_agg(p.proname || '(' || pg_get_function_arguments(p.oid) || ') '
                            || pg_get_function_result(p.oid), '; ' ORDER BY p.proname)
                       FROM pg_proc p WHERE p.proname IN ('audit_log', 'audit_log_batch')";
    let on_router: String = router.query_one(signature, &[]).await.unwrap().get(0);
    let on_shard: String = shards
        .connect(0)
        .await
        .query_one(signature, &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(on_router, on_shard);

    // Every event on exactly one shard, the one its key names: a tenant, else a correlation,
    // else its event id, else the line itself; and audit_log() by its correlation.
    let mut lines = Vec::new();
    let mut keys = Vec::new();
    for n in 0..200usize {
        let (ctx, event_id, key) = match n % 4 {
            0 => (
                serde_json::json!({"tenant_id": format!("T{}", n % 7), "correlation_id": format!("C{n}")}),
                None,
                Some(format!("T{}", n % 7)),
            ),
            1 => (
                serde_json::json!({"correlation_id": format!("C{}", n % 13)}),
                None,
                Some(format!("C{}", n % 13)),
            ),
            2 => (
                serde_json::json!({"user_id": n}),
                Some(id(n as u128)),
                Some(id(n as u128).to_string()),
            ),
            _ => (serde_json::json!({"user_id": n}), None, None),
        };
        let l = line(ctx, event_id, n);
        keys.push(key.unwrap_or_else(|| l.clone()));
        lines.push(l);
    }
    lines.push("not json".into());
    keys.push("not json".into());
    let outcomes = batch(&router, &lines).await.unwrap();
    assert_eq!(outcomes.len(), lines.len());
    let mut expected: HashMap<uuid::Uuid, usize> = HashMap::new();
    for (i, (line_no, event_id, outcome)) in outcomes.iter().enumerate() {
        assert_eq!(*line_no as usize, i + 1, "rows in line order");
        if i == 200 {
            assert_eq!(
                outcome, "refused",
                "a line that is not JSON, refused by its shard"
            );
            continue;
        }
        assert_eq!(outcome, "logged");
        expected.insert(event_id.unwrap(), partition_of(&router, &keys[i]).await);
    }
    for n in 0..20 {
        let corr = format!("SINGLE_{n}");
        let ctx = serde_json::json!({"correlation_id": corr});
        let r = router
            .query_one(
                "SELECT audit_log('auth.login.success', '{}', $1::jsonb)",
                &[&ctx],
            )
            .await
            .unwrap();
        expected.insert(r.get(0), partition_of(&router, &corr).await);
    }
    let stored = shards.ids().await;
    for (p, ids) in stored.iter().enumerate() {
        assert!(!ids.is_empty(), "partition {p} got events");
        for id in ids {
            assert_eq!(expected.get(id), Some(&p), "event {id} on partition {p}");
        }
    }
    assert_eq!(
        stored.iter().map(HashSet::len).sum::<usize>(),
        expected.len(),
        "every event stored once"
    );

    // The same event id twice through the router: one row, the second call says duplicate.
    let again = vec![line(serde_json::json!({}), Some(id(2)), 2)];
    assert_eq!(batch(&router, &again).await.unwrap()[0].2, "duplicate");

    // The shim, pointed at the router, delivers unchanged.
    let dir = std::env::temp_dir().join("auditlog_it_shards");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("events.ndjson");
    std::fs::write(&file, ndjson_events(0, 1000)).unwrap();
    let out = shim_at(&router_dsn, &["send", &path(&file)]).unwrap();
    assert!(out.contains("1000 events logged, 0 already"), "{out}");
    let total = |ids: &[HashSet<uuid::Uuid>]| ids.iter().map(HashSet::len).sum::<usize>();
    assert_eq!(total(&shards.ids().await), expected.len() + 1000);

    // Every shard verifies; one combined checkpoint over all four.
    shards.seal_all().await;
    for p in 0..PARTITIONS {
        assert_eq!(
            verify_kinds(&shards.connect(p).await).await,
            ["ok"],
            "partition {p}"
        );
    }
    let key = dir.join("shards");
    let cps = dir.join("combined");
    shim_at(
        &router_dsn,
        &[
            "keygen",
            "--out",
            &path(&key),
            "--name",
            "shards.example/auditlog",
        ],
    )
    .unwrap();
    let shard_args: Vec<String> = (0..PARTITIONS)
        .flat_map(|p| ["--shard".to_owned(), shards.dsn(p)])
        .collect();
    let shard_args: Vec<&str> = shard_args.iter().map(String::as_str).collect();
    let skey = path(&key.with_extension("key"));
    let vkey = path(&key.with_extension("vkey"));
    let cps_dir = path(&cps);
    let sign = [
        &["checkpoint", "--key", &skey, "--dir", &cps_dir][..],
        &shard_args,
    ]
    .concat();
    let verify = [
        &["verify", "--dir", &cps_dir, "--pubkey", &vkey][..],
        &shard_args,
    ]
    .concat();
    let out = shim_at(&router_dsn, &sign).unwrap();
    assert!(
        out.contains("combined checkpoint of 4 shards signed"),
        "{out}"
    );
    let files = || std::fs::read_dir(&cps).unwrap().count();
    let before = files();

    // The shards named in another order: refused, nothing written.
    let mut swapped = shard_args.clone();
    swapped.swap(1, 3);
    let swapped = [
        &["checkpoint", "--key", &skey, "--dir", &cps_dir][..],
        &swapped,
    ]
    .concat();
    let err = shim_at(&router_dsn, &swapped).unwrap_err();
    assert!(err.contains("not signing"), "{err}");
    assert_eq!(files(), before);

    // Cluster B killed: calls routed to partitions 0 and 1 still commit, those routed to 2 and
    // 3 fail (as a connection failure, which the shim retries), and the combined checkpoint is
    // blocked, naming the shard.
    stop_immediately(&shards.clusters[1]);
    let mut key_on = [None, None, None, None];
    for n in 0..100 {
        let k = format!("OUTAGE_{n}");
        let p = partition_of(&router, &k).await;
        key_on[p].get_or_insert(k);
    }
    let ctx = |p: usize| serde_json::json!({"correlation_id": key_on[p].clone().unwrap()});
    for p in 0..PARTITIONS {
        let single = router
            .query_one(
                "SELECT audit_log('auth.logout', '{}', $1::jsonb)",
                &[&ctx(p)],
            )
            .await;
        assert_eq!(single.is_ok(), p < 2, "audit_log() routed to partition {p}");
    }
    let on_a = vec![
        line(ctx(0), Some(id(1000)), 0),
        line(ctx(1), Some(id(1001)), 1),
    ];
    assert!(batch(&router, &on_a).await.is_ok());
    let mixed = vec![
        line(ctx(0), Some(id(1002)), 0),
        line(ctx(2), Some(id(1003)), 2),
    ];
    let err = batch(&router, &mixed).await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(&tokio_postgres::error::SqlState::CONNECTION_FAILURE),
        "{err:?}"
    );
    let err = shim_at(&router_dsn, &sign).unwrap_err();
    assert!(
        err.contains(&format!("shard {} cannot be reached", shards.dsn(2))),
        "{err}"
    );
    assert_eq!(files(), before, "nothing written");

    // The shim keeps what cluster B cannot take and delivers it once B is back; the client's
    // retry of the failed batch, with the same ids, duplicates nothing.
    let shim = Shim::start(
        "shards",
        &router_dsn,
        &["--batch-timeout-ms", "100", "--max-backoff-seconds", "1"],
    )
    .await;
    let (status, answer) = shim
        .post("application/x-ndjson", ndjson_events(5000, 400))
        .await;
    assert_eq!(status, 202, "{answer}");
    let acked = accepted_ids(&answer);
    assert_eq!(acked.len(), 400);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(
        shim.queue_depth().await > 0,
        "events for B wait in the spool"
    );
    shards.clusters[1].run(&["resume", &path(&shards.clusters[1].0)]);
    shim.drained(60).await;
    let retried = batch(&router, &mixed).await.unwrap();
    assert_eq!(
        retried.iter().map(|r| r.2.as_str()).collect::<Vec<_>>(),
        ["duplicate", "logged"],
        "the part on A had committed before B failed"
    );
    let stored = shards.ids().await;
    let all: Vec<uuid::Uuid> = stored.iter().flatten().copied().collect();
    let distinct: HashSet<uuid::Uuid> = all.iter().copied().collect();
    assert_eq!(all.len(), distinct.len(), "no event on two shards");
    assert!(
        acked.iter().all(|id| distinct.contains(id)),
        "every acknowledged event stored"
    );
    assert_eq!(all.len(), expected.len() + 1000 + 2 + 2 + 2 + 400);

    // With B back the combined checkpoint signs again, and it verifies against every shard.
    shards.seal_all().await;
    let out = shim_at(&router_dsn, &sign).unwrap();
    assert!(out.contains("8 leaves"), "{out}");
    let out = shim_at(&router_dsn, &verify).unwrap();
    assert!(out.contains("all checkpoints verify"), "{out}");
    for p in 0..PARTITIONS {
        assert_eq!(
            verify_kinds(&shards.connect(p).await).await,
            ["ok"],
            "partition {p}"
        );
    }

    // A verifier must check every shard in the combined checkpoint.
    let three = [
        &["verify", "--dir", &cps_dir, "--pubkey", &vkey][..],
        &shard_args[..6],
    ]
    .concat();
    let err = shim_at(&router_dsn, &three).unwrap_err();
    assert!(err.contains("was not checked: give its --shard"), "{err}");
    // One shard's history rewritten after it was signed (a new, self-consistent tree, larger
    // than the one signed): verification names that shard, and the signer refuses.
    shards
        .connect(3)
        .await
        .batch_execute(
            "DROP EXTENSION auditlog CASCADE; CREATE EXTENSION auditlog;
             SELECT count(audit_log('auth.logout', jsonb_build_object('n', n))) FROM generate_series(1, 2000) n;
             SELECT seal_audit_events();",
        )
        .await
        .unwrap();
    let err = shim_at(&router_dsn, &verify).unwrap_err();
    assert!(
        err.contains(&format!("shard {} (", shards.dsn(3))) && err.contains("history rewritten"),
        "{err}"
    );
    let err = shim_at(&router_dsn, &sign).unwrap_err();
    assert!(err.contains("history rewritten"), "{err}");
}
