//! The triggers on the audit tables: append-only enforcement and the correlation rollup.

#[pgrx::pg_schema]
pub mod audit {
    use crate::internal::{is_internal, with_internal};
    use crate::spi_cache::prepared;
    use pgrx::prelude::*;

    /// BEFORE UPDATE OR DELETE OR TRUNCATE, per statement, `ENABLE ALWAYS`: refuses every change that
    /// does not come from the extension's own functions, whoever asks (the owner included) and
    /// whatever `session_replication_role` says.
    #[pg_trigger]
    fn refuse_change<'a>(
        trigger: &'a pgrx::PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
        if !is_internal() {
            let table = format!("{}.{}", trigger.table_schema()?, trigger.table_name()?);
            let op = trigger.op()?;
            ereport!(
                PgLogLevel::ERROR,
                PgSqlErrorCode::ERRCODE_INSUFFICIENT_PRIVILEGE,
                format!("{table} is append-only: {op} is not allowed"),
                "Audit rows change only through auditlog's own functions."
            );
        }
        Ok(None)
    }

    /// One upsert per correlation per statement: exact under concurrent writers (ON CONFLICT takes
    /// the row lock), and rows are locked in correlation_id order so two multi-row writers cannot
    /// deadlock on each other.
    const ROLLUP: &str = "
        INSERT INTO audit.correlation_metadata AS m
            (correlation_id, parent_correlation_id, created_at, first_event_time, last_event_time,
             event_count, risk_score)
        SELECT correlation_id, min(parent_correlation_id), min(\"timestamp\"), min(\"timestamp\"),
               max(\"timestamp\"), count(*), coalesce(max((classification ->> 'risk_score')::int), 0)
          FROM new_events
         GROUP BY correlation_id
         ORDER BY correlation_id
        ON CONFLICT (correlation_id) DO UPDATE SET
            parent_correlation_id = coalesce(m.parent_correlation_id, excluded.parent_correlation_id),
            first_event_time = least(m.first_event_time, excluded.first_event_time),
            last_event_time = greatest(m.last_event_time, excluded.last_event_time),
            event_count = m.event_count + excluded.event_count,
            risk_score = greatest(m.risk_score, excluded.risk_score)";

    /// AFTER INSERT ON audit.audit_events REFERENCING NEW TABLE AS new_events, per statement.
    #[pg_trigger]
    fn correlation_rollup<'a>(
        trigger: &'a pgrx::PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::spi::SpiError> {
        Spi::connect_mut(|client| {
            // Makes the transition table `new_events` visible to the query, as PL/pgSQL does.
            // SAFETY: the trigger data is valid for the duration of this call.
            unsafe {
                pg_sys::SPI_register_trigger_data(
                    trigger.trigger_data() as *const _ as *mut pg_sys::TriggerData
                )
            };
            let plan = prepared(client, ROLLUP, &[])?;
            with_internal(|| client.update(&*plan, None, &[]))?;
            Ok(None)
        })
    }

    /// AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit.event_types, per statement: tells
    /// every backend to drop its cached taxonomy (see taxonomy.rs).
    #[pg_trigger]
    fn taxonomy_changed<'a>(
        trigger: &'a pgrx::PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
        // SAFETY: a plain catalog call with the trigger's own table.
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relid()?) };
        Ok(None)
    }
}
