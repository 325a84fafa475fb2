-- Every SECURITY DEFINER function of the extension pins its search_path.
SELECT p.oid::regprocedure AS function, p.prosecdef, p.proconfig
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'auditlog'
 WHERE p.prosecdef ORDER BY p.oid::regprocedure::text;
SELECT count(*) AS definer_without_search_path
  FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension x ON x.oid = d.refobjid AND x.extname = 'auditlog'
 WHERE p.prosecdef AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

-- The tables belong to a role that cannot log in.
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner, r.rolcanlogin
  FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner
 WHERE c.relnamespace = 'audit'::regnamespace AND c.relkind IN ('r', 'p', 'v')
   AND (NOT c.relispartition OR c.relname = 'audit_events_default') ORDER BY 1;
SELECT DISTINCT pg_get_userbyid(c.relowner) AS partitions_owner
  FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'audit.audit_events'::regclass;

-- A role with nothing but audit_writer logs with the default search_path, and can do no more.
CREATE ROLE regress_app LOGIN IN ROLE audit_writer;
CREATE ROLE regress_auditor LOGIN IN ROLE audit_reader;
SET ROLE regress_app;
SET search_path = "$user", public;
SELECT audit_log('auth.login.success', '{}', '{"correlation_id": "CORR_PRIV"}') IS NOT NULL AS writer_logged;
SELECT count(*) FROM audit.audit_events;
INSERT INTO audit.audit_events (event_id) VALUES (gen_random_uuid());
UPDATE audit.audit_events SET status = 'x';
DELETE FROM audit.audit_events;
TRUNCATE audit.audit_events;
-- Nor can it make its own events look internal or routine.
SET auditlog.internal_networks = '0.0.0.0/0';
UPDATE audit.event_types SET severity = 'info';
RESET ROLE;
SET ROLE regress_auditor;
SELECT count(*) AS reader_sees FROM audit.audit_events WHERE correlation_id = 'CORR_PRIV';
SELECT count(*) FILTER (WHERE integrity_hash = audit.event_integrity_hash(e)) AS reader_verifies
  FROM audit.audit_events e WHERE correlation_id = 'CORR_PRIV';
SELECT audit_log('auth.logout');
RESET ROLE;
RESET search_path;
DROP ROLE regress_app, regress_auditor;

-- pg_dump keeps every audit table.
SELECT unnest(extconfig)::regclass AS dumped, unnest(extcondition) AS condition
  FROM pg_extension WHERE extname = 'auditlog' ORDER BY 1;
