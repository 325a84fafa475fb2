-- auditlog 0.3.0 -> 0.4.0: vault mode (auditlog.vault_mode; extension/src/vault.rs). A database
-- can receive another database's log by logical replication and verify each seal as it lands.
-- Nothing changes for a database that is not a vault but one trigger on audit_log_integrity that
-- lets its own sealer's rows through. tests/tests/upgrade.rs checks that an upgraded database has
-- the very schema a fresh 0.4.0 one has.

\echo Use "ALTER EXTENSION auditlog UPDATE TO '0.4.0'" to load this file. \quit

-- Every C function, as this version defines it, in this version's library (a 0.3.0 install may
-- have run its own build), so that nothing below calls into 0.3.0 code.
CREATE OR REPLACE FUNCTION "acknowledge_audit_alert"(
	"p_alert_id" TEXT, /* & str */
	"p_acknowledged_by" bigint, /* i64 */
	"p_notes" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* JsonB */
VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'acknowledge_audit_alert_wrapper';

CREATE OR REPLACE FUNCTION "analyze_correlation_flow"(
	"p_correlation_id" TEXT /* & str */
) RETURNS jsonb /* JsonB */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'analyze_correlation_flow_wrapper';

CREATE OR REPLACE FUNCTION "archive_audit_logs"(
	"p_archive_before_days" INT DEFAULT 365 /* i32 */
) RETURNS INT /* i32 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'archive_audit_logs_wrapper';

CREATE OR REPLACE FUNCTION "audit_chain_head"() RETURNS jsonb /* JsonB */
STRICT STABLE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_chain_head_wrapper';

CREATE OR REPLACE FUNCTION "audit_consistency_proof"(
	"p_old_size" bigint, /* i64 */
	"p_new_size" bigint /* i64 */
) RETURNS bytea[] /* Vec < Vec < u8 > > */
STRICT STABLE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_consistency_proof_wrapper';

CREATE OR REPLACE FUNCTION "audit_inclusion_proof"(
	"p_event_id" uuid, /* Uuid */
	"p_tree_size" bigint DEFAULT NULL /* Option < i64 > */
) RETURNS TABLE (
	"leaf_index" bigint,  /* i64 */
	"tree_size" bigint,  /* i64 */
	"leaf_data" bytea,  /* Vec < u8 > */
	"inclusion_path" bytea[]  /* Vec < Vec < u8 > > */
)
STABLE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_inclusion_proof_wrapper';

CREATE OR REPLACE FUNCTION "audit_log"(
	"event_type" TEXT, /* Option < & str > */
	"event_data" jsonb DEFAULT '{}', /* Option < StoredJsonb > */
	"user_context" jsonb DEFAULT '{}' /* Option < StoredJsonb > */
) RETURNS uuid /* pgrx :: datum :: Uuid */
VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_log_wrapper';

CREATE OR REPLACE FUNCTION "audit_log_batch"(
	"events" TEXT /* & str */
) RETURNS TABLE (
	"line" INT,  /* i32 */
	"event_id" uuid,  /* Option < pgrx :: datum :: Uuid > */
	"outcome" TEXT,  /* & '_ str */
	"error" TEXT  /* Option < String > */
)
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_log_batch_wrapper';

CREATE OR REPLACE FUNCTION "audit_maintain_partitions"() RETURNS INT /* i32 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_maintain_partitions_wrapper';

CREATE OR REPLACE FUNCTION "audit_store_signed_checkpoint"(
	"p_note" TEXT /* & str */
) RETURNS void
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_store_signed_checkpoint_wrapper';

CREATE OR REPLACE FUNCTION "audit_tree_head"() RETURNS TABLE (
	"origin" TEXT,  /* String */
	"tree_size" bigint,  /* i64 */
	"root_hash" bytea,  /* Vec < u8 > */
	"sealed_at" timestamp with time zone  /* Option < TimestampWithTimeZone > */
)
STRICT STABLE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'audit_tree_head_wrapper';

CREATE OR REPLACE FUNCTION audit."build_log_tree"() RETURNS bigint /* i64 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'build_log_tree_wrapper';

CREATE OR REPLACE FUNCTION audit."cached_table_changed"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'cached_table_changed_wrapper';

CREATE OR REPLACE FUNCTION audit."classification_hash"(
	"classification" jsonb /* StoredJsonb */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'classification_hash_wrapper';

