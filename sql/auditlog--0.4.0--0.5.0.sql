-- auditlog 0.4.0 -> 0.5.0: audit.alert_changes, every change of an alert (raised, folded,
-- acknowledged, resolved) in an order a consumer can follow without missing one, for
-- `auditlog-shim alerts`. Alerts raised before the update have no changes recorded: a consumer
-- starts from the update on. tests/tests/upgrade.rs checks that an updated database has the very
-- schema a fresh 0.5.0 one has.

\echo Use "ALTER EXTENSION auditlog UPDATE TO '0.5.0'" to load this file. \quit

CREATE TABLE audit.alert_changes (
    change_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid         xid8 NOT NULL DEFAULT pg_current_xact_id(),
    alert_id    text NOT NULL,
    change      text NOT NULL CHECK (change IN ('raised', 'folded', 'acknowledged', 'resolved')),
    status      text NOT NULL,
    occurrences integer NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_changes_order_idx ON audit.alert_changes (xid, change_id);
CREATE FUNCTION audit.alert_change_restored() RETURNS trigger
LANGUAGE plpgsql SET search_path = audit, pg_catalog, pg_temp AS $$
BEGIN
    NEW.xid := '0';
    RETURN NEW;
END
$$;
CREATE TRIGGER alert_change_restored BEFORE INSERT ON audit.alert_changes
    FOR EACH ROW WHEN (current_setting('row_security') = 'off')
    EXECUTE FUNCTION audit.alert_change_restored();
CREATE TRIGGER alert_changes_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit.alert_changes
    FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change();
ALTER TABLE audit.alert_changes ENABLE ALWAYS TRIGGER alert_changes_append_only;
ALTER TABLE audit.alert_changes OWNER TO auditlog_owner;
REVOKE ALL ON audit.alert_changes FROM PUBLIC;
REVOKE ALL ON FUNCTION audit.alert_change_restored() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION audit.alert_change_restored() TO auditlog_owner;
GRANT SELECT ON audit.alert_changes TO audit_reader;
SELECT pg_catalog.pg_extension_config_dump('audit.alert_changes', '');
SELECT pg_catalog.pg_extension_config_dump('audit.alert_changes_change_id_seq', '');
