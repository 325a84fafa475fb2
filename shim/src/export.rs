//! `export`: sealed events in tree order, as OCSF, RFC 5424 syslog or CEF lines, from a durable
//! cursor per consumer, so that a restart resumes where the last run stopped.
//!
//! The cursor file holds the last position delivered and, with `--out`, the output file's length
//! at that moment; it is written (durably) only after the lines are. A file output is exactly
//! once: on start, what was written after the cursor's length (by a run that died before saving
//! it) is cut off and written again. On stdout a crash can repeat the last batch: the consumer
//! tells repeats by the position each line carries.

use crate::exported::Exported;
use crate::{cef, durable, ocsf, syslog};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;
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
    #[arg(long)]
    out: Option<PathBuf>,
    /// Keeps going as new events are sealed.
    #[arg(long)]
    follow: bool,
    /// Events per read (and per cursor save).
    #[arg(long, default_value_t = 1000)]
    batch: i64,
    /// With --follow, how often to look for new seals, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Syslog: the HOSTNAME field.
    #[arg(long, default_value = "-")]
    hostname: String,
    /// Syslog: the structured data's SD-ID (name@private-enterprise-number).
    #[arg(long, default_value = "auditlog@32473")]
    sd_id: String,
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

/// (last position delivered, output length then).
fn read_cursor(path: &Path) -> Result<(i64, u64)> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, 0)),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        Ok(text) => {
            let mut it = text.split_whitespace().map(str::parse::<u64>);
            match (it.next(), it.next()) {
                (Some(Ok(p)), Some(Ok(len))) => Ok((p as i64, len)),
                _ => bail!("{}: not a cursor (\"POSITION LENGTH\")", path.display()),
            }
        }
    }
}

/// The output file, cut back to what the cursor counts.
fn open_out(path: &Path, len: u64) -> Result<std::fs::File> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let now = f.metadata()?.len();
    if now < len {
        bail!(
            "{} has {now} bytes where the cursor counts {len}: it was cut or replaced; move the cursor or the file aside",
            path.display()
        );
    }
    // Written by a run that died before it saved the cursor: written again below.
    f.set_len(len)?;
    Ok(f)
}

pub async fn run(db: &Client, args: ExportArgs) -> Result<()> {
    let (mut position, mut len) = read_cursor(&args.cursor)?;
    let mut file = args.out.as_deref().map(|p| open_out(p, len)).transpose()?;
    loop {
        let rows = db
            .query(AFTER, &[&position, &args.batch.max(1)])
            .await
            .context("reading sealed events")?;
        if rows.is_empty() {
            if !args.follow {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
            continue;
        }
        let mut out = String::new();
        for r in &rows {
            let p: i64 = r.get(0);
            if p != position + 1 {
                bail!("position {} is missing: export stops at {position}; verify_audit_chain() names the break", position + 1);
            }
            let tree_size: i64 = r.get(2);
            let Some(row) = r.get::<_, Option<serde_json::Value>>(1) else {
                bail!("the event at position {p} is gone: export stops at {position}; verify_audit_chain() names the break");
            };
            if p > tree_size {
                bail!("position {p} is past every seal: export stops at {position}");
            }
            let e = Exported {
                row,
                position: p,
                tree_size,
            };
            out.push_str(&match args.format {
                Format::Ocsf => ocsf::render(&e),
                Format::Syslog => syslog::render(&e, &args.hostname, &args.sd_id),
                Format::Cef => cef::render(&e),
            });
            out.push('\n');
            position = p;
        }
        match &mut file {
            Some(f) => {
                f.write_all(out.as_bytes())?;
                f.sync_data()?;
                len = f.metadata()?.len();
            }
            None => {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(out.as_bytes())?;
                stdout.flush()?;
            }
        }
        durable::write(
            &args.cursor,
            format!("{position} {len}\n").as_bytes(),
            false,
        )?;
    }
}
