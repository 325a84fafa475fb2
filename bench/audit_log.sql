-- The same event as baseline_insert.sql, logged through audit_log(), which classifies, scores,
-- enriches, runs the detection rules on and hashes it in the server, and queues it for the seal
-- (which rolls its correlation up). A quarter are access denials: with 1000 users at the rates
-- pgbench reaches, access_denial_burst and rapid_events fire on most events.
\set t random(1, 4)
\set user random(1, 1000)
\set o3 :user / 256
\set o4 :user % 256
SELECT audit_log(
    (ARRAY['auth.login.success', 'data.client.read', 'data.client.update', 'authz.access.denied'])[:t],
    jsonb_build_object('resource_type', 'client', 'resource_id', :user::int * 17, 'action', 'view',
                       'request_id', gen_random_uuid(), 'fields', jsonb_build_array('name', 'email')),
    jsonb_build_object(
        'user_id', :user::int,
        'session_id', 'sess_' || :user::int,
        'ip_address', '10.0.' || :o3::int || '.' || :o4::int,
        'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
        'correlation_id', 'CORR_' || :user::int)
);
