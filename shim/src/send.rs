//! `auditlog-shim send`: bulk import of an NDJSON file straight to the database, through the
//! same line reader and batch delivery as the server. An event without an id gets one derived
//! from its line, so sending the same file again logs nothing twice.

use crate::deliver::Deliverer;
use crate::ndjson::{self, Event, Ids};
use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, IsTerminal};
use std::time::Duration;

#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub logged: usize,
    pub duplicate: usize,
    /// Lines refused by the shim (malformed) or by the database.
    pub rejected: usize,
}

/// Imports `file` (`-`: standard input). Each bad line is reported on stderr with its number.
pub async fn send(
    url: &str,
    file: &str,
    batch_size: usize,
    max_line_bytes: usize,
) -> Result<Summary> {
    let (input, len): (Box<dyn BufRead + Send>, Option<u64>) = if file == "-" {
        (Box::new(std::io::BufReader::new(std::io::stdin())), None)
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {file}"))?;
        let len = f.metadata().ok().map(|m| m.len());
        (Box::new(std::io::BufReader::with_capacity(1 << 20, f)), len)
    };
    let bar = progress(len);
    // Reading and checking lines overlaps with the database's work on the previous batch.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<Event>, u64)>(2);
    let reader =
        tokio::task::spawn_blocking(move || read_batches(input, batch_size, max_line_bytes, tx));
    let mut deliverer = Deliverer::new(url, Duration::from_secs(30));
    let mut summary = Summary::default();
    while let Some((batch, bytes)) = rx.recv().await {
        let lines: Vec<&str> = batch.iter().map(|e| e.json.as_str()).collect();
        let d = deliverer.deliver(&lines).await;
        for (i, error) in &d.refused {
            bar.suspend(|| eprintln!("line {}: refused by PostgreSQL: {error}", batch[*i].line));
        }
        summary.logged += d.logged;
        summary.duplicate += d.duplicate;
        summary.rejected += d.refused.len();
        bar.inc(bytes);
        bar.set_message(format!("{} events logged", summary.logged));
    }
    summary.rejected += reader.await??;
    bar.finish_and_clear();
    Ok(summary)
}

fn progress(len: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    match len {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta} left)")
                .expect("a valid template"),
        ),
        None => ProgressBar::new_spinner(),
    }
}

/// Reads lines into batches of `batch_size` events; reports bad lines on stderr and returns
/// how many there were.
fn read_batches(
    mut input: Box<dyn BufRead + Send>,
    batch_size: usize,
    max_line_bytes: usize,
    tx: tokio::sync::mpsc::Sender<(Vec<Event>, u64)>,
) -> Result<usize> {
    let (mut batch, mut bytes, mut rejected) = (Vec::with_capacity(batch_size), 0u64, 0);
    let mut raw = Vec::new();
    for line_no in 1.. {
        raw.clear();
        let n = input
            .read_until(b'\n', &mut raw)
            .with_context(|| format!("reading line {line_no}"))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        let text = raw.strip_suffix(b"\n").unwrap_or(&raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        let now_us = chrono::Utc::now().timestamp_micros();
        match ndjson::decode_line(text, max_line_bytes, now_us, Ids::FromLine, line_no) {
            Ok(Some(e)) => batch.push(e),
            Ok(None) => {}
            Err(error) => {
                rejected += 1;
                eprintln!("line {line_no}: rejected: {error}");
            }
        }
        if batch.len() >= batch_size {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(batch_size));
            if tx
                .blocking_send((full, std::mem::take(&mut bytes)))
                .is_err()
            {
                break;
            }
        }
    }
    if !batch.is_empty() {
        let _ = tx.blocking_send((batch, bytes));
    }
    Ok(rejected)
}
