-- correlation_metadata: first and last time, exact count, highest risk and the parent link.
SELECT count(audit_log(t, '{}', '{"correlation_id": "CORR_CHILD", "parent_correlation_id": "CORR_PARENT"}'))
  FROM unnest(ARRAY['auth.login.success', 'data.client.read', 'security.incident.detected']) AS t;
SELECT audit_log('auth.logout', '{}', '{"correlation_id": "CORR_PARENT"}') IS NOT NULL AS logged;

SELECT m.correlation_id, m.parent_correlation_id, m.event_count, m.risk_score,
       m.first_event_time = min(e."timestamp") AS first_ok, m.last_event_time = max(e."timestamp") AS last_ok,
       m.created_at = m.first_event_time AS created_at_is_first, m.status
  FROM audit.correlation_metadata m JOIN audit.audit_events e USING (correlation_id)
 WHERE m.correlation_id IN ('CORR_CHILD', 'CORR_PARENT')
 GROUP BY m.correlation_id, m.parent_correlation_id, m.event_count, m.risk_score, m.first_event_time,
          m.last_event_time, m.created_at, m.status
 ORDER BY 1;

-- Counts agree with the events for every correlation logged so far.
SELECT count(*) AS disagreeing
  FROM audit.correlation_metadata m
  FULL JOIN (SELECT correlation_id, count(*) AS n, max((classification ->> 'risk_score')::int) AS risk
               FROM audit.audit_events GROUP BY correlation_id) e USING (correlation_id)
 WHERE m.event_count IS DISTINCT FROM e.n OR m.risk_score IS DISTINCT FROM e.risk;

-- A generated correlation id has the seed's format.
SELECT audit_log('auth.logout', '{}', '{"user_id": 77}') AS gen_id \gset
SELECT correlation_id ~ '^CORR_[0-9]+_77_[0-9a-f]{8}$' AS seed_format FROM audit.audit_events WHERE event_id = :'gen_id';
SELECT audit_log('auth.logout') AS anon_id \gset
SELECT correlation_id ~ '^CORR_[0-9]+_anonymous_[0-9a-f]{8}$' AS seed_format FROM audit.audit_events WHERE event_id = :'anon_id';
