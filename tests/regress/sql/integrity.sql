-- Tamper evidence. Everything logged so far is sealed; then each attack is made as a superuser
-- who switches the append-only triggers off, inside a transaction that is rolled back, and
-- verify_audit_chain() must name it.
SELECT seal_audit_events() > 0 AS sealed;
SELECT count(audit_log('auth.logout', jsonb_build_object('n', n), '{"correlation_id": "CORR_SEAL"}'))
  FROM generate_series(1, 5) n;
SELECT seal_audit_events() AS sealed_now, seal_audit_events() AS sealed_again;
SELECT * FROM verify_audit_chain();
SELECT verify_audit_batch_integrity(now() - interval '1 day', now() + interval '1 day') AS window_verifies;
SELECT DISTINCT verification_status FROM audit.audit_log_integrity;
SELECT (SELECT count(*) FROM audit.audit_events) = (SELECT max(last_position) FROM audit.audit_log_integrity) AS every_event_sealed_once,
       (SELECT count(*) FROM audit.unsealed_events) AS still_queued;

-- Positions in what follows are counted from the first CORR_SEAL event (0..4).
CREATE TABLE regress_base AS SELECT first_position FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1;
-- What the checks DBAs schedule say, over windows that hold every event and batch above: the
-- kinds verify_recent() records, and whether verify_audit_batch_integrity() is true.
CREATE FUNCTION regress_scheduled() RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    window_ok boolean;
    recent text[];
BEGIN
    PERFORM set_config('client_min_messages', 'error', true);   -- its WARNINGs name event ids
    window_ok := verify_audit_batch_integrity(now() - interval '1 day', now() + interval '1 day');
    recent := ARRAY(SELECT DISTINCT k FROM jsonb_array_elements_text(
                        jsonb_path_query_array(audit.verify_recent_run('1 day') -> 'problems', '$[*].kind')) k
                    ORDER BY 1);
    RETURN format('batch window verifies: %s; recent run finds: %s', window_ok, recent);
END
$$;
CREATE FUNCTION regress_attacked(sql text) RETURNS TABLE (kind text, pos bigint, detail text)
LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE audit.audit_events DISABLE TRIGGER ALL;
    ALTER TABLE audit.event_positions DISABLE TRIGGER ALL;
    ALTER TABLE audit.audit_log_integrity DISABLE TRIGGER ALL;
    ALTER TABLE audit.tree_tiles DISABLE TRIGGER ALL;
    EXECUTE sql;
    RETURN QUERY SELECT v.kind, v.position - (SELECT first_position FROM regress_base), v.detail
                   FROM verify_audit_chain() v
                 UNION ALL
                 SELECT 'scheduled', NULL, regress_scheduled();
END
$$;

-- Each attack runs in a transaction that is rolled back afterwards.
\set attack 'BEGIN; SELECT * FROM regress_attacked(:''sql''); ROLLBACK;'

