//! Connections for the commands: the server's notices are printed (audit_log()'s warnings about
//! malformed context values among them), and a listening connection's notifications wake a
//! [`Notify`]. Followers (alerts, export) wait on it with a timeout, so a missed notification
//! costs one poll interval, never an event.

use anyhow::{Context, Result};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls, Socket};

type Conn = Connection<Socket, tokio_postgres::tls::NoTlsStream>;

pub async fn connect(url: &str) -> Result<Client> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(drive(conn, None));
    Ok(client)
}

/// Connects and LISTENs on `channel`; the Notify is woken by each notification and once more
/// when the connection closes, so the waiter's next query finds out and it connects again.
pub async fn connect_listening(url: &str, channel: &str) -> Result<(Client, Arc<Notify>)> {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .context("connecting to PostgreSQL")?;
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
