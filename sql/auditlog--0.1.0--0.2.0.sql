-- auditlog 0.1.0 -> 0.2.0: audit.audit_events becomes partitioned by time, with a registry of
-- event ids, an archive, and the positions' event times. Every 0.1.0 event stays where it is:
-- the 0.1.0 table becomes the first partition, covering all time up to the end of the month of
-- its newest event (or of now), so nothing is copied. tests/tests/upgrade.rs checks that an
-- upgraded database has the very schema a fresh 0.2.0 one has.

\echo Use "ALTER EXTENSION auditlog UPDATE TO '0.2.0'" to load this file. \quit

-- First, every C function, as this version defines it, in this version's library (a 0.1.0
-- install may have run its own build), so that nothing below calls into 0.1.0 code.
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

CREATE OR REPLACE FUNCTION "audit_inclusion_proof"(
	"event_id" uuid /* Uuid */
) RETURNS jsonb /* JsonB */
STRICT STABLE SECURITY DEFINER
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

CREATE OR REPLACE FUNCTION audit."refuse_change"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'refuse_change_wrapper';

-- The taxonomy's invalidation trigger now serves the detection rules too, under a new name.
DROP TRIGGER event_types_taxonomy_changed ON audit.event_types;
DROP FUNCTION audit.taxonomy_changed();
CREATE FUNCTION audit."cached_table_changed"()
	RETURNS TRIGGER
	LANGUAGE c
	AS 'MODULE_PATHNAME', 'cached_table_changed_wrapper';
CREATE TRIGGER event_types_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit.event_types
    FOR EACH STATEMENT EXECUTE FUNCTION audit.cached_table_changed();
ALTER TABLE audit.event_types ENABLE ALWAYS TRIGGER event_types_changed;

-- The 0.1.0 table, renamed, with its indexes named as a partition's would be, without the
-- correlation roll-up trigger (seals roll correlations up now, see below).
ALTER TABLE audit.audit_events RENAME TO audit_events_p0_1_0;
ALTER TABLE audit.audit_events_p0_1_0 RENAME CONSTRAINT audit_events_pkey TO audit_events_p0_1_0_pkey;
ALTER INDEX audit.audit_events_correlation_idx RENAME TO audit_events_p0_1_0_correlation_idx;
ALTER INDEX audit.audit_events_user_idx RENAME TO audit_events_p0_1_0_user_idx;
ALTER INDEX audit.audit_events_type_idx RENAME TO audit_events_p0_1_0_type_idx;
ALTER INDEX audit.audit_events_time_brin RENAME TO audit_events_p0_1_0_time_brin;
ALTER INDEX audit.audit_events_high_risk_idx RENAME TO audit_events_p0_1_0_high_risk_idx;
DROP TRIGGER audit_events_correlation_rollup ON audit.audit_events_p0_1_0;
DROP FUNCTION audit.correlation_rollup();
ALTER TRIGGER audit_events_append_only ON audit.audit_events_p0_1_0 RENAME TO audit_events_p0_1_0_append_only;
-- The old table's own event_integrity_hash(audit.audit_events) goes with its row type's name.
DROP FUNCTION audit.event_integrity_hash(audit.audit_events_p0_1_0);

CREATE TABLE audit.audit_events (
    event_id              uuid NOT NULL,
    "timestamp"           timestamptz NOT NULL,
    event_type            text NOT NULL,
    event_data            jsonb NOT NULL,
    user_id               bigint,
    session_id            text,
    correlation_id        text NOT NULL,
    parent_correlation_id text,
    ip_address            inet,
    user_agent            text,
    user_context          jsonb NOT NULL,
    status                text NOT NULL,
    enrichment_data       jsonb NOT NULL,
    classification        jsonb NOT NULL,
    context_errors        jsonb,
    integrity_hash        varchar(64) NOT NULL,
    hash_version          smallint NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL
) PARTITION BY RANGE ("timestamp");
CREATE FUNCTION audit.index_event_partition(p regclass) RETURNS void
LANGUAGE plpgsql SET search_path = audit, pg_catalog, pg_temp AS $$
DECLARE
    t text := (SELECT relname FROM pg_class WHERE oid = p);
BEGIN
    EXECUTE format('CREATE INDEX %I ON %s ("timestamp", event_id)', t || '_time_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (correlation_id, "timestamp")', t || '_correlation_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (user_id, "timestamp") WHERE user_id IS NOT NULL', t || '_user_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (event_type, "timestamp")', t || '_type_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s (ip_address, "timestamp") WHERE ip_address IS NOT NULL', t || '_ip_idx', p);
    EXECUTE format('CREATE INDEX %I ON %s ("timestamp") WHERE ((classification ->> ''risk_score'')::int > 75)',
                   t || '_high_risk_idx', p);
