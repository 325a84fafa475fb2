-- The seed's enrich_event reads four sources. Besides the user lookup (user_lookup.sql): the
-- session and the resource from functions the DBA registers, and the place of the address from
-- MaxMind-format databases. Each found, not found, failing and slow; a session IP mismatch; the
-- per-session and shared caches; and the same answers through audit_log_batch().
CREATE TABLE regress_sessions (id text PRIMARY KEY, created_at timestamptz, last_seen timestamptz,
                               ip inet, agent text, mfa boolean, active boolean);
INSERT INTO regress_sessions VALUES
    ('sess_home', now() - interval '90 minutes', now() - interval '1 minute', '81.2.69.142', 'Firefox', true, true),
    ('sess_moved', now() - interval '5 minutes', now(), '10.1.2.3', 'curl/8', false, true);
CREATE SEQUENCE regress_session_calls;
CREATE FUNCTION regress_session_info(session_id text) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('public.regress_session_calls');
    IF session_id LIKE 'sess_broken%' THEN
        RAISE EXCEPTION 'session store unavailable';
    ELSIF session_id LIKE 'sess_slow%' THEN
        PERFORM pg_sleep(3);
    END IF;
    RETURN (SELECT jsonb_build_object('session_created', created_at, 'last_activity', last_seen,
                                      'session_ip', ip, 'user_agent', agent, 'mfa_verified', mfa,
                                      'is_active', active)
              FROM public.regress_sessions WHERE id = session_id);
