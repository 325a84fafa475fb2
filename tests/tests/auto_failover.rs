//! auditlog under pg_auto_failover (Debian's postgresql-15-auto-failover, `pg_autoctl`): a monitor
//! and two keeper-managed nodes on this machine. The primary crashes (its server and its keeper
//! killed with -9); the monitor notices and promotes the secondary by itself. On the new primary
//! the sealer starts and seals, every event acknowledged before the crash is there (pg_auto_failover
//! made replication synchronous), the chain verifies, and the checkpoint signed before verifies
//! against it and is extended by a new one.

mod common;
use common::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const MONITOR_PORT: u16 = 55500;
const NODE1_PORT: u16 = 55501;
const NODE2_PORT: u16 = 55502;

/// What auditlog needs on every node, appended to the primary's postgresql.conf after
/// `pg_autoctl create postgres` (below its include of postgresql-auto-failover.conf, so these win)
/// and before the secondary clones it with pg_basebackup. pg_stat_statements is what
/// pg_auto_failover preloads itself.
const AUDITLOG_CONF: &str = "
shared_preload_libraries = 'pg_stat_statements,auditlog'
auditlog.seal_database = 'postgres'
auditlog.seal_interval = 1
";

/// A monitor and its nodes in one directory, each `pg_autoctl run` (a keeper and the server it
/// supervises) in a process group of its own. Dropping it kills them all and removes the directory.
struct Formation {
    dir: PathBuf,
    keepers: Vec<(String, std::process::Child)>,
}

