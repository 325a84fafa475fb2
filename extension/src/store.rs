//! The SQL that audit_log() runs: reading the taxonomy and the DBA's user lookup, and writing
//! the event, its field-access record and its alert.

use crate::append::Appender;
use crate::jsonb::BuiltJsonb;
use crate::spi_cache::prepared;
use auditlog_core::event::{Alert, Built, FieldAccess};
use pgrx::datum::{DatumWithOid, IntoDatum, TimestampWithTimeZone};
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{SpiClient, SpiResult};
use serde_json::Value;
use std::collections::HashSet;

/// Microseconds between the Unix epoch and Postgres's epoch (2000-01-01).
const PG_EPOCH_OFFSET_US: i64 = 946_684_800_000_000;

pub fn unix_us_to_pg(us: i64) -> TimestampWithTimeZone {
    TimestampWithTimeZone::try_from(us - PG_EPOCH_OFFSET_US)
        .expect("timestamp within Postgres's range")
}

/// The current time (not the transaction's), in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    // SAFETY: reads the clock.
    pg_to_unix_us(
        unsafe { pg_sys::GetCurrentTimestamp() }
            .try_into()
            .expect("the clock is within range"),
    )
}

pub fn pg_to_unix_us(ts: TimestampWithTimeZone) -> i64 {
    pg_sys::TimestampTz::from(ts) + PG_EPOCH_OFFSET_US
}

fn oid(o: pg_sys::Oid) -> PgOid {
    PgOid::BuiltIn(o.try_into().expect("built-in type"))
}

