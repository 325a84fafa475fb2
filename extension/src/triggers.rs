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
    const ROLLUP: &str = rollup!(
        "SELECT correlation_id, min(parent_correlation_id), min(\"timestamp\"), min(\"timestamp\"),
                max(\"timestamp\"), count(*), coalesce(max((classification ->> 'risk_score')::int), 0)
           FROM new_events GROUP BY correlation_id ORDER BY correlation_id"
    );
    /// The same for a one-row statement (every audit_log() call), without the grouping and sort
    /// whose set-up cost more than the upsert itself.
    const ROLLUP_ONE: &str = rollup!(
        "SELECT correlation_id, parent_correlation_id, \"timestamp\", \"timestamp\", \"timestamp\", 1,
                coalesce((classification ->> 'risk_score')::int, 0)
           FROM new_events"
    );

    /// AFTER INSERT ON audit.audit_events REFERENCING NEW TABLE AS new_events, per statement.
    #[pg_trigger]
    fn correlation_rollup<'a>(
        trigger: &'a pgrx::PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::spi::SpiError> {
        let data = trigger.trigger_data() as *const _ as *mut pg_sys::TriggerData;
        // SAFETY: the trigger data, and its transition table, are valid for this call.
        let rows = unsafe { pg_sys::tuplestore_tuple_count((*data).tg_newtable) };
        Spi::connect_mut(|client| {
            // Makes the transition table `new_events` visible to the query, as PL/pgSQL does.
            // SAFETY: as above.
            unsafe { pg_sys::SPI_register_trigger_data(data) };
            let plan = prepared(client, if rows == 1 { ROLLUP_ONE } else { ROLLUP }, &[])?;
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