impl Formation {
    fn new() -> Formation {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tmp/test-auto-failover");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("xdg/run")).unwrap();
        let dir = dir.canonicalize().unwrap();
        assert!(std::process::Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&dir)
            .status()
            .unwrap()
            .success());
        Formation {
            dir,
            keepers: Vec::new(),
        }
    }

    fn pgdata(&self, node: &str) -> String {
        self.dir.join(node).to_str().unwrap().to_owned()
    }

    /// `pg_autoctl ARGS` as postgres (initdb refuses root). Its configuration and state files
    /// (XDG_*) stay in the directory; PG_REGRESS_SOCK_DIR, pg_autoctl's own tests' setting, puts
    /// the servers' sockets there too (postgres -k) and PGHOST has pg_autoctl connect there.
    fn autoctl(&self, args: &[&str]) -> std::process::Command {
        let d = self.dir.to_str().unwrap();
        let mut c = std::process::Command::new("sudo");
        c.current_dir(&self.dir)
            .args(["-u", "postgres", "env"])
            .arg(format!("XDG_CONFIG_HOME={d}/xdg/config"))
            .arg(format!("XDG_DATA_HOME={d}/xdg/data"))
            .arg(format!("XDG_RUNTIME_DIR={d}/xdg/run"))
            .arg(format!("PG_REGRESS_SOCK_DIR={d}"))
            .arg(format!("PGHOST={d}"))
            .arg("pg_autoctl")
            .args(args);
        c
    }

    /// `pg_autoctl create KIND` of `node`, which returns once it is set up (its server stopped).
    fn create(&self, kind: &str, node: &str, port: u16, args: &[&str]) {
        let (pgdata, port) = (self.pgdata(node), port.to_string());
        let mut all = vec![
            "create",
            kind,
            "--pgctl",
            "/usr/lib/postgresql/15/bin/pg_ctl",
            "--pgdata",
            &pgdata,
            "--pgport",
            &port,
            "--hostname",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
        ];
        all.extend_from_slice(args);
        let o = self.autoctl(&all).output().unwrap();
        assert!(
            o.status.success(),
            "pg_autoctl {all:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// `pg_autoctl run` for `node` in the background, logging to NODE.log.
    fn run(&mut self, node: &str) {
        let log = std::fs::File::create(self.dir.join(format!("{node}.log"))).unwrap();
        let child = self
            .autoctl(&["run", "--pgdata", &self.pgdata(node)])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap();
        self.keepers.push((node.to_owned(), child));
    }

    /// kill -9 of `node`'s keeper and its server (the server's backends, which are process group
    /// leaders of their own, exit when their postmaster dies).
    fn kill(&mut self, node: &str) {
        let i = self.keepers.iter().position(|(n, _)| n == node).unwrap();
        let (_, mut child) = self.keepers.remove(i);
        // The monitor's healthcheck worker does not exit when its postmaster dies (and keeps the
        // logger alive): the server's children are killed too, found while they are its.
        let children = std::fs::read_to_string(
            std::path::Path::new(&self.pgdata(node)).join("postmaster.pid"),
        )
        .ok()
        .and_then(|pid| pid.lines().next().map(str::to_owned))
        .and_then(|pid| {
            std::process::Command::new("pgrep")
                .args(["-P", &pid])
                .output()
                .ok()
        })
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
        assert!(std::process::Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", child.id())])
            .status()
            .unwrap()
            .success());
        child.wait().unwrap();
        for pid in children {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid])
                .status();
        }
    }

    fn dsn(&self, port: u16) -> String {
        format!(
            "host={} port={port} user=postgres dbname=postgres",
            self.dir.display()
        )
    }

    /// (reported state, assigned state) of `node`, as the monitor has them.
    async fn state(&self, monitor: &tokio_postgres::Client, node: &str) -> (String, String) {
        let r = monitor
            .query_one(
                "SELECT reportedstate::text, goalstate::text FROM pgautofailover.node WHERE nodename = $1",
                &[&node],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    }

    /// Waits up to `secs` until `node` has reached assigned state `want`; the seconds it took.
    async fn reached(
        &self,
        monitor: &tokio_postgres::Client,
        node: &str,
        want: &str,
        secs: u64,
    ) -> u64 {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(secs) {
            if self.state(monitor, node).await == (want.into(), want.into()) {
                return start.elapsed().as_secs();
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "{node} is {:?}, not {want}, after {secs} s; see {}",
            self.state(monitor, node).await,
            self.dir.join(format!("{node}.log")).display()
        );
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        for node in self
            .keepers
            .iter()
            .map(|(n, _)| n.clone())
            .collect::<Vec<_>>()
        {
            self.kill(&node);
        }
        // Backends may still be exiting and removing files of their own.
        for _ in 0..50 {
            if std::fs::remove_dir_all(&self.dir).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

#[tokio::test]
async fn the_monitor_fails_over_to_the_secondary_which_seals_on_and_keeps_every_checkpoint() {
    let mut f = Formation::new();
    f.create("monitor", "monitor", MONITOR_PORT, &[]);
    f.run("monitor");
    let monitor_uri =
        format!("postgres://autoctl_node@127.0.0.1:{MONITOR_PORT}/pg_auto_failover?sslmode=prefer");
    let keeper = |name| {
        [
            "--name",
            name,
            "--listen",
            "127.0.0.1",
            "--monitor",
            &monitor_uri,
        ]
    };
    f.create("postgres", "node1", NODE1_PORT, &keeper("node1"));
    let conf = f.dir.join("node1/postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str(AUDITLOG_CONF);
    std::fs::write(&conf, text).unwrap();
    f.run("node1");
    let monitor = connect_dsn(&format!(
        "host={} port={MONITOR_PORT} user=postgres dbname=pg_auto_failover",
        f.dir.display()
    ))
    .await;
    f.reached(&monitor, "node1", "single", 60).await;
    // The secondary is cloned from the running primary (pg_basebackup) as it is created.
    f.create("postgres", "node2", NODE2_PORT, &keeper("node2"));
    f.run("node2");
    f.reached(&monitor, "node2", "secondary", 60).await;
    f.reached(&monitor, "node1", "primary", 60).await;

    let primary = connect_dsn(&f.dsn(NODE1_PORT)).await;
    let secondary = connect_dsn(&f.dsn(NODE2_PORT)).await;
    // pg_auto_failover made replication synchronous once the secondary caught up.
    let quorum: String = primary
        .query_one("SHOW synchronous_standby_names", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(quorum, "ANY 1 (pgautofailover_standby_2)");
    primary
        .batch_execute(
            "CREATE EXTENSION auditlog;
             SELECT count(audit_log('auth.login.success', jsonb_build_object('n', i), '{\"user_id\": 7}'))
               FROM generate_series(1, 300) i;",
        )
        .await
        .unwrap();
    assert_eq!(all_sealed(&primary, 30).await, 300);
    assert_eq!(
        (sealers(&primary).await, sealers(&secondary).await),
        (1, 0),
        "the sealer runs on the primary only"
    );

    // A checkpoint of a head the secondary has replayed.
    let keys = f.dir.join("log");
    let cps = f.dir.join("checkpoints");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let (p, s) = (f.dsn(NODE1_PORT), f.dsn(NODE2_PORT));
    shim_at(
        &p,
        &["keygen", "--out", &path(&keys), "--name", "af.example/log"],
    )
    .unwrap();
    let key = path(&keys.with_extension("key"));
    let out = shim_at(
        &p,
        &[
            "checkpoint",
            "--key",
            &key,
            "--dir",
            &path(&cps),
            "--replica",
            &s,
        ],
    )
    .unwrap();
    assert!(out.contains("signed: 300 events"), "{out}");

    // The primary's machine dies while a client logs event after event: its server and its
    // keeper are killed (-9) together.
    let logging = log_until_cut_off(&p).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(primary);
    f.kill("node1");
    // The monitor's defaults: node1 is unhealthy after about 20 s without answering; node2 is
    // promoted, but held read-only until primary_demote_timeout (30 s) has passed, in case node1
    // still runs; then it is wait_primary, accepting writes without a standby.
    let took = f.reached(&monitor, "node2", "wait_primary", 150).await;
    eprintln!("the monitor failed over to node2 in {took} s");
    let acknowledged = acknowledged_all_kept(logging, &secondary).await;

    // The sealer, which waited while the promoted server was read-only, seals what is logged
    // from now on, on the same tree.
    secondary
        .batch_execute(
            "SELECT count(audit_log('auth.logout', '{}', '{}')) FROM generate_series(1, 5)",
        )
        .await
        .unwrap();
    let size = all_sealed(&secondary, 30).await;
    assert_eq!(sealers(&secondary).await, 1);
    // (Events committed but not yet acknowledged when the client lost the primary count too.)
    assert!(size as usize >= 300 + acknowledged + 5);
    assert_eq!(verify_kinds(&secondary).await, ["ok"]);
    let vkey = path(&keys.with_extension("vkey"));
    let verify = ["verify", "--dir", &path(&cps), "--pubkey", &vkey];
    let out = shim_at(&s, &verify).unwrap();
    assert!(out.contains("all checkpoints verify"), "{out}");
    // A new checkpoint, signed on the new primary, extends the one signed before the crash.
    let out = shim_at(&s, &["checkpoint", "--key", &key, "--dir", &path(&cps)]).unwrap();
    assert!(out.contains(&format!("signed: {size} events")), "{out}");
    let out = shim_at(&s, &verify).unwrap();
    assert!(out.contains("all checkpoints verify"), "{out}");
}
