//! The SQL that audit_log() runs: reading the taxonomy and the DBA's user lookup, and writing
//! the event, its field-access record and its alert.

use crate::jsonb::BuiltJsonb;
use crate::spi_cache::prepared;
use auditlog_core::event::{Alert, Built, FieldAccess};
use pgrx::datum::{DatumWithOid, IntoDatum, JsonB, TimestampWithTimeZone};
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

/// Calls the DBA's `auditlog.user_context_function` for one user.
pub fn lookup_user(
    client: &SpiClient<'_>,
    function: &str,
    user_id: &str,
) -> SpiResult<Option<Value>> {
    let plan = prepared(
        client,
        "SELECT to_regproc($1)::oid::regprocedure::text",
        &[oid(pg_sys::TEXTOID)],
    )?;
    let signature: Option<String> = client
        .select(&*plan, Some(1), &[function.into()])?
        .first()
        .get(1)?;
    let Some(signature) = signature else {
        pgrx::error!(
            "auditlog.user_context_function names \"{function}\", which is not a function \
             (name it with its schema: audit_log() runs with search_path audit, pg_catalog)"
        );
    };
    let name = signature.split('(').next().unwrap_or_default();
    let call = format!("SELECT {name}($1::text)::jsonb");
    let plan = prepared(client, &call, &[oid(pg_sys::TEXTOID)])?;
    Ok(client
        .select(&*plan, Some(1), &[user_id.into()])?
        .first()
        .get::<JsonB>(1)?
        .map(|j| j.0))
}

/// Every stored column of an event, in the table's order.
macro_rules! event_columns {
    () => {
        "event_id, \"timestamp\", event_type, event_data, user_id, session_id, correlation_id,
         parent_correlation_id, ip_address, user_agent, user_context, status, enrichment_data,
         classification, context_errors, integrity_hash, hash_version, created_at, updated_at"
    };
}

