//! Batches to PostgreSQL through `audit_log_batch()`: one statement, so one transaction, per
//! batch. What the database cannot take now (it is down, restarting, out of connections, or the
//! extension is missing) is retried with backoff and jitter, on a fresh connection. What one
//! event's data makes the database refuse is split out, so the rest of its batch commits.

use crate::backoff::Backoff;
use std::time::Duration;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Statement};

const BATCH_SQL: &str = "SELECT line, outcome, error FROM audit_log_batch($1)";

/// What became of a batch.
#[derive(Debug, Default, PartialEq)]
pub struct Delivered {
    pub logged: usize,
    pub duplicate: usize,
    /// Refused events: index in the batch, and the database's reason.
    pub refused: Vec<(usize, String)>,
    /// Events sent again after a failure the database was not to blame for.
    pub retried: usize,
}

pub struct Deliverer {
    url: String,
    client: Option<Client>,
    statement: Option<Statement>,
    /// Longest wait between retries.
    max_backoff: Duration,
}

/// Whether an error is about this data (another try would fail the same way) rather than about
/// the database's state now. Only these make a batch split; everything else is retried, so a
/// missing extension or a revoked privilege never dead-letters events.
fn is_data_error(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else { return false };
    let class = &code.code()[..2];
    matches!(class, "22" | "23" | "54" | "XX" | "P0") && *code != SqlState::IO_ERROR
}

impl Deliverer {
    pub fn new(url: &str, max_backoff: Duration) -> Deliverer {
        Deliverer {
            url: url.to_string(),
            client: None,
            statement: None,
            max_backoff,
        }
    }

    /// A live connection: a closed one (the server restarted) is replaced.
    async fn client(&mut self) -> Result<&Client, tokio_postgres::Error> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let (client, conn) = crate::connection::open(&self.url).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.client = Some(client);
            self.statement = None;
        }
        Ok(self.client.as_ref().expect("just connected"))
    }

    async fn send(
        &mut self,
        lines: &[&str],
    ) -> Result<Vec<(i32, String, Option<String>)>, tokio_postgres::Error> {
        let body = lines.join("\n");
        self.client().await?;
        let client = self.client.as_ref().expect("connected above");
        // Prepared once per connection: a batch then costs one round trip, not two.
        let statement = match &self.statement {
            Some(s) => s.clone(),
            None => {
                let s = client.prepare(BATCH_SQL).await?;
                self.statement = Some(s.clone());
                s
            }
        };
        let rows = client.query(&statement, &[&body]).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Delivers `lines` (each one event, as `audit_log_batch()` reads it). Returns only when
    /// every event is committed or refused; waits out any outage.
    pub async fn deliver(&mut self, lines: &[&str]) -> Delivered {
        let mut out = Delivered::default();
        // Parts still to send, as (offset in `lines`, length); a refused part is halved.
        let mut parts = vec![(0, lines.len())];
        let mut backoff = Backoff::new(self.max_backoff);
        while let Some((start, len)) = parts.pop() {
            if len == 0 {
                continue;
            }
            match self.send(&lines[start..start + len]).await {
                Ok(rows) => {
                    backoff.reset();
                    for (line, outcome, error) in rows {
                        match outcome.as_str() {
                            "logged" => out.logged += 1,
                            "duplicate" => out.duplicate += 1,
                            _ => out
                                .refused
                                .push((start + line as usize - 1, error.unwrap_or_default())),
                        }
                    }
                }
                Err(e) if is_data_error(&e) && len == 1 => out.refused.push((start, db_error(&e))),
                Err(e) if is_data_error(&e) => {
                    let half = len / 2;
                    parts.push((start + half, len - half));
                    parts.push((start, half));
                }
                Err(e) => {
                    eprintln!("auditlog-shim: delivery of {len} events failed, retrying in up to {:?}: {}", backoff.limit(), db_error(&e));
                    self.client = None;
                    out.retried += len;
                    backoff.wait().await;
                    parts.push((start, len));
                }
            }
        }
        out.refused.sort_unstable();
        out
    }
}

/// The server's message when there is one (tokio-postgres's Display says only "db error").
pub fn db_error(e: &tokio_postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{} ({})", db.message(), db.code().code()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}