END
$$;
CREATE TABLE audit.audit_events_default PARTITION OF audit.audit_events DEFAULT;
SELECT audit.index_event_partition('audit.audit_events_default');

DO $$
DECLARE
    upto timestamptz;
BEGIN
    SELECT date_trunc('month', greatest(max("timestamp"), now()) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
           + interval '1 month'
      INTO upto FROM audit.audit_events_p0_1_0;
    EXECUTE format('ALTER TABLE audit.audit_events ATTACH PARTITION audit.audit_events_p0_1_0
                    FOR VALUES FROM (MINVALUE) TO (%L)', upto);
END
$$;
-- Uniqueness moves to the registry below; lookups by id take the time too, as on every partition.
ALTER TABLE audit.audit_events_p0_1_0 DROP CONSTRAINT audit_events_p0_1_0_pkey;
CREATE INDEX audit_events_p0_1_0_time_idx ON audit.audit_events_p0_1_0 ("timestamp", event_id);
CREATE INDEX audit_events_p0_1_0_ip_idx ON audit.audit_events_p0_1_0 (ip_address, "timestamp") WHERE ip_address IS NOT NULL;

CREATE TABLE audit.event_ids (
    event_id    uuid PRIMARY KEY,
    "timestamp" timestamptz NOT NULL
);
INSERT INTO audit.event_ids SELECT event_id, "timestamp" FROM audit.audit_events_p0_1_0;

CREATE TABLE audit.audit_events_archive (LIKE audit.audit_events)
    PARTITION BY RANGE ("timestamp");

CREATE TABLE audit.redactions (
    event_id           uuid PRIMARY KEY,
    "timestamp"        timestamptz NOT NULL,
    redacted_at        timestamptz NOT NULL,
    requested_by       text NOT NULL,
    reason             text NOT NULL,
    original_hash      varchar(64) NOT NULL,
    redacted_hash      varchar(64) NOT NULL,
    redaction_event_id uuid NOT NULL
);
CREATE INDEX redactions_redaction_event_idx ON audit.redactions (redaction_event_id);

CREATE VIEW audit.all_events AS
    SELECT * FROM audit.audit_events
    UNION ALL
    SELECT * FROM audit.audit_events_archive;

-- Positions learn their events' times (where verification finds each event's partition).
ALTER TABLE audit.event_positions ADD COLUMN "timestamp" timestamptz;
ALTER TABLE audit.event_positions DISABLE TRIGGER event_positions_append_only;
UPDATE audit.event_positions p SET "timestamp" = e."timestamp"
  FROM audit.audit_events_p0_1_0 e WHERE e.event_id = p.event_id;
-- A position whose event is gone (a tampered 0.1.0 database) gets -infinity, so
-- that verification still reports the event missing instead of this upgrade failing.
UPDATE audit.event_positions SET "timestamp" = '-infinity' WHERE "timestamp" IS NULL;
ALTER TABLE audit.event_positions ENABLE ALWAYS TRIGGER event_positions_append_only;
ALTER TABLE audit.event_positions ALTER COLUMN "timestamp" SET NOT NULL;

-- Correlations: seals roll them up into correlation_rollup (0.1.0 upserted correlation_metadata
-- on every insert), and the view correlation_metadata adds the events still queued. The queue
-- carries what the roll-up needs; the roll-up starts from the sealed events.
ALTER TABLE audit.unsealed_events ADD COLUMN correlation_id text, ADD COLUMN parent_correlation_id text,
    ADD COLUMN risk_score integer;
ALTER TABLE audit.unsealed_events DISABLE TRIGGER unsealed_events_append_only;
UPDATE audit.unsealed_events u
   SET correlation_id = e.correlation_id, parent_correlation_id = e.parent_correlation_id,
       risk_score = (e.classification ->> 'risk_score')::int
  FROM audit.audit_events_p0_1_0 e WHERE e.event_id = u.event_id;
-- A queued event that is gone (a tampered 0.1.0 database) gets an empty correlation, so that
-- verification still reports it instead of this upgrade failing.
UPDATE audit.unsealed_events SET correlation_id = '', risk_score = 0 WHERE correlation_id IS NULL;
ALTER TABLE audit.unsealed_events ENABLE ALWAYS TRIGGER unsealed_events_append_only;
ALTER TABLE audit.unsealed_events ALTER COLUMN correlation_id SET NOT NULL,
    ALTER COLUMN risk_score SET NOT NULL;
CREATE TABLE audit.correlation_rollup (
    correlation_id        text PRIMARY KEY,
    parent_correlation_id text,
    created_at            timestamptz NOT NULL,
    first_event_time      timestamptz NOT NULL,
    last_event_time       timestamptz NOT NULL,
    event_count           bigint NOT NULL,
    risk_score            integer NOT NULL
);
INSERT INTO audit.correlation_rollup
SELECT e.correlation_id, min(e.parent_correlation_id), coalesce(min(m.created_at), min(e."timestamp")),
       min(e."timestamp"), max(e."timestamp"), count(*), max((e.classification ->> 'risk_score')::int)
  FROM audit.audit_events_p0_1_0 e
  JOIN audit.event_positions p USING (event_id)
  LEFT JOIN audit.correlation_metadata m USING (correlation_id)
 GROUP BY e.correlation_id;
CREATE INDEX correlation_rollup_parent_idx ON audit.correlation_rollup (parent_correlation_id);
CREATE INDEX correlation_rollup_created_at_idx ON audit.correlation_rollup (created_at);
DROP TABLE audit.correlation_metadata;
-- Rolled up and still queued together: a filter on correlation_id reaches both parts. The
-- parent is the first one rolled up, else the least queued one, as the roll-up decides.
CREATE VIEW audit.correlation_metadata AS
    SELECT correlation_id,
           coalesce(min(parent_correlation_id) FILTER (WHERE rolled_up), min(parent_correlation_id))
               AS parent_correlation_id,
           'audit_event'::text AS operation_type,
           coalesce(min(created_at), min(first_event_time)) AS created_at,
           min(first_event_time) AS first_event_time,
           max(last_event_time) AS last_event_time,
           sum(event_count)::bigint AS event_count,
           max(risk_score) AS risk_score,
           'active'::text AS status,
           '{}'::jsonb AS metadata
      FROM (SELECT correlation_id, parent_correlation_id, created_at, first_event_time,
                   last_event_time, event_count, risk_score, true AS rolled_up
              FROM audit.correlation_rollup
            UNION ALL
            SELECT correlation_id, parent_correlation_id, NULL, "timestamp", "timestamp", 1, risk_score, false
              FROM audit.unsealed_events) c
     GROUP BY correlation_id;

-- The row-type wrapper, for the new table.
CREATE FUNCTION audit.event_integrity_hash(e audit.audit_events) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN audit.compute_event_hash(
    e.event_id, e."timestamp", e.event_type, e.event_data, e.user_id, e.session_id,
    e.correlation_id, e.parent_correlation_id, host(e.ip_address), e.user_agent, e.user_context,
    e.status, e.enrichment_data, e.classification, e.context_errors, e.hash_version,
    e.created_at, e.updated_at);

-- Correlation forensics and statistics, as sql/forensics.sql defines them.
-- The seed's get_correlation_events(): a correlation's events in time order.
CREATE FUNCTION audit_correlation_events(p_correlation_id text)
RETURNS TABLE (event_id uuid, "timestamp" timestamptz, event_type text, event_data jsonb,
               user_id bigint, session_id text, classification jsonb, enrichment_data jsonb)
LANGUAGE sql STABLE SET search_path = audit, pg_catalog, pg_temp AS $$
    SELECT e.event_id, e."timestamp", e.event_type, e.event_data, e.user_id, e.session_id,
           e.classification, e.enrichment_data
      FROM audit.all_events e
     WHERE e.correlation_id = p_correlation_id
     ORDER BY e."timestamp", e.event_id
$$;

-- The seed's find_related_correlations(): other correlations within the window around this one
-- that share a user, a session or an IP address with it.
CREATE FUNCTION find_related_correlations(p_correlation_id text, time_window_minutes integer DEFAULT 60)
RETURNS TABLE (correlation_id text, event_count bigint, start_time timestamptz, end_time timestamptz,
               unique_users bigint, users bigint[], shared text[])
LANGUAGE sql STABLE SET search_path = audit, pg_catalog, pg_temp AS $$
    WITH target AS (
        SELECT min("timestamp") - make_interval(mins => time_window_minutes) AS search_start,
               max("timestamp") + make_interval(mins => time_window_minutes) AS search_end,
               array_agg(DISTINCT user_id) FILTER (WHERE user_id IS NOT NULL) AS users,
               array_agg(DISTINCT session_id) FILTER (WHERE session_id IS NOT NULL) AS sessions,
               array_agg(DISTINCT ip_address) FILTER (WHERE ip_address IS NOT NULL) AS ips
          FROM audit.all_events WHERE correlation_id = p_correlation_id
    )
    SELECT e.correlation_id, count(*), min(e."timestamp"), max(e."timestamp"),
           count(DISTINCT e.user_id), array_agg(DISTINCT e.user_id) FILTER (WHERE e.user_id IS NOT NULL),
           array_remove(ARRAY[
               CASE WHEN bool_or(e.user_id = ANY (t.users)) THEN 'user' END,
               CASE WHEN bool_or(e.session_id = ANY (t.sessions)) THEN 'session' END,
               CASE WHEN bool_or(e.ip_address = ANY (t.ips)) THEN 'ip_address' END], NULL)
      FROM audit.all_events e, target t
     WHERE e.correlation_id <> p_correlation_id
       AND e."timestamp" BETWEEN t.search_start AND t.search_end
       AND (e.user_id = ANY (t.users) OR e.session_id = ANY (t.sessions) OR e.ip_address = ANY (t.ips))
     GROUP BY e.correlation_id
     ORDER BY min(e."timestamp")
$$;

-- A correlation and every correlation under it (parent_correlation_id links), depth first.
-- Links come from both parts of correlation_metadata: the roll-up's (through its parent index)
-- and, for correlations it has no parent for, the queue's (read once).
CREATE FUNCTION correlation_tree(p_root text)
RETURNS TABLE (correlation_id text, parent_correlation_id text, depth integer, path text[],
               event_count bigint, first_event_time timestamptz, last_event_time timestamptz,
               risk_score integer)
LANGUAGE sql STABLE SET search_path = audit, pg_catalog, pg_temp AS $$
    WITH RECURSIVE queued AS MATERIALIZED (
        SELECT u.correlation_id, min(u.parent_correlation_id) AS parent_correlation_id,
               min(u."timestamp") AS first_event_time, max(u."timestamp") AS last_event_time,
               count(*) AS event_count, max(u.risk_score) AS risk_score,
               NOT EXISTS (SELECT FROM audit.correlation_rollup r
                            WHERE r.correlation_id = u.correlation_id
                              AND r.parent_correlation_id IS NOT NULL) AS parent_is_queued
          FROM audit.unsealed_events u GROUP BY u.correlation_id
    ), tree AS (
        SELECT p_root AS correlation_id, NULL::text AS parent_correlation_id, 0 AS depth, ARRAY[p_root] AS path
        UNION ALL
        SELECT l.correlation_id, l.parent_correlation_id, t.depth + 1, t.path || l.correlation_id
          FROM tree t
          JOIN (SELECT r.correlation_id, r.parent_correlation_id FROM audit.correlation_rollup r
                UNION ALL
                SELECT q.correlation_id, q.parent_correlation_id FROM queued q WHERE q.parent_is_queued) l
            ON l.parent_correlation_id = t.correlation_id
         WHERE l.correlation_id <> ALL (t.path)   -- a cycle of links stops here
    )
    SELECT t.correlation_id,
           CASE WHEN t.depth = 0 THEN coalesce(r.parent_correlation_id, q.parent_correlation_id)
                ELSE t.parent_correlation_id END,
           t.depth, t.path, coalesce(r.event_count, 0) + coalesce(q.event_count, 0),
           least(r.first_event_time, q.first_event_time), greatest(r.last_event_time, q.last_event_time),
           greatest(r.risk_score, q.risk_score)
      FROM tree t
      LEFT JOIN audit.correlation_rollup r ON r.correlation_id = t.correlation_id
      LEFT JOIN queued q ON q.correlation_id = t.correlation_id
     WHERE r.correlation_id IS NOT NULL OR q.correlation_id IS NOT NULL
     ORDER BY t.path
$$;

-- The seed's get_audit_statistics(), with correct numbers: the seed's query counts groups of
-- (type, severity, user, correlation, classification), so its totals and per-type counts come
-- out wrong whenever two events share a group. Days are the session's, as in the seed.
CREATE FUNCTION get_audit_statistics(p_start_date date DEFAULT CURRENT_DATE - 30,
                                     p_end_date date DEFAULT CURRENT_DATE)
RETURNS json
LANGUAGE sql STABLE SET search_path = audit, pg_catalog, pg_temp AS $$
    WITH ev AS MATERIALIZED (
        SELECT e.event_type, e.classification ->> 'severity' AS severity, e.user_id, e.correlation_id,
               (e.classification ->> 'risk_score')::int AS risk_score
          FROM audit.all_events e
         WHERE e."timestamp" >= p_start_date AND e."timestamp" < p_end_date + 1
    )
    SELECT json_build_object(
        'total_events', (SELECT count(*) FROM ev),
        'events_by_type', (SELECT coalesce(json_object_agg(event_type, n ORDER BY event_type), '{}')
                             FROM (SELECT event_type, count(*) AS n FROM ev GROUP BY event_type) t),
        'events_by_severity', (SELECT coalesce(json_object_agg(coalesce(severity, 'unknown'), n ORDER BY severity), '{}')
                                 FROM (SELECT severity, count(*) AS n FROM ev GROUP BY severity) t),
        'unique_users', (SELECT count(DISTINCT user_id) FROM ev),
        'unique_correlations', (SELECT count(DISTINCT correlation_id) FROM ev),
        'high_risk_events', (SELECT count(*) FROM ev WHERE risk_score > 75),
        'date_range', json_build_object('start_date', p_start_date, 'end_date', p_end_date))
$$;

-- Alerts fold repeats of their cause and record their acknowledgement.
ALTER TABLE audit.audit_alerts ADD COLUMN occurrences integer NOT NULL DEFAULT 1,
    ADD COLUMN last_triggered_at timestamptz, ADD COLUMN acknowledgement_notes text;
DROP INDEX audit.audit_alerts_status_idx, audit.audit_alerts_severity_idx;
CREATE INDEX audit_alerts_open_cause_idx ON audit.audit_alerts (correlation_id, alert_type, title)
    WHERE status = 'open';

-- Compliance reports and DBA views, as sql/reports.sql defines them.
-- What a report covers: the events whose time falls on p_start .. p_end (the session's days).
CREATE FUNCTION audit.build_compliance_report(p_type text, p_start date, p_end date, p_subject text)
RETURNS jsonb
LANGUAGE plpgsql STABLE SET search_path = audit, pg_catalog, pg_temp AS $$
DECLARE
    lo timestamptz := p_start;
    hi timestamptz := p_end + 1;
    body jsonb;
BEGIN
    CASE p_type
    WHEN 'access_review' THEN
        -- Who did what: per user, their events, types, denials and high-risk events.
        WITH ev AS MATERIALIZED (
            SELECT user_id, event_type, "timestamp", (classification ->> 'risk_score')::int AS risk_score
              FROM audit.all_events
             WHERE "timestamp" >= lo AND "timestamp" < hi AND user_id IS NOT NULL),
        types AS (
            SELECT user_id, jsonb_object_agg(event_type, n) AS event_types
              FROM (SELECT user_id, event_type, count(*) AS n FROM ev GROUP BY user_id, event_type) t
             GROUP BY user_id)
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'user_id', user_id, 'events', count, 'first_event', first, 'last_event', last,
                   'event_types', event_types, 'access_denied', denied, 'high_risk_events', high_risk)
                   ORDER BY user_id), '[]') INTO body
          FROM (SELECT user_id, count(*), min("timestamp") AS first, max("timestamp") AS last,
                       count(*) FILTER (WHERE event_type = 'authz.access.denied') AS denied,
                       count(*) FILTER (WHERE risk_score > 75) AS high_risk
                  FROM ev GROUP BY user_id) u
          JOIN types USING (user_id);
    WHEN 'privileged_activity' THEN
        -- What administrators did, and every change of roles, permissions, keys and settings.
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'event_id', event_id, 'timestamp', "timestamp", 'event_type', event_type,
                   'user_id', user_id, 'risk_score', (classification ->> 'risk_score')::int)
                   ORDER BY "timestamp", event_id), '[]') INTO body
          FROM audit.all_events
         WHERE "timestamp" >= lo AND "timestamp" < hi
           AND (classification -> 'tags' ? 'user_role:admin'
                OR event_type IN ('authz.permission.elevated', 'authz.role.assigned', 'authz.role.removed',
                                  'system.config.changed', 'encryption.key.rotation', 'encryption.key.access'));
    WHEN 'data_subject_access' THEN
        -- Everything that touched one client (p_subject: the resource id in the events).
        IF p_subject IS NULL THEN
            RAISE EXCEPTION 'a data_subject_access report needs the subject (p_subject: the client''s resource id)';
        END IF;
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'event_id', e.event_id, 'timestamp', e."timestamp", 'event_type', e.event_type,
                   'user_id', e.user_id, 'fields', (SELECT jsonb_agg(f.field_path || ':' || f.operation_type)
                                                      FROM audit.field_access_audit f WHERE f.event_id = e.event_id))
                   ORDER BY e."timestamp", e.event_id), '[]') INTO body
          FROM audit.all_events e
         WHERE e."timestamp" >= lo AND e."timestamp" < hi
           AND e.event_data ->> 'resource_id' = p_subject;
    WHEN 'security_incidents' THEN
        -- Security events and the alerts raised in the period, with how each alert stands.
        SELECT jsonb_build_object(
                   'events', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'event_id', event_id, 'timestamp', "timestamp", 'event_type', event_type,
                                  'severity', classification ->> 'severity', 'user_id', user_id)
                                  ORDER BY "timestamp", event_id), '[]')
                                FROM audit.all_events
                               WHERE "timestamp" >= lo AND "timestamp" < hi
                                 AND classification ->> 'category' = 'security'),
                   'alerts', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                  'alert_id', alert_id, 'severity', severity, 'title', title, 'status', status,
                                  'occurrences', occurrences, 'triggered_at', triggered_at,
                                  'acknowledged_by', acknowledged_by, 'resolved_by', resolved_by,
                                  'resolution_notes', resolution_notes) ORDER BY triggered_at, alert_id), '[]')
                                FROM audit.audit_alerts WHERE triggered_at >= lo AND triggered_at < hi))
          INTO body;
    WHEN 'integrity_attestation' THEN
        -- The chain over the period: its batches and how they last verified, verification runs and
        -- the signed checkpoints, for an auditor to check with auditlog-shim verify.
        SELECT jsonb_build_object(
                   'batches', count(*), 'events_sealed', coalesce(sum(event_count), 0),
                   'verified', count(*) FILTER (WHERE verification_status = 'verified'),
                   'failed', count(*) FILTER (WHERE verification_status = 'failed'),
                   'pending', count(*) FILTER (WHERE verification_status = 'pending'),
                   'first_batch', min(id), 'last_batch', max(id),
                   'verification_runs', (SELECT jsonb_build_object('runs', count(*), 'failed', count(*) FILTER (WHERE NOT ok))
                                           FROM audit.verification_runs WHERE started_at >= lo AND started_at < hi),
                   'checkpoints', (SELECT coalesce(jsonb_agg(jsonb_build_object('seq', seq, 'stored_at', stored_at,
                                                     'head', checkpoint -> 'head') ORDER BY seq), '[]')
                                     FROM audit.checkpoints WHERE stored_at >= lo AND stored_at < hi))
          INTO body
          FROM audit.audit_log_integrity
         WHERE batch_end_time >= lo AND batch_start_time < hi;
    ELSE
        RAISE EXCEPTION 'unknown report type "%"', p_type
            USING HINT = 'access_review, privileged_activity, data_subject_access, security_incidents or integrity_attestation';
    END CASE;
    RETURN jsonb_build_object('report_type', p_type, 'start_date', p_start, 'end_date', p_end,
                              'subject', p_subject, 'report', body);
