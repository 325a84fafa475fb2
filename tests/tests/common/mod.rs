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

/// The kinds verify_audit_chain() reports: `["ok"]` when all is well.
pub async fn verify_kinds(client: &Client) -> Vec<String> {
    let rows = client
        .query("SELECT kind FROM verify_audit_chain()", &[])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}
