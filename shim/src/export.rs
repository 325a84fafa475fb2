//! `export`: sealed events in tree order, as OCSF, RFC 5424 syslog or CEF lines, from a durable
//! cursor per consumer (export_cursor.rs), so that a restart resumes where the last run stopped.
//! Each batch goes to one sink (sinks/): stdout, a file, syslog over TCP or HTTP, and the cursor
//! is saved only after the sink accepted it. A file is exactly once across crashes; the others
//! at least once (a crash, or a lost answer, can repeat the last batch: each line carries its
//! position).

use crate::backoff::Backoff;
use crate::export_cursor::Cursor;
use crate::exported::Exported;
use crate::http_client::TlsArgs;
use crate::sinks::{self, file::FileSink, http, syslog_tcp::SyslogTcp, Line, Retries, Sink};
use crate::{cef, connection, ocsf, syslog};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_postgres::Client;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Ocsf,
    Syslog,
    Cef,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[arg(long, value_enum, default_value = "ocsf")]
    format: Format,
    /// This consumer's cursor file (made on the first run: from the first event).
    #[arg(long)]
    cursor: PathBuf,
    /// Appends to this file instead of stdout: exactly once, across crashes.
    #[arg(long, conflicts_with_all = ["syslog_tcp", "http"])]
    out: Option<PathBuf>,
    /// With --out: a batch that would take the file past this many bytes starts a fresh one, the
    /// old one renamed FILE.1, FILE.2, ... (the oldest first); still exactly once.
    #[arg(long, requires = "out", value_parser = clap::value_parser!(u64).range(1..))]
    rotate_bytes: Option<u64>,
    /// Sends RFC 5424 messages (--format syslog, or --format cef: each CEF line as the message
    /// of one, as SIEMs take CEF over syslog) over TCP, octet-counted (RFC 6587). At least
    /// once: TCP has no application acknowledgement, so a batch counts as delivered when the
    /// receiver's TCP stack acknowledged it, and a broken connection's batch is sent again.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "http")]
    syslog_tcp: Option<String>,
    /// POSTs each batch as NDJSON (application/x-ndjson) to this http:// or https:// URL. At least once: 2xx
    /// accepts, 429, 5xx and no answer are tried again, any other answer stops the export.
    #[arg(long, value_name = "URL")]
    http: Option<String>,
    /// With --http: Splunk HEC's shape (URL .../services/collector/event): each line an event
    /// envelope, and the header "Authorization: Splunk TOKEN".
    #[arg(
        long,
        requires = "http",
        env = "AUDITLOG_HEC_TOKEN",
        hide_env_values = true
    )]
    hec_token: Option<String>,
    /// With --hec-token: waits for HEC's indexer acknowledgement of each batch (the token's
    /// useACK on), up to this many seconds, before the cursor moves; a batch not acknowledged
    /// by then is sent again.
    #[arg(long, requires = "hec_token", value_parser = clap::value_parser!(u64).range(1..))]
    hec_ack_seconds: Option<u64>,
    #[command(flatten)]
    tls: TlsArgs,
    /// Keeps going as new events are sealed; a sink that fails is then tried again forever.
    #[arg(long)]
    follow: bool,
    /// Without --follow, how many times a sink may fail a batch before the export gives up.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    tries: u32,
    /// Longest wait between tries, in milliseconds (waits double from 100 ms, with jitter).
    #[arg(long, default_value_t = 30_000)]
    max_backoff_ms: u64,
    /// Events per read (and per sink batch and cursor save).
    #[arg(long, default_value_t = 1000)]
    batch: i64,
    /// With --follow, how often to look for new seals that no notification announced, in
    /// milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Syslog: the HOSTNAME field; Splunk HEC: the host.
    #[arg(long, default_value = "-")]
    hostname: String,
    /// Syslog: the structured data's SD-ID (name@private-enterprise-number).
    #[arg(long, default_value = "auditlog@32473")]
    sd_id: String,
    /// OCSF: the service users authenticate to (Authentication's service.name): your
    /// application's name.
    #[arg(long, default_value = "auditlog")]
    service: String,
}

/// Sealed events after `$1`, in tree order, each with the tree size its batch ended at; an event
/// whose row is gone comes back as NULL.
const AFTER: &str = "
    SELECT p.position, to_jsonb(e), b.last_position
      FROM audit.event_positions p
      CROSS JOIN LATERAL (SELECT i.last_position FROM audit.audit_log_integrity i
                           WHERE i.first_position <= p.position
                           ORDER BY i.first_position DESC LIMIT 1) b
      LEFT JOIN audit.all_events e ON e.event_id = p.event_id AND e.\"timestamp\" = p.\"timestamp\"
     WHERE p.position > $1
     ORDER BY p.position
     LIMIT $2";