END
$$;

-- For DBAs: what needs a look now.
CREATE VIEW audit.recent_high_risk_events AS
    SELECT event_id, "timestamp", event_type, user_id, ip_address, correlation_id,
           (classification ->> 'risk_score')::int AS risk_score, classification ->> 'severity' AS severity
      FROM audit.audit_events
     WHERE (classification ->> 'risk_score')::int > 75 AND "timestamp" > now() - interval '7 days'
     ORDER BY "timestamp" DESC;

CREATE VIEW audit.open_alerts AS
    SELECT alert_id, severity, title, correlation_id, status, occurrences, triggered_at,
           coalesce(last_triggered_at, triggered_at) AS last_seen, acknowledged_by, acknowledged_at
      FROM audit.audit_alerts
     WHERE status IN ('open', 'acknowledged')
     ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'error' THEN 1 WHEN 'warning' THEN 2 ELSE 3 END,
              triggered_at DESC;

CREATE VIEW audit.integrity_status AS
    SELECT (SELECT count(*) FROM audit.audit_log_integrity) AS batches,
           (SELECT coalesce(max(last_position), 0) FROM audit.audit_log_integrity) AS events_sealed,
           (SELECT count(*) FROM audit.unsealed_events) AS events_waiting,
           (SELECT max(created_at) FROM audit.audit_log_integrity) AS last_seal,
           (SELECT count(*) FROM audit.audit_log_integrity WHERE verification_status = 'failed') AS batches_failed,
           (SELECT max(finished_at) FROM audit.verification_runs) AS last_verification,
           (SELECT ok FROM audit.verification_runs ORDER BY id DESC LIMIT 1) AS last_verification_ok,
           (SELECT max(seq) FROM audit.checkpoints) AS last_checkpoint,
           (SELECT max(stored_at) FROM audit.checkpoints) AS last_checkpoint_at;

