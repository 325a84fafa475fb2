//! `auditlog-shim export`: sealed events in tree order from a durable cursor. An export to a
//! rotated file killed with -9 again and again while it follows new seals, then run again, has
//! every position exactly once across the files; OCSF lines validate against the OCSF schema;
//! OCSF, syslog and CEF lines each carry the event's position, tree size and integrity hash. The
//! syslog TCP (RFC 5424, and CEF carried in it) and HTTP (Splunk HEC) sinks deliver every position
//! to receivers started here, through a refused connection, a dropped one, 503s and a 400; the
//! HTTP sink also over HTTPS, to Python's TLS server, trusting a private CA only with --ca-file,
//! and with HEC's indexer acknowledgement, moving the cursor only past acknowledged batches.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn shim_bin() -> String {
    std::env::var("AUDITLOG_SHIM").expect("AUDITLOG_SHIM is set by `make test`")
}

/// An export's files in order: FILE.1, FILE.2, ... (rotated), then FILE.
fn export_files(file: &Path) -> Vec<PathBuf> {
    let rotated = (1..).map(|n| PathBuf::from(format!("{}.{n}", file.display())));
    let mut files: Vec<PathBuf> = rotated.take_while(|f| f.exists()).collect();
    files.push(file.to_owned());
    files
}

/// The lines of an OCSF export, across its rotated files, in order.
fn exported(file: &Path) -> String {
    export_files(file)
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect()
}

fn sequence(line: &str) -> i64 {
    let v: serde_json::Value = serde_json::from_str(line).expect("each line is JSON");
    v["metadata"]["sequence"].as_i64().unwrap()
}

/// The positions of an OCSF export, in file order.
fn positions(file: &Path) -> Vec<i64> {
    exported(file).lines().map(sequence).collect()
}

/// `lines` read by `script` (tests/interop/) in the venv scripts/setup.sh makes.
fn parse(script: &str, args: &[&str], lines: &str) -> Vec<serde_json::Value> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut child = std::process::Command::new(root.join("tmp/interop-venv/bin/python"))
        .arg(root.join("tests/interop").join(script))
        .args(args)
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

/// Events of every OCSF class the export maps to, some without the context their class needs.
const VARIED: &str = "
    SELECT count(audit_log(
             (ARRAY['data.client.read', 'data.client.update', 'authz.access.denied', 'authz.role.assigned',
                    'authz.role.removed', 'auth.logout', 'billing.invoice.paid', 'data.client.delete',
                    'auth.login.success', 'data.bulk.export', 'security.vulnerability.detected'])[1 + i % 11],
             jsonb_build_object('role', 'admin', 'i', i),
             CASE WHEN i % 7 = 0 THEN '{}'::jsonb
                  ELSE '{\"user_id\": 8, \"ip_address\": \"198.51.100.7\", \"session_id\": \"s8\", \"user_agent\": \"curl/8\"}'::jsonb END))
      FROM generate_series(1, 50) i;
    SELECT seal_audit_events();";

