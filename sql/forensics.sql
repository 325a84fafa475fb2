-- Correlation forensics (seed section 3.2), for audit_reader: plain SQL over live and archived
-- events. analyze_correlation_flow() is in Rust (its rules are tested with cargo test).

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
