//! auditlog-shim: gets application events into the auditlog extension, and anchors its chain
//! outside the database.
//!
//! `send` imports NDJSON through `audit_log()`; `keygen`, `checkpoint`, `verify` and
//! `verify-proof` keep signed checkpoints the database cannot rewrite. The HTTP server, spool
//! and batching entry point come with the ingest issue.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::BufRead;
use std::path::PathBuf;

mod anchor;
mod checkpoint;
mod ndjson;

#[derive(Parser)]
#[command(version, about = "Ingest shim for the auditlog PostgreSQL extension")]
struct Cli {
    /// PostgreSQL connection string (libpq key=value or postgres:// URL).
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
    /// Logs NDJSON events (one {"event_type", "event_data", "user_context"} object per line)
    /// through audit_log(), one transaction per batch. Bad lines are reported by number and
    /// skipped; the others are logged. Exits 1 if any line was rejected.
    Send {
        /// File to read, or - for standard input.
        #[arg(default_value = "-")]
        file: String,
        /// Events per transaction.
        #[arg(long, default_value_t = 100)]
        batch_size: usize,
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let url = &cli.database_url;
    match cli.command {
        Command::Send { file, batch_size } => send(url, &file, batch_size.max(1)).await,
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

async fn send(url: &str, file: &str, batch_size: usize) -> Result<()> {
    let input: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("opening {file}"))?,
        ))
    };
    let mut client = connect(url).await?;
    let stmt = client.prepare("SELECT audit_log($1, $2, $3)::text").await?;
    let (mut logged, mut rejected) = (0usize, 0usize);
    let mut batch = Vec::with_capacity(batch_size);
    let mut lines = input.lines().enumerate();
    loop {
        let next = lines.next();
        if let Some((i, line)) = &next {
            let line = line
                .as_ref()
                .map_err(|e| anyhow::anyhow!("reading line {}: {e}", i + 1))?;
            match ndjson::parse_line(line) {
                Ok(Some(event)) => batch.push(event),
                Ok(None) => {}
                Err(e) => {
                    rejected += 1;
                    eprintln!("line {}: rejected: {e}", i + 1);
                }
            }
        }
        if batch.len() >= batch_size || (next.is_none() && !batch.is_empty()) {
            let tx = client.transaction().await?;
            for e in &batch {
                tx.query_one(&stmt, &[&e.event_type, &e.event_data, &e.user_context])
                    .await?;
            }
            tx.commit().await?;
            logged += batch.len();
            batch.clear();
        }
        if next.is_none() {
            break;
        }
    }
    println!("{logged} events logged, {rejected} lines rejected");
    if rejected > 0 {
        std::process::exit(1);
    }
    Ok(())
}