CREATE OR REPLACE FUNCTION audit."compute_event_hash"(
	"event_id" uuid, /* pgrx :: datum :: Uuid */
	"timestamp" timestamp with time zone, /* TimestampWithTimeZone */
	"event_type" TEXT, /* & str */
	"event_data" jsonb, /* StoredJsonb */
	"user_id" bigint, /* Option < i64 > */
	"session_id" TEXT, /* Option < & str > */
	"correlation_id" TEXT, /* & str */
	"parent_correlation_id" TEXT, /* Option < & str > */
	"ip_address" TEXT, /* Option < & str > */
	"user_agent" TEXT, /* Option < & str > */
	"user_context" jsonb, /* StoredJsonb */
	"status" TEXT, /* & str */
	"enrichment_data" jsonb, /* StoredJsonb */
	"classification" jsonb, /* StoredJsonb */
	"context_errors" jsonb, /* Option < StoredJsonb > */
	"hash_version" smallint, /* i16 */
	"created_at" timestamp with time zone, /* TimestampWithTimeZone */
	"updated_at" timestamp with time zone /* TimestampWithTimeZone */
) RETURNS TEXT /* String */
IMMUTABLE PARALLEL SAFE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'compute_event_hash_wrapper';

CREATE OR REPLACE FUNCTION audit."default_log_origin"() RETURNS TEXT /* String */
STRICT VOLATILE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'default_log_origin_wrapper';

CREATE OR REPLACE FUNCTION "generate_compliance_report"(
	"report_type" TEXT, /* & str */
	"p_start" date, /* pgrx :: datum :: Date */
	"p_end" date, /* pgrx :: datum :: Date */
	"p_subject" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS jsonb /* JsonB */
VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'generate_compliance_report_wrapper';

CREATE OR REPLACE FUNCTION "purge_expired_audit_events"() RETURNS INT /* i32 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'purge_expired_audit_events_wrapper';

CREATE OR REPLACE FUNCTION "redact_audit_event"(
	"p_event_id" uuid, /* Uuid */
	"p_reason" TEXT /* & str */
) RETURNS INT /* i32 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'redact_audit_event_wrapper';

CREATE OR REPLACE FUNCTION "redact_user_audit_events"(
	"p_user_id" bigint, /* i64 */
	"p_reason" TEXT /* & str */
) RETURNS INT /* i32 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'redact_user_audit_events_wrapper';

CREATE OR REPLACE FUNCTION audit."refuse_change"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'refuse_change_wrapper';

CREATE OR REPLACE FUNCTION "resolve_audit_alert"(
	"p_alert_id" TEXT, /* & str */
	"p_resolved_by" bigint, /* i64 */
	"p_resolution_notes" TEXT /* & str */
) RETURNS jsonb /* JsonB */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'resolve_audit_alert_wrapper';

CREATE OR REPLACE FUNCTION "seal_audit_events"() RETURNS bigint /* i64 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'seal_audit_events_wrapper';

CREATE OR REPLACE FUNCTION "verify_audit_batch_integrity"(
	"p_batch_start" timestamp with time zone, /* TimestampWithTimeZone */
	"p_batch_end" timestamp with time zone /* TimestampWithTimeZone */
) RETURNS bool /* bool */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'verify_audit_batch_integrity_wrapper';

CREATE OR REPLACE FUNCTION "verify_audit_chain"(
	"p_from_batch" bigint DEFAULT 1, /* i64 */
	"p_to_batch" bigint DEFAULT NULL /* Option < i64 > */
) RETURNS TABLE (
	"kind" TEXT,  /* String */
	"batch_id" bigint,  /* Option < i64 > */
	"position" bigint,  /* Option < i64 > */
	"event_id" uuid,  /* Option < Uuid > */
	"detail" TEXT  /* String */
)
VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'verify_audit_chain_wrapper';

CREATE OR REPLACE FUNCTION audit."verify_recent_run"(
	"p_window" interval /* pgrx :: datum :: Interval */
) RETURNS jsonb /* pgrx :: datum :: JsonB */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'verify_recent_run_wrapper';

