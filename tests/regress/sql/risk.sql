-- Risk score cases: each adjustment alone, together, the severity multipliers and the cap.
CREATE TEMP TABLE risk_cases (n int, event_type text, ctx jsonb, expected int);
INSERT INTO risk_cases VALUES
    (1,  'auth.login.success', '{}', 20),
    (2,  'auth.login.success', jsonb_build_object('user_id', 1, 'account_created_at', to_jsonb(now() - interval '5 days')), 30),
    (3,  'auth.login.success', jsonb_build_object('user_id', 1, 'account_created_at', to_jsonb(now() - interval '40 days')), 20),
    (4,  'auth.login.success', '{"user_id": 1, "roles": ["admin"]}', 35),
    (5,  'auth.login.success', '{"user_id": 1, "roles": ["administrator", "ops"]}', 20),
    (6,  'auth.login.success', '{"ip_address": "8.8.8.8"}', 40),
    (7,  'auth.login.success', '{"ip_address": "192.168.1.20"}', 20),
    (8,  'auth.login.success', '{"ip_address": "172.20.1.1"}', 20),
    (9,  'auth.login.success', '{"ip_address": "172.32.1.1"}', 40),
    (10, 'auth.login.success', '{"ip_address": "fd12::1"}', 20),
    (11, 'auth.login.success', '{"ip_address": "2001:db8::1"}', 40),
    (12, 'auth.login.failure', '{}', 30),
    (13, 'auth.login.failure', '{"user_id": 1, "roles": ["admin"]}', 52),
    (14, 'system.startup', jsonb_build_object('user_id', 1, 'roles', '["admin"]'::jsonb, 'ip_address', '1.1.1.1', 'account_created_at', to_jsonb(now() - interval '1 day')), 55),
    (15, 'data.bulk.export', '{"ip_address": "1.1.1.1"}', 90),
    (16, 'data.bulk.export', jsonb_build_object('user_id', 1, 'roles', '["admin"]'::jsonb, 'ip_address', '1.1.1.1', 'account_created_at', to_jsonb(now() - interval '1 day')), 100),
    (17, 'security.incident.detected', '{}', 100),
    (18, 'privacy.consent.granted', '{}', 60),
    (19, 'encryption.key.rotation', '{"ip_address": "10.1.1.1"}', 50);

SELECT count(audit_log(event_type, jsonb_build_object('case', n), ctx || '{"correlation_id": "CORR_RISK"}'))
  FROM risk_cases;

SELECT c.n, c.event_type, c.expected, (e.classification ->> 'risk_score')::int AS got,
       regress_tags(e.classification) AS tags
  FROM risk_cases c
  JOIN audit.audit_events e ON e.correlation_id = 'CORR_RISK' AND (e.event_data ->> 'case')::int = c.n
 ORDER BY c.n;

SELECT count(*) AS mismatches
  FROM risk_cases c
  JOIN audit.audit_events e ON e.correlation_id = 'CORR_RISK' AND (e.event_data ->> 'case')::int = c.n
 WHERE (e.classification ->> 'risk_score')::int <> c.expected;

-- What the enrichment recorded for two of them.
SELECT (e.event_data ->> 'case')::int AS n, e.ip_address, e.enrichment_data -> 'geolocation' AS geolocation,
       e.enrichment_data -> 'user_context' -> 'roles' AS roles
  FROM audit.audit_events e
 WHERE e.correlation_id = 'CORR_RISK' AND (e.event_data ->> 'case')::int IN (8, 9, 13)
 ORDER BY 1;
