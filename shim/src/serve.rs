//! `auditlog-shim serve`: HTTP in, spool, batches out.
//!
//! `POST /v1/events` answers only once every accepted event is fsynced to the spool; a delivery
//! task then sends the spool to PostgreSQL in batches (a size or a timeout, as the seed's
//! collector) and moves the spool's cursor past what committed. Responses (JSON):
//! - 202 `{"accepted": [{"line": 1, "event_id": "…"}, …], "rejected": []}`: all lines accepted;
//! - 400, same shape, `rejected: [{"line": 2, "error": "…"}]`: the accepted ones are durable,
//!   the rejected ones are not kept; also `{"error": …}` for an empty body;
//! - 413 for a body over `--max-body-bytes`; 415 for another content type than
//!   `application/json` (one event) or `application/x-ndjson` (one per line; also
//!   `application/ndjson`, `application/jsonl`);
//! - 503 with `Retry-After` when the spool holds `--max-queue` events or cannot be written:
//!   nothing of that request was accepted.

use crate::deliver::Deliverer;
use crate::metrics::Metrics;
use crate::ndjson::{self, Decoded, Ids};
use crate::otlp;
use crate::spool::{Frame, Pos, Spool};
use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

#[derive(clap::Args, Clone, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default: put a TLS proxy in front to expose it).
    #[arg(long, env = "AUDITLOG_LISTEN", default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Directory of the spool, where every acknowledged event waits until PostgreSQL commits it,
    /// and of dead-letter.ndjson, where events PostgreSQL refused are kept with the reason.
    #[arg(long, env = "AUDITLOG_SPOOL_DIR", default_value = "auditlog-spool")]
    pub spool_dir: PathBuf,
    /// Events per batch sent to PostgreSQL (one transaction each).
    #[arg(long, env = "AUDITLOG_BATCH_SIZE", default_value_t = 100)]
    pub batch_size: usize,
    /// Database connections delivering batches at once.
    #[arg(long, env = "AUDITLOG_CONNECTIONS", default_value_t = 2)]
    pub connections: usize,
    /// Milliseconds a batch waits to fill before it is sent anyway.
    #[arg(long, env = "AUDITLOG_BATCH_TIMEOUT_MS", default_value_t = 5000)]
    pub batch_timeout_ms: u64,
    /// Events acknowledged but not yet committed beyond which requests get 503 and Retry-After.
    #[arg(long, env = "AUDITLOG_MAX_QUEUE", default_value_t = 1_000_000)]
    pub max_queue: u64,
    /// Longest line (one event) accepted, in bytes.
    #[arg(long, env = "AUDITLOG_MAX_LINE_BYTES", default_value_t = 1 << 20)]
    pub max_line_bytes: usize,
    /// Largest request body, in bytes (413 above it).
    #[arg(long, env = "AUDITLOG_MAX_BODY_BYTES", default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Seconds to keep delivering after SIGTERM or SIGINT; what is left stays in the spool for
    /// the next start.
    #[arg(long, env = "AUDITLOG_DRAIN_SECONDS", default_value_t = 30)]
    pub drain_seconds: u64,
    /// Longest wait between retries while PostgreSQL is unreachable, in seconds.
    #[arg(long, env = "AUDITLOG_MAX_BACKOFF_SECONDS", default_value_t = 30)]
    pub max_backoff_seconds: u64,
    /// Spool segment size in bytes; a segment is deleted once all its events are committed.
    #[arg(long, env = "AUDITLOG_SEGMENT_BYTES", default_value_t = 64 << 20)]
    pub segment_bytes: u64,
}

struct App {
    spool: Arc<Spool>,
    metrics: Arc<Metrics>,
    args: ServeArgs,
}

