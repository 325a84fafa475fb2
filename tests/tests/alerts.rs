//! `auditlog-shim alerts`: every change of an alert reaches a webhook, through its failures, a
//! kill -9 of the command, a database outage, and a transaction that commits an older change
//! after a newer one.

mod common;
use common::*;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A webhook receiver: answers 503 to the first `failures` requests, then `status`; keeps the
/// Idempotency-Key and JSON body of every request it answered 2xx.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    failures: Arc<Mutex<usize>>,
    status: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start(failures: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = Receiver {
            url: format!("http://{}/hook", listener.local_addr().unwrap()),
            got: Default::default(),
            failures: Arc::new(Mutex::new(failures)),
            status: Arc::new(Mutex::new(200)),
        };
        let me = r.clone();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                let me = me.clone();
                tokio::spawn(async move {
                    while let Some((headers, body)) = read_request(&mut s).await {
                        let status = {
                            let mut f = me.failures.lock().unwrap();
                            if *f > 0 {
                                *f -= 1;
                                503
                            } else {
                                *me.status.lock().unwrap()
                            }
                        };
                        if status == 200 {
                            let key = headers
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("idempotency-key: ")
                                        .map(str::to_string)
                                })
                                .unwrap();
                            let body = serde_json::from_slice(&body).unwrap();
                            me.got.lock().unwrap().push((key, body));
                        }
                        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\n\r\nok");
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        r
    }

    fn keys(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    async fn wait_for(&self, n: usize) {
        for _ in 0..400 {
            if self.got.lock().unwrap().len() >= n {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the webhook got {} of {n} changes", self.keys().len());
    }
}

/// One HTTP/1.1 request: its head and its body (by Content-Length); `None` at the end.
async fn read_request(s: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).await.ok()? == 0 {
            return None;
        }
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    s.read_exact(&mut body).await.ok()?;
    Some((head, body))
}

/// The `alerts` command for database `dsn`, with the cursor `cursor` and more arguments.
fn alerts(dsn: &str, hook: &str, cursor: &std::path::Path, more: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(std::env::var("AUDITLOG_SHIM").unwrap());
    c.args([
        "alerts",
        "--webhook",
        hook,
        "--poll-ms",
        "100",
        "--max-backoff-seconds",
        "1",
    ])
    .arg("--cursor")
    .arg(cursor)
    .args(more)
    .env("DATABASE_URL", dsn);
    c
}

/// Raises an alert (a critical event) under correlation `corr`: a new alert, or a fold into the
/// open one of the same correlation.
async fn raise(db: &tokio_postgres::Client, corr: &str) {
    db.execute(
        "SELECT audit_log('security.breach.suspected', '{}', jsonb_build_object('correlation_id', $1::text))",
        &[&corr],
    )
    .await
    .unwrap();
}

/// Every change as the webhook should see it, in the order it should: "SYSTEM-CHANGE_ID".
async fn expected_keys(db: &tokio_postgres::Client) -> Vec<String> {
    column(
        db,
        "SELECT (SELECT system_identifier FROM pg_control_system())::text || '-' || change_id
           FROM audit.alert_changes ORDER BY xid, change_id",
    )
    .await
}

fn cursor_file(name: &str) -> std::path::PathBuf {
    let f = std::env::temp_dir().join(format!("auditlog-test-{name}.cursor"));
    let _ = std::fs::remove_file(&f);
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_once_through_failures_a_kill_and_a_late_commit() {
    let db = fresh_db("alerts_hook").await;
    let hook = Receiver::start(3).await;
    let cursor = cursor_file("alerts_hook");
    let dsn = dsn("alerts_hook");

    // Raised, folded twice, acknowledged, resolved; and two more alerts.
    for corr in ["CORR_A", "CORR_A", "CORR_A", "CORR_B", "CORR_C"] {
        raise(&db, corr).await;
    }
    let ids: Vec<String> = column(
        &db,
        "SELECT alert_id FROM audit.audit_alerts ORDER BY correlation_id",
    )
    .await;
    db.execute(
        "SELECT acknowledge_audit_alert($1, 7, 'looking')",
        &[&ids[0]],
    )
    .await
    .unwrap();
    db.execute(
        "SELECT resolve_audit_alert($1, 7, 'blocked the address')",
        &[&ids[1]],
    )
    .await
    .unwrap();
    let first = expected_keys(&db).await;
    assert_eq!(first.len(), 7);

    // Three 503s are retried; --once stops when all is delivered.
    let out = alerts(&dsn, &hook.url, &cursor, &["--once"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(hook.keys(), first);
    let bodies: Vec<serde_json::Value> = hook
        .got
        .lock()
        .unwrap()
        .iter()
        .map(|(_, b)| b.clone())
        .collect();
    let changes: Vec<&str> = bodies
        .iter()
        .map(|b| b["change"]["change"].as_str().unwrap())
        .collect();
    assert_eq!(
        changes,
        [
            "raised",
            "folded",
            "folded",
            "raised",
            "raised",
            "acknowledged",
            "resolved"
        ]
    );
    assert_eq!(bodies[2]["change"]["occurrences"], 3);
    assert_eq!(
        bodies[6]["alert"]["resolution_notes"],
        "blocked the address"
    );
    // Nothing new: nothing sent again.
    let out = alerts(&dsn, &hook.url, &cursor, &["--once"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(hook.keys().len(), 7);

    // A transaction that raised an alert commits after one that raised a later one: the later
    // one waits for it, so the cursor never passes a change still to come.
    let slow = connect("alerts_hook").await;
    slow.batch_execute("BEGIN").await.unwrap();
    raise(&slow, "CORR_SLOW").await;
    raise(&db, "CORR_FAST").await;
    let out = alerts(&dsn, &hook.url, &cursor, &["--once"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        hook.keys().len(),
        7,
        "held back behind the open transaction"
    );
    slow.batch_execute("COMMIT").await.unwrap();

    // Following: killed with -9 while alerts keep coming, started again.
    let mut follower = Running(alerts(&dsn, &hook.url, &cursor, &[]).spawn().unwrap());
    hook.wait_for(9).await;
    for i in 0..20 {
        raise(&db, &format!("CORR_F{i}")).await;
        if i == 10 {
            follower.0.kill().unwrap();
            follower.0.wait().unwrap();
        }
    }
    let follower = Running(alerts(&dsn, &hook.url, &cursor, &[]).spawn().unwrap());
    let all = expected_keys(&db).await;
    hook.wait_for(all.len()).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    drop(follower);
    // Every change, in order; a kill between the webhook's answer and the cursor's save can send
    // one change twice, with the same key, and never skips one.
    let mut got = hook.keys();
    got.dedup();
    assert_eq!(got, all);
    assert!(hook.keys().len() <= all.len() + 1, "{:?}", hook.keys());

    // A webhook that refuses (4xx) stops the command; the cursor stays before the change.
    *hook.status.lock().unwrap() = 400;
    raise(&db, "CORR_REFUSED").await;
    let before = std::fs::read_to_string(&cursor).unwrap();
    let out = alerts(&dsn, &hook.url, &cursor, &["--once"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the webhook refused change"));
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), before);
    *hook.status.lock().unwrap() = 200;

    // Slack's shape: text only.
    let slack = Receiver::start(0).await;
    let out = alerts(
        &dsn,
        &slack.url,
        &cursor_file("alerts_slack"),
        &["--once", "--slack"],
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    let texts = slack.got.lock().unwrap().clone();
    assert_eq!(texts.len(), expected_keys(&db).await.len());
    assert!(texts[6].1["text"]
        .as_str()
        .unwrap()
        .starts_with("[CRITICAL] "));
    assert!(texts[6].1["text"]
        .as_str()
        .unwrap()
        .contains("resolved by 7: blocked the address"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_waited_out() {
    let cluster = Cluster::start_with("test-alerts-outage", 55450, &[]);
    let dsn = cluster.dsn("postgres");
    let db = connect_dsn(&dsn).await;
    db.batch_execute("CREATE EXTENSION auditlog").await.unwrap();
    raise(&db, "CORR_1").await;
    let hook = Receiver::start(0).await;
    let cursor = cursor_file("alerts_outage");
    let mut follower = Running(alerts(&dsn, &hook.url, &cursor, &[]).spawn().unwrap());
    hook.wait_for(1).await;
    cluster.run(&["stop", cluster.0.to_str().unwrap()]);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    cluster.run(&["resume", cluster.0.to_str().unwrap()]);
    let db = connect_dsn(&dsn).await;
    raise(&db, "CORR_2").await;
    hook.wait_for(2).await;
    assert!(follower.0.try_wait().unwrap().is_none(), "still running");
    drop(follower);
    assert_eq!(hook.keys(), expected_keys(&db).await);
}
