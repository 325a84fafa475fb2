//! Recomputing an event's integrity hash from its stored row, with the same core code that
//! computed it at insert time.

use crate::jsonb::StoredJsonb;
use crate::store::pg_to_unix_us;
use auditlog_core::hash::StoredEvent;
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

/// Called through `audit.event_integrity_hash(audit.audit_events)`; takes the columns one by one.
#[pg_extern(immutable, parallel_safe, schema = "audit")]
#[allow(clippy::too_many_arguments)]
fn compute_event_hash(
    event_id: pgrx::datum::Uuid,
    timestamp: TimestampWithTimeZone,
    event_type: &str,
    event_data: StoredJsonb,
    user_id: Option<i64>,
    session_id: Option<&str>,
    correlation_id: &str,
    parent_correlation_id: Option<&str>,
    ip_address: Option<&str>,
    user_agent: Option<&str>,
    user_context: StoredJsonb,
    status: &str,
    enrichment_data: StoredJsonb,
    classification: StoredJsonb,
    context_errors: Option<StoredJsonb>,
    hash_version: i16,
    created_at: TimestampWithTimeZone,
    updated_at: TimestampWithTimeZone,
) -> String {
    let e = StoredEvent {
        event_id: uuid::Uuid::from_bytes(*event_id.as_bytes()),
        timestamp_us: pg_to_unix_us(timestamp),
        event_type: event_type.to_string(),
        event_data: Some(event_data),
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
        user_context: Some(user_context),
        status: status.to_string(),
        enrichment_data: Some(enrichment_data),
        classification: Some(classification),
        context_errors,
        created_at_us: pg_to_unix_us(created_at),
        updated_at_us: pg_to_unix_us(updated_at),
        hash_version,
    };
    e.integrity_hash().unwrap_or_else(|msg| error!("{msg}"))
}

/// SHA-256 of the canonical classification, as sealed beside each event's hash.
#[pg_extern(immutable, parallel_safe, schema = "audit")]
fn classification_hash(classification: StoredJsonb) -> Vec<u8> {
    auditlog_core::seal::classification_hash(&classification).to_vec()
}
