//! Erasure and retention: the only ways a stored event changes. Personal data leaves the row,
//! the row keeps its sealed integrity_hash, each redaction is recorded with the hash of what is
//! left, and the request is logged as an audit event carrying the digest of its records (see
//! `auditlog_core::redact`), so the chain and every checkpoint still verify.

use crate::internal::with_internal;
use crate::log::{log_one, Incoming};
use crate::store;
use auditlog_core::redact::{digest, Record};
use pgrx::datum::{TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiResult};
use serde_json::{json, Value};

/// What redaction removes: who, where from and what the event said. What happened, when, in
/// which correlation and how it was classified stay. Returns each row's id, time, sealed hash
/// and the hash of what is left.
macro_rules! redact_in {
    ($table:literal) => {
        concat!(
            "UPDATE ",
            $table,
            " e SET event_data = '{}', user_id = NULL, session_id = NULL, ip_address = NULL,
                     user_agent = NULL, user_context = '{}', status = 'redacted',
                     enrichment_data = '{}', context_errors = NULL, updated_at = $3
              WHERE (e.event_id, e.\"timestamp\") IN (SELECT * FROM unnest($1::uuid[], $2::timestamptz[]))
             RETURNING e.event_id, e.integrity_hash, audit.compute_event_hash(
                 e.event_id, e.\"timestamp\", e.event_type, e.event_data, e.user_id, e.session_id,
                 e.correlation_id, e.parent_correlation_id, host(e.ip_address), e.user_agent,
                 e.user_context, e.status, e.enrichment_data, e.classification, e.context_errors,
                 e.hash_version, e.created_at, e.updated_at)"
        )
    };
}

/// Redacts the events `which` selects from `audit.all_events e` (not yet redacted), records it,
/// and logs the request as `event_type`. Returns how many events it redacted.
fn redact(
    client: &mut SpiClient<'_>,
    which: &str,
    args: &[pgrx::datum::DatumWithOid],
    event_type: &str,
    request: Value,
    reason: &str,
) -> SpiResult<i32> {
    let targets = client
        .select(
            &format!(
                "SELECT e.event_id, e.\"timestamp\" FROM audit.all_events e
                  WHERE ({which})
                    AND NOT EXISTS (SELECT FROM audit.redactions r WHERE r.event_id = e.event_id)"
            ),
            None,
            args,
        )?
        .map(|r| {
            Ok((
                r.get::<Uuid>(1)?.expect("NOT NULL"),
                r.get::<TimestampWithTimeZone>(2)?.expect("NOT NULL"),
            ))
        })
        .collect::<SpiResult<Vec<_>>>()?;
    if targets.is_empty() {
        return Ok(0);
    }
    let now_us = store::now_us();
    let (ids, times): (Vec<Uuid>, Vec<TimestampWithTimeZone>) = targets.into_iter().unzip();
    let mut records = Vec::new();
    for table in [
        redact_in!("audit.audit_events"),
        redact_in!("audit.audit_events_archive"),
    ] {
        let rows = with_internal(|| {
            client.update(
                table,
                None,
                &[
                    ids.clone().into(),
                    times.clone().into(),
                    store::unix_us_to_pg(now_us).into(),
                ],
            )
        })?;
        for r in rows {
            records.push(Record {
                event_id: uuid::Uuid::from_bytes(*r.get::<Uuid>(1)?.expect("NOT NULL").as_bytes()),
                original_hash: r.get::<String>(2)?.unwrap_or_default(),
                redacted_hash: r.get::<String>(3)?.unwrap_or_default(),
            });
        }
    }
    // Alerts repeat the actor of their event (detection rules name the address too).
    with_internal(|| {
        client.update(
            "UPDATE audit.audit_alerts SET alert_data = alert_data - 'user_id' - 'ip_address'
              WHERE alert_data ->> 'event_id' = ANY (SELECT unnest($1::uuid[])::text)",
            None,
            &[ids.clone().into()],
        )
    })?;

    // The request, as an audit event of its own: who asked, why, and the digest that binds
    // the records below into the chain once it is sealed.
    let requested_by: String = client
        .select("SELECT session_user::text", Some(1), &[])?
        .first()
        .get(1)?
        .unwrap_or_default();
    let mut data = request;
    data["reason"] = reason.into();
    data["requested_by"] = requested_by.as_str().into();
    data["events_redacted"] = records.len().into();
    data["redactions_digest"] = digest(&records).into();
    let recording = uuid::Uuid::now_v7();
    let incoming = Incoming {
        event_id: recording,
        timestamp_us: now_us,
        event_type: Some(event_type),
        event_data: Some(data),
        user_context: Some(json!({"correlation_id": format!("REDACTION_{recording}")})),
    };
    log_one(
        client,
        incoming,
        now_us,
        &store::Given::default(),
        "the redaction's own audit event was refused",
    )?;
    let uuids = |f: fn(&Record) -> uuid::Uuid| {
        records
            .iter()
            .map(|r| Uuid::from_bytes(*f(r).as_bytes()))
            .collect::<Vec<_>>()
    };
    let texts =
        |f: fn(&Record) -> &String| records.iter().map(|r| f(r).clone()).collect::<Vec<_>>();
    client.update(
        "INSERT INTO audit.redactions
              (event_id, \"timestamp\", redacted_at, requested_by, reason, original_hash, redacted_hash, redaction_event_id)
         SELECT r.event_id, i.ts, $4, $5, $6, r.original_hash, r.redacted_hash, $7
           FROM unnest($1::uuid[], $2::text[], $3::text[]) AS r(event_id, original_hash, redacted_hash)
           JOIN unnest($8::uuid[], $9::timestamptz[]) AS i(event_id, ts) USING (event_id)",
        None,
        &[
            uuids(|r| r.event_id).into(),
            texts(|r| &r.original_hash).into(),
            texts(|r| &r.redacted_hash).into(),
            store::unix_us_to_pg(now_us).into(),
            requested_by.as_str().into(),
            reason.into(),
            Uuid::from_bytes(*recording.as_bytes()).into(),
            ids.into(),
            times.into(),
        ],
    )?;
    Ok(records.len() as i32)
}

fn reason_given(reason: &str) -> &str {
    if reason.trim().is_empty() {
        error!("a redaction needs its reason");
    }
    reason
}

/// Erasure on request: removes the personal data of one stored event, keeps it verifiable, and
/// logs the request (`privacy.gdpr.request`) with who asked and why. Returns 1, or 0 when the
/// event was already redacted; an unknown event is an error.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn redact_audit_event(p_event_id: Uuid, p_reason: &str) -> i32 {
    crate::vault::audit::refuse_local_write("redact_audit_event");
    let reason = reason_given(p_reason);
    Spi::connect_mut(|client| {
        let known: Option<bool> = client
            .select(
                "SELECT EXISTS (SELECT FROM audit.event_ids WHERE event_id = $1)",
                Some(1),
                &[p_event_id.into()],
            )?
            .first()
            .get(1)?;
        if known != Some(true) {
            error!("redact_audit_event: no event {p_event_id}");
        }
        let request = json!({"action": "redact event", "event_id": p_event_id.to_string()});
        redact(
            client,
            "e.event_id = $1",
            &[p_event_id.into()],
            "privacy.gdpr.request",
            request,
            reason,
        )
    })
    .unwrap_or_else(|e| error!("redact_audit_event: {e}"))
}

/// Erasure for a data subject: redacts every stored event of `p_user_id`, as redact_audit_event()
/// does one. Returns how many.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn redact_user_audit_events(p_user_id: i64, p_reason: &str) -> i32 {
    crate::vault::audit::refuse_local_write("redact_user_audit_events");
    let reason = reason_given(p_reason);
    Spi::connect_mut(|client| {
        let request =
            json!({"action": "redact a data subject's events", "subject_user_id": p_user_id});
        redact(
            client,
            "e.user_id = $1",
            &[p_user_id.into()],
            "privacy.gdpr.request",
            request,
            reason,
        )
    })
    .unwrap_or_else(|e| error!("redact_user_audit_events: {e}"))
}

/// Retention by class: removes the payload of every event older than the retention period its
/// classification recorded (the taxonomy's, in days), keeping what verification needs. The purge
/// is logged as `privacy.data.anonymized`. Returns how many events it purged.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn purge_expired_audit_events() -> i32 {
    crate::vault::audit::refuse_local_write("purge_expired_audit_events");
    Spi::connect_mut(|client| {
        let request = json!({"action": "retention purge"});
        redact(
            client,
            "e.\"timestamp\" < now() - make_interval(days => (e.classification ->> 'retention_period')::int)
             AND e.status <> 'redacted'",
            &[],
            "privacy.data.anonymized",
            request,
            "retention period passed",
        )
    })
    .unwrap_or_else(|e| error!("purge_expired_audit_events: {e}"))
}
