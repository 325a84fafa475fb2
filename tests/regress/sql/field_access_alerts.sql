-- The seed's five field-level types with a field_path also write field_access_audit.
SELECT audit_log('data.client.read', '{"field_path": "clients.ssn", "resource_type": "clients", "resource_id": 17, "field_sensitivity": "restricted"}', '{"correlation_id": "CORR_FIELD"}') IS NOT NULL AS logged;
SELECT audit_log('authz.access.denied', '{"field_path": "clients.ssn", "resource_type": "clients", "resource_id": "17", "denial_reason": "missing role"}', '{"correlation_id": "CORR_FIELD"}') IS NOT NULL AS logged;
SELECT audit_log('encryption.field.decrypt', '{"field_path": "clients.iban", "key_version": "k7", "resource_id": "not-a-number"}', '{"correlation_id": "CORR_FIELD"}') IS NOT NULL AS logged;
SELECT audit_log('data.client.read', '{"resource_id": 17}', '{"correlation_id": "CORR_FIELD"}') IS NOT NULL AS logged_without_field_path;
SELECT audit_log('data.client.create', '{"field_path": "clients.name"}', '{"correlation_id": "CORR_FIELD"}') IS NOT NULL AS logged_not_field_level;

SELECT e.event_type, f.field_path, f.operation_type, f.resource_type, f.resource_id, f.field_sensitivity,
       f.encryption_key_version, f.access_granted, f.denial_reason, f."timestamp" = e."timestamp" AS same_time
  FROM audit.field_access_audit f JOIN audit.audit_events e USING (event_id)
 WHERE e.correlation_id = 'CORR_FIELD'
 ORDER BY e.event_type;

-- risk_score > 75 raises an alert with the seed's fields; 75 and below do not.
SELECT audit_log('security.breach.suspected', '{}', '{"correlation_id": "CORR_ALERT", "user_id": 9}') AS breach_id \gset
-- authorization 30 + admin 15 + external 20 + new account 10 = 75: no alert.
SELECT audit_log('authz.access.granted', '{}', jsonb_build_object('correlation_id', 'CORR_ALERT', 'ip_address', '8.8.8.8',
                 'roles', '["admin"]'::jsonb, 'user_id', 9, 'account_created_at', to_jsonb(now() - interval '1 day'))) IS NOT NULL AS logged_75;
SELECT alert_id = 'ALERT_' || :'breach_id' AS id_from_event, correlation_id, alert_type, severity, title,
       description = 'Event ' || :'breach_id' || ' has risk score 100' AS description_ok,
       alert_data ->> 'event_id' = :'breach_id' AS data_names_event, alert_data ->> 'risk_score' AS risk,
       alert_data ->> 'user_id' AS user_id, status
  FROM audit.audit_alerts WHERE correlation_id = 'CORR_ALERT';

-- The threshold is a setting.
SET auditlog.alert_risk_threshold = 74;
SELECT audit_log('authz.access.granted', '{}', jsonb_build_object('correlation_id', 'CORR_ALERT2', 'ip_address', '8.8.8.8',
                 'roles', '["admin"]'::jsonb, 'user_id', 9, 'account_created_at', to_jsonb(now() - interval '1 day'))) IS NOT NULL AS logged_75;
RESET auditlog.alert_risk_threshold;
SELECT count(*) AS alerts_at_threshold_74 FROM audit.audit_alerts WHERE correlation_id = 'CORR_ALERT2';
