-- Vault mode (extension/src/vault.rs, docs/scaling.md): this database receives another
-- database's log by logical replication and verifies each seal as it lands.

-- How far the received log is verified: one row per check, the last batch and the tree size.
CREATE TABLE audit.vault_checked (
    batch_id   bigint PRIMARY KEY,
    tree_size  bigint NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT now()
);

-- ENABLE ALWAYS: the apply worker runs with session_replication_role = replica, where ordinary
-- triggers do not fire. On a source the sealer's own inserts pass through untouched.
CREATE TRIGGER audit_log_integrity_check_incoming BEFORE INSERT ON audit.audit_log_integrity
    FOR EACH ROW EXECUTE FUNCTION audit.check_incoming_seal();
ALTER TABLE audit.audit_log_integrity ENABLE ALWAYS TRIGGER audit_log_integrity_check_incoming;

-- Per subscription of this database (one per source): is it receiving, how much it holds, how
-- far that is verified, what waits for the source's next seal, and the last break.
CREATE VIEW audit.vault_status AS
SELECT s.subname AS subscription,
       (SELECT origin FROM audit.log_origin) AS origin,
       s.subenabled AS enabled,
       w.pid IS NOT NULL AS receiving,
       w.last_msg_receipt_time AS last_received_at,
       coalesce(st.apply_error_count, 0) + coalesce(st.sync_error_count, 0) AS apply_errors,
       coalesce((SELECT max(last_position) FROM audit.audit_log_integrity), 0) AS held_size,
       coalesce(c.tree_size, 0) AS verified_size,
       c.checked_at AS verified_at,
       (SELECT count(*) FROM audit.unsealed_events) AS waiting_events,
       (SELECT min("timestamp") FROM audit.unsealed_events) AS oldest_waiting,
       audit.vault_break() AS last_break
  FROM pg_catalog.pg_subscription s
  LEFT JOIN pg_catalog.pg_stat_subscription w ON w.subid = s.oid AND w.relid IS NULL
  LEFT JOIN pg_catalog.pg_stat_subscription_stats st ON st.subid = s.oid
  LEFT JOIN LATERAL (SELECT tree_size, checked_at FROM audit.vault_checked
                      ORDER BY batch_id DESC LIMIT 1) c ON true
 WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database());
