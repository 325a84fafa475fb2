-- UPDATE, DELETE and TRUNCATE are refused on every audit table, for a superuser, for the
-- owning role, and under session_replication_role = replica.
CREATE FUNCTION regress_try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ALLOWED';
EXCEPTION WHEN insufficient_privilege THEN
    RETURN 'refused: ' || SQLERRM;
END
$$;

SELECT t AS "table", regress_try(format('UPDATE audit.%I SET %I = %I', t, c, c)) AS "update",
       regress_try(format('DELETE FROM audit.%I', t)) AS "delete",
       regress_try(format('TRUNCATE audit.%I', t)) AS "truncate"
  FROM (VALUES ('audit_events', 'status'), ('field_access_audit', 'field_path'),
               ('correlation_rollup', 'event_count'), ('audit_log_integrity', 'event_count'),
               ('compliance_report_cache', 'report_type'), ('audit_alerts', 'status'),
               ('unsealed_events', 'event_id'), ('event_positions', 'event_hash'), ('checkpoints', 'signature')) AS x(t, c)
 ORDER BY 1;

SET session_replication_role = replica;
SELECT regress_try('UPDATE audit.audit_events SET status = status') AS replica_update,
       regress_try('DELETE FROM audit.audit_alerts') AS replica_delete,
       regress_try('TRUNCATE audit.audit_events') AS replica_truncate;
RESET session_replication_role;

SET ROLE auditlog_owner;
SELECT regress_try('UPDATE audit.audit_events SET status = status') AS owner_update,
       regress_try('DELETE FROM audit.field_access_audit') AS owner_delete,
       regress_try('TRUNCATE audit.audit_events') AS owner_truncate;
RESET ROLE;

-- Partitions (made by month) are listed apart: each has its append-only trigger too.
SELECT tgrelid::regclass AS "table", tgname, tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE tgrelid::regclass::text LIKE 'audit.%' AND NOT tgisinternal
   AND (NOT c.relispartition OR c.relname = 'audit_events_default') ORDER BY 1, 2;
SELECT count(*) >= 4 AS partitions, count(*) FILTER (WHERE EXISTS (
           SELECT FROM pg_trigger t WHERE t.tgrelid = i.inhrelid AND t.tgname LIKE '%append_only' AND t.tgenabled = 'A'))
       = count(*) AS each_append_only
  FROM pg_inherits i WHERE i.inhparent = 'audit.audit_events'::regclass;

-- Nothing was lost along the way.
SELECT count(*) > 0 AS events_still_there FROM audit.audit_events;
