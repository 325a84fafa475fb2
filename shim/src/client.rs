//! A client library for Rust applications: the seed's `AuditEventCollector`. Events are checked
//! at once (a malformed one is an error to the caller), buffered, and sent to PostgreSQL in
//! batches of `batch_size` or after `batch_timeout`, through the same delivery as the server.
//!
//! The buffer lives in the application's memory: [`Collector::flush`] returns once everything
//! logged before it is committed. For acknowledged durability across a crash of the application,
//! send to `auditlog-shim serve` instead.
//!
//! An event logged inside a [`CorrelationContext`](crate::correlation::CorrelationContext) gets
//! its correlation id and parent.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! use auditlog_shim::client::{Collector, Config};
//! use serde_json::json;
//! let audit = Collector::start("host=/run/postgresql dbname=app", Config::default());
//! audit.log("auth.login.success", json!({"method": "password"}), json!({"user_id": 42})).await?;
//! let report = audit.close().await;
//! assert!(report.refused.is_empty());
//! # Ok(()) }
//! ```

use crate::correlation;
use crate::deliver::Deliverer;
use crate::ndjson::{self, Ids};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

#[derive(Clone, Debug)]
pub struct Config {
    /// Events per batch (the seed: 100).
    pub batch_size: usize,
    /// Longest time an event waits for its batch to fill (the seed: 5 s).
    pub batch_timeout: Duration,
    /// Events buffered before `log` waits for room.
    pub buffer: usize,
    /// Longest wait between retries while the database is unreachable.
    pub max_backoff: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            batch_size: 100,
            batch_timeout: Duration::from_secs(5),
            buffer: 10_000,
            max_backoff: Duration::from_secs(30),
        }
    }
}

/// What became of the events since the last report.
#[derive(Debug, Default, PartialEq)]
pub struct Report {
    pub logged: usize,
    pub duplicate: usize,
    /// Events the database refused, with its reason.
    pub refused: Vec<(uuid::Uuid, String)>,
}

enum Msg {
    Event(uuid::Uuid, String),
    Flush(oneshot::Sender<Report>),
}

pub struct Collector {
    tx: mpsc::Sender<Msg>,
    task: tokio::task::JoinHandle<()>,
}

impl Collector {
    /// Starts the background sender (on the current Tokio runtime).
    pub fn start(database_url: &str, config: Config) -> Collector {
        let (tx, rx) = mpsc::channel(config.buffer.max(1));
        let deliverer = Deliverer::new(database_url, config.max_backoff);
        let task = tokio::spawn(run(rx, deliverer, config));
        Collector { tx, task }
    }

    /// Queues one event and returns its id; waits only while the buffer is full. The correlation
    /// in scope is added to `user_context`.
    pub async fn log(
        &self,
        event_type: &str,
        event_data: Value,
        user_context: Value,
    ) -> anyhow::Result<uuid::Uuid> {
        let user_context = correlation::add_to_user_context(user_context);
        let line = json!({"event_type": event_type, "event_data": event_data, "user_context": user_context});
        self.log_line(&line.to_string()).await
    }

    /// Queues one event given as a line (`event_id` and `timestamp` may be set by the caller), as
    /// it is: no correlation is added.
    pub async fn log_line(&self, line: &str) -> anyhow::Result<uuid::Uuid> {
        let now_us = chrono::Utc::now().timestamp_micros();
        let event = ndjson::decode_line(line.as_bytes(), usize::MAX, now_us, Ids::New, 1)
            .map_err(anyhow::Error::msg)?
            .ok_or_else(|| anyhow::anyhow!("an empty line is not an event"))?;
        self.tx
            .send(Msg::Event(event.event_id, event.json))
            .await
            .map_err(|_| anyhow::anyhow!("the collector has stopped"))?;
        Ok(event.event_id)
    }

    /// Sends what is buffered and returns once it is committed.
    pub async fn flush(&self) -> Report {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_err() {
            return Report::default();
        }
        wait.await.unwrap_or_default()
    }

    /// Flushes and stops.
    pub async fn close(self) -> Report {
        let report = self.flush().await;
        drop(self.tx);
        let _ = self.task.await;
        report
    }
}

async fn run(mut rx: mpsc::Receiver<Msg>, mut deliverer: Deliverer, config: Config) {
    let mut batch: Vec<(uuid::Uuid, String)> = Vec::new();
    let mut report = Report::default();
    let mut deadline = None;
    loop {
        let msg = match deadline {
            Some(d) => tokio::time::timeout_at(d, rx.recv()).await.unwrap_or(None),
            None => rx.recv().await,
        };
        let flush = match msg {
            Some(Msg::Event(id, line)) => {
                batch.push((id, line));
                deadline.get_or_insert_with(|| tokio::time::Instant::now() + config.batch_timeout);
                None
            }
            Some(Msg::Flush(done)) => Some(done),
            // The timeout passed, or the collector was dropped: send what there is.
            None if !batch.is_empty() => None,
            None => return,
        };
        let timed_out = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
        if !batch.is_empty() && (flush.is_some() || timed_out || batch.len() >= config.batch_size) {
            let lines: Vec<&str> = batch.iter().map(|(_, l)| l.as_str()).collect();
            let d = deliverer.deliver(&lines).await;
            report.logged += d.logged;
            report.duplicate += d.duplicate;
            report
                .refused
                .extend(d.refused.into_iter().map(|(i, e)| (batch[i].0, e)));
            batch.clear();
            deadline = None;
        }
        if let Some(done) = flush {
            let _ = done.send(std::mem::take(&mut report));
        }
    }
}
