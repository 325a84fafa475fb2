-- auditlog: triggers, ownership, privileges and pg_dump settings. Runs last in CREATE EXTENSION.

-- The stored hash, recomputed from the row with the code that computed it at insert.
CREATE FUNCTION audit.event_integrity_hash(e audit.audit_events) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN audit.compute_event_hash(
    e.event_id, e."timestamp", e.event_type, e.event_data, e.user_id, e.session_id,
    e.correlation_id, e.parent_correlation_id, host(e.ip_address), e.user_agent, e.user_context,
    e.status, e.enrichment_data, e.classification, e.context_errors, e.hash_version,
    e.created_at, e.updated_at);

-- Append-only: UPDATE, DELETE and TRUNCATE are refused for everyone, the owner included, unless
-- they come from auditlog's own functions. ENABLE ALWAYS keeps the triggers on under
-- session_replication_role = replica. Statement triggers are not inherited: every partition
-- gets its own (audit_maintain_partitions() adds it to those it makes).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_events', 'audit_events_default', 'audit_events_archive',
                             'audit_events_archive_default', 'event_ids', 'redactions',
                             'field_access_audit', 'correlation_rollup',
                             'audit_log_integrity', 'compliance_report_cache', 'audit_alerts',
                             'unsealed_events', 'event_positions', 'tree_tiles', 'verification_runs', 'checkpoints',
                             'signed_checkpoints', 'log_origin', 'vault_checked', 'alert_changes']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()', t || '_append_only', t);
        EXECUTE format('ALTER TABLE audit.%I ENABLE ALWAYS TRIGGER %I', t, t || '_append_only');
    END LOOP;
END
$$;

-- A changed or added event type is the DBA's; a restored one replaces the shipped row it names.
CREATE FUNCTION audit.event_types_customised() RETURNS trigger
LANGUAGE plpgsql SET search_path = audit, pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        DELETE FROM audit.event_types WHERE event_type = NEW.event_type AND builtin;
    END IF;
    NEW.builtin := false;
    RETURN NEW;
END
$$;
CREATE TRIGGER event_types_customised BEFORE INSERT OR UPDATE ON audit.event_types
    FOR EACH ROW EXECUTE FUNCTION audit.event_types_customised();
-- audit_log() caches the taxonomy in each backend; any change tells every backend to reload it.
CREATE TRIGGER event_types_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit.event_types
    FOR EACH STATEMENT EXECUTE FUNCTION audit.cached_table_changed();
ALTER TABLE audit.event_types ENABLE ALWAYS TRIGGER event_types_changed;
ALTER TABLE audit.event_types ENABLE ALWAYS TRIGGER event_types_customised;

-- Likewise a shipped detection rule a DBA changes becomes the DBA's, and pg_dump keeps it.
CREATE FUNCTION audit.detection_rules_customised() RETURNS trigger
LANGUAGE plpgsql SET search_path = audit, pg_catalog, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        DELETE FROM audit.detection_rules WHERE rule_id = NEW.rule_id AND builtin;
    END IF;
    NEW.builtin := false;
    RETURN NEW;
END
$$;
CREATE TRIGGER detection_rules_customised BEFORE INSERT OR UPDATE ON audit.detection_rules
    FOR EACH ROW EXECUTE FUNCTION audit.detection_rules_customised();
ALTER TABLE audit.detection_rules ENABLE ALWAYS TRIGGER detection_rules_customised;
-- audit_log() caches the rules in each backend too; a change applies to the next call everywhere.
CREATE TRIGGER detection_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit.detection_rules
    FOR EACH STATEMENT EXECUTE FUNCTION audit.cached_table_changed();
ALTER TABLE audit.detection_rules ENABLE ALWAYS TRIGGER detection_rules_changed;

-- For schedulers (pg_cron): verify what was sealed within p_window, keep the result, and fail
-- loudly. The run and its alert are committed before the error is raised, so a failed run is
-- recorded too; hence a procedure, to be run with CALL outside a transaction block, as pg_cron does.
-- (No SET clause: it would forbid the COMMIT. It runs as its caller, and names what it calls.)
CREATE PROCEDURE verify_recent(p_window interval DEFAULT '1 hour')
LANGUAGE plpgsql AS $$
DECLARE
    run jsonb;
