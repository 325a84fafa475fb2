//! `auditlog-shim export`: sealed events in tree order from a durable cursor. An export to a file
//! killed with -9 while it follows new seals, then run again, has every position exactly once;
//! OCSF, syslog and CEF lines each carry the event's position, tree size and integrity hash.

mod common;
use common::*;
use std::time::Duration;

fn shim_bin() -> String {
    std::env::var("AUDITLOG_SHIM").expect("AUDITLOG_SHIM is set by `make test`")
}

/// The positions of an OCSF export file, in file order.
fn positions(file: &std::path::Path) -> Vec<i64> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("each line is JSON");
            v["metadata"]["sequence"].as_i64().unwrap()
        })
        .collect()
}

/// `lines` read by tests/interop/siem_parse.py in the venv scripts/setup.sh makes.
fn parse(format: &str, lines: &str) -> Vec<serde_json::Value> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = std::process::Command::new(root.join("tmp/interop-venv/bin/python"))
        .arg(root.join("tests/interop/siem_parse.py"))
        .arg(format)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the interop venv (scripts/setup.sh makes it)");
    // Written from a thread of its own: the parser's answers fill its stdout meanwhile.
    let mut stdin = child.stdin.take().unwrap();
    let lines = lines.to_owned();
    let writer =
        std::thread::spawn(move || std::io::Write::write_all(&mut stdin, lines.as_bytes()));
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test]
async fn an_export_killed_mid_stream_resumes_with_no_gap_and_no_repeat() {
    let db = fresh_db("it_export").await;
    let dsn = dsn("it_export");
    db.batch_execute(
        "SELECT count(audit_log('auth.login.failure', jsonb_build_object('n', i), '{\"user_id\": 7, \"ip_address\": \"203.0.113.9\"}'))
           FROM generate_series(1, 300) i;
         SELECT seal_audit_events();",
    )
    .await
    .unwrap();
    let dir = std::env::temp_dir().join("auditlog_it_export");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (cursor, out) = (dir.join("siem.cursor"), dir.join("siem.ndjson"));
    let (c, o) = (cursor.to_str().unwrap(), out.to_str().unwrap());

    // Following in small batches while events are logged and sealed; killed -9 midway.
    let mut follower = std::process::Command::new(shim_bin())
        .args([
            "--database-url",
            &dsn,
            "export",
            "--follow",
            "--poll-ms",
            "50",
        ])
        .args(["--batch", "7", "--cursor", c, "--out", o])
        .spawn()
        .unwrap();
    for _ in 0..10 {
        db.batch_execute(
            "SELECT count(audit_log('data.client.read', '{}', '{\"user_id\": 8}')) FROM generate_series(1, 50);
             SELECT seal_audit_events();",
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    follower.kill().unwrap();
    follower.wait().unwrap();
    let written = positions(&out).len();
    assert!(
        written > 0 && written < 800,
        "killed midway: {written} lines"
    );

    // What a run killed between writing lines and saving its cursor leaves: lines the cursor
    // does not count, the last one cut short. The next run writes them again, once.
    let mut f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    std::io::Write::write_all(
        &mut f,
        b"{\"class_uid\": 3002, \"metadata\": {\"sequence\": 1}}\n{\"cut",
    )
    .unwrap();
    drop(f);

    // The next run finishes; every position once, in order.
    shim_at(&dsn, &["export", "--cursor", c, "--out", o]).unwrap();
    assert_eq!(positions(&out), (1..=800).collect::<Vec<i64>>());
    // Nothing new: a run again writes nothing.
    shim_at(&dsn, &["export", "--cursor", c, "--out", o]).unwrap();
    assert_eq!(positions(&out).len(), 800);
    let first: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(first["class_uid"], 3002);
    assert_eq!(first["unmapped"]["tree_size"], 300);
    let sealed: Vec<(i64, String)> = db
        .query(
            "SELECT p.position, e.integrity_hash FROM audit.event_positions p JOIN audit.audit_events e USING (event_id) ORDER BY p.position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(first["unmapped"]["integrity_hash"], sealed[0].1.as_str());

    // Syslog and CEF to stdout, each from a cursor of its own, read back by parsers we did not
    // write (pycef, syslog-rfc5424-parser: tests/interop/siem_parse.py): every position once,
    // with the sealed integrity hash.
    for format in ["syslog", "cef"] {
        let cursor = dir.join(format!("{format}.cursor"));
        let text = shim_at(
            &dsn,
            &[
                "export",
                "--format",
                format,
                "--cursor",
                cursor.to_str().unwrap(),
            ],
        )
        .unwrap();
        assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "800 0\n");
        let parsed: Vec<(i64, String)> = parse(format, &text)
            .iter()
            .map(|v| {
                (
                    v["position"].as_i64().unwrap(),
                    v["integrity_hash"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(parsed, sealed, "{format}");
    }

    // An event deleted behind the log's back stops the export there, named: what came before
    // it is delivered, and the cursor stays before it.
    let partition: String = db
        .query_one(
            "SELECT e.tableoid::regclass::text FROM audit.event_positions p JOIN audit.audit_events e USING (event_id) WHERE p.position = 3",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    db.batch_execute(&format!(
        "ALTER TABLE {partition} DISABLE TRIGGER USER;
         DELETE FROM {partition} WHERE event_id = (SELECT event_id FROM audit.event_positions WHERE position = 3);
         ALTER TABLE {partition} ENABLE TRIGGER USER;"
    ))
    .await
    .unwrap();
    let fresh = dir.join("fresh.cursor");
    let f = fresh.to_str().unwrap();
    let err = shim_at(&dsn, &["export", "--batch", "2", "--cursor", f]).unwrap_err();
    assert!(err.contains("the event at position 3 is gone"), "{err}");
    assert_eq!(err.lines().filter(|l| l.starts_with('{')).count(), 2);
    assert_eq!(std::fs::read_to_string(&fresh).unwrap(), "2 0\n");
}
