-- Every shipped event type is classified as seed section 2.1 says, with no context: risk is
-- the category base times the severity multiplier.
SELECT count(audit_log(event_type, '{}', '{"correlation_id": "CORR_TAXONOMY"}'))
  FROM audit.event_types;

SELECT event_type,
       classification ->> 'category' AS category,
       classification ->> 'subcategory' AS subcategory,
       classification ->> 'severity' AS severity,
       classification ->> 'compliance_relevance' AS compliance,
       classification ->> 'retention_period' AS retention,
       classification ->> 'privacy_impact' AS privacy,
       classification ->> 'security_relevance' AS security,
       classification ->> 'risk_score' AS risk
  FROM audit.audit_events
 WHERE correlation_id = 'CORR_TAXONOMY'
 ORDER BY event_type;

-- The classification holds exactly the seed's keys.
SELECT DISTINCT array(SELECT jsonb_object_keys(classification) ORDER BY 1) AS keys
  FROM audit.audit_events WHERE correlation_id = 'CORR_TAXONOMY';

SELECT event_type, regress_tags(classification) AS tags
  FROM audit.audit_events
 WHERE correlation_id = 'CORR_TAXONOMY'
   AND event_type IN ('auth.logout', 'data.bulk.export', 'privacy.gdpr.request', 'security.breach.suspected', 'system.startup')
 ORDER BY event_type;
