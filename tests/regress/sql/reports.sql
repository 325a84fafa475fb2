-- Compliance reports: cached in audit.compliance_report_cache, rebuilt once events land in
-- their range. And the DBA views.
SELECT count(*) AS logged FROM audit_log_batch($n$
{"event_type": "authz.permission.elevated", "timestamp": "2025-06-11T12:00:00Z", "user_context": {"correlation_id": "R1", "user_id": 1, "roles": ["admin"]}}
{"event_type": "data.client.read", "timestamp": "2025-06-11T12:05:00Z", "event_data": {"resource_type": "client", "resource_id": 4711, "field_path": "clients.ssn"}, "user_context": {"correlation_id": "R1", "user_id": 2}}
{"event_type": "data.client.update", "timestamp": "2025-06-11T12:06:00Z", "event_data": {"resource_type": "client", "resource_id": 4711, "field_path": "clients.address"}, "user_context": {"correlation_id": "R1", "user_id": 2}}
{"event_type": "authz.access.denied", "timestamp": "2025-06-11T12:07:00Z", "event_data": {"resource_id": 4712}, "user_context": {"correlation_id": "R1", "user_id": 2}}
$n$);

SELECT jsonb_pretty(generate_compliance_report('access_review', '2025-06-10', '2025-06-12') -> 'report');
SELECT x - 'event_id' AS privileged
  FROM generate_compliance_report('privileged_activity', '2025-06-10', '2025-06-12') r, jsonb_array_elements(r -> 'report') x;
SELECT jsonb_array_length(r -> 'report') AS touched_client_4711,
       (SELECT jsonb_agg(x -> 'fields') FROM jsonb_array_elements(r -> 'report') x) AS fields
  FROM generate_compliance_report('data_subject_access', '2025-06-10', '2025-06-12', '4711') r;
SELECT jsonb_array_length(r -> 'report' -> 'events') AS security_events,
       r -> 'report' -> 'events' -> 0 ->> 'event_type' AS first
  FROM generate_compliance_report('security_incidents', '2025-06-10', '2025-06-12') r;
SELECT r -> 'report' ? 'batches' AS has_batches, r -> 'report' ? 'checkpoints' AS has_checkpoints
  FROM generate_compliance_report('integrity_attestation', '2025-06-10', '2025-06-12') r;
SELECT generate_compliance_report('data_subject_access', '2025-06-10', '2025-06-12');
SELECT generate_compliance_report('no_such_report', '2025-06-10', '2025-06-12');

-- Served from the cache until an event lands in the range, then rebuilt.
SELECT generated_at AS first_built FROM audit.compliance_report_cache
 WHERE report_type = 'access_review' \gset
SELECT pg_sleep(0.01);
SELECT generate_compliance_report('access_review', '2025-06-10', '2025-06-12') -> 'report' -> 0 ->> 'events' AS user1_events;
SELECT generated_at = :'first_built' AS from_cache FROM audit.compliance_report_cache WHERE report_type = 'access_review';
SELECT count(*) AS late_event FROM audit_log_batch('{"event_type": "auth.logout", "timestamp": "2025-06-11T23:00:00Z", "user_context": {"user_id": 1}}');
SELECT generate_compliance_report('access_review', '2025-06-10', '2025-06-12') -> 'report' -> 0 ->> 'events' AS user1_events;
SELECT generated_at = :'first_built' AS from_cache FROM audit.compliance_report_cache WHERE report_type = 'access_review';
SELECT count(*) AS cached_reports FROM audit.compliance_report_cache;

-- The DBA views.
SELECT count(*) > 0 AS high_risk_listed, bool_and(risk_score > 75) AS all_high FROM audit.recent_high_risk_events;
SELECT count(*) > 0 AS open_listed, bool_and(status IN ('open', 'acknowledged')) AS all_open FROM audit.open_alerts;
SELECT batches > 0 AS has_batches, events_sealed > 0 AS has_sealed, last_seal IS NOT NULL AS sealed_once
  FROM audit.integrity_status;
SET ROLE audit_reader;
SELECT count(*) >= 0 AS reader_reads FROM audit.integrity_status;
SELECT generate_compliance_report('privileged_activity', '2025-06-10', '2025-06-12') ->> 'report_type' AS reader_report;
RESET ROLE;
