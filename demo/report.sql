-- The demo's closing report: what a person would want to see first.
\pset footer off
\echo
\echo '== auditlog demo report =='
SELECT count(*) AS events_logged, count(DISTINCT correlation_id) AS correlations,
       count(*) FILTER (WHERE classification -> 'tags' ? 'unknown_event_type') AS unknown_types,
       count(*) FILTER (WHERE context_errors IS NOT NULL) AS with_malformed_context
  FROM audit.audit_events;
\echo 'Events by severity'
SELECT classification ->> 'severity' AS severity, count(*) AS events,
       round(avg((classification ->> 'risk_score')::int)) AS avg_risk, max((classification ->> 'risk_score')::int) AS max_risk
  FROM audit.audit_events GROUP BY 1
 ORDER BY array_position(ARRAY['critical', 'error', 'warning', 'info'], classification ->> 'severity');
\echo 'Alerts raised (risk score above 75)'
SELECT severity, title, alert_data ->> 'risk_score' AS risk, correlation_id FROM audit.audit_alerts ORDER BY triggered_at;
\echo 'A sample of classified events, riskiest first'
SELECT event_type, classification ->> 'category' AS category, classification ->> 'severity' AS severity,
       (classification ->> 'risk_score')::int AS risk, coalesce(host(ip_address), '-') AS ip,
       array_to_string(ARRAY(SELECT t FROM jsonb_array_elements_text(classification -> 'tags') t
                              WHERE t ~ '^(user_role|new_user|high_risk|unknown_event_type)'), ' ') AS notable_tags
  FROM audit.audit_events ORDER BY 4 DESC, "timestamp" LIMIT 8;
\echo 'Field-level access'
SELECT field_path, operation_type, access_granted, coalesce(denial_reason, '') AS denial_reason FROM audit.field_access_audit ORDER BY "timestamp";
\echo 'Integrity: sealed into a hash chain, then every event and batch verified'
SELECT kind, detail FROM verify_audit_chain();
SELECT id AS batch, event_count AS events, left(merkle_root, 16) AS merkle_root, left(batch_hash, 16) AS batch_hash,
       left(prev_batch_hash, 16) AS prev_batch_hash, verification_status
  FROM audit.audit_log_integrity ORDER BY id;
