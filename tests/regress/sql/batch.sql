-- audit_log_batch(): the shim's way in. One NDJSON line per event; each is checked and built
-- exactly as audit_log() builds it; one refused line costs only itself.
SELECT line, outcome, error
  FROM audit_log_batch($n$
{"event_id": "0193a0c4-0000-7000-8000-0000000000b1", "timestamp": "2026-01-15T03:00:00Z", "event_type": "data.client.read", "event_data": {"field_path": "clients.ssn", "resource_type": "clients", "resource_id": 17}, "user_context": {"correlation_id": "CORR_BATCH", "user_id": 9, "ip_address": "8.8.8.8"}}

{"event_type": ""}
{"event_type": "auth.logout", "event_data": [1]}
{"event_type": "auth.logout", "evnt_data": {}}
{"event_type": "auth.logout", "event_data": {"a": "\u0000"}}
{"event_type": "auth.logout", "timestamp": "yesterday"}
not json
{"event_id": "0193a0c4-0000-7000-8000-0000000000b2", "event_type": "security.breach.suspected", "user_context": {"correlation_id": "CORR_BATCH", "user_id": 9}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000b2", "event_type": "auth.logout"}
{"event_type": "auth.logout", "user_context": "not an object"}
$n$) ORDER BY line;

-- A retried batch writes nothing twice: no row, no field-access record, no alert, no count.
SELECT outcome, count(*) FROM audit_log_batch($n$
{"event_id": "0193a0c4-0000-7000-8000-0000000000b1", "event_type": "data.client.read", "event_data": {"field_path": "clients.ssn"}, "user_context": {"correlation_id": "CORR_BATCH"}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000b2", "event_type": "security.breach.suspected", "user_context": {"correlation_id": "CORR_BATCH", "user_id": 9}}
$n$) GROUP BY outcome;
SELECT (SELECT count(*) FROM audit.audit_events WHERE correlation_id = 'CORR_BATCH') AS events,
       (SELECT event_count FROM audit.correlation_metadata WHERE correlation_id = 'CORR_BATCH') AS rolled_up,
       (SELECT count(*) FROM audit.field_access_audit WHERE event_id = '0193a0c4-0000-7000-8000-0000000000b1') AS field_access,
       (SELECT count(*) FROM audit.audit_alerts WHERE correlation_id = 'CORR_BATCH') AS alerts,
       (SELECT count(*) FROM audit.unsealed_events u JOIN audit.audit_events e USING (event_id)
         WHERE e.correlation_id = 'CORR_BATCH') AS queued_for_sealing;

-- The event's own time is kept (the shim may deliver it later); created_at says when it was stored.
SELECT "timestamp" = '2026-01-15T03:00:00Z' AS given_time_kept, created_at > "timestamp" AS stored_later,
       integrity_hash = audit.event_integrity_hash(e) AS hash_ok
  FROM audit.audit_events e WHERE event_id = '0193a0c4-0000-7000-8000-0000000000b1';

-- The same event through audit_log() and through the batch: the same derived columns.
SELECT audit_log('authz.access.granted', '{"resource": "report"}',
                 '{"correlation_id": "CORR_SAME", "user_id": 9, "ip_address": "8.8.8.8", "roles": ["admin"]}') AS single_id \gset
SELECT event_id AS batch_id FROM audit_log_batch(
    '{"event_type": "authz.access.granted", "event_data": {"resource": "report"}, "user_context": {"correlation_id": "CORR_SAME", "user_id": 9, "ip_address": "8.8.8.8", "roles": ["admin"]}}') \gset
SELECT count(DISTINCT (event_type, event_data, user_id, session_id, correlation_id, ip_address, user_context,
                       status, classification, enrichment_data - 'is_business_hours', context_errors)) AS distinct_results,
       count(*) AS events, bool_and(integrity_hash = audit.event_integrity_hash(e)) AS hashes_ok
  FROM audit.audit_events e WHERE event_id IN (:'single_id', :'batch_id');

-- The size limit is audit_log()'s: the big event is refused, its neighbours logged.
SET auditlog.max_event_data_bytes = 1024;
SELECT line, outcome, error FROM audit_log_batch(
    '{"event_type": "auth.logout"}' || E'\n' ||
    jsonb_build_object('event_type', 'auth.logout', 'event_data', jsonb_build_object('blob', repeat('x', 2000)))::text || E'\n' ||
    '{"event_type": "auth.logout"}') ORDER BY line;
RESET auditlog.max_event_data_bytes;

-- Writers may call it; the batch events seal and verify (the integrity test left an older
-- batch tampered with, so only the new one is checked).
SET ROLE audit_writer;
SELECT outcome FROM audit_log_batch('{"event_type": "auth.logout", "user_context": {"correlation_id": "CORR_BATCH_W"}}');
RESET ROLE;
SELECT seal_audit_events() > 0 AS sealed;
SELECT kind, detail FROM verify_audit_chain((SELECT max(id) FROM audit.audit_log_integrity),
                                            (SELECT max(id) FROM audit.audit_log_integrity));

-- The batch hands the database jsonb in its binary layout, built without text: it must be the
-- jsonb that jsonb_in makes of the same text. 40 keys (offsets every 32nd entry), keys of mixed
-- lengths and scripts (sorted by length, then bytes), nested containers, numbers of every kind.
CREATE TEMP TABLE layout AS
SELECT jsonb_build_object('nested', jsonb_build_object('arr', jsonb_build_array(1, -2.5, 1e20, 12345678901234567890123, 'x', NULL, true, false, '{}'::jsonb, '[]'::jsonb)),
                          'é', 'accent', '𐀀', 'astral', '', 'empty key', 'big', 0.10000000000000001)
       || (SELECT jsonb_object_agg('key_' || repeat('k', i % 7) || i, i * 1.5) FROM generate_series(1, 40) i) AS data;
SELECT outcome FROM audit_log_batch((SELECT jsonb_build_object('event_id', '0193a0c4-0000-7000-8000-0000000000c1',
    'event_type', 'auth.logout', 'event_data', data)::text FROM layout));
SELECT e.event_data = l.data AS equal, e.event_data::text = l.data::text AS same_text,
       pg_column_size(e.event_data) = pg_column_size(l.data::text::jsonb) AS same_size,
       (SELECT bool_and(e.event_data -> k = l.data -> k) FROM jsonb_object_keys(l.data) k) AS every_key_found,
       e.event_data @> '{"nested": {"arr": [12345678901234567890123]}}' AS containment,
       e.event_data ->> '𐀀' AS astral
  FROM audit.audit_events e, layout l WHERE e.event_id = '0193a0c4-0000-7000-8000-0000000000c1';