/// Runs until SIGTERM or SIGINT, then drains and returns.
pub async fn serve(url: &str, args: ServeArgs) -> Result<()> {
    let (spool, from) = Spool::open(&args.spool_dir, args.segment_bytes)?;
    let spool = Arc::new(spool);
    let metrics = Arc::new(Metrics::default());
    let (drain_tx, drain) = watch::channel(false);
    let delivery = tokio::spawn(deliver_loop(
        spool.clone(),
        from,
        url.to_string(),
        args.clone(),
        metrics.clone(),
        drain,
    ));
    let app = Arc::new(App {
        spool: spool.clone(),
        metrics,
        args: args.clone(),
    });
    let router = Router::new()
        .route("/v1/events", post(post_events))
        .route("/v1/logs", post(post_logs))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .layer(DefaultBodyLimit::max(args.max_body_bytes))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    eprintln!(
        "auditlog-shim: listening on {}, spool {} ({} events waiting)",
        listener.local_addr()?,
        args.spool_dir.display(),
        spool.pending()
    );
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal(
            "auditlog-shim: stopping: no new requests, delivering what is spooled",
        ))
        .await?;
    // Accepting has stopped and answered requests are spooled: deliver what can be in time.
    let deadline = Instant::now() + Duration::from_secs(args.drain_seconds);
    drain_tx.send_replace(true);
    while spool.pending() > 0 && Instant::now() < deadline && !delivery.is_finished() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if delivery.is_finished() {
        delivery.await??;
    }
    eprintln!(
        "auditlog-shim: stopped; {} events left in the spool for the next start",
        spool.pending()
    );
    Ok(())
}

/// Resolves on SIGTERM or SIGINT, saying `stopping`.
pub(crate) async fn shutdown_signal(stopping: &str) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("{stopping}");
}

/// Sends the spool to the database from `from` until told to drain and nothing is left: a reader
/// cuts batches, `--connections` workers deliver them concurrently, and the spool's cursor moves
/// past each batch once it and every batch before it are committed.
async fn deliver_loop(
    spool: Arc<Spool>,
    from: Pos,
    url: String,
    args: ServeArgs,
    metrics: Arc<Metrics>,
    drain: watch::Receiver<bool>,
) -> Result<()> {
    let workers = args.connections.max(1);
    let (batches_tx, batches_rx) = tokio::sync::mpsc::channel::<(u64, Vec<Frame>)>(workers);
    let batches_rx = Arc::new(tokio::sync::Mutex::new(batches_rx));
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<Result<(u64, Pos, u64)>>();
    let mut reader = spool.reader(from);
    let (size, timeout) = (
        args.batch_size.max(1),
        Duration::from_millis(args.batch_timeout_ms),
    );
    let cutter = tokio::spawn(async move {
        for seq in 0.. {
            let batch = reader.next_batch(size, timeout, &drain).await?;
            if batch.is_empty() || batches_tx.send((seq, batch)).await.is_err() {
                return Ok::<_, anyhow::Error>(());
            }
        }
        Ok(())
    });
    for _ in 0..workers {
        let (batches_rx, done_tx, metrics) = (batches_rx.clone(), done_tx.clone(), metrics.clone());
        let mut deliverer = Deliverer::new(&url, Duration::from_secs(args.max_backoff_seconds));
        let dead_letter = args.spool_dir.join("dead-letter.ndjson");
        tokio::spawn(async move {
            loop {
                let Some((seq, batch)) = batches_rx.lock().await.recv().await else {
                    return;
                };
                let result = deliver_batch(&mut deliverer, &batch, &dead_letter, &metrics).await;
                let upto = batch.last().expect("batches are never empty").next;
                let _ = done_tx.send(result.map(|()| (seq, upto, batch.len() as u64)));
            }
        });
    }
    drop(done_tx);
    // Batches finish in any order; the cursor only moves over an unbroken run of them.
    let (mut next, mut finished) = (0, std::collections::BTreeMap::new());
    while let Some(done) = done_rx.recv().await {
        let (seq, upto, frames) = done?;
        finished.insert(seq, (upto, frames));
        while let Some((upto, frames)) = finished.remove(&next) {
            spool.acknowledge(upto, frames)?;
            next += 1;
        }
    }
    cutter.await?
}

