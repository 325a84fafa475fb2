//! Vault mode (`auditlog.vault_mode`): a database that holds another database's log, received by
//! logical replication (docs/scaling.md). The source publishes its events and seals insert-only;
//! here every seal is verified as it lands, against what the vault already holds, and the vault
//! builds the log's tree itself. A seal that does not verify fails the apply worker's
//! transaction, which stops the subscription: forged or rewritten history never lands. The
//! reason is kept in a file for `audit.vault_status`, since the failed transaction keeps nothing.

#[pgrx::pg_schema]
pub mod audit {
    use crate::internal::with_internal;
    use crate::verify::{verify_batches, Rebuilt};
    use crate::{chain, gucs, tree};
    use auditlog_core::verify::StoredBatch;
    use pgrx::prelude::*;
    use pgrx::spi::{SpiClient, SpiResult};
    use std::path::PathBuf;

    pgrx::extension_sql_file!(
        "../../sql/vault.sql",
        name = "vault",
        requires = ["schema", check_incoming_seal, vault_break]
    );

    /// Refuses, in a vault, a function that would write the log: it arrives only by replication.
    pub fn refuse_local_write(function: &str) {
        if gucs::vault_mode() {
            ereport!(
                PgLogLevel::ERROR,
                PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
                format!("{function}: this database is an audit vault (auditlog.vault_mode)"),
                "A vault's log arrives only by logical replication from its source."
            );
        }
    }

    /// Where the last break is kept: in the data directory, one file per database.
    fn break_file() -> PathBuf {
        // SAFETY: DataDir and MyDatabaseId are set in every backend connected to a database.
        let (dir, db) = unsafe {
            (
                std::ffi::CStr::from_ptr(pgrx::pg_sys::DataDir)
                    .to_string_lossy()
                    .into_owned(),
                pgrx::pg_sys::MyDatabaseId,
            )
        };
        PathBuf::from(dir)
            .join("auditlog")
            .join(format!("vault_break_{}", db.to_u32()))
    }

    /// Records why a received seal is refused, then refuses it.
    fn refuse(why: String) -> ! {
        let file = break_file();
        let kept = std::fs::create_dir_all(file.parent().expect("a directory"))
            .and_then(|_| std::fs::write(&file, &why));
        if let Err(e) = kept {
            warning!(
                "auditlog vault: cannot record the break in {}: {e}",
                file.display()
            );
        }
        ereport!(
            PgLogLevel::ERROR,
            PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            format!("auditlog vault: {why}"),
            "The subscription stops here (disable_on_error); the vault keeps what it verified. See audit.vault_status."
        );
        unreachable!("ERROR does not return")
    }

    /// The last break recorded, if the vault has not verified a seal since.
    #[pg_extern(stable)]
    fn vault_break() -> Option<String> {
        std::fs::read_to_string(break_file()).ok()
    }