-- 1. edit a payload
\set sql 'UPDATE audit.audit_events SET event_data = ''{"n": 99}'' WHERE correlation_id = ''CORR_SEAL'' AND event_data ->> ''n'' = ''2'''
:attack
-- 2. re-score an event: edit its classification
\set sql 'UPDATE audit.audit_events SET classification = jsonb_set(classification, ''{risk_score}'', ''0'') WHERE correlation_id = ''CORR_SEAL'' AND event_data ->> ''n'' = ''3'''
:attack
-- 3. edit a row and recompute its own integrity_hash with the same canonical function
\set sql 'UPDATE audit.audit_events SET event_data = ''{"n": 99}'' WHERE correlation_id = ''CORR_SEAL'' AND event_data ->> ''n'' = ''4''; UPDATE audit.audit_events e SET integrity_hash = audit.event_integrity_hash(e) WHERE correlation_id = ''CORR_SEAL'' AND event_data ->> ''n'' = ''99'''
:attack
-- 4. delete an event
\set sql 'DELETE FROM audit.audit_events WHERE correlation_id = ''CORR_SEAL'' AND event_data ->> ''n'' = ''1'''
:attack
-- 5. insert a forged event into a sealed range (a copy of a sealed one under a new id)
\set sql 'INSERT INTO audit.audit_events SELECT gen_random_uuid(), "timestamp", event_type, ''{"n": 0}'', user_id, session_id, correlation_id, parent_correlation_id, ip_address, user_agent, user_context, status, enrichment_data, classification, context_errors, integrity_hash, hash_version, created_at, updated_at FROM audit.audit_events WHERE correlation_id = ''CORR_SEAL'' AND event_data ->> ''n'' = ''2'''
:attack
-- 5b. ...and give it a position of its own
\set sql 'INSERT INTO audit.event_positions SELECT max(position) + 1, gen_random_uuid(), ''\\x00'', ''\\x00'', now() FROM audit.event_positions'
:attack
-- 6. swap the order of two events
\set sql 'UPDATE audit.event_positions SET position = -position WHERE position = (SELECT first_position + 1 FROM regress_base); UPDATE audit.event_positions SET position = position - 1 WHERE position = (SELECT first_position + 2 FROM regress_base); UPDATE audit.event_positions SET position = -position + 1 WHERE position < 0'
:attack
-- 7. edit a batch record
\set sql 'UPDATE audit.audit_log_integrity SET batch_end_time = batch_end_time + interval ''1 second'' WHERE id = (SELECT max(id) FROM audit.audit_log_integrity)'
:attack
-- 7b. replace a batch record's hash: it no longer matches, and the next batch no longer chains to it
SELECT audit_log('auth.logout', '{"n": 6}', '{"correlation_id": "CORR_SEAL2"}') IS NOT NULL AS logged;
SELECT seal_audit_events() AS sealed;
\set sql 'UPDATE audit.audit_log_integrity SET event_count = event_count, batch_hash = (SELECT batch_hash FROM audit.audit_log_integrity WHERE id = 1) WHERE id = (SELECT max(id) - 1 FROM audit.audit_log_integrity)'
:attack
-- 8. delete the newest events with their batch record: the database alone cannot tell, the
--    chain head is shorter; a checkpoint kept outside the database is what catches it.
SELECT (audit_chain_head() ->> 'tree_size')::bigint AS tree_size_before \gset
\set truncate 'DELETE FROM audit.audit_events WHERE event_id IN (SELECT event_id FROM audit.event_positions WHERE position > (SELECT first_position - 1 FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1)); DELETE FROM audit.event_positions WHERE position > (SELECT first_position - 1 FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1); DELETE FROM audit.audit_log_integrity WHERE id = (SELECT max(id) FROM audit.audit_log_integrity)'
BEGIN;
SELECT * FROM regress_attacked(:'truncate');
SELECT (audit_chain_head() ->> 'tree_size')::bigint < :tree_size_before AS head_went_back;
ROLLBACK;
-- 8b. ...with a copy of a checkpoint that signed that head (as auditlog-shim checkpoint keeps one)
BEGIN;
SELECT audit_store_checkpoint(jsonb_build_object(
    'checkpoint', jsonb_build_object('seq', 1, 'head', jsonb_build_object('batch_id', id, 'batch_hash', batch_hash)),
    'signature', 'not checked here'))
  FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1;
SELECT * FROM regress_attacked(:'truncate');
ROLLBACK;
-- 8c. ...or with a copy of a signed note (c2sp.org/tlog-checkpoint) of that tree head
BEGIN;
SELECT audit_store_signed_checkpoint(format(E'%s\n%s\n%s\n\n\u2014 regress AAAA\n', origin, tree_size, encode(root_hash, 'base64')))
  FROM audit_tree_head();
