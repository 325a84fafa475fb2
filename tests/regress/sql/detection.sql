-- Detection rules as data: each shipped rule fires at its threshold and not below it, as events
-- arrive through audit_log() and audit_log_batch() alike; a DBA adds a rule with SQL.
UPDATE audit.detection_rules SET enabled = true;
SELECT rule_id, event_types, group_by, measure, threshold, window_seconds, escalate_to, builtin
  FROM audit.detection_rules ORDER BY rule_id;

CREATE FUNCTION regress_rules(p_correlation text) RETURNS TABLE (n int, event_type text, severity text, rules text)
LANGUAGE sql AS $$
    SELECT (event_data ->> 'n')::int, event_type, classification ->> 'severity',
           (SELECT string_agg(t, ' ' ORDER BY t) FROM jsonb_array_elements_text(classification -> 'tags') t
             WHERE t LIKE 'rule:%')
      FROM audit.audit_events WHERE correlation_id = p_correlation ORDER BY "timestamp", (event_data ->> 'n')::int
$$;

-- Brute force: the fifth login failure for a user within 5 minutes (one per correlation here,
-- so only the user links them), through single calls.
SELECT count(audit_log('auth.login.failure', jsonb_build_object('n', i),
                       jsonb_build_object('user_id', 901, 'correlation_id', 'D_BF_' || i))) FROM generate_series(1, 4) i;
SELECT count(*) AS fired_after_4 FROM audit.audit_events WHERE user_id = 901 AND classification -> 'tags' ? 'rule:brute_force';
SELECT audit_log('auth.login.failure', '{"n": 5}', '{"user_id": 901, "correlation_id": "D_BF_5"}') IS NOT NULL AS fifth;
SELECT n, severity, rules FROM regress_rules('D_BF_5');
-- By address, for five different users, in one batch.
SELECT count(*) FROM audit_log_batch((SELECT string_agg(jsonb_build_object('event_type', 'auth.login.failure',
    'event_data', jsonb_build_object('n', i), 'user_context', jsonb_build_object('user_id', 910 + i,
    'ip_address', '203.0.113.66', 'correlation_id', 'D_BF_IP_' || i))::text, E'\n') FROM generate_series(1, 5) i));
SELECT event_data ->> 'n' AS n, classification -> 'tags' ? 'rule:brute_force' AS flagged
  FROM audit.audit_events WHERE host(ip_address) = '203.0.113.66' ORDER BY 1;

-- Rapid events: the 11th event within a second in one correlation (a batch, one instant).
SELECT count(*) FROM audit_log_batch((SELECT string_agg(jsonb_build_object('event_type', 'data.client.read',
    'timestamp', '2026-05-05T10:00:00.5Z', 'event_data', jsonb_build_object('n', i),
    'user_context', jsonb_build_object('user_id', 920, 'correlation_id', 'D_RAPID'))::text, E'\n') FROM generate_series(1, 11) i));
SELECT n, severity, rules FROM regress_rules('D_RAPID') WHERE rules IS NOT NULL;

-- Several users in one correlation: the second user's event.
SELECT audit_log('auth.login.success', '{"n": 1}', '{"user_id": 930, "correlation_id": "D_MULTI"}') IS NOT NULL;
SELECT audit_log('data.client.read', '{"n": 2}', '{"user_id": 930, "correlation_id": "D_MULTI"}') IS NOT NULL;
SELECT audit_log('data.client.read', '{"n": 3}', '{"user_id": 931, "correlation_id": "D_MULTI"}') IS NOT NULL;
SELECT n, severity, rules FROM regress_rules('D_MULTI');

-- Bulk export outside business hours (the setup made every hour a business hour).
SELECT audit_log('data.bulk.export', '{"n": 1}', '{"user_id": 940, "correlation_id": "D_EXPORT_DAY"}') IS NOT NULL;
SET auditlog.business_hours = '9-10';
-- One business day, and not today's.
SELECT set_config('auditlog.business_days',
                  CASE WHEN extract(isodow FROM now() AT TIME ZONE 'UTC') = 1 THEN 'tue' ELSE 'mon' END,
                  false) IS NOT NULL AS set;
SELECT audit_log('data.bulk.export', '{"n": 1}', '{"user_id": 940, "correlation_id": "D_EXPORT_NIGHT"}') IS NOT NULL;
RESET auditlog.business_hours; RESET auditlog.business_days;
SELECT c, (SELECT rules FROM regress_rules(c)) AS rules FROM unnest(ARRAY['D_EXPORT_DAY', 'D_EXPORT_NIGHT']) c;

-- A burst of access denials: five for one user within a minute.
SELECT count(audit_log('authz.access.denied', jsonb_build_object('n', i),
                       jsonb_build_object('user_id', 950, 'correlation_id', 'D_DENY'))) FROM generate_series(1, 5) i;
SELECT n, severity, rules FROM regress_rules('D_DENY');

-- Events of a transaction that rolled back do not count; the attempts after it do.
BEGIN;
SELECT count(audit_log('auth.login.failure', jsonb_build_object('n', i),
                       '{"user_id": 970, "correlation_id": "D_ROLLBACK"}')) FROM generate_series(1, 4) i;
ROLLBACK;
SELECT count(audit_log('auth.login.failure', jsonb_build_object('n', i),
                       '{"user_id": 970, "correlation_id": "D_ROLLBACK"}')) FROM generate_series(5, 9) i;
SELECT n, severity, rules FROM regress_rules('D_ROLLBACK');

