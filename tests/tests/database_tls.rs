//! The shim's own connections to PostgreSQL over TLS, against a cluster that takes TCP
//! connections only over TLS (hostssl; hostnossl rejected), with a certificate from a private
//! CA: sslmode=require delivers (serve and send) once --db-ca-file names the CA, and is refused,
//! named, without it or to another host name; prefer, the default, stays plain text.

mod common;
use common::*;

const PORT: u16 = 55442;

/// `sslmode` to the TLS cluster's database `tls` by `host`, over TCP.
fn tcp(host: &str, sslmode: &str) -> String {
    format!("host={host} port={PORT} user=postgres dbname=tls sslmode={sslmode}")
}

#[tokio::test]
async fn sslmode_require_verifies_the_server_and_delivers_only_over_tls() {
    let cluster = Cluster::start("test-tls", PORT);
    let dir = std::env::temp_dir().join("auditlog_it_database_tls");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    private_ca(&dir);
    let (cert, key) = (cluster.0.join("server.pem"), cluster.0.join("server.key"));
    for at in [&cert, &key] {
        std::fs::copy(dir.join(at.file_name().unwrap()), at).unwrap();
        let owned = std::process::Command::new("chown")
            .arg("postgres:postgres")
            .arg(at)
            .status()
            .unwrap();
        assert!(owned.success());
    }
    std::fs::write(
        cluster.0.join("data/pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
    )
    .unwrap();
    let admin = connect_dsn(&cluster.dsn("postgres")).await;
    for set in [
        "ALTER SYSTEM SET ssl = on".to_owned(),
        format!("ALTER SYSTEM SET ssl_cert_file = '{}'", cert.display()),
        format!("ALTER SYSTEM SET ssl_key_file = '{}'", key.display()),
        "SELECT pg_reload_conf()".to_owned(),
    ] {
        admin.batch_execute(&set).await.unwrap();
    }
    recreate_db(&admin, "tls").await;
    let db = connect_dsn(&cluster.dsn("tls")).await;
    db.batch_execute("CREATE EXTENSION auditlog").await.unwrap();
    // The reload is the postmaster's to do: a new session sees it done.
    for _ in 0..100 {
        let ssl: String = connect_dsn(&cluster.dsn("tls"))
            .await
            .query_one("SHOW ssl", &[])
            .await
            .unwrap()
            .get(0);
        if ssl == "on" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let ca = dir.join("ca.pem");
    let ca = ca.to_str().unwrap();
    let events = dir.join("events.ndjson");
    std::fs::write(&events, ndjson_events(0, 5)).unwrap();
    let e = events.to_str().unwrap();

    // send and serve, over TLS to a server whose CA --db-ca-file names.
    let out = shim_at(
        &tcp("localhost", "require"),
        &["--db-ca-file", ca, "send", e],
    )
    .unwrap();
    assert!(out.contains("5 events logged"), "{out}");
    let mut shim = Shim::start("tls", &tcp("127.0.0.1", "require"), &["--db-ca-file", ca]).await;
    let (status, answer) = shim.post("application/x-ndjson", ndjson_events(5, 5)).await;
    assert_eq!(status, 202, "{answer}");
    shim.drained(30).await;
    assert!(shim.terminate().success());
    assert_eq!(event_ids(&db).await.len(), 10);

    // The system's store does not know the CA; the certificate is not for db.example; prefer
    // (the default) connects in plain text, which this server refuses.
    let html = dir.join("report.html");
    let report = ["report", "--html", html.to_str().unwrap()];
    let err = shim_at(&tcp("localhost", "require"), &report).unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");
    let elsewhere = format!("{} hostaddr=127.0.0.1", tcp("db.example", "require"));
    let err = shim_at(&elsewhere, &[&["--db-ca-file", ca][..], &report].concat()).unwrap_err();
    assert!(err.contains("not valid for name \"db.example\""), "{err}");
    let err = shim_at(&tcp("127.0.0.1", "prefer"), &report).unwrap_err();
    assert!(err.contains("no encryption"), "{err}");
    let out = shim_at(
        &tcp("127.0.0.1", "require"),
        &[&["--db-ca-file", ca][..], &report].concat(),
    )
    .unwrap();
    assert!(out.contains("report written"), "{out}");

    // A --db-ca-file without a certificate is refused before any connection.
    let err = shim_at(
        &tcp("localhost", "require"),
        &["--db-ca-file", e, "send", e],
    )
    .unwrap_err();
    assert!(err.contains("holds no PEM certificate"), "{err}");
}
