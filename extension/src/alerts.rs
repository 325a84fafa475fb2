//! The alert lifecycle (seed `audit_alerts`): acknowledge and resolve, with who and notes. The
//! only changes an alert takes besides folding a repeat of its cause into its count; each is
//! recorded in `audit.alert_changes` with the update.

use crate::internal::with_internal;
use pgrx::datum::JsonB;
use pgrx::prelude::*;

/// Moves an alert from one of `from` to `to`, setting the given columns; returns the alert as
/// it is after, or says why it cannot.
fn transition(
    alert_id: &str,
    from: &[&str],
    to: &str,
    set: &str,
    args: Vec<pgrx::datum::DatumWithOid>,
) -> JsonB {
    Spi::connect_mut(|client| {
        let found = client.update(
            "SELECT status FROM audit.audit_alerts WHERE alert_id = $1 FOR UPDATE",
            Some(1),
            &[alert_id.into()],
        )?;
        let status: Option<String> = if found.is_empty() {
            None
        } else {
            found.first().get(1)?
        };
        match status {
            None => error!("no alert {alert_id}"),
            Some(s) if !from.contains(&s.as_str()) => {
                error!("alert {alert_id} is {s}; it cannot become {to}")
            }
            Some(_) => {}
        }
        let mut all = vec![alert_id.into(), to.into()];
        all.extend(args);
        let row = with_internal(|| {
            client.update(
                &format!(
                    "WITH changed AS (
                         UPDATE audit.audit_alerts a SET status = $2, {set} WHERE alert_id = $1
                         RETURNING a.*),
                     change AS (
                         INSERT INTO audit.alert_changes (alert_id, change, status, occurrences)
                         SELECT alert_id, $2, status, occurrences FROM changed)
                     SELECT to_jsonb(c) FROM changed c"
                ),
                Some(1),
                &all,
            )
        })?;
        Ok::<_, pgrx::spi::Error>(row.first().get::<JsonB>(1)?.expect("the row just updated"))
    })
    .unwrap_or_else(|e| error!("{e}"))
}

/// An analyst takes the alert: who (the seed's profile id) and, if they like, a note.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn acknowledge_audit_alert(
    p_alert_id: &str,
    p_acknowledged_by: i64,
    p_notes: default!(Option<&str>, "NULL"),
) -> JsonB {
    transition(
        p_alert_id,
        &["open"],
        "acknowledged",
        "acknowledged_at = now(), acknowledged_by = $3, acknowledgement_notes = $4",
        vec![p_acknowledged_by.into(), p_notes.into()],
    )
}

/// Closes the case: who resolved it and how (notes are required).
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn resolve_audit_alert(p_alert_id: &str, p_resolved_by: i64, p_resolution_notes: &str) -> JsonB {
    if p_resolution_notes.trim().is_empty() {
        error!("resolve_audit_alert: say how it was resolved (p_resolution_notes)");
    }
    transition(
        p_alert_id,
        &["open", "acknowledged"],
        "resolved",
        "resolved_at = now(), resolved_by = $3, resolution_notes = $4",
        vec![p_resolved_by.into(), p_resolution_notes.into()],
    )
}