SELECT * FROM regress_attacked(:'truncate');
ROLLBACK;
-- 8d. a copy of a signed note whose root the log no longer gives for that size: history was
--     rewritten after it was signed (the copy, kept when it matched, is made here directly)
BEGIN;
INSERT INTO audit.signed_checkpoints (tree_size, root_hash, origin, note)
SELECT tree_size, sha256('other'), origin, 'a note of the history before' FROM audit_tree_head();
SELECT * FROM regress_attacked('SELECT');
ROLLBACK;
-- 9. an event inserted outside a window is the full check's, not the window's
\set sql 'INSERT INTO audit.audit_events SELECT gen_random_uuid(), "timestamp" - interval ''3 days'', event_type, event_data, user_id, session_id, correlation_id, parent_correlation_id, ip_address, user_agent, user_context, status, enrichment_data, classification, context_errors, integrity_hash, hash_version, created_at, updated_at FROM audit.audit_events WHERE correlation_id = ''CORR_SEAL'' AND event_data ->> ''n'' = ''2'''
:attack
-- 10. a batch whose record was moved out of the window: the events of the window lead to it
BEGIN;
SELECT * FROM regress_attacked('UPDATE audit.audit_log_integrity SET batch_start_time = batch_start_time - interval ''3 days'', batch_end_time = batch_end_time - interval ''3 days'', created_at = created_at - interval ''3 days'' WHERE id = (SELECT max(id) FROM audit.audit_log_integrity)');
ROLLBACK;

-- 11. edit a stored tile of the log's tree (what proofs are served from)
\set sql 'UPDATE audit.tree_tiles SET hashes = set_byte(hashes, 32, get_byte(hashes, 32) # 1) WHERE level = 0 AND tile_index = 0'
:attack
-- 12. edit the tree root a batch recorded
\set sql 'UPDATE audit.audit_log_integrity SET tree_root = repeat(''0'', 64) WHERE id = (SELECT max(id) - 1 FROM audit.audit_log_integrity)'
:attack

-- After all that was rolled back, the chain verifies again, and statuses say so.
SELECT * FROM verify_audit_chain();
SELECT verify_audit_batch_integrity(now() - interval '1 day', now() + interval '1 day') AS window_verifies;

-- A failing window is false and marks its batches failed (each problem is also a WARNING for the
-- log, naming the event; hidden here, as ids change from run to run).
BEGIN;
ALTER TABLE audit.audit_events DISABLE TRIGGER audit_events_append_only;
UPDATE audit.audit_events SET event_data = '{"n": 42}' WHERE correlation_id = 'CORR_SEAL2';
SET LOCAL client_min_messages = error;
SELECT verify_audit_batch_integrity(now() - interval '1 day', now() + interval '1 day') AS window_verifies;
SELECT verification_status, count(*) FROM audit.audit_log_integrity GROUP BY 1 ORDER BY 1;
ROLLBACK;

SELECT jsonb_object_keys(audit_chain_head()) AS head_keys ORDER BY 1;

-- verify_recent() for schedulers: quiet when all is well; after tampering it raises, and both
-- runs are recorded, the failed one with an integrity_failure alert.
CALL verify_recent('1 hour');
ALTER TABLE audit.audit_events DISABLE TRIGGER audit_events_append_only;
UPDATE audit.audit_events SET event_data = '{"n": 42}' WHERE correlation_id = 'CORR_SEAL2';
ALTER TABLE audit.audit_events ENABLE ALWAYS TRIGGER audit_events_append_only;
\set VERBOSITY terse
CALL verify_recent('1 hour');
\set VERBOSITY default
SELECT ok, batches > 0 AS checked_batches, jsonb_path_query_array(problems, '$[*].kind') AS kinds
  FROM audit.verification_runs ORDER BY id;
SELECT alert_type, severity, title, correlation_id, alert_data ->> 'ok' AS run_ok
  FROM audit.audit_alerts WHERE alert_type = 'integrity_failure';
