//! `alerts`: every change of an alert (`audit.alert_changes`: raised, folded, acknowledged,
//! resolved) POSTed to a webhook, as JSON or as Slack text, from a durable cursor, so that no
//! change is missed across restarts or database outages.
//!
//! Changes are read in (xid, change_id) order up to the snapshot's xmin: every transaction below
//! it has committed or rolled back, so nothing can appear behind the cursor later. The cursor
//! file holds the cluster's system identifier with the last change delivered; it is saved after
//! the webhook answered 2xx, so a crash in between sends that one change again (with the same
//! `Idempotency-Key`). LISTEN on the alert channel only wakes the loop early; it polls anyway.

use crate::backoff::Backoff;
use crate::deliver::db_error;
use crate::http_client::{self, TlsArgs};
use crate::sinks::{http, Failure};
use crate::{connection, durable};
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(clap::Args)]
pub struct AlertsArgs {
    /// Where each change is POSTed.
    #[arg(long)]
    webhook: String,
    /// This consumer's cursor file (made on the first run: from the first change).
    #[arg(long)]
    cursor: PathBuf,
    /// POSTs `{"text": ...}`, which Slack's incoming webhooks (and Mattermost's, and others)
    /// take, instead of the change as JSON.
    #[arg(long)]
    slack: bool,
    /// Delivers what there is and exits, instead of waiting for more.
    #[arg(long)]
    once: bool,
    /// How often to look for changes that no notification announced (acknowledgements,
    /// resolutions, folds), in milliseconds.
    #[arg(long, default_value_t = 2000)]
    poll_ms: u64,
    /// The channel auditlog NOTIFYs new alerts on (auditlog.alert_channel).
    #[arg(long, default_value = "auditlog_alerts")]
    channel: String,
    /// Longest wait between retries, of the webhook or of the database, in seconds.
    #[arg(long, default_value_t = 60)]
    max_backoff_seconds: u64,
    /// Starts a new cursor after this change_id instead of at the first change (after a
    /// restore into another cluster, with the change_id the old cursor named).
    #[arg(long)]
    after_change: Option<i64>,
    #[command(flatten)]
    tls: TlsArgs,
}

/// Where a consumer is: the cluster, the last (xid, change_id) delivered, and the change_id
/// below which nothing is delivered (`--after-change`).
#[derive(Clone, Debug, PartialEq)]
struct Cursor {
    system: String,
    xid: String,
    change_id: i64,
    floor: i64,
}

impl Cursor {
    fn parse(text: &str) -> Result<Cursor> {
        let f: Vec<&str> = text.split_whitespace().collect();
        let [system, xid, change_id, floor] = f[..] else {
            bail!("expected SYSTEM_ID XID CHANGE_ID FLOOR, found {text:?}");
        };
        Ok(Cursor {
            system: system.into(),
            xid: xid.into(),
            change_id: change_id.parse()?,
            floor: floor.parse()?,
        })
    }

    fn text(&self) -> String {
        format!(
            "{} {} {} {}\n",
            self.system, self.xid, self.change_id, self.floor
        )
    }
}

/// Committed changes after the cursor, in the order no later commit can precede.
const CHANGES: &str = "
    SELECT c.change_id, c.xid::text, to_jsonb(c) - 'xid' - 'change_id', to_jsonb(a)
      FROM audit.alert_changes c
      LEFT JOIN audit.audit_alerts a ON a.alert_id = c.alert_id
     WHERE (c.xid, c.change_id) > ($1::text::xid8, $2)
       AND c.xid < pg_snapshot_xmin(pg_current_snapshot())
       AND c.change_id > $3
     ORDER BY c.xid, c.change_id
     LIMIT 100";

pub async fn run(url: &str, args: AlertsArgs) -> Result<()> {
    let http = http_client::build(&args.tls, Duration::from_secs(30))?;
    let max = Duration::from_secs(args.max_backoff_seconds);
    let mut db_backoff = Backoff::new(max);
    loop {
        let (client, woken) = match connection::connect_listening(url, &args.channel).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "auditlog-shim alerts: cannot reach the database, retrying in up to {:?}: {e:#}",
                    db_backoff.limit()
                );
                db_backoff.wait().await;
                continue;
            }
        };
        match deliver_all(&client, &http, &args, &woken).await {
            Ok(()) => return Ok(()),
            Err(Stop::Database(e)) => {
                eprintln!(
                    "auditlog-shim alerts: database error, reconnecting in up to {:?}: {}",
                    db_backoff.limit(),
                    db_error(&e)
                );
                db_backoff.wait().await;
            }
            Err(Stop::Fatal(e)) => return Err(e),
        }
    }
}

enum Stop {
    /// The database failed: connect again and go on from the cursor.
    Database(tokio_postgres::Error),
    /// Going on would skip a change or cannot help: the command exits 1.
    Fatal(anyhow::Error),
}

impl From<tokio_postgres::Error> for Stop {
    fn from(e: tokio_postgres::Error) -> Stop {
        Stop::Database(e)
    }
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Stop {
        Stop::Fatal(e)
    }
}

