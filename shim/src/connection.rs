//! Connections to PostgreSQL for every command: `sslmode=require` in the connection string is
//! TLS with the server's certificate verified (libpq's verify-full: the system's store and
//! `--db-ca-file`), never encryption that trusts whoever answers; `prefer` (the default) and
//! `disable` connect in plain text, as over a Unix socket. The server's notices are printed
//! (audit_log()'s warnings about malformed context values among them), and a listening
//! connection's notifications wake a [`Notify`]. Followers (alerts, export) wait on it with a
//! timeout, so a missed notification costs one poll interval, never an event.

use anyhow::{bail, Context, Result};
use rustls::pki_types::{pem::PemObject, CertificateDer};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use tokio::sync::Notify;
use tokio_postgres::config::SslMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

pub type Conn = Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

static TRUST: OnceLock<MakeRustlsConnect> = OnceLock::new();

/// Makes `sslmode=require` connections trust the CA certificates in `ca_file` as well as the
/// system's store. Called once, before any connection; without it, the store alone.
pub fn trust(ca_file: &Path) -> Result<()> {
    let mut roots = system_roots();
    let pem = std::fs::read(ca_file)
        .with_context(|| format!("reading --db-ca-file {}", ca_file.display()))?;
    let certs: Vec<CertificateDer> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .with_context(|| format!("--db-ca-file {}", ca_file.display()))?;
    if certs.is_empty() {
        bail!(
            "--db-ca-file {} holds no PEM certificate",
            ca_file.display()
        );
    }
    for c in certs {
        roots
            .add(c)
            .with_context(|| format!("--db-ca-file {}", ca_file.display()))?;
    }
    if TRUST.set(connector(roots)).is_err() {
        bail!("the database's TLS trust is set once");
    }
    Ok(())
}

/// The system's store; certificates it cannot parse are skipped, as reqwest does.
fn system_roots() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

fn connector(roots: rustls::RootCertStore) -> MakeRustlsConnect {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports TLS 1.2 and 1.3")
        .with_root_certificates(roots)
        .with_no_client_auth();
    MakeRustlsConnect::new(config)
}

/// A connection by `url`, over TLS when it says `sslmode=require`.
pub async fn open(url: &str) -> Result<(Client, Conn), tokio_postgres::Error> {
    static PLAIN: OnceLock<MakeRustlsConnect> = OnceLock::new();
    let mut config: Config = url.parse()?;
    let tls = if config.get_ssl_mode() == SslMode::Require {
        TRUST.get_or_init(|| connector(system_roots()))
    } else {
        // Never asked to negotiate: the store is not read for a plain connection.
        config.ssl_mode(SslMode::Disable);
        PLAIN.get_or_init(|| connector(rustls::RootCertStore::empty()))
    };
    config.connect(tls.clone()).await
}

pub async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = open(url).await.context("connecting to PostgreSQL")?;
    tokio::spawn(drive(conn, None));
    Ok(client)
}

/// Connects and LISTENs on `channel`; the Notify is woken by each notification and once more
/// when the connection closes, so the waiter's next query finds out and it connects again.
pub async fn connect_listening(url: &str, channel: &str) -> Result<(Client, Arc<Notify>)> {
    let (client, conn) = open(url).await.context("connecting to PostgreSQL")?;
    let woken = Arc::new(Notify::new());
    tokio::spawn(drive(conn, Some(woken.clone())));
    let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
    client.batch_execute(&format!("LISTEN {quoted}")).await?;
    Ok((client, woken))
}

async fn drive(mut conn: Conn, wake: Option<Arc<Notify>>) {
    let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
    while let Some(message) = futures_util::StreamExt::next(&mut messages).await {
        match message {
            Ok(AsyncMessage::Notice(n)) => eprintln!("{}: {}", n.severity(), n.message()),
            Ok(AsyncMessage::Notification(_)) => {
                if let Some(w) = &wake {
                    w.notify_one();
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("connection error: {}", crate::deliver::db_error(&e));
                break;
            }
        }
    }
    if let Some(w) = &wake {
        w.notify_one();
    }
}
