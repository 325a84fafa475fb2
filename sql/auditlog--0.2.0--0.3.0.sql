-- auditlog 0.2.0 -> 0.3.0: the log's one tree. Every sealed event's leaf, already in
-- audit.event_positions (no event is re-hashed), is appended in position order to one RFC 9162
-- Merkle tree stored as tiles in audit.tree_tiles, and each batch gets the tree's root after it
-- (audit.build_log_tree()). The batch chain is unchanged and still verifies: the batches 0.2.0
-- sealed keep seal_version 1, whose batch_hash does not cover the root; the tree is checked
-- against their leaves instead. tests/tests/upgrade.rs checks that an upgraded database has the
-- very schema a fresh 0.3.0 one has.

\echo Use "ALTER EXTENSION auditlog UPDATE TO '0.3.0'" to load this file. \quit

-- An inclusion proof is now one into the log's tree, at any size (the 0.2.0 one returned the
-- batch chain as JSON).
DROP FUNCTION audit_inclusion_proof(uuid);

-- Every C function, as this version defines it, in this version's library (a 0.2.0 install may
-- have run its own build), so that nothing below calls into 0.2.0 code.
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

CREATE OR REPLACE FUNCTION audit."classification_hash"(
	"classification" jsonb /* StoredJsonb */
) RETURNS bytea /* Vec < u8 > */
IMMUTABLE STRICT PARALLEL SAFE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'classification_hash_wrapper';

CREATE OR REPLACE FUNCTION audit."default_log_origin"() RETURNS TEXT /* String */
STRICT VOLATILE 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'default_log_origin_wrapper';

CREATE OR REPLACE FUNCTION audit."build_log_tree"() RETURNS bigint /* i64 */
STRICT VOLATILE SECURITY DEFINER 
SET search_path TO audit, pg_catalog, pg_temp
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'build_log_tree_wrapper';

CREATE OR REPLACE FUNCTION audit."cached_table_changed"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'cached_table_changed_wrapper';

CREATE OR REPLACE FUNCTION audit."refuse_change"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'refuse_change_wrapper';

-- CREATE OR REPLACE reset their settings to the definitions' own: as finalize.sql sets them.
ALTER FUNCTION audit_log(text, jsonb, jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION audit_log_batch(text) SET plan_cache_mode = force_generic_plan;

-- The tree: each batch records its root, and its size (the events sealed so far).
ALTER TABLE audit.audit_log_integrity
    ADD COLUMN tree_root varchar(64),
    ADD COLUMN tree_size bigint GENERATED ALWAYS AS (last_position) STORED;

CREATE TABLE audit.tree_tiles (
    level      smallint NOT NULL,
    tile_index bigint NOT NULL,
    hashes     bytea NOT NULL,
    PRIMARY KEY (level, tile_index)
);
ALTER TABLE audit.tree_tiles ALTER COLUMN hashes SET STORAGE EXTERNAL;

CREATE TABLE audit.signed_checkpoints (
    tree_size  bigint NOT NULL,
    root_hash  bytea NOT NULL,
    origin     text NOT NULL,
    note       text NOT NULL,
    stored_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signed_checkpoints_tree_size_idx ON audit.signed_checkpoints (tree_size);

-- The log's name on its checkpoints (the c2sp.org/tlog-checkpoint origin line), recorded once
-- when the extension is made, so that a renamed database, a restore elsewhere or pg_upgrade keep
-- it; auditlog.log_origin, when set, overrides it.
CREATE TABLE audit.log_origin (
    origin   text NOT NULL,
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row)
);

-- Append-only, as finalize.sql makes every audit table.
CREATE TRIGGER tree_tiles_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.tree_tiles
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
ALTER TABLE audit.tree_tiles ENABLE ALWAYS TRIGGER tree_tiles_append_only;
CREATE TRIGGER signed_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.signed_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
ALTER TABLE audit.signed_checkpoints ENABLE ALWAYS TRIGGER signed_checkpoints_append_only;
CREATE TRIGGER log_origin_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.log_origin
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
ALTER TABLE audit.log_origin ENABLE ALWAYS TRIGGER log_origin_append_only;
INSERT INTO audit.log_origin (origin) SELECT audit.default_log_origin();

-- Copies of 0.2.0's JSON checkpoints are kept only if they sign a batch this log holds.
CREATE OR REPLACE FUNCTION audit_store_checkpoint(p_signed jsonb) RETURNS void
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

-- Build the tree from the sealed leaves; it refuses (and the update with it) where they are
-- damaged: verify_audit_chain() under 0.2.0 names what.
SELECT audit.build_log_tree();
ALTER TABLE audit.audit_log_integrity ALTER COLUMN tree_root SET NOT NULL;

-- Ownership and privileges, as finalize.sql gives them.
ALTER TABLE audit.tree_tiles OWNER TO auditlog_owner;
ALTER TABLE audit.signed_checkpoints OWNER TO auditlog_owner;
ALTER TABLE audit.log_origin OWNER TO auditlog_owner;
ALTER FUNCTION audit_tree_head() OWNER TO auditlog_owner;
ALTER FUNCTION audit_inclusion_proof(uuid, bigint) OWNER TO auditlog_owner;
ALTER FUNCTION audit_consistency_proof(bigint, bigint) OWNER TO auditlog_owner;
ALTER FUNCTION audit_store_signed_checkpoint(text) OWNER TO auditlog_owner;
ALTER FUNCTION audit.build_log_tree() OWNER TO auditlog_owner;
REVOKE ALL ON audit.tree_tiles, audit.signed_checkpoints, audit.log_origin FROM PUBLIC;
GRANT SELECT ON audit.tree_tiles, audit.signed_checkpoints, audit.log_origin TO audit_reader;
REVOKE ALL ON FUNCTION audit_tree_head(), audit_inclusion_proof(uuid, bigint), audit_consistency_proof(bigint, bigint),
    audit_store_signed_checkpoint(text), audit.build_log_tree(), audit.default_log_origin() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.build_log_tree(), audit.default_log_origin() TO auditlog_owner;
GRANT EXECUTE ON FUNCTION audit_store_signed_checkpoint(text), audit_tree_head(),
    audit_consistency_proof(bigint, bigint) TO audit_writer;
GRANT EXECUTE ON FUNCTION audit_tree_head(), audit_inclusion_proof(uuid, bigint), audit_consistency_proof(bigint, bigint)
    TO audit_reader;

-- pg_dump keeps the tree and the checkpoint copies, as every audit table.
SELECT pg_catalog.pg_extension_config_dump('audit.tree_tiles', '');
SELECT pg_catalog.pg_extension_config_dump('audit.signed_checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('audit.log_origin', '');
