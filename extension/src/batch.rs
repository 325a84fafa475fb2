//! `audit_log_batch(events text)`: many events in one call, each checked, built and written
//! exactly as audit_log() does. The shim's way in.
//!
//! Idempotent on event_id: an event whose id is already stored (a batch retried after a lost
//! commit acknowledgement) is reported `duplicate` and written nowhere. An event that fails its
//! checks is reported `refused` with the reason and the others are still logged. Lines are read
//! a chunk at a time, with one look-up of the stored ids per chunk, and each event is written
//! as soon as it is built: memory stays that of a chunk, however long the batch.

use crate::log::{prepare, Incoming};
use crate::{gucs, store};
use auditlog_core::ingest;
use pgrx::prelude::*;
use pgrx::PgMemoryContexts;
use std::collections::HashSet;

type Outcome = (i32, Option<pgrx::datum::Uuid>, &'static str, Option<String>);

/// Lines per look-up of the ids already stored.
const CHUNK: usize = 500;

/// One event per line, as `auditlog_core::ingest` reads them (blank lines skipped): `{"event_type",
/// "event_data", "user_context", "event_id", "timestamp"}`, the last two optional (a new UUIDv7;
/// now). Returns one row per event line: its line number, its id, `logged`, `duplicate` or
/// `refused`, and why refused.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_log_batch(
    events: &str,
) -> TableIterator<
    'static,
    (
        name!(line, i32),
        name!(event_id, Option<pgrx::datum::Uuid>),
        name!(outcome, &'static str),
        name!(error, Option<String>),
    ),
> {
    crate::vault::audit::refuse_local_write("audit_log_batch");
    let now_us = store::now_us();
    let settings = gucs::settings();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut seen = HashSet::new();
    let mut call = crate::detect::Call::default();
    let lines: Vec<(i32, &str)> = events
        .lines()
        .enumerate()
        .map(|(i, l)| (i as i32 + 1, l))
        .collect();
    Spi::connect_mut(|client| {
        let mut appender = crate::append::Appender::for_batch();
        let mut per_event = PgMemoryContexts::new("auditlog batch event");
        for chunk in lines.chunks(CHUNK) {
            let mut parsed = Vec::with_capacity(chunk.len());
            for &(line_no, line) in chunk {
                match ingest::parse_line(line) {
                    Ok(Some(line)) => {
                        let id = line.event_id.unwrap_or_else(uuid::Uuid::now_v7);
                        parsed.push((line_no, id, line));
                    }
                    Ok(None) => {}
                    Err(r) => {
                        outcomes.push((line_no, r.event_id.map(uuid), "refused", Some(r.reason)))
                    }
                }
            }
            let ids: Vec<uuid::Uuid> = parsed.iter().map(|p| p.1).collect();
            let stored = store::stored_ids(client, &ids)?;
            for (line_no, event_id, line) in parsed {
                if stored.contains(&event_id) || !seen.insert(event_id) {
                    outcomes.push((line_no, Some(uuid(event_id)), "duplicate", None));
                    continue;
                }
                let incoming = Incoming {
                    event_id,
                    timestamp_us: line.timestamp_us.unwrap_or(now_us),
                    event_type: Some(&line.event_type),
                    event_data: Some(line.event_data),
                    user_context: Some(line.user_context),
                };
                // SAFETY: what each event allocates is its own, freed once it is written.
                let outcome = unsafe {
                    per_event.switch_to(|_| {
                        Ok::<_, pgrx::spi::Error>(
                            match prepare(client, incoming, now_us, &settings, &mut call)? {
                                Ok(b) => {
                                    store::append_rows(&mut appender, &b, &store::Given::default());
                                    store::rows_visible();
                                    store::write_extras(client, &b)?;
                                    (line_no, Some(uuid(event_id)), "logged", None)
                                }
                                Err(refusal) => {
                                    (line_no, Some(uuid(event_id)), "refused", Some(refusal))
                                }
                            },
                        )
                    })?
                };
                // SAFETY: nothing the event allocated is used after it.
                unsafe { per_event.reset() };
                outcomes.push(outcome);
            }
        }
        appender.finish();
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(|e| error!("audit_log_batch: {e}"));
    outcomes.sort_by_key(|o| o.0);
    TableIterator::new(outcomes)
}

fn uuid(u: uuid::Uuid) -> pgrx::datum::Uuid {
    pgrx::datum::Uuid::from_bytes(*u.as_bytes())
}
