-- Compliance reports and DBA views (seed section 4.1's compliance_report_cache and audit_alerts;
-- the reporting its table of contents promises). generate_compliance_report() (Rust) caches what
-- audit.build_compliance_report() computes here.

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
