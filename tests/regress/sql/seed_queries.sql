-- The seed's own queries (sections 3.2 and 4.2) run unchanged against the schema: the text is
-- the seed's, with its $n parameters bound by PREPARE. Counts are shown, since ids and times vary.
SET search_path = audit, public;

-- 3.2 get_correlation_events
PREPARE get_correlation_events(text) AS
    SELECT
        event_id,
        timestamp,
        event_type,
        event_data,
        user_id,
        session_id,
        classification,
        enrichment_data
    FROM audit_events
    WHERE correlation_id = $1
    ORDER BY timestamp ASC;
CREATE TEMP TABLE r1 AS EXECUTE get_correlation_events('CORR_CHILD');
SELECT count(*) AS correlation_events, array_agg(event_type ORDER BY timestamp) AS types FROM r1;

-- 3.2 find_related_correlations
PREPARE find_related (text, timestamptz, timestamptz, int[], varchar[]) AS
    SELECT DISTINCT
        correlation_id,
        COUNT(*) as event_count,
        MIN(timestamp) as start_time,
        MAX(timestamp) as end_time,
        COUNT(DISTINCT user_id) as unique_users,
        array_agg(DISTINCT user_id) FILTER (WHERE user_id IS NOT NULL) as users
    FROM audit_events
    WHERE correlation_id != $1
    AND timestamp BETWEEN $2 AND $3
    AND (
        user_id = ANY($4::int[]) OR
        session_id = ANY($5::varchar[])
    )
    GROUP BY correlation_id
    ORDER BY start_time;
CREATE TEMP TABLE r2 AS EXECUTE find_related('CORR_NONE', now() - interval '1 day', now() + interval '1 day', ARRAY[9, 501], ARRAY['none']);
SELECT count(*) > 0 AS found_related, bool_and(users <@ ARRAY[9, 501]::bigint[]) AS only_those_users FROM r2;

-- 4.2 the statistics query inside get_audit_statistics (its double counting is issue 6's)
CREATE TEMP TABLE r3 AS
    SELECT json_build_object(
        'total_events', COUNT(*),
        'events_by_type', json_object_agg(event_type, type_count),
        'events_by_severity', json_object_agg(severity, severity_count),
        'unique_users', COUNT(DISTINCT user_id),
        'unique_correlations', COUNT(DISTINCT correlation_id),
        'high_risk_events', SUM(CASE WHEN (classification->>'risk_score')::int > 75 THEN 1 ELSE 0 END),
        'date_range', json_build_object(
            'start_date', CURRENT_DATE - 30,
            'end_date', CURRENT_DATE
        )
    ) AS result
    FROM (
        SELECT
            event_type,
            COUNT(*) as type_count,
            classification->>'severity' as severity,
            COUNT(*) as severity_count,
            user_id,
            correlation_id,
            classification
        FROM audit_events
        WHERE timestamp::date BETWEEN CURRENT_DATE - 30 AND CURRENT_DATE
        GROUP BY event_type, classification->>'severity', user_id, correlation_id, classification
    ) stats;
SELECT (result ->> 'total_events')::int > 0 AS has_totals, result -> 'date_range' IS NOT NULL AS has_range FROM r3;

-- 4.2 the batch hash of verify_audit_batch_integrity (sha256() for pgcrypto's digest())
SELECT count(*) > 0 AS events, length(encode(sha256(convert_to(string_agg(integrity_hash, '' ORDER BY timestamp, event_id), 'UTF8')), 'hex')) AS batch_hash_length
  FROM audit_events WHERE timestamp BETWEEN now() - interval '1 day' AND now() + interval '1 day';

-- 4.2 the row the seed's correlation trigger writes, and the archive's copy
SELECT count(*) AS archive_like_copy FROM (SELECT * FROM audit_events WHERE timestamp < now() - interval '365 days') x;
SELECT count(*) > 0 AS correlations FROM correlation_metadata WHERE operation_type = 'audit_event';

-- The indexes serve the seed's lookups: which index of each partition a plan reads (partitions
-- are named by month, so by the end of the name).
CREATE FUNCTION regress_indexes_read(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP
        IF line ~ 'Scan on audit_events_\w+ audit_events' AND line !~ 'Index|Bitmap Heap' THEN
            RETURN NEXT 'no index';
        ELSIF line ~ 'Index' THEN
            RETURN NEXT substring(line FROM 'audit_events_\w+?_(\w+_idx)');
        END IF;
    END LOOP;
END
$$;
SET enable_seqscan = off;
SELECT DISTINCT regress_indexes_read($q$SELECT * FROM audit_events WHERE correlation_id = 'x' ORDER BY timestamp$q$) AS by_correlation;
SELECT DISTINCT regress_indexes_read($q$SELECT * FROM audit_events WHERE user_id = 5 AND timestamp > now() - interval '1 hour'$q$) AS by_user;
SELECT DISTINCT regress_indexes_read($q$SELECT * FROM audit_events WHERE event_type = 'auth.logout' AND timestamp > now() - interval '1 hour'$q$) AS by_type;
SELECT DISTINCT regress_indexes_read($q$SELECT * FROM audit_events WHERE (classification ->> 'risk_score')::int > 75$q$) AS high_risk;
RESET enable_seqscan;
RESET search_path;
