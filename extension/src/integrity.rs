//! Recomputing an event's integrity hash from its stored row, with the same core code that
//! computed it at insert time.

use crate::store::pg_to_unix_us;
use auditlog_core::hash::StoredEvent;
use pgrx::datum::{JsonB, TimestampWithTimeZone};
use pgrx::prelude::*;
use serde_json::Value;

/// Called through `audit.event_integrity_hash(audit.audit_events)`; takes the columns one by one.
#[pg_extern(immutable, parallel_safe, schema = "audit")]
#[allow(clippy::too_many_arguments)]
fn compute_event_hash(
    event_id: pgrx::datum::Uuid,
    timestamp: TimestampWithTimeZone,
    event_type: &str,
    event_data: JsonB,
    user_id: Option<i64>,
    session_id: Option<&str>,
    correlation_id: &str,
    parent_correlation_id: Option<&str>,
    ip_address: Option<&str>,
    user_agent: Option<&str>,
    user_context: JsonB,
    status: &str,
    enrichment_data: JsonB,
    classification: JsonB,
    context_errors: Option<JsonB>,
    hash_version: i16,
    created_at: TimestampWithTimeZone,
    updated_at: TimestampWithTimeZone,
) -> String {
    let e = StoredEvent {
        event_id: uuid::Uuid::from_bytes(*event_id.as_bytes()),
        timestamp_us: pg_to_unix_us(timestamp),
        event_type: event_type.to_string(),
        event_data: event_data.0,
        user_id,
        session_id: session_id.map(String::from),
        correlation_id: correlation_id.to_string(),
        parent_correlation_id: parent_correlation_id.map(String::from),
        // inet's text is canonicalised the way the insert wrote it.
        ip_address: ip_address.map(|ip| {
            ip.parse::<std::net::IpAddr>()
                .map(|a| a.to_string())
                .unwrap_or(ip.to_string())
        }),
        user_agent: user_agent.map(String::from),
        user_context: user_context.0,
        status: status.to_string(),
        enrichment_data: enrichment_data.0,
        classification: classification.0,
        context_errors: context_errors.map(|j| j.0).unwrap_or(Value::Null),
        created_at_us: pg_to_unix_us(created_at),
        updated_at_us: pg_to_unix_us(updated_at),
        hash_version,
    };
    e.integrity_hash().unwrap_or_else(|msg| error!("{msg}"))
}

/// SHA-256 of the canonical classification, as sealed beside each event's hash.
#[pg_extern(immutable, parallel_safe, schema = "audit")]
fn classification_hash(classification: JsonB) -> Vec<u8> {
    auditlog_core::seal::classification_hash(&classification.0).to_vec()
}
