-- Baseline: the seed's write path. Its application computed classification, enrichment and the
-- hash itself and sent one INSERT; here those are JSON text of the same shape and size, parsed
-- per row as the application's parameters would be (the hour makes them vary per row).
-- \u003a is ':' in the tags: pgbench takes ':name' for a variable even inside quotes.
\set t random(1, 4)
\set user random(1, 1000)
\set o3 :user / 256
\set o4 :user % 256
INSERT INTO bench.seed_audit_events
    (event_id, timestamp, event_type, event_data, user_id, session_id, correlation_id,
     ip_address, user_agent, status, enrichment_data, classification, integrity_hash)
VALUES (
    gen_random_uuid()::text,
    now(),
    (ARRAY['auth.login.success', 'data.client.read', 'data.client.update', 'authz.access.denied'])[:t],
    jsonb_build_object('resource_type', 'client', 'resource_id', :user::int * 17, 'action', 'view',
                       'request_id', gen_random_uuid(), 'fields', jsonb_build_array('name', 'email')),
    :user::int,
    'sess_' || :user::int,
    'CORR_' || :user::int,
    ('10.0.' || :o3::int || '.' || :o4::int)::inet,
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
    'captured',
    ('{"temporal_context": {"hour": ' || extract(hour FROM now()) || ', "timezone": "UTC",
       "day_of_week": "friday", "is_business_hours": true},
       "geolocation": {"network": "10.0.0.0/8", "ip_address": "10.0.' || :o3::int || '.' || :o4::int || '",
       "risk_level": "low", "is_internal": true},
       "user_context": {"roles": [], "account_age_days": null}}')::jsonb,
    ('{"category": "data_access", "subcategory": "client_read", "severity": "info", "risk_score": 40,
       "compliance_relevance": "high", "retention_period": 2555, "privacy_impact": "high",
       "security_relevance": "medium",
       "tags": ["category\u003adata_access", "subcategory\u003aclient_read", "severity\u003ainfo", "hour\u003a'
       || extract(hour FROM now()) || '", "day_of_week\u003afriday", "business_hours", "low_risk",
       "compliance_relevant", "privacy_relevant"]}')::jsonb,
    md5(random()::text) || md5(random()::text)
);
