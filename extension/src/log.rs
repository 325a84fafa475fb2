//! `audit_log(event_type, event_data, user_context)`: log one event.

use crate::{gucs, store, taxonomy};
use auditlog_core::context;
use auditlog_core::event::{self, NewEvent};
use pgrx::datum::JsonB;
use pgrx::prelude::*;
use serde_json::Value;

/// Logs one security event and returns its id. Classification, risk, enrichment, correlation,
/// integrity hash, field-access record and alert are all derived here, in one transaction with
/// the caller's: if the caller rolls back, the event is gone too (use the shim to avoid that).
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_log(
    event_type: Option<&str>,
    event_data: default!(Option<JsonB>, "'{}'"),
    user_context: default!(Option<JsonB>, "'{}'"),
    fcinfo: pg_sys::FunctionCallInfo,
) -> pgrx::datum::Uuid {
    let event_type = match event_type.map(str::trim) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => error!("audit_log: event_type must be a non-empty string"),
    };
    let event_data = match event_data.map(|j| j.0) {
        None => Value::Object(Default::default()),
        Some(v @ Value::Object(_)) => v,
        Some(other) => error!(
            "audit_log: event_data must be a JSON object, not {}",
            json_kind(&other)
        ),
    };
    let limit = gucs::MAX_EVENT_DATA_BYTES.get();
    let size = serde_json::to_string(&event_data)
        .map(|s| s.len())
        .unwrap_or(usize::MAX);
    if size > limit as usize {
        error!(
            "audit_log: event_data is {size} bytes, over the limit of {limit} bytes (auditlog.max_event_data_bytes)"
        );
    }
    // SAFETY: arguments 1 and 2 are this call's jsonb arguments; a SQL NULL reads as None.
    let given = unsafe {
        store::Given {
            event_data: pgrx::fcinfo::pg_getarg_datum(fcinfo, 1),
            user_context: pgrx::fcinfo::pg_getarg_datum(fcinfo, 2),
        }
    };
    let user_context = user_context.map(|j| j.0).unwrap_or(Value::Null);
    let (mut ctx, mut errors) = context::parse(&user_context);
    let user_context = if user_context.is_null() {
        Value::Object(Default::default())
    } else {
        user_context
    };

    let settings = gucs::settings();
    let now_us = store::pg_to_unix_us(
        // SAFETY: reads the clock.
        unsafe { pg_sys::GetCurrentTimestamp() }
            .try_into()
            .expect("the clock is within range"),
    );
    let event_id = uuid::Uuid::now_v7();
    Spi::connect_mut(|client| {
        if ctx.roles.is_none() || ctx.account_created_at.is_none() {
            if let (Some(function), Some(user)) = (gucs::user_context_function(), raw_user_id(&user_context)) {
                if let Some(found) = store::lookup_user(client, &function, &user)? {
                    context::fill_from_lookup(&mut ctx, &found, &mut errors);
                }
            }
        }
        for e in &errors {
            let what = if e.key == "user_context" { e.key.clone() } else { format!("user_context.{}", e.key) };
            warning!("audit_log: {what} is malformed ({}); the event is stored and the value kept in context_errors", e.error);
        }
        let taxonomy = taxonomy::answer(client, &event_type)?;
        let new = NewEvent { event_id, timestamp_us: now_us, event_type, event_data, user_context };
        let built = event::build(new, taxonomy, ctx, errors, &settings, gucs::ALERT_RISK_THRESHOLD.get());
        store::write(client, &built, &given)
    })
    .unwrap_or_else(|e| error!("audit_log: {e}"));
    pgrx::datum::Uuid::from_bytes(*event_id.as_bytes())
}

/// The caller's user id as text, for the lookup function (any scalar, even a non-integer one).
fn raw_user_id(ctx: &Value) -> Option<String> {
    match ctx.get("user_id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