-- Detection rules (seed 2.2's dynamic classification, as data): N events of the given types for
-- one user, address or correlation within window_seconds (or N distinct users in a correlation)
-- escalate the completing event's severity, tag it rule:<id> and add_tags, and raise an alert.
-- DBAs add, change or disable rules with SQL; a change applies to the next call in every session.
CREATE TABLE audit.detection_rules (
    rule_id          text PRIMARY KEY,
    description      text NOT NULL,
    enabled          boolean NOT NULL DEFAULT true,
    event_types      text[],                    -- NULL: every type
    group_by         text NOT NULL CHECK (group_by IN ('user', 'ip_address', 'user_or_ip', 'correlation')),
    measure          text NOT NULL DEFAULT 'events' CHECK (measure IN ('events', 'distinct_users')),
    CHECK (measure = 'events' OR group_by = 'correlation'),
    threshold        integer NOT NULL CHECK (threshold > 0),
    window_seconds   integer NOT NULL CHECK (window_seconds > 0),
    after_hours_only boolean NOT NULL DEFAULT false,
    escalate_to      text CHECK (escalate_to IN ('info', 'warning', 'error', 'critical')),
    add_tags         text[] NOT NULL DEFAULT '{}',
    raise_alert      boolean NOT NULL DEFAULT true,
    builtin          boolean NOT NULL DEFAULT false
);
INSERT INTO audit.detection_rules
    (rule_id, description, event_types, group_by, measure, threshold, window_seconds, after_hours_only, escalate_to, add_tags, builtin)
VALUES
    ('brute_force', 'five login failures for one user or address within 5 minutes',
     '{auth.login.failure}', 'user_or_ip', 'events', 5, 300, false, 'critical', '{brute_force}', true),
    ('rapid_events', 'more than 10 events per second in one correlation',
     NULL, 'correlation', 'events', 11, 1, false, 'warning', '{rapid_events}', true),
    ('multiple_users', 'several users in one correlation within an hour',
     NULL, 'correlation', 'distinct_users', 2, 3600, false, 'warning', '{multiple_users}', true),
    ('after_hours_export', 'a bulk export outside business hours',
     '{data.bulk.export}', 'user', 'events', 1, 1, true, 'critical', '{after_hours_export}', true),
    ('access_denial_burst', 'five access denials for one user or address within a minute',
     '{authz.access.denied}', 'user_or_ip', 'events', 5, 60, false, 'error', '{access_denial_burst}', true);

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
CREATE TRIGGER detection_rules_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit.detection_rules
    FOR EACH STATEMENT EXECUTE FUNCTION audit.cached_table_changed();
ALTER TABLE audit.detection_rules ENABLE ALWAYS TRIGGER detection_rules_changed;

-- Triggers, as finalize.sql makes them.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_events', 'audit_events_default', 'audit_events_archive', 'event_ids', 'redactions',
                             'correlation_rollup']
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()', t || '_append_only', t);
        EXECUTE format('ALTER TABLE audit.%I ENABLE ALWAYS TRIGGER %I', t, t || '_append_only');
    END LOOP;
