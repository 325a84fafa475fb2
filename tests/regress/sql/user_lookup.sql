-- Roles and account age the caller does not give come from the DBA's lookup function, the way
-- the seed's _enrich_user_context reads profiles. It runs as auditlog_owner with audit_log()'s
-- search_path, so it names its tables with their schema.
CREATE TABLE regress_profiles (id text PRIMARY KEY, roles text[], created_at timestamptz);
INSERT INTO regress_profiles VALUES ('501', '{admin,ops}', now() - interval '72 hours'),
                                    ('502', '{viewer}', now() - interval '24000 hours');
CREATE FUNCTION regress_user_info(user_id text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('roles', to_jsonb(roles), 'account_created_at', to_jsonb(created_at))
      FROM public.regress_profiles WHERE id = user_id
$$;
GRANT SELECT ON regress_profiles TO auditlog_owner;
SET auditlog.user_context_function = 'public.regress_user_info';

SELECT audit_log('auth.login.success', '{"case": "lookup"}', '{"user_id": 501, "correlation_id": "CORR_LOOKUP"}') IS NOT NULL AS logged;
SELECT audit_log('auth.login.success', '{"case": "caller roles win"}', '{"user_id": 501, "roles": ["auditor"], "correlation_id": "CORR_LOOKUP"}') IS NOT NULL AS logged;
SELECT audit_log('auth.login.success', '{"case": "old account"}', '{"user_id": 502, "correlation_id": "CORR_LOOKUP"}') IS NOT NULL AS logged;
SELECT audit_log('auth.login.success', '{"case": "unknown user"}', '{"user_id": 999, "correlation_id": "CORR_LOOKUP"}') IS NOT NULL AS logged;
SELECT event_data ->> 'case' AS "case", enrichment_data -> 'user_context' -> 'roles' AS roles,
       (enrichment_data -> 'user_context' ->> 'account_age_days')::int AS age_days,
       classification ->> 'risk_score' AS risk, regress_tags(classification) AS tags
  FROM audit.audit_events WHERE correlation_id = 'CORR_LOOKUP' ORDER BY "timestamp";

-- A setting that names no function, or names one without its schema, loses no event: it is
-- stored without the lookup's answer, a WARNING says why, and so does its context_errors.
SET auditlog.user_context_function = 'regress_user_info';
SELECT audit_log('auth.login.success', '{}', '{"user_id": 501, "correlation_id": "CORR_LOOKUP_MISSING"}') IS NOT NULL AS logged;
SELECT enrichment_data -> 'user_context' AS user_context, context_errors
  FROM audit.audit_events WHERE correlation_id = 'CORR_LOOKUP_MISSING';
RESET auditlog.user_context_function;