BEGIN
    run := audit.verify_recent_run(p_window);
    COMMIT;
    IF NOT (run OPERATOR(pg_catalog.->>) 'ok')::boolean THEN
        RAISE EXCEPTION 'audit log integrity check failed: % problem(s) in % batch(es) sealed within %',
            pg_catalog.jsonb_array_length(run OPERATOR(pg_catalog.->) 'problems'),
            run OPERATOR(pg_catalog.->>) 'batches', p_window
            USING DETAIL = (run OPERATOR(pg_catalog.->) 'problems')::text, HINT = 'SELECT * FROM verify_audit_chain() names every break.';
    END IF;
END
$$;

-- Keeps a copy of a 0.2.0 JSON checkpoint (a checkpoint already stored is left as it is), only
-- if it signs a batch this log holds, so that no writer can plant one that fails verification.
CREATE FUNCTION audit_store_checkpoint(p_signed jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = audit, pg_catalog, pg_temp AS $$
BEGIN
    IF (p_signed -> 'checkpoint' -> 'head' ->> 'batch_id')::bigint <> 0 AND NOT EXISTS (
           SELECT FROM audit.audit_log_integrity
            WHERE id = (p_signed -> 'checkpoint' -> 'head' ->> 'batch_id')::bigint
              AND batch_hash = p_signed -> 'checkpoint' -> 'head' ->> 'batch_hash') THEN
        RAISE EXCEPTION 'the checkpoint does not sign a batch this log holds: not keeping it';
    END IF;
    INSERT INTO audit.checkpoints (seq, checkpoint, signature)
    VALUES ((p_signed -> 'checkpoint' ->> 'seq')::bigint, p_signed -> 'checkpoint', p_signed ->> 'signature')
    ON CONFLICT (seq) DO NOTHING;
END
$$;

-- Ownership: a NOLOGIN role owns the data and the SECURITY DEFINER functions that write it.
-- CREATE: audit_maintain_partitions() makes partitions as this role.
GRANT USAGE, CREATE ON SCHEMA audit TO auditlog_owner;
ALTER TABLE audit.event_types OWNER TO auditlog_owner;
ALTER TABLE audit.detection_rules OWNER TO auditlog_owner;
ALTER TABLE audit.audit_events OWNER TO auditlog_owner;
ALTER TABLE audit.audit_events_default OWNER TO auditlog_owner;
ALTER TABLE audit.audit_events_archive OWNER TO auditlog_owner;
ALTER TABLE audit.audit_events_archive_default OWNER TO auditlog_owner;
ALTER TABLE audit.event_ids OWNER TO auditlog_owner;
ALTER TABLE audit.redactions OWNER TO auditlog_owner;
ALTER VIEW audit.all_events OWNER TO auditlog_owner;
ALTER TABLE audit.field_access_audit OWNER TO auditlog_owner;
ALTER TABLE audit.correlation_rollup OWNER TO auditlog_owner;
ALTER VIEW audit.correlation_metadata OWNER TO auditlog_owner;
ALTER TABLE audit.audit_log_integrity OWNER TO auditlog_owner;
ALTER TABLE audit.compliance_report_cache OWNER TO auditlog_owner;
ALTER TABLE audit.audit_alerts OWNER TO auditlog_owner;
ALTER TABLE audit.alert_changes OWNER TO auditlog_owner;
ALTER TABLE audit.unsealed_events OWNER TO auditlog_owner;
ALTER TABLE audit.event_positions OWNER TO auditlog_owner;
ALTER TABLE audit.verification_runs OWNER TO auditlog_owner;
ALTER TABLE audit.checkpoints OWNER TO auditlog_owner;
ALTER TABLE audit.tree_tiles OWNER TO auditlog_owner;
ALTER TABLE audit.signed_checkpoints OWNER TO auditlog_owner;
ALTER TABLE audit.log_origin OWNER TO auditlog_owner;
ALTER TABLE audit.vault_checked OWNER TO auditlog_owner;
ALTER VIEW audit.vault_status OWNER TO auditlog_owner;
ALTER FUNCTION audit.check_received_seals() OWNER TO auditlog_owner;
ALTER FUNCTION audit_log(text, jsonb, jsonb) OWNER TO auditlog_owner;
-- Their kept statements run against the partitioned audit_events: generic plans (partitions
-- pruned at run time) spare planning every call, which custom plans would repeat.
ALTER FUNCTION audit_log(text, jsonb, jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION audit_log_batch(text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION audit_log_batch(text) OWNER TO auditlog_owner;
ALTER FUNCTION seal_audit_events() OWNER TO auditlog_owner;
ALTER FUNCTION verify_audit_chain(bigint, bigint) OWNER TO auditlog_owner;
ALTER FUNCTION verify_audit_batch_integrity(timestamptz, timestamptz) OWNER TO auditlog_owner;
ALTER FUNCTION audit_chain_head() OWNER TO auditlog_owner;
ALTER FUNCTION audit_tree_head() OWNER TO auditlog_owner;
ALTER FUNCTION audit_inclusion_proof(uuid, bigint) OWNER TO auditlog_owner;
ALTER FUNCTION audit_consistency_proof(bigint, bigint) OWNER TO auditlog_owner;
ALTER FUNCTION audit_store_signed_checkpoint(text) OWNER TO auditlog_owner;
ALTER FUNCTION audit.build_log_tree() OWNER TO auditlog_owner;
ALTER FUNCTION audit.verify_recent_run(interval) OWNER TO auditlog_owner;
ALTER FUNCTION audit_store_checkpoint(jsonb) OWNER TO auditlog_owner;
ALTER FUNCTION audit_maintain_partitions() OWNER TO auditlog_owner;
ALTER FUNCTION archive_audit_logs(integer) OWNER TO auditlog_owner;
ALTER FUNCTION redact_audit_event(uuid, text) OWNER TO auditlog_owner;
ALTER FUNCTION redact_user_audit_events(bigint, text) OWNER TO auditlog_owner;
ALTER FUNCTION purge_expired_audit_events() OWNER TO auditlog_owner;
ALTER FUNCTION acknowledge_audit_alert(text, bigint, text) OWNER TO auditlog_owner;
ALTER FUNCTION resolve_audit_alert(text, bigint, text) OWNER TO auditlog_owner;
ALTER FUNCTION generate_compliance_report(text, date, date, text) OWNER TO auditlog_owner;
ALTER VIEW audit.recent_high_risk_events OWNER TO auditlog_owner;
ALTER VIEW audit.open_alerts OWNER TO auditlog_owner;
ALTER VIEW audit.integrity_status OWNER TO auditlog_owner;

-- Privileges: writers may only log; readers may read and recompute hashes.
REVOKE ALL ON ALL TABLES IN SCHEMA audit FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA audit FROM PUBLIC;
REVOKE ALL ON FUNCTION audit_log(text, jsonb, jsonb), audit_log_batch(text), seal_audit_events(), verify_audit_chain(bigint, bigint),
    verify_audit_batch_integrity(timestamptz, timestamptz), audit_chain_head(), audit_tree_head(),
    audit_inclusion_proof(uuid, bigint), audit_consistency_proof(bigint, bigint),
    audit_store_signed_checkpoint(text), audit_maintain_partitions(), archive_audit_logs(integer), redact_audit_event(uuid, text),
    redact_user_audit_events(bigint, text), purge_expired_audit_events() FROM PUBLIC;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA audit TO auditlog_owner;
GRANT USAGE ON SCHEMA audit TO audit_writer, audit_reader;
REVOKE ALL ON FUNCTION audit_store_checkpoint(jsonb) FROM PUBLIC;
-- Writers also keep checkpoint copies, and may read the tree head and consistency proofs that
-- signing a checkpoint needs (hashes only).
GRANT EXECUTE ON FUNCTION audit_log(text, jsonb, jsonb), audit_log_batch(text), seal_audit_events(),
    audit_store_checkpoint(jsonb), audit_store_signed_checkpoint(text), audit_tree_head(),
    audit_consistency_proof(bigint, bigint) TO audit_writer;
GRANT EXECUTE ON FUNCTION verify_audit_chain(bigint, bigint), verify_audit_batch_integrity(timestamptz, timestamptz),
    audit_chain_head(), audit_tree_head(), audit_inclusion_proof(uuid, bigint), audit_consistency_proof(bigint, bigint),
    audit.classification_hash(jsonb), audit.verify_recent_run(interval) TO audit_reader;
REVOKE ALL ON PROCEDURE verify_recent(interval) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE verify_recent(interval) TO audit_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO audit_reader;
GRANT EXECUTE ON FUNCTION audit.event_integrity_hash(audit.audit_events) TO audit_reader;
GRANT EXECUTE ON FUNCTION audit.compute_event_hash TO audit_reader;
GRANT EXECUTE ON FUNCTION audit.vault_break() TO audit_reader;
REVOKE ALL ON FUNCTION audit_correlation_events(text), find_related_correlations(text, integer),
    correlation_tree(text), analyze_correlation_flow(text), get_audit_statistics(date, date),
    acknowledge_audit_alert(text, bigint, text), resolve_audit_alert(text, bigint, text),
    generate_compliance_report(text, date, date, text) FROM PUBLIC;
-- Readers are the analysts: they may also acknowledge and resolve alerts.
GRANT EXECUTE ON FUNCTION audit_correlation_events(text), find_related_correlations(text, integer),
    correlation_tree(text), analyze_correlation_flow(text), get_audit_statistics(date, date),
    acknowledge_audit_alert(text, bigint, text), resolve_audit_alert(text, bigint, text),
    generate_compliance_report(text, date, date, text) TO audit_reader;

-- pg_dump: audit rows are data, not extension objects, and must be dumped. Partitions made later
-- are not part of the extension and are dumped whole, as any table.
SELECT pg_catalog.pg_extension_config_dump('audit.correlation_rollup', '');
SELECT pg_catalog.pg_extension_config_dump('audit.audit_events_default', '');
SELECT pg_catalog.pg_extension_config_dump('audit.audit_events_archive_default', '');
SELECT pg_catalog.pg_extension_config_dump('audit.event_ids', '');
SELECT pg_catalog.pg_extension_config_dump('audit.redactions', '');
SELECT pg_catalog.pg_extension_config_dump('audit.field_access_audit', '');
SELECT pg_catalog.pg_extension_config_dump('audit.field_access_audit_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.audit_log_integrity', '');
SELECT pg_catalog.pg_extension_config_dump('audit.unsealed_events', '');
SELECT pg_catalog.pg_extension_config_dump('audit.event_positions', '');
SELECT pg_catalog.pg_extension_config_dump('audit.verification_runs', '');
SELECT pg_catalog.pg_extension_config_dump('audit.verification_runs_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('audit.tree_tiles', '');
SELECT pg_catalog.pg_extension_config_dump('audit.signed_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('audit.log_origin', '');
SELECT pg_catalog.pg_extension_config_dump('audit.vault_checked', '');
SELECT pg_catalog.pg_extension_config_dump('audit.compliance_report_cache', '');
SELECT pg_catalog.pg_extension_config_dump('audit.audit_alerts', '');
SELECT pg_catalog.pg_extension_config_dump('audit.alert_changes', '');
SELECT pg_catalog.pg_extension_config_dump('audit.alert_changes_change_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('audit.event_types', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('audit.detection_rules', 'WHERE NOT builtin');

-- The partitions of the current period and the ones ahead, made now, so that nothing lands in
-- the default partition of a server that runs no background sealer and no pg_cron yet. Not in
-- the restore of a dump (pg_dump's scripts run with row_security = off), which brings its own:
-- made here, they would collide with them.
SELECT audit_maintain_partitions() WHERE current_setting('row_security') <> 'off';
-- Likewise the log's origin: a restore brings the original's, and a vault its source's.
INSERT INTO audit.log_origin (origin) SELECT audit.default_log_origin()
 WHERE current_setting('row_security') <> 'off' AND NOT current_setting('auditlog.vault_mode', true)::boolean IS TRUE;

-- What the preload adds, said where it is missing (or seals another database). A WARNING: an
-- extension script's NOTICEs never reach the client. A vault seals nothing.
DO $$
BEGIN
    IF current_setting('auditlog.vault_mode', true)::boolean IS TRUE THEN
        RETURN;
    ELSIF current_setting('shared_preload_libraries') !~ '(^|[\s,"/])auditlog("|\s*(,|$))' THEN
        RAISE WARNING 'auditlog is not in shared_preload_libraries: nothing seals new events in the background, and nothing makes partitions ahead once these run out'
            USING HINT = format('Add auditlog to shared_preload_libraries with auditlog.seal_database = %L and restart, or schedule SELECT seal_audit_events() and SELECT audit_maintain_partitions() (pg_cron lines in the README).', current_database());
    ELSIF current_setting('auditlog.seal_database', true) IS DISTINCT FROM current_database() THEN
        RAISE WARNING 'the background sealer seals database %, not this one', current_setting('auditlog.seal_database', true)
            USING HINT = format('Set auditlog.seal_database = %L and restart, or schedule SELECT seal_audit_events() here.', current_database());
    END IF;
END
$$;