END
$$;

-- Ownership and privileges, as finalize.sql gives them.
GRANT CREATE ON SCHEMA audit TO auditlog_owner;
ALTER TABLE audit.audit_events OWNER TO auditlog_owner;
ALTER TABLE audit.audit_events_default OWNER TO auditlog_owner;
ALTER TABLE audit.audit_events_archive OWNER TO auditlog_owner;
ALTER TABLE audit.event_ids OWNER TO auditlog_owner;
ALTER TABLE audit.redactions OWNER TO auditlog_owner;
ALTER TABLE audit.detection_rules OWNER TO auditlog_owner;
ALTER TABLE audit.correlation_rollup OWNER TO auditlog_owner;
ALTER VIEW audit.correlation_metadata OWNER TO auditlog_owner;
ALTER VIEW audit.all_events OWNER TO auditlog_owner;
ALTER FUNCTION audit_maintain_partitions() OWNER TO auditlog_owner;
ALTER FUNCTION archive_audit_logs(integer) OWNER TO auditlog_owner;
ALTER FUNCTION redact_audit_event(uuid, text) OWNER TO auditlog_owner;
ALTER FUNCTION redact_user_audit_events(bigint, text) OWNER TO auditlog_owner;
ALTER FUNCTION purge_expired_audit_events() OWNER TO auditlog_owner;
ALTER FUNCTION acknowledge_audit_alert(text, bigint, text) OWNER TO auditlog_owner;
ALTER FUNCTION resolve_audit_alert(text, bigint, text) OWNER TO auditlog_owner;
ALTER FUNCTION audit_log(text, jsonb, jsonb) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION audit_log_batch(text) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION generate_compliance_report(text, date, date, text) OWNER TO auditlog_owner;
ALTER VIEW audit.recent_high_risk_events OWNER TO auditlog_owner;
ALTER VIEW audit.open_alerts OWNER TO auditlog_owner;
ALTER VIEW audit.integrity_status OWNER TO auditlog_owner;
REVOKE ALL ON FUNCTION audit.detection_rules_customised(), audit.cached_table_changed() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.detection_rules_customised(), audit.cached_table_changed() TO auditlog_owner;
REVOKE ALL ON audit.detection_rules FROM PUBLIC;
GRANT SELECT ON audit.detection_rules TO audit_reader;
REVOKE ALL ON audit.audit_events, audit.audit_events_default, audit.audit_events_archive,
    audit.event_ids, audit.redactions, audit.all_events, audit.recent_high_risk_events,
    audit.open_alerts, audit.integrity_status, audit.correlation_rollup, audit.correlation_metadata FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.build_compliance_report(text, date, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.build_compliance_report(text, date, date, text) TO auditlog_owner;
REVOKE ALL ON FUNCTION audit_maintain_partitions(), archive_audit_logs(integer),
    audit.event_integrity_hash(audit.audit_events), audit.index_event_partition(regclass),
    redact_audit_event(uuid, text), redact_user_audit_events(bigint, text), purge_expired_audit_events() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_maintain_partitions(), archive_audit_logs(integer),
    audit.event_integrity_hash(audit.audit_events), audit.index_event_partition(regclass),
    redact_audit_event(uuid, text), redact_user_audit_events(bigint, text), purge_expired_audit_events() TO auditlog_owner;
GRANT SELECT ON audit.audit_events, audit.audit_events_default, audit.audit_events_archive,
    audit.event_ids, audit.redactions, audit.all_events, audit.recent_high_risk_events,
    audit.open_alerts, audit.integrity_status, audit.correlation_rollup, audit.correlation_metadata TO audit_reader;
GRANT EXECUTE ON FUNCTION audit.event_integrity_hash(audit.audit_events) TO audit_reader;
REVOKE ALL ON FUNCTION audit_correlation_events(text), find_related_correlations(text, integer),
    correlation_tree(text), analyze_correlation_flow(text), get_audit_statistics(date, date),
    acknowledge_audit_alert(text, bigint, text), resolve_audit_alert(text, bigint, text),
    generate_compliance_report(text, date, date, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit_correlation_events(text), find_related_correlations(text, integer),
    correlation_tree(text), analyze_correlation_flow(text), get_audit_statistics(date, date),
    acknowledge_audit_alert(text, bigint, text), resolve_audit_alert(text, bigint, text),
    generate_compliance_report(text, date, date, text) TO audit_reader;

-- pg_dump: the 0.1.0 table was dumped as the extension's configuration; now its partitions are,
-- and the correlation roll-up.
SELECT pg_catalog.pg_extension_config_dump('audit.correlation_rollup', '');
SELECT pg_catalog.pg_extension_config_dump('audit.audit_events_default', '');
SELECT pg_catalog.pg_extension_config_dump('audit.event_ids', '');
SELECT pg_catalog.pg_extension_config_dump('audit.redactions', '');
SELECT pg_catalog.pg_extension_config_dump('audit.detection_rules', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('audit.audit_events_p0_1_0', '');

-- The partitions of the current period and the ones ahead, made now, so that nothing lands in
-- the default partition of a server that runs no background sealer and no pg_cron yet.
SELECT audit_maintain_partitions();

-- What the preload adds, said where it is missing (or seals another database). A WARNING: an
-- extension script's NOTICEs never reach the client.
DO $$
BEGIN
    IF current_setting('shared_preload_libraries') !~ '(^|[\s,"/])auditlog("|\s*(,|$))' THEN
        RAISE WARNING 'auditlog is not in shared_preload_libraries: nothing seals new events in the background, and nothing makes partitions ahead once these run out'
            USING HINT = format('Add auditlog to shared_preload_libraries with auditlog.seal_database = %L and restart, or schedule SELECT seal_audit_events() and SELECT audit_maintain_partitions() (pg_cron lines in the README).', current_database());
    ELSIF current_setting('auditlog.seal_database', true) IS DISTINCT FROM current_database() THEN
        RAISE WARNING 'the background sealer seals database %, not this one', current_setting('auditlog.seal_database', true)
            USING HINT = format('Set auditlog.seal_database = %L and restart, or schedule SELECT seal_audit_events() here.', current_database());
    END IF;
END
$$;
