//! Shared set-up: each test gets a fresh database with the extension, in the throwaway cluster
//! that `make test` starts (AUDITLOG_TEST_HOST is its socket directory, AUDITLOG_TEST_PORT its port).

#![allow(dead_code)] // each test binary uses a different part of this module

use tokio_postgres::{AsyncMessage, Client, NoTls};

pub fn host() -> String {
    std::env::var("AUDITLOG_TEST_HOST").expect("AUDITLOG_TEST_HOST is set by `make test`")
}

pub fn port() -> String {
    std::env::var("AUDITLOG_TEST_PORT").expect("AUDITLOG_TEST_PORT is set by `make test`")
}

pub fn dsn(db: &str) -> String {
    format!("host={} port={} user=postgres dbname={db}", host(), port())
}

/// Runs the `auditlog-shim` that `make test` built against `dsn`: Ok(its output) when it
/// succeeds, Err(its output) when it fails.
pub fn shim_at(dsn: &str, args: &[&str]) -> Result<String, String> {
    let bin = std::env::var("AUDITLOG_SHIM").expect("AUDITLOG_SHIM is set by `make test`");
    let o = std::process::Command::new(bin)
        .args(["--database-url", dsn])
        .args(args)
        .output()
        .expect("run auditlog-shim");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if o.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Connects, and forwards NOTIFY messages to the returned receiver.
pub async fn connect_listening(
    db: &str,
) -> (
    Client,
    tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>,
) {
    let (client, mut conn) = tokio_postgres::connect(&dsn(db), NoTls)
        .await
        .expect("connect");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(msg)) = futures_util::StreamExt::next(&mut messages).await {
            if let AsyncMessage::Notification(n) = msg {
                let _ = tx.send(n);
            }
        }
    });
    (client, rx)
}

pub async fn connect(db: &str) -> Client {
    connect_listening(db).await.0
}

/// Drops `name` if it is there and creates it empty (two statements: neither may run in a
/// transaction block, which a multi-statement batch is).
pub async fn recreate_db(admin: &Client, name: &str) {
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), &[])
        .await
        .unwrap();
    admin
        .execute(&format!("CREATE DATABASE {name}"), &[])
        .await
        .unwrap();
}

/// A new, empty database named `name` with the extension installed.
pub async fn fresh_db(name: &str) -> Client {
    let admin = connect("postgres").await;
    recreate_db(&admin, name).await;
    let client = connect(name).await;
    client
        .batch_execute("CREATE EXTENSION auditlog")
        .await
        .unwrap();
    client
}

/// The first column of a query's rows.
pub async fn column<T: tokio_postgres::types::FromSqlOwned>(client: &Client, sql: &str) -> Vec<T> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Every stored event's id, in id order.
pub async fn event_ids(client: &Client) -> Vec<uuid::Uuid> {
    column(
        client,
        "SELECT event_id FROM audit.audit_events ORDER BY event_id",
    )
    .await
}

/// Events that landed in the default partition (none should, with partitions made ahead).
pub async fn default_partition_rows(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM audit.audit_events_default", &[])
        .await
        .unwrap()
        .get(0)
}

