//! A fresh install on a server without `shared_preload_libraries = 'auditlog'` (a managed or a
//! quick one): CREATE EXTENSION makes the partitions of the current period and the ones ahead, so
//! nothing waits in the default partition, and warns what the preload would add.

mod common;
use common::*;
use tokio_postgres::{AsyncMessage, NoTls};

#[tokio::test]
async fn without_the_preload_partitions_are_made_at_once_and_the_warning_says_what_is_missing() {
    let cluster = Cluster::start("test-install", 55437);
    let admin = connect_dsn(&cluster.dsn("postgres")).await;
    recreate_db(&admin, "fresh").await;
    let (db, mut conn) = tokio_postgres::connect(&cluster.dsn("fresh"), NoTls)
        .await
        .unwrap();
    let (tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(msg)) = futures_util::StreamExt::next(&mut messages).await {
            if let AsyncMessage::Notice(n) = msg {
                let _ = tx.send(n);
            }
        }
    });
    db.batch_execute("CREATE EXTENSION auditlog").await.unwrap();

    let warning = notices.try_recv().expect("a warning");
    assert_eq!(warning.severity(), "WARNING");
    assert!(
        warning
            .message()
            .contains("not in shared_preload_libraries"),
        "{}",
        warning.message()
    );
    let hint = warning.hint().unwrap_or_default();
    assert!(
        hint.contains("seal_audit_events()") && hint.contains("audit_maintain_partitions()"),
        "{hint}"
    );

    let row = db
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE EXISTS (SELECT FROM pg_depend d
                                                    WHERE d.objid = i.inhrelid AND d.deptype = 'e')),
                    bool_or(pg_get_expr(c.relpartbound, c.oid) LIKE '%' || to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM') || '-01%')
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = 'audit.audit_events'::regclass
                AND i.inhrelid <> 'audit.audit_events_default'::regclass",
            &[],
        )
        .await
        .unwrap();
    let (partitions, members, this_month): (i64, i64, bool) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        partitions, 4,
        "this month's and auditlog.partitions_ahead (3) more"
    );
    assert_eq!(
        members, 0,
        "partitions are data, not parts of the extension"
    );
    assert!(this_month);

    db.batch_execute("SELECT audit_log('auth.logout', '{}', '{\"user_id\": 1}')")
        .await
        .unwrap();
    let waiting = default_partition_rows(&db).await;
    assert_eq!(waiting, 0, "nothing lands in the default partition");
}
