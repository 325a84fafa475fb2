//! `generate_compliance_report()`: a report from `audit.build_compliance_report()` (sql/reports.sql),
//! kept in `audit.compliance_report_cache` (the seed's table) and served from there until events
//! land in its range: each cached report records how many events its range held and when the
//! last of them was stored or redacted, and is rebuilt when that changes.

use crate::internal::with_internal;
use pgrx::datum::JsonB;
use pgrx::prelude::*;

/// The state of a range's events a cached report was built from.
const FINGERPRINT: &str = "
    SELECT jsonb_build_object('events', count(*), 'last_change', max(updated_at))
      FROM audit.all_events WHERE \"timestamp\" >= $1::date AND \"timestamp\" < $2::date + 1";

#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn generate_compliance_report(
    report_type: &str,
    p_start: pgrx::datum::Date,
    p_end: pgrx::datum::Date,
    p_subject: default!(Option<&str>, "NULL"),
) -> JsonB {
    Spi::connect_mut(|client| {
        let fingerprint: JsonB = client
            .select(FINGERPRINT, Some(1), &[p_start.into(), p_end.into()])?
            .first()
            .get(1)?
            .expect("an aggregate row");
        let key = format!("{report_type}|{p_start}|{p_end}|{}", p_subject.unwrap_or(""));
        let cached = client.select(
            "SELECT report_data FROM audit.compliance_report_cache
              WHERE report_id = md5($1) AND cache_status = 'valid' AND expires_at > now()
                AND report_parameters -> 'fingerprint' = $2",
            Some(1),
            &[key.as_str().into(), JsonB(fingerprint.0.clone()).into()],
        )?;
        if !cached.is_empty() {
            if let Some(report) = cached.first().get::<JsonB>(1)? {
                return Ok(report);
            }
        }
        let report: JsonB = client
            .select(
                "SELECT audit.build_compliance_report($1, $2, $3, $4)",
                Some(1),
                &[report_type.into(), p_start.into(), p_end.into(), p_subject.into()],
            )?
            .first()
            .get(1)?
            .expect("a report");
        let params = serde_json::json!({"subject": p_subject, "fingerprint": fingerprint.0});
        with_internal(|| {
            client.update(
                "INSERT INTO audit.compliance_report_cache
                      (report_id, report_type, report_parameters, start_date, end_date, report_data, generated_at, expires_at, cache_status)
                 VALUES (md5($1), $2, $3, $4, $5, $6, now(), now() + interval '1 day', 'valid')
                 ON CONFLICT (report_id) DO UPDATE SET report_parameters = excluded.report_parameters,
                     report_data = excluded.report_data, generated_at = now(),
                     expires_at = excluded.expires_at, cache_status = 'valid'",
                None,
                &[
                    key.as_str().into(),
                    report_type.into(),
                    JsonB(params).into(),
                    p_start.into(),
                    p_end.into(),
                    JsonB(report.0.clone()).into(),
                ],
            )
        })?;
        Ok::<_, pgrx::spi::Error>(report)
    })
    .unwrap_or_else(|e| error!("generate_compliance_report: {e}"))
}
