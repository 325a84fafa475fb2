//! auditlog-shim: gets application events into the auditlog extension, and anchors its chain
//! outside the database.
//!
//! `serve` takes events over HTTP and forwards them in batches, spooling to disk first; `send`
//! imports an NDJSON file; `keygen`, `checkpoint`, `verify` and `verify-proof` keep signed
//! checkpoints the database cannot rewrite.

use anyhow::{Context, Result};
use auditlog_shim::{anchor, report, send, serve};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "Ingest shim for the auditlog PostgreSQL extension")]
struct Cli {
    /// PostgreSQL connection string (libpq key=value or postgres:// URL). The role needs
    /// audit_writer for serve and send, audit_reader for verify.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        default_value = "host=localhost user=postgres"
    )]
    database_url: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves HTTP: POST /v1/events (one JSON event, or NDJSON lines), GET /healthz, GET
    /// /metrics. Acknowledges an event once it is fsynced to the spool, then forwards it in
    /// batches through audit_log_batch(). SIGTERM or SIGINT: stops accepting, delivers for up to
    /// --drain-seconds, leaves the rest spooled for the next start, exits 0.
    Serve(serve::ServeArgs),
    /// Imports NDJSON events (one {"event_type", "event_data", "user_context", "event_id",
    /// "timestamp"} object per line) straight to the database, one transaction per batch, with a
    /// progress bar on a terminal. An event without an event_id gets one derived from its line
    /// (text and number), so importing the same file again logs nothing twice. Bad lines are
    /// reported by number and the others logged; exits 1 if any line was rejected.
    Send {
        /// File to read, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Events per transaction.
        #[arg(long, env = "AUDITLOG_BATCH_SIZE", default_value_t = 1000)]
        batch_size: usize,
        /// Longest line (one event) accepted, in bytes.
        #[arg(long, env = "AUDITLOG_MAX_LINE_BYTES", default_value_t = 1 << 20)]
        max_line_bytes: usize,
    },
    /// Writes a self-contained HTML report for a compliance officer: events over time by
    /// severity, risk distribution, top users by risk, open alerts, integrity status. Needs a
    /// role with audit_reader.
    Report {
        /// The HTML file to write.
        #[arg(long)]
        html: PathBuf,
        /// Days covered, ending today.
        #[arg(long, default_value_t = 30)]
        days: i32,
    },
    /// Makes an Ed25519 key pair for signing checkpoints: PREFIX.key (private, mode 0600; keep it
    /// where the database and its administrators cannot reach) and PREFIX.pub.
    Keygen {
        #[arg(long, default_value = "auditlog-checkpoint")]
        out: PathBuf,
    },
    /// Signs the chain head (audit_chain_head()) into the next checkpoint file in DIR, naming the
    /// previous checkpoint's hash, and stores a copy in the database. Run it on a schedule: a
    /// checkpoint is written even when no event arrived, so silence shows.
    Checkpoint {
        /// The private key file from keygen.
        #[arg(long)]
        key: PathBuf,
        /// Where checkpoint files are kept (best: write-once storage the database cannot touch).
        #[arg(long)]
        dir: PathBuf,
    },
    /// Checks every checkpoint in DIR (signature, chain) and that the database still holds
    /// exactly the history each one signed; names truncation, rewriting and forgery. Exits 1 on
    /// any problem.
    Verify {
        #[arg(long)]
        dir: PathBuf,
        /// The public key file from keygen.
        #[arg(long)]
        pubkey: PathBuf,
    },
    /// Checks an inclusion proof (from audit_inclusion_proof()) against a signed checkpoint,
    /// without the database.
    VerifyProof {
        #[arg(long)]
        proof: PathBuf,
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(long)]
        pubkey: PathBuf,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let url = &cli.database_url;
    match cli.command {
        Command::Serve(args) => serve::serve(url, args).await,
        Command::Send {
            file,
            batch_size,
            max_line_bytes,
        } => {
            let s = send::send(url, &file, batch_size.max(1), max_line_bytes).await?;
            println!(
                "{} events logged, {} already in the database, {} lines rejected",
                s.logged, s.duplicate, s.rejected
            );
            if s.rejected > 0 {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Report { html, days } => {
            let page = report::html(&connect(url).await?, days.max(1)).await?;
            std::fs::write(&html, page).with_context(|| format!("writing {}", html.display()))?;
            println!("report written to {}", html.display());
            Ok(())
        }
        Command::Keygen { out } => anchor::keygen(&out),
        Command::Checkpoint { key, dir } => {
            anchor::checkpoint(&connect(url).await?, &key, &dir).await
        }
        Command::Verify { dir, pubkey } => {
            let problems = anchor::verify(&connect(url).await?, &dir, &pubkey).await?;
            if problems.is_empty() {
                println!("all checkpoints verify, and the database holds the history they signed");
                return Ok(());
            }
            for p in &problems {
                println!("{p}");
            }
            std::process::exit(1);
        }
        Command::VerifyProof {
            proof,
            checkpoint,
            pubkey,
        } => {
            println!("{}", anchor::verify_proof(&proof, &checkpoint, &pubkey)?);
            Ok(())
        }
    }
}

/// Connects, and prints the server's notices (audit_log()'s warnings about malformed context
/// values among them).
async fn connect(url: &str) -> Result<tokio_postgres::Client> {
    let (client, mut conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .context("connecting to PostgreSQL")?;
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(msg) = futures_util::StreamExt::next(&mut messages).await {
            match msg {
                Ok(tokio_postgres::AsyncMessage::Notice(n)) => {
                    eprintln!("{}: {}", n.severity(), n.message())
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("connection error: {e}");
                    break;
                }
            }
        }
    });
    Ok(client)
}
