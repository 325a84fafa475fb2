//! Time partitions of `audit.audit_events`, and archiving them whole.
//!
//! `audit_maintain_partitions()` makes the partition of the current period and
//! `auditlog.partitions_ahead` more (the background sealer calls it every minute; pg_cron can
//! too), and one for every period that has events waiting in the default partition, moving them
//! in. `archive_audit_logs()` moves whole partitions past the cutoff, all of whose events are
//! sealed, to `audit.audit_events_archive` by detach and attach: no row is copied.

use crate::gucs;
use crate::internal::with_internal;
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiResult};

/// "auditpar" in ASCII: serialises partition maintenance and archiving.
const PARTITION_LOCK: i64 = 0x6175_6469_7470_6172;

/// Every partition of the live and archive tables with its bounds in UTC (a default partition
/// has none and is left out). Bounds print in the session's TimeZone and are read back in it.
const BOUNDS: &str = "
    SELECT c.relname::text AS name, i.inhparent = 'audit.audit_events'::regclass AS live,
           CASE WHEN b LIKE 'FOR VALUES FROM (MINVALUE)%' THEN '-infinity'::timestamptz
                ELSE substring(b FROM 'FROM \\(''([^'']*)''\\)')::timestamptz END AS lo,
           CASE WHEN b LIKE '%TO (MAXVALUE)' THEN 'infinity'::timestamptz
                ELSE substring(b FROM 'TO \\(''([^'']*)''\\)')::timestamptz END AS hi
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      CROSS JOIN LATERAL pg_get_expr(c.relpartbound, c.oid) AS b
     WHERE i.inhparent IN ('audit.audit_events'::regclass, 'audit.audit_events_archive'::regclass)
       AND b <> 'DEFAULT'";

