//! `audit_log(event_type, event_data, user_context)`: log one event.

use crate::jsonb::StoredJsonb;
use crate::{gucs, lookup, store, taxonomy};
use auditlog_core::context::{self, ContextError};
use auditlog_core::enrich::Settings;
use auditlog_core::event::{self, Built, NewEvent};
use auditlog_core::lookup::Answer;
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiResult};
use serde_json::Value;

/// Logs one security event and returns its id. Classification, risk, enrichment, correlation,
/// integrity hash, field-access record and alert are all derived here, in one transaction with
/// the caller's: if the caller rolls back, the event is gone too (use the shim to avoid that).
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_log(
    event_type: Option<&str>,
    event_data: default!(Option<StoredJsonb>, "'{}'"),
    user_context: default!(Option<StoredJsonb>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> pgrx::datum::Uuid {
    // SAFETY: arguments 1 and 2 are this call's jsonb arguments; a SQL NULL reads as None.
    let given = unsafe {
        store::Given {
            event_data: pgrx::fcinfo::pg_getarg_datum(fcinfo, 1),
            user_context: pgrx::fcinfo::pg_getarg_datum(fcinfo, 2),
        }
    };
    crate::vault::audit::refuse_local_write("audit_log");
    let now_us = store::now_us();
    let incoming = Incoming {
        event_id: uuid::Uuid::now_v7(),
        timestamp_us: now_us,
        event_type,
        event_data: event_data.map(|j| j.to_value()),
        user_context: user_context.map(|j| j.to_value()),
    };
    let event_id = incoming.event_id;
    Spi::connect_mut(|client| log_one(client, incoming, now_us, &given, "audit_log"))
        .unwrap_or_else(|e| error!("audit_log: {e}"));
    pgrx::datum::Uuid::from_bytes(*event_id.as_bytes())
}

/// Checks, builds and writes one event on its own; a refusal is an error that starts with
/// `context`.
pub fn log_one(
    client: &mut SpiClient<'_>,
    incoming: Incoming<'_>,
    now_us: i64,
    given: &store::Given,
    context: &str,
) -> SpiResult<()> {
    match prepare(
        client,
        incoming,
        now_us,
        &gucs::settings(),
        &mut Default::default(),
    )? {
        Ok(built) => store::write(client, &built, given),
        Err(refusal) => error!("{context}: {refusal}"),
    }
}

/// One event as a caller hands it in, before any check.
pub struct Incoming<'a> {
    pub event_id: uuid::Uuid,
    pub timestamp_us: i64,
    pub event_type: Option<&'a str>,
    pub event_data: Option<Value>,
    pub user_context: Option<Value>,
}

/// Checks and builds one event exactly as audit_log() does, for every way in. The inner error
/// is a refusal of this event alone, said plainly; the outer one an SPI failure.
/// `call` holds this call's detection windows where there are none in shared memory.
pub fn prepare(
    client: &mut SpiClient<'_>,
    incoming: Incoming<'_>,
    now_us: i64,
    settings: &Settings,
    call: &mut crate::detect::Call,
) -> SpiResult<Result<Built, String>> {
    let limit = gucs::MAX_EVENT_DATA_BYTES.get();
    let (event_type, event_data) = match event::check_input(
        incoming.event_type,
        incoming.event_data,
        Some(limit as usize),
    ) {
        Ok(checked) => checked,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let user_context = incoming.user_context.unwrap_or(Value::Null);
    let (mut ctx, mut errors) = context::parse(&user_context);
    let user_context = if user_context.is_null() {
        Value::Object(Default::default())
    } else {
        user_context
    };
    if ctx.roles.is_none() || ctx.account_created_at.is_none() {
        if let Some(user) = raw_user_id(&user_context) {
            match lookup::ask_user(&user) {
                Some(Answer::Found(found)) => {
                    context::fill_from_lookup(&mut ctx, &found, &mut errors)
                }
                Some(Answer::Failed(why)) => {
                    errors.push(ContextError::new("user_lookup", &Value::String(user), why))
                }
                Some(Answer::NotFound) | None => {}
            }
        }
    }
    // A failed lookup was warned about where it failed.
    for e in errors.iter().filter(|e| e.key != "user_lookup") {
        let what = if e.key == "user_context" {
            e.key.clone()
        } else {
            format!("user_context.{}", e.key)
        };
        warning!("audit_log: {what} is malformed ({}); the event is stored and the value kept in context_errors", e.error);
    }
    let found = lookup::ask_all(ctx.session_id.as_deref(), &event_data, ctx.ip_address);
    let taxonomy = taxonomy::answer(client, &event_type)?;
    let new = NewEvent {
        event_id: incoming.event_id,
        timestamp_us: incoming.timestamp_us,
        created_at_us: now_us,
        event_type,
        event_data,
        user_context,
    };
    let draft = event::build(new, taxonomy, ctx, errors, found, settings);
    let rules = crate::detect::rules(client)?;
    let fired = crate::detect::fired(client, call, &rules, &draft, now_us)?;
    let built = draft.seal(&fired, gucs::ALERT_RISK_THRESHOLD.get());
    Ok(Ok(built))
}

/// The caller's user id as text, for the lookup function (any scalar, even a non-integer one).
fn raw_user_id(ctx: &Value) -> Option<String> {
    match ctx.get("user_id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
