//! `audit_log_batch(events text)`: many events in one call, each checked and built exactly as
//! audit_log() builds it, written with one INSERT for the lot. The shim's way in.
//!
//! Idempotent on event_id: an event whose id is already stored (a batch retried after a lost
//! commit acknowledgement) is reported `duplicate` and written nowhere. An event that fails its
//! checks is reported `refused` with the reason and the others are still logged.

use crate::log::{prepare, Incoming};
use crate::{gucs, store};
use auditlog_core::event::Built;
use auditlog_core::ingest;
use pgrx::prelude::*;
use std::collections::HashSet;

type Outcome = (i32, Option<pgrx::datum::Uuid>, &'static str, Option<String>);

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
    let now_us = store::now_us();
    let settings = gucs::settings();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut built: Vec<(i32, Built)> = Vec::new();
    let mut seen = HashSet::new();
    let mut call = crate::detect::Call::for_batch();
    Spi::connect_mut(|client| {
        for (i, line) in events.lines().enumerate() {
            let line_no = i as i32 + 1;
            let line = match ingest::parse_line(line) {
                Ok(Some(line)) => line,
                Ok(None) => continue,
                Err(r) => {
                    outcomes.push((line_no, r.event_id.map(uuid), "refused", Some(r.reason)));
                    continue;
                }
            };
            let event_id = line.event_id.unwrap_or_else(uuid::Uuid::now_v7);
            if !seen.insert(event_id) {
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
            match prepare(client, incoming, now_us, &settings, &mut call)? {
                Ok(b) => built.push((line_no, b)),
                Err(refusal) => {
                    outcomes.push((line_no, Some(uuid(event_id)), "refused", Some(refusal)))
                }
            }
        }
        let events: Vec<&Built> = built.iter().map(|(_, b)| b).collect();
        let logged = store::write_many(client, &events)?;
        for (line_no, b) in &built {
            let id = b.event.event_id;
            let outcome = if logged.contains(&id) {
                "logged"
            } else {
                "duplicate"
            };
            outcomes.push((*line_no, Some(uuid(id)), outcome, None));
        }
        Ok::<_, pgrx::spi::Error>(())
    })
    .unwrap_or_else(|e| error!("audit_log_batch: {e}"));
    outcomes.sort_by_key(|o| o.0);
    TableIterator::new(outcomes)
}

fn uuid(u: uuid::Uuid) -> pgrx::datum::Uuid {
    pgrx::datum::Uuid::from_bytes(*u.as_bytes())
}