-- CREATE OR REPLACE reset their settings to the definitions' own: as finalize.sql sets them.
ALTER FUNCTION audit_log(text, jsonb, jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION audit_log_batch(text) SET plan_cache_mode = force_generic_plan;

-- Vault mode's functions.
CREATE FUNCTION audit."check_received_seals"() RETURNS bigint /* i64 */
STRICT VOLATILE SECURITY DEFINER
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'check_received_seals_wrapper';

CREATE FUNCTION audit."vault_break"() RETURNS TEXT /* Option < String > */
STRICT STABLE
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'vault_break_wrapper';

CREATE FUNCTION audit."check_incoming_seal"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'check_incoming_seal_wrapper';

-- How far the received log is verified: one row per check, the last batch and the tree size.
CREATE TABLE audit.vault_checked (
    batch_id   bigint PRIMARY KEY,
    tree_size  bigint NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now()
);

-- ENABLE ALWAYS: the apply worker runs with session_replication_role = replica, where ordinary
-- triggers do not fire. On a source the sealer's own inserts pass through untouched.
CREATE TRIGGER audit_log_integrity_check_incoming BEFORE INSERT ON audit.audit_log_integrity
    FOR EACH ROW EXECUTE FUNCTION audit.check_incoming_seal();
ALTER TABLE audit.audit_log_integrity ENABLE ALWAYS TRIGGER audit_log_integrity_check_incoming;

-- Per subscription of this database (one per source): is it receiving, how much it holds, how
-- far that is verified, what waits for the source's next seal, and the last break.
CREATE VIEW audit.vault_status AS
SELECT s.subname AS subscription,
       (SELECT origin FROM audit.log_origin) AS origin,
       s.subenabled AS enabled,
       w.pid IS NOT NULL AS receiving,
       w.last_msg_receipt_time AS last_received_at,
       coalesce(st.apply_error_count, 0) + coalesce(st.sync_error_count, 0) AS apply_errors,
       coalesce((SELECT max(last_position) FROM audit.audit_log_integrity), 0) AS held_size,
       coalesce(c.tree_size, 0) AS verified_size,
       c.checked_at AS verified_at,
       (SELECT count(*) FROM audit.unsealed_events) AS waiting_events,
       (SELECT min("timestamp") FROM audit.unsealed_events) AS oldest_waiting,
       audit.vault_break() AS last_break
  FROM pg_catalog.pg_subscription s
  LEFT JOIN pg_catalog.pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
  LEFT JOIN pg_catalog.pg_stat_subscription_stats st ON st.subid = s.oid
  LEFT JOIN LATERAL (SELECT tree_size, checked_at FROM audit.vault_checked
                      ORDER BY batch_id DESC LIMIT 1) c ON true
 WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database());

-- A vault receives a source's archived events as rows of the archive: they land here.
CREATE TABLE audit.audit_events_archive_default PARTITION OF audit.audit_events_archive DEFAULT;
SELECT audit.index_event_partition('audit.audit_events_archive_default');
CREATE TRIGGER audit_events_archive_default_append_only BEFORE UPDATE OR DELETE OR TRUNCATE
    ON audit.audit_events_archive_default FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
ALTER TABLE audit.audit_events_archive_default ENABLE ALWAYS TRIGGER audit_events_archive_default_append_only;
ALTER TABLE audit.audit_events_archive_default OWNER TO auditlog_owner;
REVOKE ALL ON audit.audit_events_archive_default FROM PUBLIC;
GRANT SELECT ON audit.audit_events_archive_default TO audit_reader;
SELECT pg_catalog.pg_extension_config_dump('audit.audit_events_archive_default', '');

-- Append-only, owned, private and dumped, as finalize.sql makes every audit table.
CREATE TRIGGER vault_checked_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.vault_checked
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
ALTER TABLE audit.vault_checked ENABLE ALWAYS TRIGGER vault_checked_append_only;
ALTER TABLE audit.vault_checked OWNER TO auditlog_owner;
ALTER VIEW audit.vault_status OWNER TO auditlog_owner;
ALTER FUNCTION audit.check_received_seals() OWNER TO auditlog_owner;
REVOKE ALL ON audit.vault_checked, audit.vault_status FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.check_received_seals(), audit.vault_break(), audit.check_incoming_seal() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.check_received_seals(), audit.vault_break(), audit.check_incoming_seal() TO auditlog_owner;
GRANT EXECUTE ON FUNCTION audit.vault_break() TO audit_reader;
GRANT SELECT ON audit.vault_checked, audit.vault_status TO audit_reader;
SELECT pg_catalog.pg_extension_config_dump('audit.vault_checked', '');