fn sink(args: &ExportArgs, cursor: &Cursor) -> Result<Sink> {
    let format = match args.format {
        Format::Ocsf => "ocsf",
        Format::Syslog => "syslog",
        Format::Cef => "cef",
    };
    if let Some(path) = &args.out {
        return Ok(Sink::File(FileSink::open(path, cursor, args.rotate_bytes)?));
    }
    if let Some(addr) = &args.syslog_tcp {
        if matches!(args.format, Format::Ocsf) {
            bail!("--syslog-tcp sends RFC 5424 messages: add --format syslog, or --format cef");
        }
        return Ok(Sink::SyslogTcp(SyslogTcp::new(addr)));
    }
    if let Some(url) = &args.http {
        let hec = args.hec_token.as_ref().map(|token| http::Hec {
            token: token.clone(),
            host: (args.hostname != "-").then(|| args.hostname.clone()),
            sourcetype: format!("auditlog:{format}"),
            json_events: matches!(args.format, Format::Ocsf),
            ack: args.hec_ack_seconds.map(Duration::from_secs),
        });
        return Ok(Sink::Http(http::Http::new(url, hec, &args.tls)?));
    }
    Ok(Sink::Stdout)
}

fn render(args: &ExportArgs, e: &Exported) -> String {
    match args.format {
        Format::Ocsf => ocsf::render(e, &args.service),
        Format::Syslog => syslog::render(e, &args.hostname, &args.sd_id),
        Format::Cef if args.syslog_tcp.is_some() => {
            syslog::carrying(e, &args.hostname, &cef::render(e))
        }
        Format::Cef => cef::render(e),
    }
}

/// The channel each seal NOTIFYs on (extension/src/seal.rs).
const SEALED_CHANNEL: &str = "auditlog_sealed";

pub async fn run(url: &str, args: ExportArgs) -> Result<()> {
    let mut cursor = Cursor::read(&args.cursor)?;
    let mut sink = sink(&args, &cursor)?;
    let mut db_backoff = Backoff::new(Duration::from_millis(args.max_backoff_ms));
    loop {
        let result = async {
            let (db, woken) = connection::connect_listening(url, SEALED_CHANNEL).await?;
            export_from(&db, &woken, &args, &mut cursor, &mut sink).await
        }
        .await;
        // Following, a database that fails is waited out: the cursor holds the place.
        match result {
            Err(e) if args.follow && e.downcast_ref::<tokio_postgres::Error>().is_some() => {
                eprintln!(
                    "auditlog-shim: export: database error, again in up to {:?}: {e:#}",
                    db_backoff.limit()
                );
                db_backoff.wait().await;
            }
            done => return done,
        }
    }
}

async fn export_from(
    db: &Client,
    woken: &Notify,
    args: &ExportArgs,
    cursor: &mut Cursor,
    sink: &mut Sink,
) -> Result<()> {
    let retries = Retries {
        max_backoff: Duration::from_millis(args.max_backoff_ms),
        tries: (!args.follow).then_some(args.tries),
    };
    loop {
        let rows = db
            .query(AFTER, &[&cursor.position, &args.batch.max(1)])
            .await
            .context("reading sealed events")?;
        if rows.is_empty() {
            if !args.follow {
                return Ok(());
            }
            // A seal's NOTIFY wakes it; the poll is the fallback (README, "Export to a SIEM",
            // has both measured).
            let _ =
                tokio::time::timeout(Duration::from_millis(args.poll_ms), woken.notified()).await;
            continue;
        }
        let mut lines = Vec::with_capacity(rows.len());
        // What is read before a missing event is still delivered, then the export stops there.
        let mut stop = None;
        let mut position = cursor.position;
        for r in &rows {
            let p: i64 = r.get(0);
            let tree_size: i64 = r.get(2);
            let row = r.get::<_, Option<serde_json::Value>>(1);
            stop = if p != position + 1 {
                Some(format!("position {} is missing: export stops at {position}; verify_audit_chain() names the break", position + 1))
            } else if row.is_none() {
                Some(format!("the event at position {p} is gone: export stops at {position}; verify_audit_chain() names the break"))
            } else if p > tree_size {
                Some(format!(
                    "position {p} is past every seal: export stops at {position}"
                ))
            } else {
                None
            };
            let Some(row) = row.filter(|_| stop.is_none()) else {
                break;
            };
            let e = Exported {
                row,
                position: p,
                tree_size,
            };
            lines.push(Line {
                text: render(args, &e),
                position: p,
                time_ms: e.time_ms(),
            });
            position = p;
        }
        sinks::deliver(sink, &lines, &retries).await?;
        cursor.position = position;
        if let Sink::File(f) = &*sink {
            (cursor.len, cursor.rotations) = (f.len, f.rotations);
        }
        if !lines.is_empty() {
            cursor.save(&args.cursor)?;
        }
        if let Some(stop) = stop {
            bail!(stop);
        }
    }
}
