-- Alerts: the same cause again within auditlog.alert_fold_window folds into the open alert with
-- a count; acknowledging and resolving record who and how.
SELECT count(*) AS logged FROM audit_log_batch($n$
{"event_id": "0193a0c4-0000-7000-8000-0000000000e1", "event_type": "security.breach.suspected", "user_context": {"correlation_id": "A_FOLD", "user_id": 9}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000e2", "event_type": "security.breach.suspected", "user_context": {"correlation_id": "A_FOLD", "user_id": 9}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000e3", "event_type": "security.breach.suspected", "user_context": {"correlation_id": "A_FOLD", "user_id": 9}}
{"event_id": "0193a0c4-0000-7000-8000-0000000000e4", "event_type": "security.incident.detected", "user_context": {"correlation_id": "A_FOLD", "user_id": 9}}
$n$);
SELECT alert_id, title, occurrences, last_triggered_at IS NOT NULL AS repeated, status
  FROM audit.audit_alerts WHERE correlation_id = 'A_FOLD' ORDER BY title;
SET auditlog.alert_fold_window = 0;
SELECT audit_log('security.breach.suspected', '{}', '{"correlation_id": "A_FOLD", "user_id": 9}') IS NOT NULL AS logged;
RESET auditlog.alert_fold_window;
SELECT count(*) AS breach_alerts_unfolded FROM audit.audit_alerts
 WHERE correlation_id = 'A_FOLD' AND title LIKE '%breach%';

SELECT alert_id AS fold_id FROM audit.audit_alerts
 WHERE correlation_id = 'A_FOLD' AND occurrences = 3 \gset
SET ROLE audit_reader;
SELECT a ->> 'status' AS status, a ->> 'acknowledged_by' AS by, a ->> 'acknowledgement_notes' AS notes,
       a ->> 'acknowledged_at' IS NOT NULL AS stamped
  FROM acknowledge_audit_alert(:'fold_id', 42, 'looking into it') a;
SELECT acknowledge_audit_alert(:'fold_id', 43);
SELECT resolve_audit_alert(:'fold_id', 42, ' ');
SELECT a ->> 'status' AS status, a ->> 'resolved_by' AS by, a ->> 'resolution_notes' AS notes
  FROM resolve_audit_alert(:'fold_id', 42, 'penetration test, agreed with the CISO') a;
SELECT resolve_audit_alert(:'fold_id', 42, 'again');
SELECT resolve_audit_alert('ALERT_nope', 42, 'x');
RESET ROLE;
-- A resolved alert takes no more occurrences: the cause again goes to the open one.
SELECT audit_log('security.breach.suspected', '{}', '{"correlation_id": "A_FOLD", "user_id": 9}') IS NOT NULL AS logged;
SELECT status, occurrences FROM audit.audit_alerts WHERE correlation_id = 'A_FOLD' AND title LIKE '%breach%' ORDER BY status, occurrences;
-- Nobody edits alerts directly.
UPDATE audit.audit_alerts SET status = 'closed';
-- Each change is recorded, in the order it was made: raised, folds, acknowledged, resolved, and
-- the cause again folding into the other open alert of the correlation. Nobody edits the record.
SELECT c.change, c.status, c.occurrences, c.alert_id = :'fold_id' AS first_alert
  FROM audit.alert_changes c JOIN audit.audit_alerts a USING (alert_id)
 WHERE a.correlation_id = 'A_FOLD' AND a.title LIKE '%breach%'
 ORDER BY c.change_id;
DELETE FROM audit.alert_changes;

-- get_audit_statistics(): the seed's keys, counted right, checked against hand-counted data.
SELECT count(*) AS logged FROM audit_log_batch($n$
{"event_type": "auth.login.success", "timestamp": "2025-06-10T10:00:00Z", "user_context": {"correlation_id": "S1", "user_id": 1}}
{"event_type": "auth.login.success", "timestamp": "2025-06-10T11:00:00Z", "user_context": {"correlation_id": "S1", "user_id": 1}}
{"event_type": "auth.login.failure", "timestamp": "2025-06-11T10:00:00Z", "user_context": {"correlation_id": "S2", "user_id": 2}}
{"event_type": "security.breach.suspected", "timestamp": "2025-06-12T10:00:00Z", "user_context": {"correlation_id": "S3"}}
{"event_type": "auth.login.success", "timestamp": "2025-06-20T10:00:00Z", "user_context": {"correlation_id": "S4", "user_id": 3}}
$n$);
SELECT get_audit_statistics('2025-06-10', '2025-06-12');
SELECT get_audit_statistics('2025-06-13', '2025-06-14') ->> 'total_events' AS empty_range,
       get_audit_statistics('2025-06-13', '2025-06-14') -> 'events_by_type' AS no_types;
