-- Retention and erasure change stored events, and are the only ways anyone does: personal data
-- goes, the sealed integrity_hash stays, each redaction is recorded with the hash of what is
-- left, and the request is logged with a digest of its records. The chain still verifies.
SELECT max(id) AS b0 FROM audit.audit_log_integrity \gset
SELECT line, outcome FROM audit_log_batch($n$
{"event_id": "0193a0c4-0000-7000-8000-0000000000d1", "event_type": "system.startup", "timestamp": "2024-01-10T00:00:00Z", "event_data": {"host": "db1"}, "user_context": {"user_id": 9, "ip_address": "203.0.113.9"}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000d2", "event_type": "auth.logout", "timestamp": "2024-01-10T00:00:00Z", "event_data": {"note": "kept 7 years"}, "user_context": {"user_id": 9}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000d3", "event_type": "data.client.read", "event_data": {"client": "Jane Doe", "field_path": "clients.ssn"}, "user_context": {"user_id": 77, "ip_address": "198.51.100.7", "session_id": "s-77", "user_agent": "curl"}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000d4", "event_type": "auth.login.success", "event_data": {"method": "password"}, "user_context": {"user_id": 77}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000d5", "event_type": "security.breach.suspected", "event_data": {"who": "Jane Doe"}, "user_context": {"user_id": 77}}
$n$) ORDER BY line;
SELECT audit_maintain_partitions() >= 0 AS partitions_made, seal_audit_events() > 0 AS sealed;

-- Retention by class: system events are kept 365 days, the rest 2555. The purge is an event too.
SELECT purge_expired_audit_events() >= 1 AS purged;
SELECT event_id, status, event_data, user_id, ip_address FROM audit.all_events
 WHERE event_id IN ('0193a0c4-0000-7000-8000-0000000000d1', '0193a0c4-0000-7000-8000-0000000000d2') ORDER BY 1;
SELECT event_type, event_data ->> 'action' AS action, event_data ->> 'reason' AS reason,
       (event_data ->> 'events_redacted')::int >= 1 AS counted, event_data ? 'redactions_digest' AS has_digest
  FROM audit.audit_events WHERE event_type = 'privacy.data.anonymized' AND event_data ? 'action';
SELECT purge_expired_audit_events() AS purged_again;

-- Erasure on request, of one event and of a data subject's events; who asked and why is kept.
SELECT redact_audit_event('0193a0c4-0000-7000-8000-0000000000d3', 'GDPR art. 17, request 42') AS redacted;
SELECT redact_audit_event('0193a0c4-0000-7000-8000-0000000000d3', 'again') AS redacted_again;
SELECT redact_user_audit_events(77, 'GDPR art. 17, request 43') AS redacted_for_subject;
SELECT event_id, status, event_data, user_context, user_id, session_id, ip_address, user_agent,
       enrichment_data = '{}' AS enrichment_gone, integrity_hash <> audit.event_integrity_hash(e) AS differs_from_sealed
  FROM audit.audit_events e WHERE user_id = 77 OR event_id::text LIKE '0193a0c4-0000-7000-8000-0000000000d%'
 ORDER BY event_id;
SELECT r.event_id, r.requested_by, r.reason, e.event_type AS logged_as
  FROM audit.redactions r JOIN audit.all_events e ON e.event_id = r.redaction_event_id
 WHERE r.event_id::text LIKE '0193a0c4-0000-7000-8000-0000000000d%' ORDER BY 1;
SELECT alert_data ? 'user_id' AS alert_names_user FROM audit.audit_alerts
 WHERE alert_data ->> 'event_id' = '0193a0c4-0000-7000-8000-0000000000d5';
SELECT redact_audit_event('0193a0c4-0000-7000-8000-00000000ffff', 'no such event');
SELECT redact_audit_event('0193a0c4-0000-7000-8000-0000000000d4', ' ');

-- Sealed and verified, redactions included; then an edit after a redaction, and a forged
-- redaction record meant to cover an edit, are each seen.
SELECT seal_audit_events() > 0 AS sealed;
SELECT kind, detail FROM verify_audit_chain(:b0 + 1);
BEGIN;
ALTER TABLE audit.audit_events_default DISABLE TRIGGER audit_events_default_append_only;
DO $$ DECLARE p regclass := (SELECT tableoid::regclass FROM audit.audit_events WHERE event_id = '0193a0c4-0000-7000-8000-0000000000d3');
BEGIN
    EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', p);
    EXECUTE format('UPDATE %s SET event_data = ''{"client": "someone else"}'' WHERE event_id = ''0193a0c4-0000-7000-8000-0000000000d3''', p);
END $$;
SELECT kind, detail FROM verify_audit_chain(:b0 + 1);
ROLLBACK;
BEGIN;
DO $$ DECLARE p regclass := (SELECT tableoid::regclass FROM audit.audit_events WHERE event_id = '0193a0c4-0000-7000-8000-0000000000d4');
BEGIN
    EXECUTE format('ALTER TABLE %s DISABLE TRIGGER USER', p);
    ALTER TABLE audit.redactions DISABLE TRIGGER USER;
    EXECUTE format('UPDATE %s SET event_data = ''{"method": "forged"}'' WHERE event_id = ''0193a0c4-0000-7000-8000-0000000000d4''', p);
    UPDATE audit.redactions r SET redacted_hash = audit.event_integrity_hash(e)
      FROM audit.audit_events e WHERE e.event_id = r.event_id AND r.event_id = '0193a0c4-0000-7000-8000-0000000000d4';
END $$;
SELECT kind, detail ~ 'do not match the digest' AS digest_broken FROM verify_audit_chain(:b0 + 1);
-- The scheduled checks see it too, the request being in their window.
SET LOCAL client_min_messages = error;
SELECT verify_audit_batch_integrity(now() - interval '1 hour', now() + interval '1 hour') AS window_verifies,
       jsonb_path_query_array(audit.verify_recent_run('1 hour') -> 'problems', '$[*].kind') AS recent_finds;
ROLLBACK;

-- Nobody but the extension's owner (and superusers) may redact.
SET ROLE audit_writer;
SELECT redact_audit_event('0193a0c4-0000-7000-8000-0000000000d2', 'writer tries');
SET ROLE audit_reader;
SELECT purge_expired_audit_events();
RESET ROLE;