/// The kinds verify_audit_chain() reports: `["ok"]` when all is well.
pub async fn verify_kinds(client: &Client) -> Vec<String> {
    let rows = client
        .query("SELECT kind FROM verify_audit_chain()", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// A running `auditlog-shim serve` (the binary `make test` built), on a free port with its own
/// spool directory.
pub struct Shim {
    pub child: std::process::Child,
    pub url: String,
    pub spool: std::path::PathBuf,
    dsn: String,
    args: Vec<String>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Shim {
    /// Starts the shim for database `db` with a fresh spool named `name`, and waits for it.
    pub async fn start(name: &str, dsn: &str, args: &[&str]) -> Shim {
        let spool = std::env::temp_dir().join(format!("auditlog-test-spool-{name}"));
        let _ = std::fs::remove_dir_all(&spool);
        let mut shim = Shim {
            child: std::process::Command::new("true").spawn().unwrap(),
            url: String::new(),
            spool,
            dsn: dsn.to_string(),
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        shim.restart().await;
        shim
    }

    /// The database the next start delivers to.
    pub fn set_dsn(&mut self, dsn: &str) {
        self.dsn = dsn.to_string();
    }

    /// Starts the shim again on the same spool (after a kill or a stop), on a new port.
    pub async fn restart(&mut self) {
        self.restart_on(free_port()).await
    }

    /// Starts the shim again on the same spool and port, where its clients left it.
    pub async fn restart_in_place(&mut self) {
        let port = self.url.rsplit(':').next().unwrap().parse().unwrap();
        self.restart_on(port).await
    }

    async fn restart_on(&mut self, port: u16) {
        self.url = format!("http://127.0.0.1:{port}");
        let shim = std::env::var("AUDITLOG_SHIM").expect("AUDITLOG_SHIM is set by `make test`");
        self.child = std::process::Command::new(shim)
            .arg("serve")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--spool-dir")
            .arg(&self.spool)
            .args(&self.args)
            .env("DATABASE_URL", &self.dsn)
            .spawn()
            .expect("starting auditlog-shim serve");
        for _ in 0..200 {
            if reqwest::get(format!("{}/healthz", self.url)).await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("auditlog-shim did not start listening");
    }

    /// POSTs `body` to /v1/events as `content_type`; returns the status and the JSON answer.
    pub async fn post(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, serde_json::Value) {
        self.post_to("/v1/events", content_type, body).await
    }

    pub async fn post_to(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST to the shim");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> String {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Events acknowledged and not yet committed.
    pub async fn queue_depth(&self) -> u64 {
        let health: serde_json::Value = serde_json::from_str(&self.get("/healthz").await).unwrap();
        health["queue_depth"].as_u64().unwrap()
    }

    /// Waits (up to `secs`) until everything acknowledged is committed.
    pub async fn drained(&self, secs: u64) {
        for _ in 0..secs * 20 {
            if self.queue_depth().await == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "the shim still holds {} events after {secs} s",
            self.queue_depth().await
        );
    }

    /// SIGTERM, then waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }

    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The ids in a 202 or 400 answer's `accepted` list.
pub fn accepted_ids(answer: &serde_json::Value) -> Vec<uuid::Uuid> {
    answer["accepted"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| e["event_id"].as_str().unwrap().parse().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

/// `n` NDJSON events, numbered from `from` in event_data.n.
pub fn ndjson_events(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "{{\"event_type\": \"data.client.read\", \"event_data\": {{\"n\": {i}, \"resource_id\": {}}}, \"user_context\": {{\"user_id\": {}, \"correlation_id\": \"CORR_LOAD_{}\"}}}}\n",
                i % 500, 1 + i % 50, i / 100
            )
        })
        .collect()
}

/// A throwaway cluster of a test's own (scripts/pgcluster.sh), stopped when dropped: for tests
/// that stop the server or load libraries the shared cluster must not.
pub struct Cluster(pub std::path::PathBuf);

impl Cluster {
    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pgcluster.sh")
    }

    fn dir(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tmp")
            .join(name)
    }

    /// Starts a fresh cluster in tmp/NAME on `port`.
    pub fn start(name: &str, port: u16) -> Cluster {
        Self::start_with(name, port, &[])
    }

    /// Starts a fresh cluster in tmp/NAME on `port` with these postgresql.conf lines.
    pub fn start_with(name: &str, port: u16, conf: &[&str]) -> Cluster {
        let dir = Self::dir(name);
        let ok = std::process::Command::new(Self::script())
            .arg("start")
            .arg(&dir)
            .arg(port.to_string())
            .args(conf)
            .status()
            .unwrap()
            .success();
        assert!(ok, "starting a cluster in {}", dir.display());
        Cluster(dir.canonicalize().unwrap())
    }

    /// A hot standby of this running cluster in tmp/NAME on `port`, streaming from it.
    pub fn standby(&self, name: &str, port: u16) -> Cluster {
        let dir = Self::dir(name);
        let ok = std::process::Command::new(Self::script())
            .arg("standby")
            .arg(&self.0)
            .arg(self.port())
            .arg(&dir)
            .arg(port.to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "starting a standby in {}", dir.display());
        Cluster(dir.canonicalize().unwrap())
    }

    pub fn run(&self, args: &[&str]) {
        let ok = std::process::Command::new(Self::script())
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "pgcluster.sh {args:?}");
    }

    fn port(&self) -> String {
        let conf = std::fs::read_to_string(self.0.join("data/postgresql.conf")).unwrap();
        conf.lines()
            .filter_map(|l| l.strip_prefix("port = "))
            .last()
            .unwrap()
            .to_string()
    }

    pub fn dsn(&self, db: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={db}",
            self.0.display(),
            self.port()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script())
            .arg("stop")
            .arg(&self.0)
            .status();
    }
}

/// Connects to `dsn`.
pub async fn connect_dsn(dsn: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(dsn, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

/// How many auditlog sealers run on `db`'s server: 1 on a primary, 0 on a standby.
pub async fn sealers(db: &Client) -> i64 {
    db.query_one(
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'auditlog sealer'",
        &[],
    )
    .await
    .unwrap()
    .get(0)
}

/// A client on `dsn` that logs event after event until its server goes away; it gives the ids
/// of the events acknowledged to it.
pub async fn log_until_cut_off(dsn: &str) -> tokio::task::JoinHandle<Vec<uuid::Uuid>> {
    let loader = connect_dsn(dsn).await;
    tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        while let Ok(r) = loader
            .query_one("SELECT audit_log('auth.logout', '{}', '{}')", &[])
            .await
        {
            acknowledged.push(r.get::<_, uuid::Uuid>(0));
        }
        acknowledged
    })
}

/// Waits for the client of `log_until_cut_off` to be cut off and checks that every event
/// acknowledged to it is in `db` (the server that took over); how many there were.
pub async fn acknowledged_all_kept(
    logging: tokio::task::JoinHandle<Vec<uuid::Uuid>>,
    db: &Client,
) -> usize {
    let acknowledged = logging.await.unwrap();
    assert!(
        acknowledged.len() > 10,
        "the client logged while the primary crashed"
    );
    let kept: i64 = db
        .query_one(
            "SELECT count(*) FROM audit.audit_events WHERE event_id = ANY ($1)",
            &[&acknowledged],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        kept as usize,
        acknowledged.len(),
        "every acknowledged event survived the failover"
    );
    acknowledged.len()
}

/// Waits up to `secs` until every event in `db` is sealed; the tree size.
pub async fn all_sealed(db: &Client, secs: u64) -> i64 {
    let logged: i64 = db
        .query_one("SELECT count(*) FROM audit.audit_events", &[])
        .await
        .unwrap()
        .get(0);
    let mut sealed = 0;
    for _ in 0..secs * 10 {
        sealed = db
            .query_one("SELECT tree_size FROM audit_tree_head()", &[])
            .await
            .unwrap()
            .get(0);
        if sealed == logged {
            return sealed;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{sealed} of {logged} events sealed after {secs} s");
}

/// A child process killed when dropped, so that a failing test leaves none behind (one holding
/// the test's stdout would keep `make test`'s pipe open).
pub struct Running(pub std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let o = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// A company's own CA (`ca.pem`) in `dir`, and a server certificate it signed for localhost and
/// 127.0.0.1 (`server.pem`, `server.key`), valid for two days.
pub fn private_ca(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=auditlog test CA",
    ];
    openssl(dir, &[&["req", "-x509"][..], &ec, &ca].concat());
    let csr = [
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ];
    openssl(dir, &[&["req"][..], &ec, &csr].concat());
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
}
