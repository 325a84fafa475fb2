-- An unknown event type is stored, classified by the documented fallback and tagged.
SELECT audit_log('auth.password.reset', '{}', '{"correlation_id": "CORR_UNKNOWN"}') IS NOT NULL AS logged;
SELECT audit_log('billing.invoice.paid', '{}', '{"correlation_id": "CORR_UNKNOWN"}') IS NOT NULL AS logged;
SELECT event_type, classification - 'tags' AS classification, regress_tags(classification) AS tags
  FROM audit.audit_events WHERE correlation_id = 'CORR_UNKNOWN' ORDER BY event_type;

-- A DBA adds a type and changes one with plain SQL; the next event uses the change.
INSERT INTO audit.event_types (event_type, category, subcategory, severity, compliance_relevance,
                               retention_period, privacy_impact, security_relevance)
VALUES ('billing.invoice.paid', 'billing', 'invoice_paid', 'info', 'medium', 3650, 'low', 'low');
UPDATE audit.event_types SET severity = 'critical' WHERE event_type = 'auth.logout';
SELECT event_type, severity, builtin FROM audit.event_types
 WHERE event_type IN ('billing.invoice.paid', 'auth.logout', 'auth.login.success') ORDER BY 1;

SELECT audit_log('billing.invoice.paid', '{}', '{"correlation_id": "CORR_DBA"}') IS NOT NULL AS logged;
SELECT audit_log('auth.logout', '{}', '{"correlation_id": "CORR_DBA"}') IS NOT NULL AS logged;
SELECT event_type, classification ->> 'category' AS category, classification ->> 'severity' AS severity,
       classification ->> 'retention_period' AS retention, classification ->> 'risk_score' AS risk,
       regress_tags(classification) AS tags
  FROM audit.audit_events WHERE correlation_id = 'CORR_DBA' ORDER BY event_type;

-- A bad attribute is refused by the table's checks.
UPDATE audit.event_types SET severity = 'apocalyptic' WHERE event_type = 'auth.logout';
UPDATE audit.event_types SET severity = 'info' WHERE event_type = 'auth.logout';