    /// Whether every table of this database's subscriptions has finished its initial copy:
    /// until then a seal may arrive before the positions it covers.
    fn synchronized(client: &SpiClient<'_>) -> SpiResult<bool> {
        let q = "SELECT NOT EXISTS (
                   SELECT FROM pg_catalog.pg_subscription_rel r
                     JOIN pg_catalog.pg_subscription s ON s.oid = r.srsubid
                    WHERE s.subdbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
                      AND r.srsubstate <> 'r')";
        Ok(client.select(q, Some(1), &[])?.first().get_one::<bool>()? == Some(true))
    }

    /// Verifies the received batches after the last verified one (and `incoming`, not stored
    /// yet), stores the tree they extend, and records how far the vault is verified. Returns that
    /// tree size.
    fn check(client: &mut SpiClient<'_>, incoming: Option<StoredBatch>) -> SpiResult<i64> {
        // One check at a time: the trigger and check_received_seals() both extend the tiles.
        client.update(
            "SELECT pg_advisory_xact_lock($1)",
            None,
            &[crate::seal::SEAL_LOCK.into()],
        )?;
        let q =
            "SELECT batch_id, tree_size FROM audit.vault_checked ORDER BY batch_id DESC LIMIT 1";
        let checked = client
            .select(q, Some(1), &[])?
            .next()
            .map(|r| {
                Ok::<_, pgrx::spi::SpiError>((
                    r.get::<i64>(1)?.unwrap_or(0),
                    r.get::<i64>(2)?.unwrap_or(0),
                ))
            })
            .transpose()?;
        let (last_id, checked_size) = checked.unwrap_or((0, 0));
        let prev = match last_id {
            0 => None,
            id => chain::range(client, id, Some(id))?.pop(),
        };
        let mut batches = chain::range(client, last_id + 1, None)?;
        batches.extend(incoming);
        let Some(last) = batches.last().map(|b| {
            (
                b.batch.batch_id,
                b.batch.first_position,
                b.batch.last_position,
            )
        }) else {
            return Ok(checked_size);
        };
        let first_position = batches[0].batch.first_position;
        // The log from its first batch, or nothing: a vault that lacks the start cannot check a
        // link or a tree root.
        if last_id == 0 && batches[0].batch.batch_id != 1 {
            refuse(format!(
                "the vault does not hold the source's log from its first batch (batch {} is the first it has): subscribe with copy_data = true",
                batches[0].batch.batch_id
            ));
        }
        let mut tiles = Vec::new();
        let problems = verify_batches(client, prev, batches, Rebuilt::Keep(&mut tiles))?;
        if !problems.is_empty() {
            let named: Vec<String> = problems
                .iter()
                .take(5)
                .map(|p| {
                    format!(
                        "{} at batch {}: {}",
                        p.kind.as_str(),
                        p.batch_id.map_or("-".into(), |b| b.to_string()),
                        p.detail
                    )
                })
                .collect();
            refuse(format!(
                "batch {} from the source does not verify against the vault's log ({} problem(s)): {}",
                last.0,
                problems.len(),
                named.join("; ")
            ));
        }
        tree::write_tiles(client, &tiles)?;
        let (batch_id, _, tree_size) = last;
        client.update(
            "INSERT INTO audit.vault_checked (batch_id, tree_size) VALUES ($1, $2)",
            None,
            &[batch_id.into(), tree_size.into()],
        )?;
        // The source's queue is published insert-only: its sealed events leave the vault's here.
        let q = "DELETE FROM audit.unsealed_events u USING audit.event_positions p
                  WHERE p.position BETWEEN $1 AND $2 AND u.event_id = p.event_id";
        with_internal(|| client.update(q, None, &[first_position.into(), tree_size.into()]))?;
        let _ = std::fs::remove_file(break_file());
        Ok(tree_size)
    }

    /// A restore of pg_dump's (which runs with row_security off): it brings seals before their
    /// positions, and the vault's record of what it verified with them.
    fn restoring() -> bool {
        Spi::get_one::<String>("SELECT current_setting('row_security')")
            .ok()
            .flatten()
            .is_some_and(|v| v == "off")
    }

    /// BEFORE INSERT ON audit.audit_log_integrity FOR EACH ROW, `ENABLE ALWAYS`: verifies a seal
    /// that arrives by replication, or any seal in a vault. The source's own sealer is not
    /// checked here (it verifies what it writes).
    #[pg_trigger]
    fn check_incoming_seal<'a>(
        trigger: &'a pgrx::PgTrigger<'a>,
    ) -> Result<Option<PgHeapTuple<'a, AllocatedByPostgres>>, pgrx::PgTriggerError> {
        let new = trigger.new().expect("an INSERT trigger");
        // SAFETY: a plain read of this backend's setting.
        let replicated = unsafe {
            pgrx::pg_sys::SessionReplicationRole
                == pgrx::pg_sys::SESSION_REPLICATION_ROLE_REPLICA as i32
        };
        if !(replicated || gucs::vault_mode()) || restoring() {
            return Ok(Some(new));
        }
        let incoming = chain::from_tuple(&new)
            .unwrap_or_else(|e| error!("auditlog vault: a seal record that cannot be read: {e}"));
        Spi::connect_mut(|client| {
            let id = incoming.batch.batch_id;
            let held = client
                .select("SELECT batch_hash FROM audit.audit_log_integrity WHERE id = $1", Some(1), &[id.into()])?
                .next()
                .map(|r| r.get::<String>(1))
                .transpose()?
                .flatten();
            if let Some(held) = held {
                refuse(format!(
                    "the source sent batch {id} again, with batch_hash {} where the vault holds {held}: its history was rewritten",
                    incoming.batch_hash
                ));
            }
            if synchronized(client)? {
                check(client, Some(incoming))?;
            }
            Ok::<_, pgrx::spi::SpiError>(())
        })
        .unwrap_or_else(|e| error!("auditlog vault: {e}"));
        Ok(Some(new))
    }

    /// Verifies what arrived during the subscription's initial copy (which lands unverified,
    /// seals possibly before their positions) without waiting for the next seal. Returns the
    /// tree size the vault is verified up to.
    #[pg_extern(volatile, security_definer)]
    #[search_path(audit, pg_catalog, pg_temp)]
    fn check_received_seals() -> i64 {
        if !gucs::vault_mode() {
            error!(
                "check_received_seals: this database is not an audit vault (auditlog.vault_mode)"
            );
        }
        Spi::connect_mut(|client| {
            if !synchronized(client)? {
                error!("check_received_seals: the subscription's initial copy is not done yet (see pg_subscription_rel)");
            }
            check(client, None)
        })
        .unwrap_or_else(|e| error!("check_received_seals: {e}"))
    }
}
