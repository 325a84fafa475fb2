//! `audit.correlation_metadata` (seed 4.1): first and last event time, exact count, highest risk
//! and parent link of every correlation.
//!
//! Writers never touch a correlation's row. Each seal rolls the events it takes into
//! `audit.correlation_rollup` (one upsert per correlation, in correlation order), and the view
//! `audit.correlation_metadata` adds the events still waiting in the queue, so a reader sees every
//! committed event at once. A synchronous upsert per event cost a second write and, worse, held
//! the correlation's row lock until the writer committed, so concurrent writers of one
//! correlation waited on each other.

use crate::internal::with_internal;
use crate::store::unix_us_to_pg;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::spi::{SpiClient, SpiResult};
use std::collections::BTreeMap;

const ROLL_UP: &str = "
    INSERT INTO audit.correlation_rollup AS m
        (correlation_id, parent_correlation_id, created_at, first_event_time, last_event_time,
         event_count, risk_score)
    SELECT c, p, f, f, l, n, r
      FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::int8[], $6::int4[])
           AS u(c, p, f, l, n, r)
    ON CONFLICT (correlation_id) DO UPDATE SET
        parent_correlation_id = coalesce(m.parent_correlation_id, excluded.parent_correlation_id),
        first_event_time = least(m.first_event_time, excluded.first_event_time),
        last_event_time = greatest(m.last_event_time, excluded.last_event_time),
        event_count = m.event_count + excluded.event_count,
        risk_score = greatest(m.risk_score, excluded.risk_score)";

/// One queued event, as the roll-up needs it.
pub struct Queued {
    pub correlation_id: String,
    pub parent_correlation_id: Option<String>,
    pub at_us: i64,
    pub risk_score: i32,
}

#[derive(Default)]
struct Totals {
    parent: Option<String>,
    first_us: i64,
    last_us: i64,
    count: i64,
    risk: i32,
}

/// Adds `events` (taken from the queue by a seal) to their correlations' rows.
pub fn roll_up(client: &mut SpiClient<'_>, events: &[Queued]) -> SpiResult<()> {
    // Sorted by correlation: rows are locked in one order by every sealer.
    let mut totals: BTreeMap<&str, Totals> = BTreeMap::new();
    for e in events {
        let t = totals
            .entry(e.correlation_id.as_str())
            .or_insert_with(|| Totals {
                first_us: e.at_us,
                last_us: e.at_us,
                ..Totals::default()
            });
        // The least parent, as the view takes the least over the queue.
        t.parent = match (t.parent.take(), &e.parent_correlation_id) {
            (Some(a), Some(b)) => Some(a.min(b.clone())),
            (a, b) => a.or_else(|| b.clone()),
        };
        t.first_us = t.first_us.min(e.at_us);
        t.last_us = t.last_us.max(e.at_us);
        t.count += 1;
        t.risk = t.risk.max(e.risk_score);
    }
    if totals.is_empty() {
        return Ok(());
    }
    let ts = |us: i64| -> TimestampWithTimeZone { unix_us_to_pg(us) };
    let ids: Vec<&str> = totals.keys().copied().collect();
    let parents: Vec<Option<&str>> = totals.values().map(|t| t.parent.as_deref()).collect();
    let firsts: Vec<_> = totals.values().map(|t| ts(t.first_us)).collect();
    let lasts: Vec<_> = totals.values().map(|t| ts(t.last_us)).collect();
    let counts: Vec<i64> = totals.values().map(|t| t.count).collect();
    let risks: Vec<i32> = totals.values().map(|t| t.risk).collect();
    with_internal(|| {
        client.update(
            ROLL_UP,
            None,
            &[
                ids.into(),
                parents.into(),
                firsts.into(),
                lasts.into(),
                counts.into(),
                risks.into(),
            ],
        )
    })?;
    Ok(())
}
