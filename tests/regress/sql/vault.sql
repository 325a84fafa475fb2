-- Vault mode (auditlog.vault_mode): nothing is logged, sealed, redacted or archived locally; the
-- log arrives by logical replication (tests/tests/vault.rs runs a real vault).
SET auditlog.vault_mode = on;
SELECT audit_log('auth.logout', '{}', '{}');
SELECT * FROM audit_log_batch('{"event_type": "auth.logout"}');
SELECT seal_audit_events();
SELECT archive_audit_logs(30);
SELECT purge_expired_audit_events();
SELECT audit_store_signed_checkpoint('x');
-- Verification answers in a vault, recording no status (the vault records how far it verified
-- what it received in audit.vault_checked instead).
SELECT count(*) FILTER (WHERE verification_status <> 'pending') AS recorded_before FROM audit.audit_log_integrity \gset
SET client_min_messages = error;  -- the earlier tests' tampering is named in WARNINGs
SELECT verify_audit_batch_integrity(now() - interval '1 hour', now()) IS NOT NULL AS answered;
RESET client_min_messages;
SELECT count(*) FILTER (WHERE verification_status <> 'pending') = :recorded_before AS nothing_recorded
  FROM audit.audit_log_integrity;
RESET auditlog.vault_mode;
-- A database that is not a vault: no subscription, nothing to check.
SELECT audit.check_received_seals();
SELECT count(*) AS subscriptions FROM audit.vault_status;
-- Only a superuser makes a database a vault.
SET ROLE audit_writer;
SET auditlog.vault_mode = on;
RESET ROLE;
