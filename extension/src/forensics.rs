//! `analyze_correlation_flow(correlation_id)`: the seed's flow analysis of one correlation (the
//! rules are in `auditlog_core::forensics`), over live and archived events. The other forensics
//! functions are plain SQL (sql/forensics.sql).

use crate::store::pg_to_unix_us;
use auditlog_core::forensics::{analyze, FlowEvent};
use pgrx::datum::{JsonB, TimestampWithTimeZone};
use pgrx::prelude::*;

#[pg_extern(stable)]
fn analyze_correlation_flow(p_correlation_id: &str) -> JsonB {
    let q = "SELECT \"timestamp\", event_type, user_id, session_id,
                    coalesce((classification ->> 'risk_score')::bigint, 0)
               FROM audit.all_events WHERE correlation_id = $1 ORDER BY \"timestamp\", event_id";
    let events = Spi::connect(|client| {
        client
            .select(q, None, &[p_correlation_id.into()])?
            .map(|r| {
                Ok(FlowEvent {
                    timestamp_us: pg_to_unix_us(
                        r.get::<TimestampWithTimeZone>(1)?.expect("NOT NULL"),
                    ),
                    event_type: r.get::<String>(2)?.unwrap_or_default(),
                    user_id: r.get::<i64>(3)?,
                    session_id: r.get::<String>(4)?,
                    risk_score: r.get::<i64>(5)?.unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .unwrap_or_else(|e| error!("analyze_correlation_flow: {e}"));
    JsonB(analyze(p_correlation_id, &events))
}
