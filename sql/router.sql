-- The router of sharded ingest (docs/scaling.md, "Sharded ingest"): audit_log() and
-- audit_log_batch() with the extension's own signatures, as PL/Proxy functions that send each
-- event to one shard database of the cluster 'auditlog_shards'. Each shard is an ordinary
-- auditlog database with its own tree; the router stores nothing.
--
-- Not part of the extension. Create the cluster first (CREATE SERVER auditlog_shards FOREIGN
-- DATA WRAPPER plproxy OPTIONS (p0 '...', ...) and a user mapping, as docs/scaling.md shows),
-- then run this on the router database: psql -d router -v ON_ERROR_STOP=1 -f sql/router.sql
-- Running it again replaces the functions and keeps the cluster.
--
-- The key: an event goes to the partition hashtext(key) & (partitions - 1), where the key is
--   user_context.tenant_id if the event names one (a tenant's events, and so every detection
--   rule and correlation within a tenant, stay on one shard),
--   else user_context.correlation_id (a correlation's events stay together),
--   else, in a batch, its event_id (so a retried event goes where its first try went), or the
--   line itself when it has no id (a line that is not JSON: the shard refuses it);
--   else, for audit_log(), which makes a new id on every call, any partition.
-- A retry is safe only if it carries the same key: the same line sent again does.

CREATE EXTENSION IF NOT EXISTS plproxy;
CREATE SCHEMA IF NOT EXISTS auditlog_router;

-- The key user_context names, or NULL. Empty strings count as absent, as audit_log() reads them.
CREATE OR REPLACE FUNCTION auditlog_router.context_key(user_context jsonb)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(nullif(user_context ->> 'tenant_id', ''),
                    nullif(user_context ->> 'correlation_id', ''))
$$;

-- The key of one line of audit_log_batch(). A line that is not valid JSON (or whose event_id is
-- not a UUID) still gets a key, its own text, so that the shard can refuse it by line number
-- as audit_log_batch() does, instead of the router failing the whole batch.
CREATE OR REPLACE FUNCTION auditlog_router.line_key(line text)
RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    event jsonb;
BEGIN
    event := line::jsonb;
    -- The id as a uuid's text, so that one event written two ways routes one way.
    RETURN coalesce(auditlog_router.context_key(event -> 'user_context'),
                    (event ->> 'event_id')::uuid::text,
                    line);
EXCEPTION WHEN data_exception THEN
    RETURN line;
END
$$;

-- One event, on the shard its key names. The shard commits it alone.
CREATE OR REPLACE FUNCTION public.audit_log(event_type text, event_data jsonb DEFAULT '{}',
                                            user_context jsonb DEFAULT '{}')
RETURNS uuid AS $$
    CLUSTER 'auditlog_shards';
    RUN ON hashtext(coalesce(auditlog_router.context_key(user_context), gen_random_uuid()::text));
$$ LANGUAGE plproxy;

-- The lines of a batch, split by their hashes: each shard gets its own lines in one
-- audit_log_batch() call, in parallel, and reports them under their numbers in the whole batch.
CREATE OR REPLACE FUNCTION auditlog_router.log_lines(hashes int4[], lines text[], line_nos int4[])
RETURNS TABLE (line int4, event_id uuid, outcome text, error text) STRICT AS $$
    CLUSTER 'auditlog_shards';
    SPLIT hashes, lines, line_nos;
    RUN ON hashes;
    SELECT (line_nos)[b.line] AS line, b.event_id, b.outcome, b.error
      FROM audit_log_batch(array_to_string(lines, E'\n')) b;
$$ LANGUAGE plproxy;

-- The batch, as the extension's audit_log_batch() takes it (one event per line) and as the shim
-- sends it. Every shard's part commits on that shard alone: when one fails, the parts of the
-- others may have committed, and a retry of the whole batch finds them (`duplicate`).
CREATE OR REPLACE FUNCTION public.audit_log_batch(events text)
RETURNS TABLE (line int4, event_id uuid, outcome text, error text)
LANGUAGE plpgsql STRICT AS $$
DECLARE
    message text;
BEGIN
    RETURN QUERY
    SELECT r.line, r.event_id, r.outcome, r.error
      FROM (SELECT array_agg(hashtext(auditlog_router.line_key(l)) ORDER BY n) AS hashes,
                   array_agg(l ORDER BY n) AS lines,
                   array_agg(n::int4 ORDER BY n) AS line_nos
              FROM unnest(string_to_array(events, E'\n')) WITH ORDINALITY AS u(l, n)
             WHERE btrim(l, E' \t\r') <> '') AS a,
           auditlog_router.log_lines(a.hashes, a.lines, a.line_nos) AS r
     ORDER BY r.line;
EXCEPTION WHEN internal_error THEN
    -- PL/Proxy reports a shard it cannot connect to, or lost mid-call, as an internal error;
    -- callers (the shim) take internal errors for bad data and split the batch to find the
    -- culprit. Say what it is, so they retry instead. The extension's own internal errors,
    -- relayed from a shard, stay as they are.
    GET STACKED DIAGNOSTICS message = MESSAGE_TEXT;
    IF message LIKE '%REMOTE ERROR: audit_log_batch:%' THEN
        RAISE;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'connection_failure', MESSAGE = message;
END
$$;
