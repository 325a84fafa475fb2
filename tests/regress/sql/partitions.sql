-- audit.audit_events is partitioned by time. CREATE EXTENSION made the current period's
-- partition and auditlog.partitions_ahead more (audit_maintain_partitions() keeps them ahead),
-- so nothing logged so far waits in the default partition; they are the DBA's data, not parts of
-- the extension (pg_dump keeps them whole). Maintenance also makes one for each period with
-- events in the default partition, moving them in; until then no insert fails for want of one.
SELECT max(id) AS batches_before FROM audit.audit_log_integrity \gset
SELECT count(*) >= 4 AS made_with_the_extension,
       count(*) FILTER (WHERE EXISTS (SELECT FROM pg_depend d WHERE d.objid = i.inhrelid AND d.deptype = 'e'))
           AS of_the_extension
  FROM pg_inherits i
 WHERE i.inhparent = 'audit.audit_events'::regclass AND i.inhrelid <> 'audit.audit_events_default'::regclass;
-- (An event logged earlier with an old time waits in the default partition for its month's.)
SELECT audit_maintain_partitions() >= 0 AS maintained;
SELECT count(*) AS left_in_default FROM audit.audit_events_default;
SELECT audit_maintain_partitions() AS made_again;

-- Either side of a month boundary, far in the past and far in the future: each lands somewhere
-- at once (the default partition), then in a partition of its own month.
-- Events earlier tests logged now are in this month's partition, whose name changes monthly.
CREATE FUNCTION pg_temp.part(p regclass) RETURNS text LANGUAGE sql STABLE
RETURN CASE WHEN p::text = 'audit.audit_events_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMM') || '01'
            THEN '(this month''s)' ELSE p::text END;
SELECT line, outcome FROM audit_log_batch($n$
{"event_type": "auth.logout", "timestamp": "2026-01-31T23:59:59.999999Z", "event_data": {"case": "last instant of January"}}
{"event_type": "auth.logout", "timestamp": "2026-02-01T00:00:00Z", "event_data": {"case": "first instant of February"}}
{"event_type": "auth.logout", "timestamp": "1999-01-01T00:00:00Z", "event_data": {"case": "far past"}}
{"event_type": "auth.logout", "timestamp": "2300-06-15T12:00:00Z", "event_data": {"case": "far future"}}
$n$) ORDER BY line;
SELECT event_data ->> 'case' AS "case", pg_temp.part(tableoid) AS partition
  FROM audit.audit_events WHERE event_data ? 'case' ORDER BY "timestamp";
SELECT audit_maintain_partitions() AS made_for_waiting_events;
SELECT event_data ->> 'case' AS "case", pg_temp.part(tableoid) AS partition
  FROM audit.audit_events WHERE event_data ? 'case' ORDER BY "timestamp";
SELECT count(*) AS left_in_default FROM audit.audit_events_default;

-- A partition made later is append-only like the rest, and an id stays unique across
-- partitions: the same id at another time is a duplicate, not a second event.
UPDATE audit.audit_events_p20260201 SET status = 'x';
SELECT event_id AS jan_id FROM audit.audit_events WHERE event_data ->> 'case' = 'last instant of January' \gset
SELECT outcome FROM audit_log_batch(format('{"event_id": "%s", "event_type": "auth.logout", "timestamp": "2026-03-01T00:00:00Z"}', :'jan_id'));

-- Archiving moves whole partitions past the cutoff, sealed first, by detach and attach; the
-- second run finds nothing to move. The far future stays live.
SELECT archive_audit_logs(30) AS archived;
SELECT archive_audit_logs(30) AS archived_again;
SELECT event_data ->> 'case' AS "case", tableoid::regclass AS partition
  FROM audit.audit_events_archive ORDER BY "timestamp";
SELECT count(*) AS live_far_future FROM audit.audit_events WHERE event_data ->> 'case' = 'far future';
SELECT c.relname, c.relispartition, i.inhparent::regclass AS parent
  FROM pg_class c JOIN pg_inherits i ON i.inhrelid = c.oid
 WHERE c.relname IN ('audit_events_p19990101', 'audit_events_p20260101', 'audit_events_p20260201') ORDER BY 1;

-- Verification reads archived events as it reads live ones, and sees tampering in either.
SELECT kind, detail FROM verify_audit_chain(:batches_before + 1);
BEGIN;
ALTER TABLE audit.audit_events_p19990101 DISABLE TRIGGER audit_events_p19990101_append_only;
UPDATE audit.audit_events_p19990101 SET event_data = '{"case": "rewritten"}';
SELECT kind, event_id = (SELECT event_id FROM audit.all_events WHERE event_data ->> 'case' = 'rewritten') AS archived_event
  FROM verify_audit_chain(:batches_before + 1);
ROLLBACK;

-- An archived partition is still the extension's to change: nobody else may.
DELETE FROM audit.audit_events_archive;
TRUNCATE audit.audit_events_p20260101;