const INSERT_FIELD_ACCESS: &str = "
    INSERT INTO audit.field_access_audit
        (event_id, field_path, operation_type, resource_type, resource_id, field_sensitivity,
         encryption_key_version, access_granted, denial_reason, \"timestamp\")
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// A JSON column that may be SQL NULL (context_errors), as jsonb built without text.
fn jsonb_or_null(v: &Value) -> Option<BuiltJsonb> {
    (!v.is_null()).then(|| BuiltJsonb::new(v))
}

fn uuid(u: uuid::Uuid) -> pgrx::datum::Uuid {
    pgrx::datum::Uuid::from_bytes(*u.as_bytes())
}

/// The caller's own jsonb arguments, when they are what is stored: written as given, which saves
/// printing and re-parsing them (datums of the current call, alive until it returns).
#[derive(Default)]
pub struct Given {
    pub event_data: Option<pg_sys::Datum>,
    pub user_context: Option<pg_sys::Datum>,
}

/// A value as a datum and whether it is null, for `crate::append`.
pub fn datum<T: IntoDatum>(v: T) -> (pg_sys::Datum, bool) {
    v.into_datum()
        .map_or((pg_sys::Datum::from(0), true), |d| (d, false))
}

/// Appends a row given as (datum, null) pairs, in the table's column order.
pub fn append(
    appender: &mut Appender,
    table: pg_sys::Oid,
    row: &[(pg_sys::Datum, bool)],
    partition_key: Option<i64>,
) {
    let (mut values, mut nulls): (Vec<_>, Vec<_>) = row.iter().copied().unzip();
    // SAFETY: the datums are this call's, of each column's type, in column order.
    unsafe { appender.append(table, &mut values, &mut nulls, partition_key) }
}

/// Appends the three rows every event makes: its id in the registry of ids, the event in its
/// partition, its place in the queue the sealer empties (what the seal records, and what the
/// correlation roll-up needs). What follows in the transaction sees them only after a
/// CommandCounterIncrement.
pub fn append_rows(appender: &mut Appender, b: &Built, given: &Given) {
    let e = &b.event;
    let [events, ids, queue, _, _] = crate::append::tables();
    let jsonb = |given: Option<pg_sys::Datum>, v: &Value| match given {
        Some(d) => (d, false),
        None => datum(BuiltJsonb::new(v)),
    };
    let (id, at) = (
        datum(uuid(e.event_id)),
        datum(unix_us_to_pg(e.timestamp_us)),
    );
    let correlation = datum(e.correlation_id.as_str());
    let parent = datum(e.parent_correlation_id.as_deref());
    let (event_hash, classification_hash) = seal_hashes(b);
    append(appender, ids, &[id, at], None);
    append(
        appender,
        events,
        &[
            id,
            at,
            datum(e.event_type.as_str()),
            jsonb(given.event_data, &e.event_data),
            datum(e.user_id),
            datum(e.session_id.as_deref()),
            correlation,
            parent,
            datum(e.ip_address.clone().map(pgrx::datum::Inet)),
            datum(e.user_agent.as_deref()),
            jsonb(given.user_context, &e.user_context),
            datum(e.status.as_str()),
            datum(BuiltJsonb::new(&e.enrichment_data)),
            datum(BuiltJsonb::new(&e.classification)),
            datum(jsonb_or_null(&e.context_errors)),
            datum(b.integrity_hash.as_str()),
            datum(e.hash_version),
            datum(unix_us_to_pg(e.created_at_us)),
            datum(unix_us_to_pg(e.updated_at_us)),
        ],
        Some(e.timestamp_us - PG_EPOCH_OFFSET_US),
    );
    append(
        appender,
        queue,
        &[
            id,
            at,
            datum(event_hash),
            datum(classification_hash),
            correlation,
            parent,
            datum(b.classification.risk_score),
        ],
        None,
    );
}

/// As a statement would: what follows in this transaction sees the rows appended.
pub fn rows_visible() {
    // SAFETY: a plain call between commands.
    unsafe { pg_sys::CommandCounterIncrement() };
}

/// Writes every row one built event makes, then its field-access record and alert.
pub fn write(client: &mut SpiClient<'_>, b: &Built, given: &Given) -> SpiResult<()> {
    let mut appender = Appender::new();
    append_rows(&mut appender, b, given);
    appender.finish();
    rows_visible();
    write_extras(client, b)
}

/// What the seal will record for an event beside its id: the integrity hash and the
/// classification hash, computed here where the values are at hand.
fn seal_hashes(b: &Built) -> (Vec<u8>, Vec<u8>) {
    let event_hash = hex::decode(&b.integrity_hash).expect("a hex digest");
    (event_hash, b.classification_hash.to_vec())
}

/// The field-access record and the alert an event brings, if any.
pub fn write_extras(client: &mut SpiClient<'_>, b: &Built) -> SpiResult<()> {
    if let Some(f) = &b.field_access {
        write_field_access(client, b, f)?;
    }
    for a in b.alert.iter().chain(&b.rule_alerts) {
        write_alert(client, &b.event.correlation_id, a, b.event.timestamp_us)?;
    }
    Ok(())
}

/// Which of `ids` are stored already (a batch retried after a lost acknowledgement). Were another
/// session to store one of them meanwhile, its unique index refuses the batch, retried whole.
pub fn stored_ids(client: &SpiClient<'_>, ids: &[uuid::Uuid]) -> SpiResult<HashSet<uuid::Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let plan = prepared(
        client,
        "SELECT event_id FROM audit.event_ids WHERE event_id = ANY ($1)",
        &[oid(pg_sys::UUIDARRAYOID)],
    )?;
    let ids: Vec<pgrx::datum::Uuid> = ids.iter().map(|u| uuid(*u)).collect();
    client
        .select(&*plan, None, &[ids.into()])?
        .map(|r| {
            r.get::<pgrx::datum::Uuid>(1)
                .map(|u| uuid::Uuid::from_bytes(*u.expect("NOT NULL").as_bytes()))
        })
        .collect()
}

fn write_field_access(client: &mut SpiClient<'_>, b: &Built, f: &FieldAccess) -> SpiResult<()> {
    let t = oid(pg_sys::TEXTOID);
    let types = [
        oid(pg_sys::UUIDOID),
        t,
        t,
        t,
        oid(pg_sys::INT8OID),
        t,
        t,
        oid(pg_sys::BOOLOID),
        t,
        oid(pg_sys::TIMESTAMPTZOID),
    ];
    let plan = prepared(client, INSERT_FIELD_ACCESS, &types)?;
    let args: [DatumWithOid; 10] = [
        uuid(b.event.event_id).into(),
        f.field_path.as_str().into(),
        f.operation_type.into(),
        f.resource_type.as_str().into(),
        f.resource_id.into(),
        f.field_sensitivity.as_str().into(),
        f.encryption_key_version.as_deref().into(),
        f.access_granted.into(),
        f.denial_reason.as_deref().into(),
        unix_us_to_pg(b.event.timestamp_us).into(),
    ];
    client.update(&*plan, None, &args)?;
    Ok(())
}

