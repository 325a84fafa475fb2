-- Correlation forensics (seed 3.2): a correlation's events, its flow analysis with the seed's
-- indicators and risk level, related correlations, and the tree of parent links.
SELECT count(*) AS logged FROM audit_log_batch($n$
{"event_type": "auth.login.success", "timestamp": "2026-03-02T10:00:00Z", "user_context": {"correlation_id": "F_CALM", "user_id": 501, "session_id": "sA", "ip_address": "10.0.0.5"}}
{"event_type": "auth.logout", "timestamp": "2026-03-02T10:05:00Z", "user_context": {"correlation_id": "F_CALM", "user_id": 501, "session_id": "sA", "ip_address": "10.0.0.5"}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T10:20:00Z", "user_context": {"correlation_id": "F_SHARED_USER", "user_id": 501, "session_id": "sB"}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T10:30:00Z", "user_context": {"correlation_id": "F_SHARED_IP", "user_id": 777, "ip_address": "10.0.0.5"}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T10:30:00Z", "user_context": {"correlation_id": "F_UNRELATED", "user_id": 888, "ip_address": "10.0.0.9"}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T13:30:00Z", "user_context": {"correlation_id": "F_LATER", "user_id": 501}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T11:00:00Z", "user_context": {"correlation_id": "F_HIJACK", "user_id": 601, "session_id": "sH"}}
{"event_type": "data.client.read", "timestamp": "2026-03-02T11:01:00Z", "user_context": {"correlation_id": "F_HIJACK", "user_id": 602, "session_id": "sH"}}
{"event_type": "security.breach.suspected", "timestamp": "2026-03-02T12:00:00Z", "user_context": {"correlation_id": "F_BREACH", "user_id": 603}}
{"event_type": "authz.access.denied", "timestamp": "2026-03-02T12:00:00.000Z", "user_context": {"correlation_id": "F_RAPID", "user_id": 604}}
{"event_type": "authz.access.denied", "timestamp": "2026-03-02T12:00:00.050Z", "user_context": {"correlation_id": "F_RAPID", "user_id": 604}}
{"event_type": "authz.access.denied", "timestamp": "2026-03-02T12:00:00.100Z", "user_context": {"correlation_id": "F_RAPID", "user_id": 604}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T09:00:00Z", "user_context": {"correlation_id": "F_ROOT"}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T09:01:00Z", "user_context": {"correlation_id": "F_ROOT.1", "parent_correlation_id": "F_ROOT"}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T09:02:00Z", "user_context": {"correlation_id": "F_ROOT.2", "parent_correlation_id": "F_ROOT"}}
{"event_type": "auth.login.success", "timestamp": "2026-03-02T09:03:00Z", "user_context": {"correlation_id": "F_ROOT.1.1", "parent_correlation_id": "F_ROOT.1"}}
$n$);

SELECT "timestamp", event_type, user_id, session_id FROM audit_correlation_events('F_CALM');

SELECT c, a ->> 'event_count' AS events, a ->> 'duration_seconds' AS seconds,
       a ->> 'users_involved' AS users, a ->> 'sessions_involved' AS sessions,
       a -> 'risk_metrics' ->> 'max_risk_score' AS max_risk,
       (SELECT string_agg(i ->> 'type' || ':' || (i ->> 'severity'), ', ') FROM jsonb_array_elements(a -> 'suspicious_indicators') i) AS indicators,
       a ->> 'overall_risk_level' AS level
  FROM unnest(ARRAY['F_CALM', 'F_HIJACK', 'F_BREACH', 'F_RAPID']) c, analyze_correlation_flow(c) a;
SELECT analyze_correlation_flow('F_CALM') ? 'event_types' AS seed_keys,
       analyze_correlation_flow('F_CALM') -> 'event_types' AS event_types,
       analyze_correlation_flow('F_RAPID') -> 'suspicious_indicators' -> 0 ->> 'description' AS rapid,
       analyze_correlation_flow('NO_SUCH') AS missing;

SELECT correlation_id, event_count, unique_users, users, shared
  FROM find_related_correlations('F_CALM');
SELECT count(*) AS related_with_a_wider_window FROM find_related_correlations('F_CALM', 240);

SELECT correlation_id, parent_correlation_id, depth, path, event_count FROM correlation_tree('F_ROOT');

-- Readers may use them; writers may not.
SET ROLE audit_reader;
SELECT analyze_correlation_flow('F_CALM') ->> 'overall_risk_level' AS reader_sees;
SET ROLE audit_writer;
SELECT correlation_tree('F_ROOT');
RESET ROLE;
