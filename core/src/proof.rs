//! Inclusion proofs: an event's sealed leaf, the audit path to its batch's Merkle root, and the
//! batch records from there to the chain head, checkable anywhere with this crate.

use crate::merkle::{self, Hash};
use crate::seal::{Batch, SealedLeaf};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainedBatch {
    #[serde(flatten)]
    pub batch: Batch,
    pub batch_hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Proof {
    pub leaf: SealedLeaf,
    pub audit_path: Vec<String>,
    pub batch: ChainedBatch,
    /// The batches after `batch`, oldest first, up to the head when the proof was made.
    pub chain: Vec<ChainedBatch>,
}

/// What a proof proves: the leaf is in the chain whose head is this batch.
#[derive(Debug, PartialEq)]
pub struct ProvenHead {
    pub batch_id: i64,
    pub batch_hash: String,
    pub tree_size: i64,
}

impl Proof {
    pub fn build(
        leaf: SealedLeaf,
        batch_leaves: &[Hash],
        batch: ChainedBatch,
        chain: Vec<ChainedBatch>,
    ) -> Proof {
        let index = (leaf.position - batch.batch.first_position) as usize;
        let audit_path = merkle::audit_path(index, batch_leaves)
            .iter()
            .map(hex::encode)
            .collect();
        Proof {
            leaf,
            audit_path,
            batch,
            chain,
        }
    }

    /// Checks every step and returns the head it leads to.
    pub fn check(&self) -> Result<ProvenHead, String> {
        let b = &self.batch.batch;
        if self.leaf.position < b.first_position || self.leaf.position > b.last_position {
            return Err(format!(
                "position {} is outside batch {}",
                self.leaf.position, b.batch_id
            ));
        }
        let path: Vec<Hash> = self
            .audit_path
            .iter()
            .map(|h| {
                hex::decode(h)
                    .ok()
                    .and_then(|v| v.try_into().ok())
                    .ok_or(format!("bad path hash {h}"))
            })
            .collect::<Result<_, _>>()?;
        let root: Hash = hex::decode(&b.merkle_root)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or("bad merkle_root")?;
        let index = (self.leaf.position - b.first_position) as u64;
        if !merkle::verify_inclusion(
            index,
            b.event_count as u64,
            &self.leaf.leaf_hash(),
            &path,
            &root,
        ) {
            return Err(format!(
                "the leaf is not in batch {}'s Merkle tree",
                b.batch_id
            ));
        }
        let mut prev = &self.batch;
        if prev.batch.batch_hash() != prev.batch_hash {
            return Err(format!(
                "batch {} does not match its hash",
                prev.batch.batch_id
            ));
        }
        for next in &self.chain {
            if next.batch.batch_hash() != next.batch_hash {
                return Err(format!(
                    "batch {} does not match its hash",
                    next.batch.batch_id
                ));
            }
            if next.batch.prev_batch_hash != prev.batch_hash
                || next.batch.batch_id != prev.batch.batch_id + 1
            {
                return Err(format!(
                    "batch {} does not chain to batch {}",
                    next.batch.batch_id, prev.batch.batch_id
                ));
            }
            prev = next;
        }
        Ok(ProvenHead {
            batch_id: prev.batch.batch_id,
            batch_hash: prev.batch_hash.clone(),
            tree_size: prev.batch.last_position,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::next_batch;

    fn leaves(first: i64, n: i64) -> Vec<SealedLeaf> {
        (first..first + n)
            .map(|p| SealedLeaf {
                position: p,
                event_id: uuid::Uuid::from_u128(p as u128),
                event_hash: [p as u8; 32],
                classification_hash: [1; 32],
            })
            .collect()
    }

    #[test]
    fn proofs_check_and_forgeries_fail() {
        let l1 = leaves(1, 5);
        let b1 = next_batch(None, &l1, (1, 2), 3);
        let c1 = ChainedBatch {
            batch_hash: b1.batch_hash(),
            batch: b1,
        };
        let b2 = next_batch(Some((&c1.batch, &c1.batch_hash)), &leaves(6, 2), (4, 5), 6);
        let c2 = ChainedBatch {
            batch_hash: b2.batch_hash(),
            batch: b2,
        };
        let hashes: Vec<Hash> = l1.iter().map(SealedLeaf::leaf_hash).collect();
        let proof = Proof::build(l1[3].clone(), &hashes, c1.clone(), vec![c2.clone()]);
        let head = proof.check().unwrap();
        assert_eq!(
            head,
            ProvenHead {
                batch_id: 2,
                batch_hash: c2.batch_hash.clone(),
                tree_size: 7
            }
        );

        // It survives a JSON round trip.
        let back: Proof = serde_json::from_str(&serde_json::to_string(&proof).unwrap()).unwrap();
        assert_eq!(back, proof);

        let mut forged = proof.clone();
        forged.leaf.event_hash[0] ^= 1;
        assert!(forged.check().is_err());
        let mut forged = proof.clone();
        forged.batch.batch.event_count += 1;
        assert!(forged.check().is_err());
        let mut forged = proof.clone();
        forged.chain[0].batch.prev_batch_hash = "00".repeat(32);
        forged.chain[0].batch_hash = forged.chain[0].batch.batch_hash();
        assert!(forged.check().is_err());
    }
}
