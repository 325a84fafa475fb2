//! `seal_audit_events()`: gives the committed, unsealed events gapless positions, appends their
//! leaves to the log's tree and records them as the next batch of the chain.
//!
//! The queue `audit.unsealed_events` holds every logged event until a seal takes it; a seal sees
//! only committed rows, so an event whose transaction commits later waits for the next seal and
//! is never skipped nor added to a closed batch. Writers never wait for a seal (they only append
//! to the queue); a second seal at the same time returns 0 at once. Its cost grows with the
//! queue, not with the table. It also rolls the events it takes into their correlations' rows.

use crate::internal::with_internal;
use crate::{chain, correlation, store, tree};
use auditlog_core::seal::{next_batch, SealedLeaf};
use pgrx::datum::TimestampWithTimeZone;
use pgrx::prelude::*;

/// "auditlog" in ASCII: the advisory lock key that serialises sealers.
pub(crate) const SEAL_LOCK: i64 = 0x6175_6469_746c_6f67;

/// The channel each seal NOTIFYs on, with the tree size it reached.
const SEALED_CHANNEL: &str = "auditlog_sealed";

/// Empties the queue of what this statement sees committed.
const TAKE: &str = "DELETE FROM audit.unsealed_events
    RETURNING event_id, \"timestamp\", event_hash, classification_hash, correlation_id,
              parent_correlation_id, risk_score";

const INSERT_BATCH: &str = "
    INSERT INTO audit.audit_log_integrity
        (id, prev_batch_hash, merkle_root, first_position, last_position, event_count,
         batch_start_time, batch_end_time, created_at, seal_version, batch_hash, tree_root)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";

/// Seals every committed, unsealed event; returns how many.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
pub fn seal_audit_events() -> i64 {
    crate::vault::audit::refuse_local_write("seal_audit_events");
    Spi::connect_mut(|client| {
        // Run as a writing statement, so that every statement after it takes a fresh snapshot and
        // sees the batch that a seal holding the lock just before us committed.
        let locked: Option<bool> = client
            .update(
                "SELECT pg_try_advisory_xact_lock($1)",
                Some(1),
                &[SEAL_LOCK.into()],
            )?
            .first()
            .get(1)?;
        if locked != Some(true) {
            return Ok(0);
        }
        let prev = chain::last(client)?;
        let first_position = prev.as_ref().map_or(1, |p| p.batch.last_position + 1);
        let mut taken = Vec::new();
        let mut queued = Vec::new();
        for row in with_internal(|| client.update(TAKE, None, &[]))? {
            let event_id: pgrx::datum::Uuid = row.get(1)?.expect("NOT NULL");
            let ts = store::pg_to_unix_us(row.get::<TimestampWithTimeZone>(2)?.expect("NOT NULL"));
            taken.push((
                ts,
                uuid::Uuid::from_bytes(*event_id.as_bytes()),
                chain::hash32(row.get(3)?),
                chain::hash32(row.get(4)?),
            ));
            queued.push(correlation::Queued {
                correlation_id: row.get(5)?.expect("NOT NULL"),
                parent_correlation_id: row.get(6)?,
                at_us: ts,
                risk_score: row.get(7)?.expect("NOT NULL"),
            });
        }
        // Positions follow the events' own order: time, then id.
        taken.sort_unstable_by_key(|t| (t.0, t.1));
        let times = (
            taken.first().map_or(0, |t| t.0),
            taken.last().map_or(0, |t| t.0),
        );
        let event_times: Vec<i64> = taken.iter().map(|t| t.0).collect();
        let leaves: Vec<SealedLeaf> = (first_position..)
            .zip(taken)
            .map(
                |(position, (_, event_id, event_hash, classification_hash))| SealedLeaf {
                    position,
                    event_id,
                    event_hash,
                    classification_hash,
                },
            )
            .collect();
        if leaves.is_empty() {
            return Ok(0);
        }
        let now_us = store::pg_to_unix_us(
            unsafe { pg_sys::GetCurrentTransactionStartTimestamp() }
                .try_into()
                .unwrap(),
        );
        // The log's tree as the last seal left it; a seal never builds on tiles that do not give
        // the root the last batch recorded (the events wait in the queue, verification names it).
        let mut log = tree::frontier(client, first_position as u64 - 1)?
            .unwrap_or_else(|e| error!("seal_audit_events: the log's tree cannot be read: {e}"));
        if let Some(p) = &prev {
            if hex::encode(log.root().0) != p.batch.tree_root {
                error!("seal_audit_events: the stored tree does not give batch {}'s tree_root; verify_audit_chain() names what changed", p.batch.batch_id);
            }
        }
        let mut tiles = Vec::new();
        let batch = next_batch(
            prev.as_ref().map(|p| (&p.batch, p.batch_hash.as_str())),
            &leaves,
            times,
            now_us,
            &mut log,
            &mut tiles,
        );
        tiles.extend(log.partial_tiles());
        tree::write_tiles(client, &tiles)?;
        // The positions are appended as COPY does: an INSERT of unnested arrays spent more on
        // building and unpacking the arrays than on the rows.
        let positions = crate::append::tables()[4];
        let mut appender = crate::append::Appender::for_batch();
        for (l, at_us) in leaves.iter().zip(event_times) {
            let row = [
                store::datum(l.position),
                store::datum(pgrx::datum::Uuid::from_bytes(*l.event_id.as_bytes())),
                store::datum(&l.event_hash[..]),
                store::datum(&l.classification_hash[..]),
                store::datum(store::unix_us_to_pg(at_us)),
            ];
            store::append(&mut appender, positions, &row, None);
        }
        appender.finish();
        let b = &batch;
        client.update(
            INSERT_BATCH,
            None,
            &[
                b.batch_id.into(),
                b.prev_batch_hash.as_str().into(),
                b.merkle_root.as_str().into(),
                b.first_position.into(),
                b.last_position.into(),
                (b.event_count as i32).into(),
                store::unix_us_to_pg(b.batch_start_us).into(),
                store::unix_us_to_pg(b.batch_end_us).into(),
                store::unix_us_to_pg(b.created_at_us).into(),
                b.seal_version.into(),
                b.batch_hash().as_str().into(),
                b.tree_root.as_str().into(),
            ],
        )?;
        correlation::roll_up(client, &queued)?;
        // Wakes followers (`auditlog-shim export --follow`) at commit, with the new tree size.
        client.update(
            "SELECT pg_notify($1, $2)",
            None,
            &[SEALED_CHANNEL.into(), b.last_position.to_string().into()],
        )?;
        Ok::<_, pgrx::spi::SpiError>(b.event_count)
    })
    .unwrap_or_else(|e| error!("seal_audit_events: {e}"))
}