async fn deliver_batch(
    deliverer: &mut Deliverer,
    batch: &[Frame],
    dead_letter: &std::path::Path,
    metrics: &Metrics,
) -> Result<()> {
    let lines = batch
        .iter()
        .map(|f| std::str::from_utf8(&f.payload))
        .collect::<Result<Vec<_>, _>>()
        .context("a spooled event is not UTF-8")?;
    let started = Instant::now();
    let d = deliverer.deliver(&lines).await;
    for (i, error) in &d.refused {
        write_dead_letter(dead_letter, lines[*i], error, "PostgreSQL")?;
    }
    metrics
        .batch_seconds
        .observe(started.elapsed().as_secs_f64());
    metrics.batch_size.observe(lines.len() as f64);
    metrics.delivered.inc_by(d.logged as u64);
    metrics.duplicates.inc_by(d.duplicate as u64);
    metrics.dead_lettered.inc_by(d.refused.len() as u64);
    metrics.retried.inc_by(d.retried as u64);
    Ok(())
}

/// Appends one refused event with the reason, fsynced before the spool lets go of it (or before
/// the answer that refuses it); `by` says who refused it.
fn write_dead_letter(path: &std::path::Path, line: &str, error: &str, by: &str) -> Result<()> {
    let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| line.into());
    let entry = json!({
        "dead_lettered_at": chrono::Utc::now().to_rfc3339(),
        "error": error,
        "event": event,
    });
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{entry}")?;
    f.sync_data()?;
    eprintln!(
        "auditlog-shim: {by} refused an event ({error}); kept in {}",
        path.display()
    );
    Ok(())
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The request's media type, lowercased, without parameters.
fn media_type(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// 503 with Retry-After: nothing of the request was taken.
fn unavailable(message: String, retry_after: &'static str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(header::RETRY_AFTER, retry_after.parse().unwrap());
    r
}

/// Refuses the whole request while the spool is full.
fn refuse_when_full(app: &App) -> Result<(), Response> {
    if app.spool.pending() < app.args.max_queue {
        return Ok(());
    }
    app.metrics.refused_requests.inc();
    Err(unavailable(
        format!(
            "{} events are waiting for PostgreSQL; try again shortly",
            app.spool.pending()
        ),
        "1",
    ))
}

/// Spools the accepted events (fsynced before this returns) and counts what was decoded.
async fn spool(app: &App, decoded: &Decoded) -> Result<(), Response> {
    app.metrics.rejected.inc_by(decoded.rejected.len() as u64);
    app.metrics.received.inc_by(decoded.events.len() as u64);
    if decoded.events.is_empty() {
        return Ok(());
    }
    let payloads = decoded
        .events
        .iter()
        .map(|e| e.json.clone().into_bytes())
        .collect();
    if let Err(e) = app.spool.append(payloads).await {
        return Err(unavailable(
            format!("the spool could not be written ({e}); nothing of this request was accepted"),
            "5",
        ));
    }
    app.metrics.spooled.inc_by(decoded.events.len() as u64);
    Ok(())
}

async fn post_events(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let media = media_type(&headers);
    let single = match media.as_deref() {
        Some("application/json") => true,
        Some("application/x-ndjson" | "application/ndjson" | "application/jsonl") => false,
        other => {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "content type {} is not accepted: send application/json (one event) or application/x-ndjson (one event per line)",
                    other.unwrap_or("(none)")
                ),
            )
        }
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return error(StatusCode::BAD_REQUEST, "empty body: no event in it".into());
    }
    if let Err(r) = refuse_when_full(&app) {
        return r;
    }
    let now_us = chrono::Utc::now().timestamp_micros();
    let max_line = app.args.max_line_bytes;
    let decoded = if single {
        let mut d = Decoded::default();
        match ndjson::decode_line(&body, max_line, now_us, Ids::New, 1) {
            Ok(Some(e)) => d.events.push(e),
            Ok(None) => {}
            Err(error) => d.rejected.push(ndjson::Rejected { line: 1, error }),
        }
        d
    } else {
        ndjson::decode(&body, max_line, now_us, Ids::New, 1)
    };
    if let Err(r) = spool(&app, &decoded).await {
        return r;
    }
    let status = if decoded.rejected.is_empty() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::BAD_REQUEST
    };
    let accepted: Vec<_> = decoded
        .events
        .iter()
        .map(|e| json!({"line": e.line, "event_id": e.event_id}))
        .collect();
    let rejected: Vec<_> = decoded
        .rejected
        .iter()
        .map(|r| json!({"line": r.line, "error": r.error}))
        .collect();
    (
        status,
        Json(json!({ "accepted": accepted, "rejected": rejected })),
    )
        .into_response()
}