/// A fresh database `name` with `rounds` x 50 sealed VARIED events, its DSN, and an empty
/// scratch directory for the test.
async fn varied_db(name: &str, rounds: usize) -> (String, PathBuf) {
    let db = fresh_db(name).await;
    for _ in 0..rounds {
        db.batch_execute(VARIED).await.unwrap();
    }
    let dir = std::env::temp_dir().join(format!("auditlog_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (dsn(name), dir)
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

    // Following in small batches into files rotated at 20 kB while events are logged and
    // sealed; killed -9 three times, wherever it is: writing, renaming, saving its cursor.
    let rotating = [
        "--batch",
        "7",
        "--rotate-bytes",
        "20000",
        "--cursor",
        c,
        "--out",
        o,
    ];
    for _ in 0..3 {
        let mut follower = std::process::Command::new(shim_bin())
            .args([
                "--database-url",
                &dsn,
                "export",
                "--follow",
                "--poll-ms",
                "50",
            ])
            .args(rotating)
            .spawn()
            .unwrap();
        // Killed as soon as the last seal commits: a seal's NOTIFY has woken it, and it is busy.
        for round in 0..4 {
            db.batch_execute(VARIED).await.unwrap();
            if round < 3 {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
        follower.kill().unwrap();
        follower.wait().unwrap();
    }
    let written = positions(&out).len();
    assert!(
        written > 0 && written < 900,
        "killed midway: {written} lines"
    );

    // What a run killed between writing lines and saving its cursor leaves: lines the cursor
    // does not count, the last one cut short. The next run writes them again, once.
    let mut f = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
    f.write_all(b"{\"class_uid\": 3002, \"metadata\": {\"sequence\": 1}}\n{\"cut")
        .unwrap();
    drop(f);

    // The next run finishes; every position once, in order, across the rotated files, none of
    // them past 20 kB.
    shim_at(&dsn, &[&["export"][..], &rotating].concat()).unwrap();
    assert_eq!(positions(&out), (1..=900).collect::<Vec<i64>>());
    let files = export_files(&out);
    assert!(files.len() > 10, "rotated: {files:?}");
    for f in &files {
        assert!(std::fs::metadata(f).unwrap().len() <= 20000, "{f:?}");
    }
    // Nothing new: a run again writes nothing.
    shim_at(&dsn, &[&["export"][..], &rotating].concat()).unwrap();
    assert_eq!(positions(&out).len(), 900);
    let text = exported(&out);
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
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

    // Every line valid against the OCSF 1.1.0 schema (tests/interop/ocsf_validate.py), in each
    // class the export maps to.
    let valid = parse("ocsf_validate.py", &[], &text);
    assert_eq!(valid.len(), 900);
    let mut classes: Vec<u64> = valid
        .iter()
        .map(|v| v["class_uid"].as_u64().unwrap())
        .collect();
    classes.sort_unstable();
    classes.dedup();
    assert_eq!(classes, [0, 2004, 3002, 3003, 3005, 6005]);

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
        assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "900 0\n");
        let parsed: Vec<(i64, String)> = parse("siem_parse.py", &[format], &text)
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

/// A syslog receiver on 127.0.0.1:`port`: reads RFC 6587 octet-counted frames ("LEN SP MSG")
/// until each connection closes; the first connection it shuts at once, unread. Returns the
/// messages when `connections` connections have closed.
///
/// Its receive buffer is smaller than a batch, so the first connection's batch cannot have been
/// wholly acknowledged when it is dropped, and is sent again: a batch whose every byte the
/// receiver's kernel acknowledged counts as delivered, by design (README), and would be lost
/// with a receiver that never reads.
fn syslog_receiver(port: u16, connections: usize) -> std::thread::JoinHandle<Vec<String>> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_reuse_address(true).unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    socket.bind(&addr.into()).unwrap();
    socket.listen(16).unwrap();
    let listener: std::net::TcpListener = socket.into();
    std::thread::spawn(move || {
        drop(listener.accept().unwrap());
        let mut messages = Vec::new();
        for _ in 1..connections {
            let mut r = BufReader::new(listener.accept().unwrap().0);
            loop {
                let mut len = Vec::new();
                if r.read_until(b' ', &mut len).unwrap() == 0 {
                    break;
                }
                let len: usize = std::str::from_utf8(&len[..len.len() - 1])
                    .unwrap()
                    .parse()
                    .expect("an octet count");
                let mut msg = vec![0; len];
                r.read_exact(&mut msg).unwrap();
                messages.push(String::from_utf8(msg).unwrap());
            }
        }
        messages
    })
}

/// One request a tiny HTTP server got: its target, headers (lower-cased names) and body, and the
/// cursor file as it was when the request came.
struct Request {
    target: String,
    headers: Vec<(String, String)>,
    body: String,
    cursor: Option<String>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(h, _)| h == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on 127.0.0.1:`port`, one request per connection: `answer` gives each request's
/// status and body, and whether it is the last one to serve.
fn http_server(
    port: u16,
    cursor: PathBuf,
    mut answer: impl FnMut(&Request) -> (u16, String, bool) + Send + 'static,
) -> std::thread::JoinHandle<Vec<(u16, Request)>> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    std::thread::spawn(move || {
        let mut served = Vec::new();
        loop {
            let mut conn = listener.accept().unwrap().0;
            let mut r = BufReader::new(&mut conn);
            let mut target = String::new();
            r.read_line(&mut target).unwrap();
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    headers.push((k.to_lowercase(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let request = Request {
                target: target.split(' ').nth(1).unwrap_or_default().to_owned(),
                headers,
                body: String::from_utf8(body).unwrap(),
                cursor: std::fs::read_to_string(&cursor).ok(),
            };
            let (code, text, last) = answer(&request);
            let answer = format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
            conn.write_all(answer.as_bytes()).unwrap();
            served.push((code, request));
            if last {
                return served;
            }
        }
    })
}

/// An HTTP server answering request n (from 0) with `status(n)` until it has answered `count`.
fn http_receiver(
    port: u16,
    count: usize,
    cursor: PathBuf,
    status: fn(usize) -> u16,
) -> std::thread::JoinHandle<Vec<(u16, Request)>> {
    let mut n = 0;
    http_server(port, cursor, move |_| {
        n += 1;
        (status(n - 1), "no".to_owned(), n == count)
    })
}

#[tokio::test]
async fn the_syslog_tcp_and_http_sinks_deliver_every_position_through_failures() {
    let (dsn, dir) = varied_db("it_export_sinks", 4).await;
    let all: Vec<i64> = (1..=200).collect();

    // Syslog over TCP: the receiver is not there yet (refused, tried again with backoff), then
    // drops the first connection unread (sent again on a new one). Every position once, read
    // back by syslog-rfc5424-parser.
    let cursor = dir.join("tcp.cursor");
    let shim = std::process::Command::new(shim_bin())
        .args([
            "--database-url",
            &dsn,
            "export",
            "--format",
            "syslog",
            "--batch",
            "30",
        ])
        .args(["--max-backoff-ms", "200", "--syslog-tcp", "127.0.0.1:55521"])
        .args(["--cursor", cursor.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let receiver = syslog_receiver(55521, 2);
    let o = shim.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("positions 1 to 30 not accepted, trying again"),
        "{stderr}"
    );
    let messages = receiver.join().unwrap();
    let parsed = parse("siem_parse.py", &["syslog"], &(messages.join("\n") + "\n"));
    let got: Vec<i64> = parsed
        .iter()
        .map(|v| v["position"].as_i64().unwrap())
        .collect();
    assert_eq!(got, all);
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "200 0\n");

    // CEF over the same framing, each line the message of an RFC 5424 one, through a dropped
    // connection: read back by syslog-rfc5424-parser, then pycef.
    let cursor = dir.join("cef.cursor");
    let receiver = syslog_receiver(55521, 2);
    let tcp = ["--syslog-tcp", "127.0.0.1:55521", "--max-backoff-ms", "200"];
    let c = cursor.to_str().unwrap();
    let cef = ["export", "--format", "cef", "--batch", "70", "--cursor", c];
    shim_at(&dsn, &[&cef[..], &tcp].concat()).unwrap();
    let messages = receiver.join().unwrap();
    let parsed = parse(
        "siem_parse.py",
        &["cef-syslog"],
        &(messages.join("\n") + "\n"),
    );
    let got: Vec<i64> = parsed
        .iter()
        .map(|v| v["position"].as_i64().unwrap())
        .collect();
    assert_eq!(got, all);

    // HTTP, Splunk HEC's shape: 503 to the third, fourth and fifth request (the cursor stays at
    // the two batches accepted), then 200s. Every position once in the accepted bodies.
    let cursor = dir.join("hec.cursor");
    let receiver = http_receiver(55522, 7 + 3, cursor.clone(), |n| match n {
        2..=4 => 503,
        _ => 200,
    });
    let c = cursor.to_str().unwrap();
    let hec = ["--http", "http://127.0.0.1:55522/services/collector/event"];
    let out = shim_at(
        &dsn,
        &[
            &["export", "--batch", "30", "--max-backoff-ms", "200"][..],
            &hec,
            &["--hec-token", "t0k", "--hostname", "db1", "--cursor", c],
        ]
        .concat(),
    )
    .unwrap();
    assert_eq!(
        out.matches("not accepted, trying again").count(),
        3,
        "{out}"
    );
    let requests = receiver.join().unwrap();
    let mut delivered = Vec::new();
    for (n, (status, r)) in requests.iter().enumerate() {
        assert_eq!(r.header("authorization"), Some("Splunk t0k"));
        assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
        if *status == 503 {
            assert_eq!(r.cursor.as_deref(), Some("60 0\n"), "request {n}");
            continue;
        }
        for line in r.body.lines() {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(
                (e["source"].as_str(), e["host"].as_str()),
                (Some("auditlog"), Some("db1"))
            );
            assert_eq!(e["sourcetype"], "auditlog:ocsf");
            assert!(e["time"].as_f64().unwrap() > 1e9);
            delivered.push(e["event"]["metadata"]["sequence"].as_i64().unwrap());
        }
    }
    assert_eq!(delivered, all);
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "200 0\n");

    // A 400 stops it at once, named, the cursor where it was.
    let http = ["--http", "http://127.0.0.1:55522/"];
    stops_at_once(&dsn, &dir, 55522, |_| 400, &http, "400 Bad Request");
}

/// An export whose receiver on `port` answers its first request with `status` stops at once,
/// saying `says`, and its cursor is not made.
fn stops_at_once(
    dsn: &str,
    dir: &Path,
    port: u16,
    status: fn(usize) -> u16,
    args: &[&str],
    says: &str,
) {
    let cursor = dir.join(format!("stopped_{port}.cursor"));
    let receiver = http_receiver(port, 1, cursor.clone(), status);
    let c = cursor.to_str().unwrap();
    let err = shim_at(dsn, &[&["export", "--cursor", c][..], args].concat()).unwrap_err();
    assert!(err.contains(says), "{err}");
    receiver.join().unwrap();
    assert!(!cursor.exists());
}

/// A Splunk HEC with indexer acknowledgement: the event endpoint answers each batch with the
/// next ackId; /services/collector/ack never acknowledges ackId 0 and acknowledges the others
/// when asked the second time. Stops after acknowledging `batches` of them.
fn hec_with_acks(
    port: u16,
    cursor: PathBuf,
    batches: usize,
) -> std::thread::JoinHandle<Vec<(u16, Request)>> {
    let mut next_ack = 0;
    let mut asked = std::collections::HashMap::<u64, u32>::new();
    http_server(port, cursor, move |r| {
        if r.target == "/services/collector/event" {
            next_ack += 1;
            let id = next_ack - 1;
            return (
                200,
                format!(r#"{{"text":"Success","code":0,"ackId":{id}}}"#),
                false,
            );
        }
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let id = body["acks"][0].as_u64().unwrap();
        let times = asked.entry(id).or_default();
        *times += 1;
        let done = id > 0 && *times >= 2;
        let last = done && id == batches as u64;
        (200, format!(r#"{{"acks":{{"{id}":{done}}}}}"#), last)
    })
}

#[tokio::test]
async fn with_hec_acknowledgement_the_cursor_moves_only_for_indexed_batches() {
    let (dsn, dir) = varied_db("it_export_hec_ack", 4).await;

    // The first batch is never acknowledged: after --hec-ack-seconds it is sent again, and the
    // cursor moves only once a batch's ackId is acknowledged. 200 events, 7 batches.
    let cursor = dir.join("ack.cursor");
    let receiver = hec_with_acks(55524, cursor.clone(), 7);
    let c = cursor.to_str().unwrap();
    let out = shim_at(
        &dsn,
        &[
            "export",
            "--batch",
            "30",
            "--max-backoff-ms",
            "200",
            "--hec-token",
            "t0k",
            "--hec-ack-seconds",
            "1",
            "--cursor",
            c,
            "--http",
            "http://127.0.0.1:55524/services/collector/event",
        ],
    )
    .unwrap();
    assert_eq!(
        out.matches("did not acknowledge ackId 0").count(),
        1,
        "{out}"
    );
    let requests = receiver.join().unwrap();
    let channel = requests[0].1.header("x-splunk-request-channel").unwrap();
    assert_eq!(channel.len(), 36, "a UUID");
    let (mut bodies, mut polls) = (Vec::new(), Vec::new());
    for (_, r) in &requests {
        assert_eq!(r.header("authorization"), Some("Splunk t0k"));
        assert_eq!(r.header("x-splunk-request-channel"), Some(channel));
        if r.target == "/services/collector/event" {
            let positions: Vec<i64> = r
                .body
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["event"]["metadata"]
                        ["sequence"]
                        .as_i64()
                        .unwrap()
                })
                .collect();
            bodies.push((positions, r.cursor.clone()));
        } else {
            assert_eq!(
                r.target,
                format!("/services/collector/ack?channel={channel}")
            );
            let asked: serde_json::Value = serde_json::from_str(&r.body).unwrap();
            polls.push((
                asked["acks"][0].as_u64().unwrap() as usize,
                r.cursor.clone(),
            ));
        }
    }
    // ackId 0 and 1 carry the same first batch; the cursor is before each batch as it is sent.
    assert_eq!(bodies.len(), 8);
    assert_eq!(bodies[0], bodies[1]);
    let mut delivered = Vec::new();
    for (positions, at) in &bodies[1..] {
        let before = delivered.last().map(|p: &i64| format!("{p} 0\n"));
        assert_eq!(at, &before, "the cursor before positions {positions:?}");
        delivered.extend(positions);
    }
    assert_eq!(delivered, (1..=200).collect::<Vec<i64>>());
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "200 0\n");
    // ackId 0 was asked about until its time ran out, the others until acknowledged (twice),
    // none with the cursor past its batch.
    let asked = |id| polls.iter().filter(|(i, _)| *i == id).count();
    assert!(asked(0) >= 2, "{polls:?}");
    assert!((1..=7).all(|id| asked(id) == 2), "{polls:?}");
    for (id, at) in &polls {
        assert_eq!(
            at, &bodies[*id].1,
            "the cursor while ackId {id} is asked about"
        );
    }

    // A HEC whose token has no acknowledgement on answers without an ackId: the export stops at
    // once, saying so, and the cursor is not made.
    let hec = [
        "--hec-token",
        "t0k",
        "--hec-ack-seconds",
        "5",
        "--http",
        "http://127.0.0.1:55524/services/collector/event",
    ];
    stops_at_once(
        &dsn,
        &dir,
        55524,
        |_| 200,
        &hec,
        "answered without an ackId",
    );
}

#[tokio::test]
async fn the_http_sink_speaks_https_and_trusts_a_private_ca_only_when_told() {
    let (dsn, dir) = varied_db("it_export_https", 1).await;

    private_ca(&dir);

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let received = dir.join("received.ndjson");
    let mut server = Running(
        std::process::Command::new(root.join("tmp/interop-venv/bin/python"))
            .arg(root.join("tests/interop/https_receiver.py"))
            .args([dir.join("server.pem"), dir.join("server.key")])
            .arg("55523")
            .arg(&received)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the interop venv (scripts/setup.sh makes it)"),
    );
    let mut ready = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready, "ready\n");

    // The system's store does not know the company's CA: refused, nothing delivered, the cursor
    // not made.
    let cursor = dir.join("https.cursor");
    let c = cursor.to_str().unwrap();
    let export = [
        "export",
        "--http",
        "https://localhost:55523/ingest",
        "--cursor",
        c,
    ];
    let err = shim_at(&dsn, &[&export[..], &["--tries", "1"]].concat()).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(!received.exists() && !cursor.exists());

    // With --ca-file: every position once, over TLS.
    let ca = dir.join("ca.pem");
    shim_at(
        &dsn,
        &[&export[..], &["--ca-file", ca.to_str().unwrap()]].concat(),
    )
    .unwrap();
    let got: Vec<i64> = std::fs::read_to_string(&received)
        .unwrap()
        .lines()
        .map(sequence)
        .collect();
    assert_eq!(got, (1..=50).collect::<Vec<i64>>());
    assert_eq!(std::fs::read_to_string(&cursor).unwrap(), "50 0\n");
}

/// Waits (up to 30 s) until the export in `file` holds `n` lines.
async fn lines_in(file: &Path, n: usize) {
    for _ in 0..600 {
        if std::fs::read_to_string(file).map_or(0, |t| t.lines().count()) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} does not reach {n} lines", file.display());
}

/// Following with a poll too slow to matter: each seal's NOTIFY wakes the export, and a database
/// stopped and started under it is waited out, the cursor holding the place.
#[tokio::test]
async fn a_following_export_is_woken_by_seals_and_waits_out_the_database() {
    let cluster = Cluster::start_with("test-export-outage", 55451, &[]);
    let dsn = cluster.dsn("postgres");
    let db = connect_dsn(&dsn).await;
    let log_and_seal = "SELECT count(audit_log('auth.logout')) FROM generate_series(1, 10);
                        SELECT seal_audit_events();";
    db.batch_execute(&format!("CREATE EXTENSION auditlog; {log_and_seal}"))
        .await
        .unwrap();
    let dir = std::env::temp_dir().join("auditlog-test-export-outage");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("ocsf.ndjson");
    let mut follower = Running(
        std::process::Command::new(shim_bin())
            .args([
                "export",
                "--follow",
                "--poll-ms",
                "600000",
                "--max-backoff-ms",
                "500",
            ])
            .arg("--cursor")
            .arg(dir.join("cursor"))
            .arg("--out")
            .arg(&out)
            .env("DATABASE_URL", &dsn)
            .spawn()
            .unwrap(),
    );
    lines_in(&out, 10).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    db.batch_execute(log_and_seal).await.unwrap();
    lines_in(&out, 20).await;
    cluster.run(&["stop", cluster.0.to_str().unwrap()]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.run(&["resume", cluster.0.to_str().unwrap()]);
    // The export reconnects (and LISTENs again) before the next seal.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let db = connect_dsn(&dsn).await;
    db.batch_execute(log_and_seal).await.unwrap();
    lines_in(&out, 30).await;
    assert!(follower.0.try_wait().unwrap().is_none(), "still following");
    drop(follower);
    assert_eq!(positions(&out), (1..=30).collect::<Vec<i64>>());
}