END $$;
CREATE TABLE regress_resources (kind text, id text, owner text, data_class text, PRIMARY KEY (kind, id));
INSERT INTO regress_resources VALUES ('client', '17', 'accounts', 'confidential'), ('broken', '1', 'nobody', 'none');
CREATE FUNCTION regress_resource_info(resource_type text, resource_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('owner', owner, 'data_classification', data_class,
                              'check', 1 / (CASE resource_type WHEN 'broken' THEN 0 ELSE 1 END))
      FROM public.regress_resources WHERE kind = resource_type AND id = resource_id
$$;
GRANT SELECT ON regress_sessions, regress_resources TO auditlog_owner;
GRANT USAGE ON SEQUENCE regress_session_calls TO auditlog_owner;
SET auditlog.session_context_function = 'public.regress_session_info';
SET auditlog.resource_context_function = 'public.regress_resource_info';
\getenv regress_dir PG_ABS_SRCDIR
\set geo_city :regress_dir '/../fixtures/geo-city.mmdb'
\set geo_asn :regress_dir '/../fixtures/geo-asn.mmdb'
\set geo_both :geo_city ',' :geo_asn
SET auditlog.geolocation_databases = :'geo_both';

CREATE FUNCTION regress_enriched(corr text)
RETURNS TABLE ("case" text, session jsonb, resource jsonb, place text, risk int, mismatch bool, errors jsonb)
LANGUAGE sql AS $$
    SELECT event_data ->> 'case',
           (enrichment_data -> 'session_context') - 'session_created' - 'last_activity',
           enrichment_data -> 'resource_context',
           concat_ws(' / ', enrichment_data -> 'geolocation' ->> 'country',
                     enrichment_data -> 'geolocation' ->> 'region', enrichment_data -> 'geolocation' ->> 'city',
                     enrichment_data -> 'geolocation' ->> 'asn', enrichment_data -> 'geolocation' ->> 'as_organization'),
           (classification ->> 'risk_score')::int,
           classification -> 'tags' ? 'session_ip_mismatch',
           (SELECT jsonb_agg(e - 'error' || jsonb_build_object('error', left(e ->> 'error', 40)))
              FROM jsonb_array_elements(context_errors) e)
      FROM audit.audit_events WHERE correlation_id = corr ORDER BY "timestamp"
$$;

-- Found: the session with the seed's keys (its duration from when it began), the resource, the
-- place from both databases (IPv4 and IPv6).
SELECT audit_log('data.client.read', '{"case": "home", "resource_type": "client", "resource_id": 17}',
                 '{"session_id": "sess_home", "ip_address": "81.2.69.142", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
SELECT audit_log('data.client.read', '{"case": "v6, no resource type", "resource_id": "17"}',
                 '{"ip_address": "2001:67c:2e8::1", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
-- Not found: an unknown session, resource and address; an internal address that the company's
-- own database maps to its office.
SELECT audit_log('data.client.read', '{"case": "unknown", "resource_type": "client", "resource_id": 99}',
                 '{"session_id": "sess_gone", "ip_address": "203.0.113.9", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
SELECT audit_log('data.client.read', '{"case": "office"}',
                 '{"ip_address": "10.0.3.4", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
-- A session opened from another address than the event's: tagged, and +10 risk before the
-- severity multiplier (data_access 40 + 10 = 50).
SELECT audit_log('data.client.read', '{"case": "moved"}',
                 '{"session_id": "sess_moved", "ip_address": "10.9.9.9", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
SELECT audit_log('data.client.read', '{"case": "same address"}',
                 '{"session_id": "sess_moved", "ip_address": "10.1.2.3", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
-- Failing: each lookup's error is kept in context_errors with what was asked, a WARNING says so,
-- and the event is stored with the rest of its enrichment.
SELECT audit_log('data.client.read', '{"case": "failing", "resource_type": "broken", "resource_id": 1}',
                 '{"session_id": "sess_broken", "ip_address": "81.2.69.142", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
SET auditlog.geolocation_databases = '/nonexistent/GeoLite2-City.mmdb';
SELECT audit_log('data.client.read', '{"case": "no database file"}',
                 '{"ip_address": "81.2.69.142", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
SET auditlog.geolocation_databases = :'geo_both';
-- Slow: cancelled after auditlog.lookup_timeout; the next statement is not cancelled with it.
SET auditlog.lookup_timeout = '100ms';
SELECT clock_timestamp() AS before \gset
SELECT audit_log('data.client.read', '{"case": "slow"}',
                 '{"session_id": "sess_slow", "correlation_id": "CORR_ENRICH"}') IS NOT NULL AS logged;
SELECT clock_timestamp() - :'before' < interval '2 seconds' AS did_not_wait;
SELECT * FROM regress_enriched('CORR_ENRICH');

-- The session cache: one call per session id and auditlog.lookup_cache_ttl, failures too.
SELECT setval('regress_session_calls', 1, false);
SELECT count(audit_log('auth.logout', '{}', jsonb_build_object('session_id', s, 'correlation_id', 'CORR_CACHE')))
  FROM unnest(ARRAY['sess_c1', 'sess_c1', 'sess_c2', 'sess_c1', 'sess_broken_c', 'sess_broken_c']) s;
SELECT audit_log('auth.logout', '{}', '{"session_id": "sess_c1", "correlation_id": "CORR_CACHE"}') IS NOT NULL AS logged;
SELECT nextval('regress_session_calls') - 1 AS calls_for_seven_events;
-- With a TTL of 0 an answer lasts for its statement only.
SET auditlog.lookup_cache_ttl = 0;
SELECT setval('regress_session_calls', 1, false);
SELECT count(audit_log('auth.logout', '{}', '{"session_id": "sess_c3", "correlation_id": "CORR_CACHE"}'))
  FROM generate_series(1, 3);
SELECT audit_log('auth.logout', '{}', '{"session_id": "sess_c3", "correlation_id": "CORR_CACHE"}') IS NOT NULL AS logged;
SELECT nextval('regress_session_calls') - 1 AS calls_for_two_statements;
RESET auditlog.lookup_cache_ttl;

-- The batch path asks the same lookups and stores the same enrichment.
SELECT outcome, count(*) FROM audit_log_batch($$
{"event_type": "data.client.read", "event_data": {"case": "home", "resource_type": "client", "resource_id": 17}, "user_context": {"session_id": "sess_home", "ip_address": "81.2.69.142", "correlation_id": "CORR_ENRICH_BATCH"}}
{"event_type": "data.client.read", "event_data": {"case": "moved"}, "user_context": {"session_id": "sess_moved", "ip_address": "10.9.9.9", "correlation_id": "CORR_ENRICH_BATCH"}}
{"event_type": "data.client.read", "event_data": {"case": "failing", "resource_type": "broken", "resource_id": 1}, "user_context": {"session_id": "sess_broken", "ip_address": "81.2.69.142", "correlation_id": "CORR_ENRICH_BATCH"}}
$$) GROUP BY outcome;
SELECT b.case, (a.session, a.resource, a.place, a.risk, a.mismatch, a.errors)
               IS NOT DISTINCT FROM (b.session, b.resource, b.place, b.risk, b.mismatch, b.errors) AS same
  FROM regress_enriched('CORR_ENRICH_BATCH') b
  JOIN (SELECT DISTINCT ON ("case") * FROM regress_enriched('CORR_ENRICH')) a USING ("case");

-- A cancel that is not the lookup's own (here statement_timeout) still cancels the statement,
-- and the event with it: nothing was acknowledged.
SET auditlog.lookup_timeout = '10s';
SET statement_timeout = '200ms';
SELECT audit_log('data.client.read', '{"case": "cancelled"}', '{"session_id": "sess_slow_too", "correlation_id": "CORR_CANCELLED"}');
RESET statement_timeout;
SELECT count(*) AS cancelled_events FROM audit.audit_events WHERE correlation_id = 'CORR_CANCELLED';

-- Every enrichment is in the hashed pre-image: each stored hash recomputes from its row, and a
-- place, a session or a resource changed afterwards changes it.
SELECT count(*) AS events, count(*) FILTER (WHERE audit.event_integrity_hash(e) = e.integrity_hash) AS hashes_match
  FROM audit.audit_events e WHERE correlation_id LIKE 'CORR_ENRICH%';
SELECT k.path AS changed, audit.event_integrity_hash(jsonb_populate_record(e, jsonb_build_object('enrichment_data',
           jsonb_set(e.enrichment_data, k.path, '"forged"')))) <> e.integrity_hash AS hash_differs
  FROM audit.audit_events e,
       (VALUES ('{geolocation,city}'::text[]), ('{session_context,session_ip}'), ('{resource_context,owner}')) k(path)
 WHERE correlation_id = 'CORR_ENRICH' AND event_data ->> 'case' = 'home';

-- Answers are shared by every session of the server: a new connection asks the function only
-- what no session asked within the TTL. A failure is not shared: each session meets its own.
SELECT setval('regress_session_calls', 1, false);
SELECT audit_log('auth.logout', '{}', '{"session_id": "sess_shared", "correlation_id": "CORR_SHARED"}') IS NOT NULL AS logged;
SELECT audit_log('auth.logout', '{}', '{"session_id": "sess_broken_shared", "correlation_id": "CORR_SHARED"}') IS NOT NULL AS logged;
\c
SET auditlog.session_context_function = 'public.regress_session_info';
SELECT audit_log('auth.logout', '{}', '{"session_id": "sess_shared", "correlation_id": "CORR_SHARED"}') IS NOT NULL AS logged;
SELECT audit_log('auth.logout', '{}', '{"session_id": "sess_broken_shared", "correlation_id": "CORR_SHARED"}') IS NOT NULL AS logged;
SELECT nextval('regress_session_calls') - 1 AS calls_for_two_sessions;
SELECT count(*) FILTER (WHERE enrichment_data -> 'session_context' ->> 'session_found' = 'false') AS not_found,
       count(*) FILTER (WHERE context_errors IS NOT NULL) AS failed
  FROM audit.audit_events WHERE correlation_id = 'CORR_SHARED';

-- A new session with a TTL of 0 is not served another session's answer: one more call.
\c
SET auditlog.session_context_function = 'public.regress_session_info';
SET auditlog.lookup_cache_ttl = 0;
SELECT audit_log('auth.logout', '{}', '{"session_id": "sess_shared", "correlation_id": "CORR_SHARED"}') IS NOT NULL AS logged;
SELECT nextval('regress_session_calls') - 2 AS calls_for_three_sessions;
RESET auditlog.lookup_cache_ttl;

-- Only a function that takes exactly the text arguments, returns one jsonb and that
-- auditlog_owner may execute is called; anything else is reported, and the event stored.
CREATE FUNCTION regress_json_info(resource_type text, resource_id text) RETURNS json
LANGUAGE sql AS $$ SELECT '{"owner": "accounts"}'::json $$;
CREATE FUNCTION regress_uuid_info(resource_type uuid, resource_id text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{"owner": "accounts"}'::jsonb $$;
CREATE FUNCTION regress_one_arg_info(resource_id text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{"owner": "accounts"}'::jsonb $$;
CREATE FUNCTION regress_private_info(resource_type text, resource_id text) RETURNS jsonb
LANGUAGE sql AS $$ SELECT '{"owner": "accounts"}'::jsonb $$;
REVOKE EXECUTE ON FUNCTION regress_private_info(text, text) FROM PUBLIC;
SELECT f AS function, audit_log('data.client.read', jsonb_build_object('resource_type', 'client', 'resource_id', 17, 'case', f),
                 '{"correlation_id": "CORR_SIGNATURE"}') IS NOT NULL AS logged
  FROM unnest(ARRAY['public.regress_json_info', 'public.regress_uuid_info', 'public.regress_one_arg_info',
                    'public.regress_private_info']) f,
       LATERAL set_config('auditlog.resource_context_function', f, true) c;
SELECT event_data ->> 'case' AS function, enrichment_data ? 'resource_context' AS has_resource,
       context_errors -> 0 ->> 'error' AS error
  FROM audit.audit_events WHERE correlation_id = 'CORR_SIGNATURE' ORDER BY "timestamp";

RESET auditlog.lookup_timeout;
RESET auditlog.session_context_function;
RESET auditlog.resource_context_function;
RESET auditlog.geolocation_databases;