/// OTLP/HTTP logs (`otlp.rs`): audit records are spooled as `/v1/events` spools lines. The
/// exporter does not resend what a partial success refused, so refused records go to the dead
/// letters with the reason, fsynced before the answer.
async fn post_logs(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let media = media_type(&headers);
    let Some(encoding) = media.as_deref().and_then(otlp::Encoding::from_media) else {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "content type {} is not accepted: OTLP/HTTP is application/x-protobuf or application/json",
                media.as_deref().unwrap_or("(none)")
            ),
        );
    };
    let request = match otlp::decode(&body, encoding) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    if let Err(r) = refuse_when_full(&app) {
        return r;
    }
    let now_us = chrono::Utc::now().timestamp_micros();
    let records = otlp::records(&request);
    let mut decoded = Decoded::default();
    let mut refused = Vec::new();
    for (i, record) in records.audit.into_iter().enumerate() {
        // A record with its own time is the same line when an exporter retries the request, so
        // its id comes from its bytes and the retry is a duplicate, not a second event.
        let result = record.and_then(|r| {
            let ids = if r.repeatable {
                Ids::FromLine
            } else {
                Ids::New
            };
            match ndjson::decode_line(
                r.line.as_bytes(),
                app.args.max_line_bytes,
                now_us,
                ids,
                i + 1,
            ) {
                Ok(Some(e)) => Ok(e),
                Ok(None) => unreachable!("an audit record's line is never blank"),
                Err(why) => Err((r.line, why)),
            }
        });
        match result {
            Ok(e) => decoded.events.push(e),
            Err(r) => refused.push((i + 1, r)),
        }
    }
    let dead_letter = app.args.spool_dir.join("dead-letter.ndjson");
    let mut why = Vec::new();
    for (n, (as_json, reason)) in &refused {
        decoded.rejected.push(ndjson::Rejected {
            line: *n,
            error: reason.clone(),
        });
        if let Err(e) = write_dead_letter(&dead_letter, as_json, reason, "the OTLP reader") {
            return unavailable(format!("a refused record could not be kept ({e}); nothing of this request was accepted"), "5");
        }
        why.push(format!(
            "audit record {n}: {reason} (kept in dead-letter.ndjson)"
        ));
    }
    if let Err(r) = spool(&app, &decoded).await {
        return r;
    }
    if records.not_audit > 0 {
        app.metrics.not_audit.inc_by(records.not_audit as u64);
        why.push(format!(
            "{} log records without the attribute audit.event_type are not audit events and were not logged",
            records.not_audit
        ));
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.media())],
        otlp::response(refused.len(), &why, encoding),
    )
        .into_response()
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    Json(json!({"status": "ok", "queue_depth": app.spool.pending()})).into_response()
}

async fn metrics_text(State(app): State<Arc<App>>) -> Response {
    app.metrics.queue_depth.set(app.spool.pending() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        app.metrics.render(),
    )
        .into_response()
}