-- Users an hour apart are not several users at once: the window is the rule's.
SELECT outcome FROM audit_log_batch((SELECT string_agg(jsonb_build_object('event_type', 'auth.login.success',
    'timestamp', to_char(now() AT TIME ZONE 'UTC' - make_interval(mins => m), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'event_data', jsonb_build_object('n', i), 'user_context', jsonb_build_object('user_id', u, 'correlation_id', 'D_MULTI_LATE'))::text, E'\n' ORDER BY i)
    FROM (VALUES (1, 980, 120), (2, 981, 30), (3, 982, 0)) v(i, u, m)));
SELECT n, severity, rules FROM regress_rules('D_MULTI_LATE');

-- A burst raises one alert: the failures after the fifth are flagged as well and raise none. A
-- burst again once the rule's window has passed (and within auditlog.alert_fold_window) is the
-- same cause again: it folds into the open alert.
SELECT count(*) FROM audit_log_batch((SELECT string_agg(jsonb_build_object('event_type', 'auth.login.failure',
    'timestamp', to_char(now() AT TIME ZONE 'UTC' - interval '20 minutes' + make_interval(mins => 6 * (i / 9), secs => i),
                         'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'event_data', jsonb_build_object('n', i), 'user_context', '{"user_id": 995, "correlation_id": "D_BURST"}'::jsonb)::text, E'\n' ORDER BY i)
    FROM generate_series(1, 14) i));
SELECT n, rules FROM regress_rules('D_BURST');
SELECT occurrences, last_triggered_at > triggered_at + interval '5 minutes' AS folded_later
  FROM audit.audit_alerts WHERE correlation_id = 'D_BURST';

-- The alerts the rules raised, folded per cause.
SELECT title, severity, occurrences FROM audit.audit_alerts WHERE alert_type = 'detection_rule' ORDER BY title, occurrences;

-- A DBA's own rule, and a shipped rule turned off: both are the DBA's now (pg_dump keeps them).
INSERT INTO audit.detection_rules (rule_id, description, event_types, group_by, threshold, window_seconds, escalate_to, add_tags)
VALUES ('mass_delete', 'three client deletions by one user within 10 minutes', '{data.client.delete}', 'user', 3, 600, 'critical', '{mass_delete}');
UPDATE audit.detection_rules SET enabled = false WHERE rule_id = 'rapid_events';
SELECT rule_id, enabled, builtin FROM audit.detection_rules WHERE rule_id IN ('mass_delete', 'rapid_events') ORDER BY 1;
SELECT count(audit_log('data.client.delete', jsonb_build_object('n', i), '{"user_id": 960, "correlation_id": "D_DEL"}')) FROM generate_series(1, 3) i;
SELECT n, severity, rules FROM regress_rules('D_DEL');

-- A threshold beyond what a detection window holds is counted from the table.
INSERT INTO audit.detection_rules (rule_id, description, event_types, group_by, threshold, window_seconds, escalate_to, add_tags)
VALUES ('many_exports', 'twenty exports by one user within an hour', '{data.client.export}', 'user', 20, 3600, 'error', '{}');
SELECT count(audit_log('data.client.export', jsonb_build_object('n', i), '{"user_id": 990, "correlation_id": "D_MANY"}')) FROM generate_series(1, 21) i;
SELECT n, severity, rules FROM regress_rules('D_MANY') WHERE n >= 18;

-- A rule made after events were logged counts them: its windows start from the table.
SELECT count(audit_log('authz.access.denied', jsonb_build_object('n', i), '{"user_id": 970, "correlation_id": "D_LATE"}')) FROM generate_series(1, 3) i;
INSERT INTO audit.detection_rules (rule_id, description, event_types, group_by, threshold, window_seconds, escalate_to, add_tags)
VALUES ('late_rule', 'four denials for one user within a minute', '{authz.access.denied}', 'user', 4, 60, 'critical', '{}');
SELECT audit_log('authz.access.denied', '{"n": 4}', '{"user_id": 970, "correlation_id": "D_LATE"}') IS NOT NULL AS fourth;
SELECT n, severity, rules FROM regress_rules('D_LATE');
-- Turned off and on again, a rule counts what was logged meanwhile too (it counts afresh, not
-- in the windows it kept before).
SELECT count(audit_log('authz.access.denied', jsonb_build_object('n', i), '{"user_id": 971, "correlation_id": "D_AGAIN"}')) FROM generate_series(1, 2) i;
UPDATE audit.detection_rules SET enabled = false WHERE rule_id = 'late_rule';
SELECT count(audit_log('authz.access.denied', jsonb_build_object('n', i), '{"user_id": 971, "correlation_id": "D_AGAIN"}')) FROM generate_series(3, 4) i;
UPDATE audit.detection_rules SET enabled = true WHERE rule_id = 'late_rule';
SELECT audit_log('authz.access.denied', '{"n": 5}', '{"user_id": 971, "correlation_id": "D_AGAIN"}') IS NOT NULL AS fifth;
SELECT n, severity, rules FROM regress_rules('D_AGAIN');

-- Hashes cover the escalation: every flagged event verifies as stored.
SELECT count(*) FILTER (WHERE integrity_hash <> audit.event_integrity_hash(e)) AS mismatches,
       count(*) FILTER (WHERE classification::text LIKE '%rule:%') > 0 AS some_flagged
  FROM audit.audit_events e WHERE correlation_id LIKE 'D\_%';
