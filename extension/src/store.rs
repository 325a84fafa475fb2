//! The SQL that audit_log() runs: reading the taxonomy and the DBA's user lookup, and writing
//! the event, its field-access record and its alert.

use crate::spi_cache::prepared;
use auditlog_core::event::{Alert, Built, FieldAccess};
use pgrx::datum::{DatumWithOid, JsonB, TimestampWithTimeZone};
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{SpiClient, SpiResult};
use serde_json::Value;

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

/// The event, and its place in the queue the sealer empties (one statement: one executor start).
const INSERT_EVENT: &str = "
    WITH e AS (
        INSERT INTO audit.audit_events
            (event_id, \"timestamp\", event_type, event_data, user_id, session_id, correlation_id,
             parent_correlation_id, ip_address, user_agent, user_context, status, enrichment_data,
             classification, context_errors, integrity_hash, hash_version, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)
        RETURNING event_id, \"timestamp\")
    INSERT INTO audit.unsealed_events SELECT event_id, \"timestamp\", $20, $21 FROM e";

const INSERT_FIELD_ACCESS: &str = "
    INSERT INTO audit.field_access_audit
        (event_id, field_path, operation_type, resource_type, resource_id, field_sensitivity,
         encryption_key_version, access_granted, denial_reason, \"timestamp\")
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const INSERT_ALERT: &str = "
    INSERT INTO audit.audit_alerts
        (alert_id, correlation_id, alert_type, severity, title, description, alert_data, triggered_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

fn json_or_null(v: &Value) -> Option<JsonB> {
    (!v.is_null()).then(|| JsonB(v.clone()))
}

fn uuid(u: uuid::Uuid) -> pgrx::datum::Uuid {
    pgrx::datum::Uuid::from_bytes(*u.as_bytes())
}

/// The caller's own jsonb arguments, when they are what is stored: written as given, which saves
/// printing and re-parsing them.
#[derive(Default)]
pub struct Given {
    pub event_data: Option<pg_sys::Datum>,
    pub user_context: Option<pg_sys::Datum>,
}

fn jsonb_arg<'a>(given: Option<pg_sys::Datum>, value: &Value) -> DatumWithOid<'a> {
    match given {
        // SAFETY: a jsonb datum of the current call, alive until the call returns.
        Some(d) => unsafe { DatumWithOid::new(d, pg_sys::JSONBOID) },
        None => JsonB(value.clone()).into(),
    }
}

/// Writes every row one built event makes, then announces its alert.
pub fn write(client: &mut SpiClient<'_>, b: &Built, given: &Given) -> SpiResult<()> {
    let e = &b.event;
    let (t, j, u) = (
        oid(pg_sys::TEXTOID),
        oid(pg_sys::JSONBOID),
        oid(pg_sys::UUIDOID),
    );
    let ts = oid(pg_sys::TIMESTAMPTZOID);
    let plan = prepared(
        client,
        INSERT_EVENT,
        &[
            u,
            ts,
            t,
            j,
            oid(pg_sys::INT8OID),
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
            oid(pg_sys::INT2OID),
            ts,
            ts,
            oid(pg_sys::BYTEAOID),
            oid(pg_sys::BYTEAOID),
        ],
    )?;
    // What the seal will record for this event, computed here where the values are at hand.
    let event_hash = hex::decode(&b.integrity_hash).expect("a hex digest");
    let classification_hash = auditlog_core::seal::classification_hash(&e.classification).to_vec();
    let args: [DatumWithOid; 21] = [
        uuid(e.event_id).into(),
        unix_us_to_pg(e.timestamp_us).into(),
        e.event_type.as_str().into(),
        jsonb_arg(given.event_data, &e.event_data),
        e.user_id.into(),
        e.session_id.as_deref().into(),
        e.correlation_id.as_str().into(),
        e.parent_correlation_id.as_deref().into(),
        e.ip_address.as_deref().into(),
        e.user_agent.as_deref().into(),
        jsonb_arg(given.user_context, &e.user_context),
        e.status.as_str().into(),
        JsonB(e.enrichment_data.clone()).into(),
        JsonB(e.classification.clone()).into(),
        json_or_null(&e.context_errors).into(),
        b.integrity_hash.as_str().into(),
        e.hash_version.into(),
        unix_us_to_pg(e.created_at_us).into(),
        unix_us_to_pg(e.updated_at_us).into(),
        event_hash.into(),
        classification_hash.into(),
    ];
    crate::correlation::insert_rolled_up(client, e, b.classification.risk_score, |client| {
        client.update(&*plan, None, &args).map(drop)
    })?;
    if let Some(f) = &b.field_access {
        write_field_access(client, b, f)?;
    }
    if let Some(a) = &b.alert {
        write_alert(client, &e.correlation_id, a, e.timestamp_us)?;
    }
    Ok(())
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

/// Stores an alert raised at `at_us` and sends it on the alert channel.
pub fn write_alert(
    client: &mut SpiClient<'_>,
    correlation_id: &str,
    a: &Alert,
    at_us: i64,
) -> SpiResult<()> {
    let t = oid(pg_sys::TEXTOID);
    let plan = prepared(
        client,
        INSERT_ALERT,
        &[
            t,
            t,
            t,
            t,
            t,
            t,
            oid(pg_sys::JSONBOID),
            oid(pg_sys::TIMESTAMPTZOID),
        ],
    )?;
    let args: [DatumWithOid; 8] = [
        a.alert_id.as_str().into(),
        correlation_id.into(),
        a.alert_type.into(),
        a.severity.as_str().into(),
        a.title.as_str().into(),
        a.description.as_str().into(),
        JsonB(a.alert_data.clone()).into(),
        unix_us_to_pg(at_us).into(),
    ];
    client.update(&*plan, None, &args)?;
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
    let notify = prepared(client, "SELECT pg_notify($1, $2)", &[t, t])?;
    client.select(
        &*notify,
        None,
        &[
            crate::gucs::alert_channel().as_str().into(),
            payload.to_string().as_str().into(),
        ],
    )?;
    Ok(())
}