async fn deliver_all(
    db: &tokio_postgres::Client,
    http: &reqwest::Client,
    args: &AlertsArgs,
    woken: &Notify,
) -> Result<(), Stop> {
    let system: i64 = db
        .query_one("SELECT system_identifier FROM pg_control_system()", &[])
        .await?
        .get(0);
    let mut cursor = open_cursor(args, &system.to_string())?;
    loop {
        let rows = db
            .query(CHANGES, &[&cursor.xid, &cursor.change_id, &cursor.floor])
            .await?;
        for r in &rows {
            let change_id: i64 = r.get(0);
            let change: Value = r.get(2);
            let alert: Option<Value> = r.get(3);
            let body = if args.slack {
                json!({ "text": slack_text(change_id, &change, alert.as_ref()) })
            } else {
                json!({ "change_id": change_id, "change": change, "alert": alert })
            };
            post(http, args, &format!("{}-{change_id}", cursor.system), &body).await?;
            cursor.xid = r.get(1);
            cursor.change_id = change_id;
            durable::write(&args.cursor, cursor.text().as_bytes(), false)?;
        }
        if rows.is_empty() {
            if args.once {
                return Ok(());
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(args.poll_ms), woken.notified()).await;
        }
    }
}

/// The saved cursor, or a new one; refuses one made on another cluster, whose xids say nothing
/// here.
fn open_cursor(args: &AlertsArgs, system: &str) -> Result<Cursor> {
    match std::fs::read_to_string(&args.cursor) {
        Ok(text) => {
            let c = Cursor::parse(&text)
                .with_context(|| format!("reading the cursor {}", args.cursor.display()))?;
            if c.system != system {
                bail!(
                    "the cursor {} was made on another cluster (system identifier {}, this one is {system}): \
                     a restore or a new cluster orders changes anew. Changes up to change_id {} were delivered; \
                     move the cursor away and run with --after-change {}",
                    args.cursor.display(), c.system, c.change_id, c.change_id
                );
            }
            Ok(c)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Cursor {
            system: system.into(),
            xid: "0".into(),
            change_id: 0,
            floor: args.after_change.unwrap_or(0),
        }),
        Err(e) => Err(e).with_context(|| format!("reading {}", args.cursor.display())),
    }
}

/// POSTs until the webhook takes it (its answers read as the export's HTTP sink reads them):
/// what may pass is retried with backoff; a refusal stops the command before the change, since
/// no retry would help.
async fn post(
    http: &reqwest::Client,
    args: &AlertsArgs,
    key: &str,
    body: &Value,
) -> Result<(), Stop> {
    let mut backoff = Backoff::new(Duration::from_secs(args.max_backoff_seconds));
    loop {
        let sent = http
            .post(&args.webhook)
            .header("idempotency-key", key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await;
        match http::accepted(&args.webhook, sent).await {
            Ok(_) => return Ok(()),
            Err(Failure::Stop(e)) => {
                return Err(Stop::Fatal(e.context(format!(
                    "the webhook refused change {key}; it was not delivered and the cursor stays before it"
                ))))
            }
            Err(Failure::Retry(e)) => eprintln!(
                "auditlog-shim alerts: webhook: {e:#}; retrying in up to {:?}",
                backoff.limit()
            ),
        }
        backoff.wait().await;
    }
}

/// One line for a chat channel: what happened, to which alert, and how to find it.
fn slack_text(change_id: i64, change: &Value, alert: Option<&Value>) -> String {
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let Some(a) = alert else {
        return format!(
            "auditlog alert {} {} (change {change_id}; the alert is no longer stored)",
            s(change, "alert_id"),
            s(change, "change")
        );
    };
    let what = match s(change, "change").as_str() {
        "raised" => "raised".to_string(),
        "folded" => format!("seen again ({} times)", change["occurrences"]),
        "acknowledged" => format!("acknowledged by {}", a["acknowledged_by"]),
        "resolved" => format!(
            "resolved by {}: {}",
            a["resolved_by"],
            s(a, "resolution_notes")
        ),
        other => other.to_string(),
    };
    format!(
        "[{}] {}: {what}. {} (alert {}, correlation {})",
        s(a, "severity").to_uppercase(),
        s(a, "title"),
        s(a, "description"),
        s(a, "alert_id"),
        s(a, "correlation_id")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_back_what_they_wrote() {
        let c = Cursor {
            system: "7714114363194102819".into(),
            xid: "1450".into(),
            change_id: 12,
            floor: 3,
        };
        assert_eq!(Cursor::parse(&c.text()).unwrap(), c);
        assert!(Cursor::parse("1 2 3").is_err());
        assert!(Cursor::parse("1 2 x 0").is_err());
    }

    #[test]
    fn slack_lines_say_what_happened() {
        let alert = json!({"alert_id": "ALERT_1", "severity": "high", "title": "Brute force",
                           "description": "5 failed logins", "correlation_id": "CORR_1",
                           "resolved_by": 7, "resolution_notes": "blocked the address"});
        let line = |change: &str| {
            slack_text(
                4,
                &json!({"change": change, "occurrences": 3, "alert_id": "ALERT_1"}),
                Some(&alert),
            )
        };
        assert_eq!(
            line("resolved"),
            "[HIGH] Brute force: resolved by 7: blocked the address. 5 failed logins (alert ALERT_1, correlation CORR_1)"
        );
        assert!(line("folded").contains("seen again (3 times)"));
        assert!(
            slack_text(4, &json!({"change": "raised", "alert_id": "ALERT_1"}), None)
                .contains("no longer stored")
        );
    }
}
