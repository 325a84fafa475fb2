-- The DBA's lookups for bench/audit_log.sql's events, as simple indexed tables: a profile per
-- user, a session per user, a resource per client id; and the test geolocation databases (the
-- events' 10.0.0.0/16 addresses are in them, as a company's own map of its offices). Run with
-- psql -v fixtures=DIR; bench/run.sh turns them on for one side and off for the others.
DROP SCHEMA IF EXISTS bench_lookups CASCADE;
CREATE SCHEMA bench_lookups;
CREATE TABLE bench_lookups.profiles (id text PRIMARY KEY, roles text[], created_at timestamptz);
INSERT INTO bench_lookups.profiles
    SELECT u, ARRAY['analyst'], now() - interval '400 days' FROM generate_series(1, 1000) u;
CREATE TABLE bench_lookups.sessions (id text PRIMARY KEY, created_at timestamptz, ip inet, mfa boolean);
INSERT INTO bench_lookups.sessions
    SELECT 'sess_' || u, now() - interval '1 hour', ('10.0.' || u / 256 || '.' || u % 256)::inet, true
      FROM generate_series(1, 1000) u;
CREATE TABLE bench_lookups.resources (kind text, id text, owner text, PRIMARY KEY (kind, id));
INSERT INTO bench_lookups.resources SELECT 'client', u * 17, 'team_' || u % 10 FROM generate_series(1, 1000) u;
GRANT USAGE ON SCHEMA bench_lookups TO auditlog_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA bench_lookups TO auditlog_owner;

-- PL/pgSQL, as the README advises: it keeps its plan for the session, where a SQL function
-- plans its query again in every transaction.
CREATE FUNCTION bench_lookups.user_info(user_id text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('roles', roles, 'account_created_at', created_at)
              FROM bench_lookups.profiles WHERE id = user_id);
END $$;
CREATE FUNCTION bench_lookups.session_info(session_id text) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('session_created', created_at, 'session_ip', ip, 'mfa_verified', mfa)
              FROM bench_lookups.sessions WHERE id = session_id);
END $$;
CREATE FUNCTION bench_lookups.resource_info(resource_type text, resource_id text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT jsonb_build_object('owner', owner) FROM bench_lookups.resources
             WHERE kind = resource_type AND id = resource_id);
END $$;

\set city :fixtures '/geo-city.mmdb'
\set asn :fixtures '/geo-asn.mmdb'
\set both :city ',' :asn
ALTER DATABASE :"DBNAME" SET auditlog.user_context_function = 'bench_lookups.user_info';
ALTER DATABASE :"DBNAME" SET auditlog.session_context_function = 'bench_lookups.session_info';
ALTER DATABASE :"DBNAME" SET auditlog.resource_context_function = 'bench_lookups.resource_info';
ALTER DATABASE :"DBNAME" SET auditlog.geolocation_databases = :'both';
