//! `audit_chain_head()` and `audit_inclusion_proof(event_id)`: what an outside checker needs.

use crate::chain;
use auditlog_core::proof::{ChainedBatch, Proof};
use auditlog_core::seal::{SealedLeaf, GENESIS};
use auditlog_core::verify::StoredBatch;
use pgrx::datum::{JsonB, Uuid};
use pgrx::prelude::*;
use serde_json::json;

fn chained(b: StoredBatch) -> ChainedBatch {
    ChainedBatch {
        batch: b.batch,
        batch_hash: b.batch_hash,
    }
}

/// The newest batch: its number, the number of sealed events, its batch_hash and its record.
/// This is what a checkpoint signs.
#[pg_extern(stable, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_chain_head() -> JsonB {
    let head = Spi::connect(chain::last).unwrap_or_else(|e| error!("audit_chain_head: {e}"));
    JsonB(match head {
        Some(b) => json!({
            "batch_id": b.batch.batch_id,
            "tree_size": b.batch.last_position,
            "batch_hash": b.batch_hash,
            "created_at": auditlog_core::hash::format_timestamp_us(b.batch.created_at_us),
            "batch": chained(b),
        }),
        None => {
            json!({"batch_id": 0, "tree_size": 0, "batch_hash": GENESIS, "created_at": null, "batch": null})
        }
    })
}

/// The proof that a sealed event is in the chain: its leaf, the audit path to its batch's root,
/// and the batch records from its batch to the head. `auditlog-shim verify-proof` checks it.
#[pg_extern(stable, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_inclusion_proof(event_id: Uuid) -> JsonB {
    let proof = Spi::connect(|client| {
        let q = "SELECT b.id FROM audit.event_positions p
                   JOIN audit.audit_log_integrity b ON p.position BETWEEN b.first_position AND b.last_position
                  WHERE p.event_id = $1";
        let found = client.select(q, Some(1), &[event_id.into()])?.next();
        let Some(batch_id) = found.map(|r| r.get::<i64>(1)).transpose()?.flatten() else {
            error!("audit_inclusion_proof: event {event_id} is not sealed yet (seal_audit_events() seals it)");
        };
        let mut batches = chain::range(client, batch_id, None)?.into_iter().map(chained);
        let batch = batches.next().expect("the batch found above");
        let q = "SELECT position, event_id, event_hash, classification_hash FROM audit.event_positions
                  WHERE position BETWEEN $1 AND $2 ORDER BY position";
        let mut leaf = None;
        let mut hashes = Vec::new();
        for r in client.select(q, None, &[batch.batch.first_position.into(), batch.batch.last_position.into()])? {
            let id: Uuid = r.get(2)?.expect("NOT NULL");
            let l = SealedLeaf {
                position: r.get(1)?.expect("NOT NULL"),
                event_id: uuid::Uuid::from_bytes(*id.as_bytes()),
                event_hash: chain::hash32(r.get(3)?),
                classification_hash: chain::hash32(r.get(4)?),
            };
            hashes.push(l.leaf_hash());
            if id == event_id {
                leaf = Some(l);
            }
        }
        let leaf = leaf.expect("the event's own position");
        Ok::<_, pgrx::spi::SpiError>(Proof::build(leaf, &hashes, batch, batches.collect()))
    })
    .unwrap_or_else(|e| error!("audit_inclusion_proof: {e}"));
    JsonB(serde_json::to_value(proof).expect("a proof serialises"))
}