/// A bound as DDL takes it: MINVALUE, MAXVALUE or a quoted UTC time.
const BOUND_TEXT: &str = "CASE WHEN %1 = '-infinity' THEN 'MINVALUE' WHEN %1 = 'infinity' THEN 'MAXVALUE'
         ELSE quote_literal(to_char(%1 AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00') END";

fn bound_text(column: &str) -> String {
    BOUND_TEXT.replace("%1", column)
}

/// date_trunc's period, as an interval.
fn interval(period: &str) -> &'static str {
    match period {
        "day" => "1 day",
        "week" => "7 days",
        "quarter" => "3 months",
        "year" => "1 year",
        _ => "1 month",
    }
}

/// Runs `sql` and returns the rows' text columns.
fn texts(
    client: &mut SpiClient<'_>,
    sql: &str,
    args: &[pgrx::datum::DatumWithOid],
) -> SpiResult<Vec<Vec<String>>> {
    client
        .update(sql, None, args)?
        .map(|r| {
            (1..=r.columns())
                .map(|i| Ok(r.get::<String>(i)?.unwrap_or_default()))
                .collect()
        })
        .collect()
}

/// Makes the partitions wanted and not there; returns how many.
fn make_partitions(client: &mut SpiClient<'_>) -> SpiResult<i32> {
    let period = gucs::partition_period();
    let step = interval(&period);
    let wanted = format!(
        "WITH starts AS (
            SELECT date_trunc($1, (now() AT TIME ZONE 'UTC') + n * $2::interval) AS lo
              FROM generate_series(0, $3) n
            UNION
            SELECT date_trunc($1, \"timestamp\" AT TIME ZONE 'UTC') FROM audit.audit_events_default),
         ranges AS (
            SELECT to_char(lo, 'YYYYMMDD') AS suffix, lo AT TIME ZONE 'UTC' AS lo,
                   (lo + $2::interval) AT TIME ZONE 'UTC' AS hi
              FROM starts)
         SELECT r.suffix, {}, {}
           FROM ranges r
          WHERE NOT EXISTS (SELECT FROM ({BOUNDS}) p WHERE p.lo < r.hi AND r.lo < p.hi)
          ORDER BY r.lo",
        bound_text("r.lo"),
        bound_text("r.hi")
    );
    let args = [
        period.as_str().into(),
        step.into(),
        gucs::PARTITIONS_AHEAD.get().into(),
    ];
    let mut made = 0;
    for row in texts(client, &wanted, &args)? {
        let (suffix, from, to) = (&row[0], &row[1], &row[2]);
        let taken: Option<bool> = client
            .select(
                "SELECT to_regclass('audit.audit_events_p' || $1) IS NOT NULL",
                Some(1),
                &[suffix.as_str().into()],
            )?
            .first()
            .get(1)?;
        let name = if taken == Some(true) {
            format!("audit_events_p{suffix}_{period}")
        } else {
            format!("audit_events_p{suffix}")
        };
        let range = format!("\"timestamp\" >= {from} AND \"timestamp\" < {to}");
        client.update(
            &format!("CREATE TABLE audit.{name} (LIKE audit.audit_events)"),
            None,
            &[],
        )?;
        not_the_extensions(client, &name)?;
        client.update(
            &format!("SELECT audit.index_event_partition('audit.{name}')"),
            None,
            &[],
        )?;
        // Events that landed in the default partition move to theirs before it is attached.
        client.update(
            &format!(
                "INSERT INTO audit.{name} SELECT * FROM audit.audit_events_default WHERE {range}"
            ),
            None,
            &[],
        )?;
        with_internal(|| {
            client.update(
                &format!("DELETE FROM audit.audit_events_default WHERE {range}"),
                None,
                &[],
            )
        })?;
        client.update(&format!("ALTER TABLE audit.audit_events ATTACH PARTITION audit.{name} FOR VALUES FROM ({from}) TO ({to})"), None, &[])?;
        append_only(client, &name)?;
        made += 1;
    }
    Ok(made)
}

/// A partition holds the DBA's data, as the ones made later do: one made while CREATE (or ALTER)
/// EXTENSION runs must not become part of the extension, which pg_dump would leave out and DROP
/// EXTENSION would drop. (What ALTER EXTENSION ... DROP TABLE does, without its owner's check.)
fn not_the_extensions(client: &mut SpiClient<'_>, table: &str) -> SpiResult<()> {
    // SAFETY: a flag the backend sets while it runs an extension's script.
    if !unsafe { pg_sys::creating_extension } {
        return Ok(());
    }
    let oid: Option<pg_sys::Oid> = client
        .select(
            &format!("SELECT 'audit.{table}'::regclass::oid"),
            Some(1),
            &[],
        )?
        .first()
        .get(1)?;
    // SAFETY: removes the table's membership record, as ALTER EXTENSION ... DROP does.
    unsafe {
        pg_sys::deleteDependencyRecordsForClass(
            pg_sys::RelationRelationId,
            oid.expect("the table just made"),
            pg_sys::ExtensionRelationId,
            pg_sys::DependencyType::DEPENDENCY_EXTENSION as std::ffi::c_char,
        );
    }
    Ok(())
}

/// The append-only trigger every audit table has: statement triggers are not inherited, and a
/// partition can be changed directly.
pub fn append_only(client: &mut SpiClient<'_>, table: &str) -> SpiResult<()> {
    client.update(
        &format!(
            "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.{table}
                 FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()"
        ),
        None,
        &[],
    )?;
    client.update(
        &format!("ALTER TABLE audit.{table} ENABLE ALWAYS TRIGGER {table}_append_only"),
        None,
        &[],
    )?;
    Ok(())
}

/// Makes the partition of the current period and `auditlog.partitions_ahead` more, and one for
/// each period with events in the default partition (moving them in). Returns how many it made.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_maintain_partitions() -> i32 {
    Spi::connect_mut(|client| {
        client.update(
            "SELECT pg_advisory_xact_lock($1)",
            None,
            &[PARTITION_LOCK.into()],
        )?;
        make_partitions(client)
    })
    .unwrap_or_else(|e| error!("audit_maintain_partitions: {e}"))
}

/// The seed's archive_audit_logs(): moves the events older than `p_archive_before_days` days to
/// `audit.audit_events_archive` and returns how many moved. Whole partitions move, by detach and
/// attach, once every event in them is sealed; a partition that reaches past the cutoff waits
/// until it no longer does. Verification reads archived events as it reads live ones.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn archive_audit_logs(p_archive_before_days: default!(i32, 365)) -> i32 {
    crate::vault::audit::refuse_local_write("archive_audit_logs");
    if p_archive_before_days < 0 {
        error!("archive_audit_logs: p_archive_before_days must not be negative");
    }
    // Seal what is waiting, and give events in the default partition theirs, so that as much
    // as can move does.
    crate::seal::seal_audit_events();
    Spi::connect_mut(|client| {
        client.update("SELECT pg_advisory_xact_lock($1)", None, &[PARTITION_LOCK.into()])?;
        make_partitions(client)?;
        let due = format!(
            "SELECT p.name, {}, {},
                    EXISTS (SELECT FROM audit.unsealed_events u WHERE u.\"timestamp\" >= p.lo AND u.\"timestamp\" < p.hi)::text
               FROM ({BOUNDS}) p
              WHERE p.live AND p.hi <= now() - make_interval(days => $1)
              ORDER BY p.lo",
            bound_text("p.lo"),
            bound_text("p.hi")
        );
        let mut moved = 0;
        for row in texts(client, &due, &[p_archive_before_days.into()])? {
            let (name, from, to, unsealed) = (&row[0], &row[1], &row[2], &row[3]);
            if unsealed == "true" {
                notice!("archive_audit_logs: audit.{name} has events not sealed yet; it stays");
                continue;
            }
            let count: Option<i64> = client.select(&format!("SELECT count(*) FROM audit.{name}"), Some(1), &[])?.first().get(1)?;
            client.update(&format!("ALTER TABLE audit.audit_events DETACH PARTITION audit.{name}"), None, &[])?;
            client.update(&format!("ALTER TABLE audit.audit_events_archive ATTACH PARTITION audit.{name} FOR VALUES FROM ({from}) TO ({to})"), None, &[])?;
            moved += count.unwrap_or(0);
        }
        Ok::<_, pgrx::spi::Error>(i32::try_from(moved).unwrap_or(i32::MAX))
    })
    .unwrap_or_else(|e| error!("archive_audit_logs: {e}"))
}
