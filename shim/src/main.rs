//! auditlog-shim: gets application events into the auditlog extension, and anchors its chain
//! outside the database.
//!
//! `serve` takes events over HTTP and forwards them in batches, spooling to disk first; `send`
//! imports an NDJSON file; `keygen`, `checkpoint` and `verify` keep c2sp.org checkpoints of the
//! log, cosigned by witnesses, that the database cannot rewrite; `proof` and `verify-proof` prove
//! an event is in the log without the database.

use anyhow::{Context, Result};
use auditlog_shim::connection::{self, connect};
use auditlog_shim::http_client::TlsArgs;
use auditlog_shim::{alerts, anchor, export, report, send, serve, shards, vault_status, witness};
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
    /// PEM file of CA certificates trusted, besides the system's store, when the connection
    /// string says sslmode=require (a private CA's, or the server's own self-signed
    /// certificate). sslmode=require verifies the server's certificate and name, as libpq's
    /// verify-full; prefer (the default) and disable connect in plain text.
    #[arg(
        long,
        env = "AUDITLOG_DB_CA_FILE",
        global = true,
        value_name = "PEM_FILE"
    )]
    db_ca_file: Option<PathBuf>,
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
    /// Makes an Ed25519 key pair (c2sp.org/signed-note): PREFIX.key (the signer key, mode 0600;
    /// keep a log's where the database and its administrators cannot reach) and PREFIX.vkey.
    /// Refuses to overwrite either.
    Keygen {
        #[arg(long, default_value = "auditlog-checkpoint")]
        out: PathBuf,
        /// The key's name, written in each signature line.
        #[arg(long, default_value = "auditlog")]
        name: String,
        /// A witness's cosignature key (c2sp.org/tlog-cosignature) instead of a log's.
        #[arg(long, conflicts_with = "from")]
        witness: bool,
        /// Converts a 0.2.0 private key (hex), so that the old JSON checkpoints and the new ones
        /// verify with one .vkey.
        #[arg(long, value_name = "OLD.key")]
        from: Option<PathBuf>,
    },
    /// Signs the head of the log's tree (audit_tree_head()) as the next c2sp.org/tlog-checkpoint
    /// note in DIR, has each witness cosign it, and stores a copy in the database. Refuses when
    /// the tree no longer extends the newest checkpoint. Run it on a schedule: a checkpoint is
    /// written even when no event arrived, so silence shows. Exits 1 if a witness did not
    /// cosign (the checkpoint is written without its cosignature).
    Checkpoint {
        /// The log's signer key file from keygen.
        #[arg(long)]
        key: PathBuf,
        /// Where checkpoint files are kept (best: write-once storage the database cannot touch).
        #[arg(long)]
        dir: PathBuf,
        /// A witness: its URL prefix (http:// or https://, add-checkpoint is posted under it) and its .vkey
        /// file. Repeat for each witness.
        #[arg(long, value_name = "URL,VKEY_FILE")]
        witness: Vec<anchor::Cosigner>,
        /// A streaming standby (connection string) that must have replayed the head before it is
        /// signed, so that a failover to it never loses a signed checkpoint. Repeatable.
        #[arg(long, value_name = "URL")]
        replica: Vec<String>,
        /// A shard of sharded ingest (connection string). Repeat for each, in partition order:
        /// signs one combined checkpoint over every shard's head (named after the key) instead
        /// of the log of --database-url; every shard must answer and extend its head in the
        /// newest combined checkpoint in DIR, or nothing is written (docs/scaling.md).
        #[arg(long, value_name = "URL", conflicts_with_all = ["witness", "replica"])]
        shard: Vec<String>,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Checks every checkpoint in DIR (signatures, cosignatures, sequence, each extending the one
    /// before) and that the database still holds exactly the history each one signed; names
    /// truncation, rewriting, forgery and missing cosignatures. Exits 1 on any problem.
    Verify {
        #[arg(long)]
        dir: PathBuf,
        #[command(flatten)]
        keys: anchor::Keys,
        /// A shard (connection string): DIR holds combined checkpoints, and each shard given is
        /// checked against them. Repeat for each shard.
        #[arg(long, value_name = "URL")]
        shard: Vec<String>,
    },
    /// Prints a c2sp.org/tlog-proof that the event is in the log: its leaf, its inclusion proof
    /// and the newest checkpoint in DIR.
    Proof {
        event_id: uuid::Uuid,
        #[arg(long)]
        dir: PathBuf,
    },
    /// Checks a tlog-proof (from proof) without the database: the checkpoint's signatures and
    /// cosignatures, and the event's inclusion; with --event, that the row hashes to what was
    /// sealed. Says what it proves.
    VerifyProof {
        #[arg(long)]
        proof: PathBuf,
        #[command(flatten)]
        keys: anchor::Keys,
        /// The event's row, as `SELECT to_jsonb(e) FROM audit.all_events e WHERE event_id = ...`.
        #[arg(long, value_name = "ROW.json")]
        event: Option<PathBuf>,
    },
    /// Runs a c2sp.org/tlog-witness (POST /add-checkpoint): an auditor runs it on a machine the
    /// DBAs do not control, and it cosigns a log's checkpoint only if it extends the last one it
    /// cosigned, so the log cannot show a rewritten or forked history to some and not to others.
    Witness(witness::WitnessArgs),
    /// Streams sealed events in tree order as OCSF, RFC 5424 syslog or CEF lines, to stdout or a
    /// file, syslog over TCP or HTTP (Splunk HEC), from this consumer's durable cursor: a restart
    /// resumes where the last run stopped.
    Export(export::ExportArgs),
    /// POSTs every change of an alert (raised, folded, acknowledged, resolved) to a webhook, as
    /// JSON or Slack text, from this consumer's durable cursor; waits out database and webhook
    /// outages.
    Alerts(alerts::AlertsArgs),
    /// Per source of an audit vault: receiving or stopped, how far behind its source, verified
    /// up to which tree size, and any break. Exits 1 on a break or a stopped subscription.
    VaultStatus {
        /// A vault database (one per source); repeatable.
        #[arg(long, required = true)]
        vault: Vec<String>,
        /// The source of the --vault given in the same place, asked for its tree size.
        #[arg(long)]
        source: Vec<String>,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Some(ca) = &cli.db_ca_file {
        connection::trust(ca)?;
    }
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
        Command::Keygen {
            out,
            name,
            witness,
            from,
        } => anchor::keygen(&out, &name, witness, from.as_deref()),
        Command::Checkpoint {
            key,
            dir,
            witness,
            replica,
            shard,
            tls,
        } => {
            if !shard.is_empty() {
                let shards = connect_shards(&shard, "no combined checkpoint written").await?;
                return shards::checkpoint(&key, &dir, &shards).await;
            }
            let mut replicas = Vec::new();
            for r in &replica {
                let c = connect(r).await.with_context(|| {
                    format!("replica {r} cannot be reached: not signing a head it may lack")
                })?;
                replicas.push((r.as_str(), c));
            }
            anchor::checkpoint(&connect(url).await?, &key, &dir, &witness, &replicas, &tls).await
        }
        Command::Verify { dir, keys, shard } => {
            let problems = if shard.is_empty() {
                anchor::verify(&connect(url).await?, &dir, &keys).await?
            } else {
                let shards = connect_shards(&shard, "not verified").await?;
                shards::verify(&dir, &keys, &shards).await?
            };
            if problems.is_empty() {
                println!("all checkpoints verify, and the database holds the history they signed");
                return Ok(());
            }
            for p in &problems {
                println!("{p}");
            }
            std::process::exit(1);
        }
        Command::Proof { event_id, dir } => {
            let proof = anchor::proof(&connect(url).await?, event_id, &dir).await?;
            std::io::Write::write_all(&mut std::io::stdout(), &proof)?;
            Ok(())
        }
        Command::VerifyProof { proof, keys, event } => {
            println!("{}", anchor::verify_proof(&proof, &keys, event.as_deref())?);
            Ok(())
        }
        Command::Witness(args) => witness::serve(args).await,
        Command::Export(args) => export::run(url, args).await,
        Command::Alerts(args) => alerts::run(url, args).await,
        Command::VaultStatus { vault, source } => {
            anyhow::ensure!(
                source.len() <= vault.len(),
                "each --source names the source of the --vault in the same place"
            );
            let mut vaults = Vec::new();
            for v in vault {
                let c = connect(&v).await.with_context(|| format!("vault {v}"))?;
                vaults.push((v, c));
            }
            // A source that cannot be reached is reported, not fatal: the vault still answers.
            let mut sources = Vec::new();
            for s in &source {
                sources.push(match connect(s).await {
                    Ok(c) => Some(c),
                    Err(e) => {
                        println!("source {s} cannot be reached: {e:#}");
                        None
                    }
                });
            }
            if vault_status::report(&vaults, &sources).await? {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// A connection to every shard, or an error naming the first that does not answer.
async fn connect_shards<'a>(
    urls: &'a [String],
    consequence: &str,
) -> Result<Vec<(&'a str, tokio_postgres::Client)>> {
    let mut shards = Vec::new();
    for u in urls {
        let c = connect(u)
            .await
            .with_context(|| format!("shard {u} cannot be reached: {consequence}"))?;
        shards.push((u.as_str(), c));
    }
    Ok(shards)
}