/// Many events at once, each column bound as an array. An id already in the registry is skipped
/// (a retried batch), and the ids written come back.
const INSERT_EVENTS: &str = concat!(
    "WITH input AS (
        SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::jsonb[], $5::int8[],
                             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                             $11::jsonb[], $12::text[], $13::jsonb[], $14::jsonb[], $15::jsonb[],
                             $16::text[], $17::int2[], $18::timestamptz[], $19::timestamptz[],
                             $20::bytea[], $21::bytea[], $22::int4[])
               AS i(",
    event_columns!(),
    ", event_hash, classification_hash, risk_score)),
     ids AS (
        INSERT INTO audit.event_ids SELECT event_id, \"timestamp\" FROM input
        ON CONFLICT (event_id) DO NOTHING
        RETURNING event_id),
     e AS (
        INSERT INTO audit.audit_events (",
    event_columns!(),
    ")
        SELECT event_id, \"timestamp\", event_type, event_data, user_id, session_id,
               correlation_id, parent_correlation_id, ip_address::inet, user_agent, user_context,
               status, enrichment_data, classification, context_errors, integrity_hash,
               hash_version, created_at, updated_at
          FROM input WHERE event_id IN (SELECT event_id FROM ids)
        RETURNING event_id, \"timestamp\")
    INSERT INTO audit.unsealed_events
    SELECT e.event_id, e.\"timestamp\", i.event_hash, i.classification_hash, i.correlation_id,
           i.parent_correlation_id, i.risk_score
      FROM e JOIN input i USING (event_id)
    RETURNING event_id"
);

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
fn datum<T: IntoDatum>(v: T) -> (pg_sys::Datum, bool) {
    v.into_datum()
        .map_or((pg_sys::Datum::from(0), true), |d| (d, false))
}

/// Appends rows given as (datum, null) pairs, in the table's column order.
fn append(table: pg_sys::Oid, row: &[(pg_sys::Datum, bool)], partition_key: Option<i64>) {
    let (mut values, mut nulls): (Vec<_>, Vec<_>) = row.iter().copied().unzip();
    // SAFETY: the datums are this call's, of each column's type, in column order.
    unsafe { crate::append::append(table, &mut values, &mut nulls, partition_key) }
}

/// Writes every row one built event makes: its id in the registry of ids, the event in its
/// partition, its place in the queue the sealer empties (what the seal records, and what the
/// correlation roll-up needs); then its field-access record and alert.
pub fn write(client: &mut SpiClient<'_>, b: &Built, given: &Given) -> SpiResult<()> {
    let e = &b.event;
    let [events, ids, queue, _] = crate::append::tables();
    let jsonb = |given: Option<pg_sys::Datum>, v: &Value| match given {
        Some(d) => (d, false),
        None => datum(BuiltJsonb::new(v)),
    };
    let (id, at) = (datum(uuid(e.event_id)), datum(unix_us_to_pg(e.timestamp_us)));
    let correlation = datum(e.correlation_id.as_str());
    let parent = datum(e.parent_correlation_id.as_deref());
    let (event_hash, classification_hash) = seal_hashes(b);
    append(ids, &[id, at], None);
    append(
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
    // As a statement would: what follows in this transaction sees the rows.
    // SAFETY: a plain call between commands.
    unsafe { pg_sys::CommandCounterIncrement() };
    write_extras(client, b)
}

/// What the seal will record for an event beside its id: the integrity hash and the
/// classification hash, computed here where the values are at hand.
fn seal_hashes(b: &Built) -> (Vec<u8>, Vec<u8>) {
    let event_hash = hex::decode(&b.integrity_hash).expect("a hex digest");
    (event_hash, b.classification_hash.to_vec())
}

/// The field-access record and the alert an event brings, if any.
fn write_extras(client: &mut SpiClient<'_>, b: &Built) -> SpiResult<()> {
    if let Some(f) = &b.field_access {
        write_field_access(client, b, f)?;
    }
    for a in b.alert.iter().chain(&b.rule_alerts) {
        write_alert(client, &b.event.correlation_id, a, b.event.timestamp_us)?;
    }
    Ok(())
}

/// Writes `events` with one INSERT (each column an array) and returns the ids it stored; an id
/// already in the table is left alone, with no field-access record or alert a second time.
pub fn write_many(client: &mut SpiClient<'_>, events: &[&Built]) -> SpiResult<HashSet<uuid::Uuid>> {
    if events.is_empty() {
        return Ok(HashSet::new());
    }
    fn column<T: IntoDatum>(events: &[&Built], f: impl Fn(&Built) -> T) -> DatumWithOid<'static> {
        events.iter().map(|b| f(b)).collect::<Vec<T>>().into()
    }
    let hashes: Vec<(Vec<u8>, Vec<u8>)> = events.iter().map(|b| seal_hashes(b)).collect();
    let args: [DatumWithOid; 22] = [
        column(events, |b| uuid(b.event.event_id)),
        column(events, |b| unix_us_to_pg(b.event.timestamp_us)),
        column(events, |b| b.event.event_type.clone()),
        column(events, |b| BuiltJsonb::new(&b.event.event_data)),
        column(events, |b| b.event.user_id),
        column(events, |b| b.event.session_id.clone()),
        column(events, |b| b.event.correlation_id.clone()),
        column(events, |b| b.event.parent_correlation_id.clone()),
        column(events, |b| b.event.ip_address.clone()),
        column(events, |b| b.event.user_agent.clone()),
        column(events, |b| BuiltJsonb::new(&b.event.user_context)),
        column(events, |b| b.event.status.clone()),
        column(events, |b| BuiltJsonb::new(&b.event.enrichment_data)),
        column(events, |b| BuiltJsonb::new(&b.event.classification)),
        column(events, |b| jsonb_or_null(&b.event.context_errors)),
        column(events, |b| b.integrity_hash.clone()),
        column(events, |b| b.event.hash_version),
        column(events, |b| unix_us_to_pg(b.event.created_at_us)),
        column(events, |b| unix_us_to_pg(b.event.updated_at_us)),
        hashes
            .iter()
            .map(|h| h.0.clone())
            .collect::<Vec<_>>()
            .into(),
        hashes
            .iter()
            .map(|h| h.1.clone())
            .collect::<Vec<_>>()
            .into(),
        column(events, |b| b.classification.risk_score),
    ];
    let a = |o| oid(o);
    let (t, j) = (a(pg_sys::TEXTARRAYOID), a(pg_sys::JSONBARRAYOID));
    let ts = a(pg_sys::TIMESTAMPTZARRAYOID);
    let bytea = a(pg_sys::BYTEAARRAYOID);
    let types = [
        a(pg_sys::UUIDARRAYOID),
        ts,
        t,
        j,
        a(pg_sys::INT8ARRAYOID),
        t,
        t,
        t,
        t,
        t,
        j,
        t,
        j,
        j,
        j,
        t,
        a(pg_sys::INT2ARRAYOID),
        ts,
        ts,
        bytea,
        bytea,
        a(pg_sys::INT4ARRAYOID),
    ];
    let plan = prepared(client, INSERT_EVENTS, &types)?;
    let written = client
        .update(&*plan, None, &args)?
        .map(|r| {
            r.get::<pgrx::datum::Uuid>(1)
                .map(|u| uuid::Uuid::from_bytes(*u.expect("NOT NULL").as_bytes()))
        })
        .collect::<SpiResult<HashSet<_>>>()?;
    for b in events
        .iter()
        .filter(|b| written.contains(&b.event.event_id))
    {
        write_extras(client, b)?;
    }
    Ok(written)
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
    UPDATE audit.audit_alerts SET occurrences = occurrences + 1, last_triggered_at = $4
     WHERE alert_type = $1 AND correlation_id = $2 AND title = $3 AND status = 'open'
       AND coalesce(last_triggered_at, triggered_at) > $4 - make_interval(secs => $5)
    RETURNING alert_id";

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
    let [_, _, _, alerts] = crate::append::tables();
    let none = (pg_sys::Datum::from(0), true);
    append(
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
