-- Required arguments: a clear error.
SELECT audit_log(NULL);
SELECT audit_log('');
SELECT audit_log('   ');
SELECT audit_log('auth.logout', '[1, 2]');
SELECT audit_log('auth.logout', '"text"');
SELECT audit_log('auth.logout', '42');
SELECT audit_log('auth.logout', 'null');
-- SQL NULL payload or context means none.
SELECT audit_log('auth.logout', NULL, NULL) IS NOT NULL AS logged;

-- Too large an event_data: an error that names the limit.
SET auditlog.max_event_data_bytes = 1024;
SELECT audit_log('auth.logout', jsonb_build_object('blob', repeat('x', 2000)));
RESET auditlog.max_event_data_bytes;
SELECT audit_log('auth.logout', jsonb_build_object('blob', repeat('x', 2000))) IS NOT NULL AS logged_under_default_limit;

-- Malformed optional context values: a WARNING each, and the event is stored with the raw
-- values kept verbatim (in user_context, and listed in context_errors).
SELECT audit_log('auth.login.success', '{"n": 1}',
                 '{"correlation_id": "CORR_BAD", "user_id": "alice", "ip_address": "300.1.2.3",
                   "roles": "admin", "account_created_at": "yesterday", "session_id": ["s"]}') IS NOT NULL AS logged;
SELECT audit_log('auth.login.success', '{"n": 2}', '[1, 2]') IS NOT NULL AS logged;
SELECT event_data, user_id, ip_address, session_id, (SELECT string_agg(x ->> 'key' || ' = ' || (x -> 'value')::text, ', ') FROM jsonb_array_elements(context_errors) x) AS context_errors,
       classification ->> 'risk_score' AS risk
  FROM audit.audit_events
 WHERE event_data ->> 'n' IN ('1', '2') AND event_type = 'auth.login.success'
 ORDER BY event_data ->> 'n';

-- Settings are checked when set (privileges.sql shows only a superuser may set them).
SET auditlog.internal_networks = '10.0.0.0/8, not-a-network';
SET auditlog.business_hours = '17-9';
SET auditlog.timezone = 'Mars/Olympus_Mons';
SET auditlog.timezone = 'Europe/Berlin';
SHOW auditlog.timezone;
RESET auditlog.timezone;