/// An open alert of the same cause (type, correlation, title) raised within the fold window
/// takes the new occurrence instead of a new row.
const FOLD_ALERT: &str = "
    WITH folded AS (
        UPDATE audit.audit_alerts SET occurrences = occurrences + 1, last_triggered_at = $4
         WHERE alert_type = $1 AND correlation_id = $2 AND title = $3 AND status = 'open'
           AND coalesce(last_triggered_at, triggered_at) > $4 - make_interval(secs => $5)
        RETURNING alert_id, status, occurrences),
    change AS (
        INSERT INTO audit.alert_changes (alert_id, change, status, occurrences)
        SELECT alert_id, 'folded', status, occurrences FROM folded)
    SELECT alert_id FROM folded";

/// A new alert's first change (audit.alert_changes).
const RAISED: &str = "
    INSERT INTO audit.alert_changes (alert_id, change, status, occurrences)
    VALUES ($1, 'raised', 'open', 1)";

/// Stores an alert raised at `at_us` and sends it on the alert channel, or folds it into the
/// open alert of the same cause (no second notification).
pub fn write_alert(
    client: &mut SpiClient<'_>,
    correlation_id: &str,
    a: &Alert,
    at_us: i64,
) -> SpiResult<()> {
    let t = oid(pg_sys::TEXTOID);
    let ts = oid(pg_sys::TIMESTAMPTZOID);
    let fold = prepared(client, FOLD_ALERT, &[t, t, t, ts, oid(pg_sys::INT4OID)])?;
    let fold_args: [DatumWithOid; 5] = [
        a.alert_type.into(),
        correlation_id.into(),
        a.title.as_str().into(),
        unix_us_to_pg(at_us).into(),
        crate::gucs::ALERT_FOLD_WINDOW.get().into(),
    ];
    if !crate::internal::with_internal(|| client.update(&*fold, None, &fold_args))?.is_empty() {
        return Ok(());
    }
    let [_, _, _, alerts, _] = crate::append::tables();
    let none = (pg_sys::Datum::from(0), true);
    let mut appender = Appender::new();
    append(
        &mut appender,
        alerts,
        &[
            datum(a.alert_id.as_str()),
            datum(correlation_id),
            datum(a.alert_type),
            datum(a.severity.as_str()),
            datum(a.title.as_str()),
            datum(a.description.as_str()),
            datum(BuiltJsonb::new(&a.alert_data)),
            datum(unix_us_to_pg(at_us)),
            none, // acknowledged_at
            none, // acknowledged_by
            none, // resolved_at
            none, // resolved_by
            none, // resolution_notes
            datum("open"),
            datum(1i32), // occurrences
            none,        // last_triggered_at
            none,        // acknowledgement_notes
        ],
        None,
    );
    appender.finish();
    let raised = prepared(client, RAISED, &[t])?;
    client.update(&*raised, None, &[a.alert_id.as_str().into()])?;
    // The NOTIFY payload is the alert row as JSON, small enough for NOTIFY's 8000-byte limit.
    let payload = serde_json::json!({
        "alert_id": a.alert_id,
        "correlation_id": correlation_id,
        "alert_type": a.alert_type,
        "severity": a.severity,
        "title": a.title,
        "description": a.description,
        "alert_data": a.alert_data,
        "status": "open",
    });
    // SAFETY: pg_notify(text, text) called directly, with two text datums.
    unsafe {
        pgrx::direct_function_call_as_datum(
            pg_sys::pg_notify,
            &[
                crate::gucs::alert_channel().into_datum(),
                payload.to_string().into_datum(),
            ],
        )
    };
    Ok(())
}
