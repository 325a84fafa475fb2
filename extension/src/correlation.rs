//! `audit.correlation_metadata`: first and last event time, exact count, highest risk and the
//! parent link of every correlation, kept by the statement trigger on `audit.audit_events`.
//!
//! One upsert per correlation per statement: exact under concurrent writers (ON CONFLICT takes
//! the row lock), and rows are locked in correlation_id order so two multi-row writers cannot
//! deadlock. audit_log() writes one row per statement; it upserts that row from its own values
//! and the trigger leaves the statement alone, which spares the transition-table scan that cost
//! more than the upsert.

use crate::internal::with_internal;
use crate::spi_cache::prepared;
use auditlog_core::hash::StoredEvent;
use pgrx::datum::DatumWithOid;
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{SpiClient, SpiResult};
use pgrx::PgTrigger;
use std::cell::Cell;

macro_rules! rollup {
    ($select:literal) => {
        concat!(
            "INSERT INTO audit.correlation_metadata AS m
                (correlation_id, parent_correlation_id, created_at, first_event_time,
                 last_event_time, event_count, risk_score) ",
            $select,
            " ON CONFLICT (correlation_id) DO UPDATE SET
                parent_correlation_id = coalesce(m.parent_correlation_id, excluded.parent_correlation_id),
                first_event_time = least(m.first_event_time, excluded.first_event_time),
                last_event_time = greatest(m.last_event_time, excluded.last_event_time),
                event_count = m.event_count + excluded.event_count,
                risk_score = greatest(m.risk_score, excluded.risk_score)"
        )
    };
}

const FROM_STATEMENT: &str = rollup!(
    "SELECT correlation_id, min(parent_correlation_id), min(\"timestamp\"), min(\"timestamp\"),
            max(\"timestamp\"), count(*), coalesce(max((classification ->> 'risk_score')::int), 0)
       FROM new_events GROUP BY correlation_id ORDER BY correlation_id"
);
const FROM_EVENT: &str = rollup!("SELECT $1, $2, $3, $3, $3, 1, $4");

thread_local! {
    /// Set while audit_log() inserts an event it rolls up itself.
    static ROLLED_UP: Cell<bool> = const { Cell::new(false) };
}

/// The trigger's work: rolls up the statement's rows, unless audit_log() already did.
pub fn rollup_statement(trigger: &PgTrigger<'_>) -> SpiResult<()> {
    if ROLLED_UP.with(Cell::get) {
        return Ok(());
    }
    let data = trigger.trigger_data() as *const _ as *mut pg_sys::TriggerData;
    pgrx::spi::Spi::connect_mut(|client| {
        // Makes the transition table `new_events` visible to the query, as PL/pgSQL does.
        // SAFETY: the trigger data is valid for the duration of this call.
        unsafe { pg_sys::SPI_register_trigger_data(data) };
        let plan = prepared(client, FROM_STATEMENT, &[])?;
        with_internal(|| client.update(&*plan, None, &[]))?;
        Ok(())
    })
}

/// Runs `insert`, the statement that stores `e`, and rolls `e` up in its place.
pub fn insert_rolled_up(
    client: &mut SpiClient<'_>,
    e: &StoredEvent,
    risk_score: i32,
    insert: impl FnOnce(&mut SpiClient<'_>) -> SpiResult<()>,
) -> SpiResult<()> {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            ROLLED_UP.with(|r| r.set(self.0));
        }
    }
    {
        let _reset = Reset(ROLLED_UP.with(|r| r.replace(true)));
        insert(client)?;
    }
    let t = PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTOID);
    let types = [
        t,
        t,
        PgOid::BuiltIn(pg_sys::BuiltinOid::TIMESTAMPTZOID),
        PgOid::BuiltIn(pg_sys::BuiltinOid::INT4OID),
    ];
    let plan = prepared(client, FROM_EVENT, &types)?;
    let args: [DatumWithOid; 4] = [
        e.correlation_id.as_str().into(),
        e.parent_correlation_id.as_deref().into(),
        crate::store::unix_us_to_pg(e.timestamp_us).into(),
        risk_score.into(),
    ];
    with_internal(|| client.update(&*plan, None, &args))?;
    Ok(())
}
