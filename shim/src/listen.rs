//! A connection that LISTENs on a channel: its notifications wake a [`Notify`]. Followers (alerts,
//! export) wait on it with a timeout, so a missed notification costs one poll interval, never an
//! event.

use anyhow::Result;
use std::sync::Arc;
use tokio::sync::Notify;

pub async fn connect(url: &str, channel: &str) -> Result<(tokio_postgres::Client, Arc<Notify>)> {
    let (client, mut conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let woken = Arc::new(Notify::new());
    let wake = woken.clone();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = futures_util::StreamExt::next(&mut messages).await {
            if let tokio_postgres::AsyncMessage::Notification(_) = m {
                wake.notify_one();
            }
        }
        // The connection is gone: the waiter's next query says so, and it connects again.
        wake.notify_one();
    });
    let quoted = format!("\"{}\"", channel.replace('"', "\"\""));
    client.batch_execute(&format!("LISTEN {quoted}")).await?;
    Ok((client, woken))
}
