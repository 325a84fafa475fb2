//! The triggers on the audit tables: append-only enforcement, and the invalidation of what
//! audit_log() caches.

#[pgrx::pg_schema]
pub mod audit {
    use crate::internal::is_internal;
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

    /// AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE, per statement, on the tables audit_log()
    /// caches in each backend (the taxonomy, the detection rules): tells every backend to drop
    /// its copy (see taxonomy.rs and detect.rs).
    #[pg_trigger]
    fn cached_table_changed<'a>(
        trigger: &'a pgrx::PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
        // SAFETY: a plain catalog call with the trigger's own table.
        unsafe { pg_sys::CacheInvalidateRelcacheByRelid(trigger.relid()?) };
        Ok(None)
    }
}
