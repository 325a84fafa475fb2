//! Sealing: what a sealed event's leaf commits to, and the batch record that chains batches.
//!
//! Leaf data (seal_version 1): position (8 bytes, big-endian) || event_id (16 bytes) ||
//! integrity hash (32 bytes) || classification hash (32 bytes), hashed as an RFC 9162 leaf. The
//! batch hash is SHA-256 over the RFC 8785 form of the batch record, previous batch hash included.

use crate::canonical::{to_canonical_string, Canonical};
use crate::hash::format_timestamp_us;
use crate::merkle::{self, Hash};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

pub const SEAL_VERSION: i16 = 1;
/// The previous hash of the first batch.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 of the canonical classification: sealed beside the event hash so that verification
/// can tell a re-scored event from an edited one.
pub fn classification_hash(classification: &impl Canonical) -> Hash {
    let mut s = String::with_capacity(512);
    classification.write_canonical(&mut s);
    Sha256::digest(s.as_bytes()).into()
}

/// One sealed event as the seal recorded it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SealedLeaf {
    pub position: i64,
    pub event_id: uuid::Uuid,
    #[serde(with = "hex::serde")]
    pub event_hash: Hash,
    #[serde(with = "hex::serde")]
    pub classification_hash: Hash,
}

impl SealedLeaf {
    pub fn leaf_hash(&self) -> Hash {
        let mut data = Vec::with_capacity(88);
        data.extend_from_slice(&self.position.to_be_bytes());
        data.extend_from_slice(self.event_id.as_bytes());
        data.extend_from_slice(&self.event_hash);
        data.extend_from_slice(&self.classification_hash);
        merkle::leaf_hash(&data)
    }
}

/// A row of `audit.audit_log_integrity`, less its verification status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    pub batch_id: i64,
    pub prev_batch_hash: String,
    pub merkle_root: String,
    pub first_position: i64,
    pub last_position: i64,
    pub event_count: i64,
    pub batch_start_us: i64,
    pub batch_end_us: i64,
    pub created_at_us: i64,
    pub seal_version: i16,
}

impl Batch {
    pub fn preimage(&self) -> String {
        to_canonical_string(&json!({
            "seal_version": self.seal_version,
            "batch_id": self.batch_id,
            "prev_batch_hash": self.prev_batch_hash,
            "merkle_root": self.merkle_root,
            "first_position": self.first_position,
            "last_position": self.last_position,
            "event_count": self.event_count,
            "batch_start_time": format_timestamp_us(self.batch_start_us),
            "batch_end_time": format_timestamp_us(self.batch_end_us),
            "created_at": format_timestamp_us(self.created_at_us),
        }))
    }

    pub fn batch_hash(&self) -> String {
        hex::encode(Sha256::digest(self.preimage().as_bytes()))
    }
}

/// Builds the next batch over `leaves` (already in position order, starting right after `prev`).
pub fn next_batch(
    prev: Option<(&Batch, &str)>,
    leaves: &[SealedLeaf],
    times_us: (i64, i64),
    now_us: i64,
) -> Batch {
    let hashes: Vec<Hash> = leaves.iter().map(SealedLeaf::leaf_hash).collect();
    let first_position = prev.map_or(1, |(b, _)| b.last_position + 1);
    Batch {
        batch_id: prev.map_or(1, |(b, _)| b.batch_id + 1),
        prev_batch_hash: prev.map_or(GENESIS.to_string(), |(_, h)| h.to_string()),
        merkle_root: hex::encode(merkle::root(&hashes)),
        first_position,
        last_position: first_position + leaves.len() as i64 - 1,
        event_count: leaves.len() as i64,
        batch_start_us: times_us.0,
        batch_end_us: times_us.1,
        created_at_us: now_us,
        seal_version: SEAL_VERSION,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn leaf(position: i64) -> SealedLeaf {
        SealedLeaf {
            position,
            event_id: uuid::Uuid::from_u128(position as u128),
            event_hash: [position as u8; 32],
            classification_hash: [7; 32],
        }
    }

    #[test]
    fn batches_chain_and_hash_every_field() {
        let b1 = next_batch(None, &[leaf(1), leaf(2)], (10, 20), 30);
        assert_eq!(
            (
                b1.batch_id,
                b1.first_position,
                b1.last_position,
                b1.event_count
            ),
            (1, 1, 2, 2)
        );
        assert_eq!(b1.prev_batch_hash, GENESIS);
        let h1 = b1.batch_hash();
        let b2 = next_batch(Some((&b1, &h1)), &[leaf(3)], (21, 21), 40);
        assert_eq!(
            (b2.batch_id, b2.first_position, b2.last_position),
            (2, 3, 3)
        );
        assert_eq!(b2.prev_batch_hash, h1);
        let changes: Vec<Box<dyn Fn(&mut Batch)>> = vec![
            Box::new(|b| b.batch_id += 1),
            Box::new(|b| b.prev_batch_hash = GENESIS.into()),
            Box::new(|b| b.merkle_root = GENESIS.into()),
            Box::new(|b| b.first_position += 1),
            Box::new(|b| b.last_position += 1),
            Box::new(|b| b.event_count += 1),
            Box::new(|b| b.batch_start_us += 1),
            Box::new(|b| b.batch_end_us += 1),
            Box::new(|b| b.created_at_us += 1),
            Box::new(|b| b.seal_version += 1),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut c = b2.clone();
            change(&mut c);
            assert_ne!(c.batch_hash(), b2.batch_hash(), "change {i} went unseen");
        }
    }

    #[test]
    fn leaves_bind_position_and_both_hashes() {
        let base = leaf(5).leaf_hash();
        let mut l = leaf(5);
        l.position = 6;
        assert_ne!(l.leaf_hash(), base);
        let mut l = leaf(5);
        l.classification_hash[0] ^= 1;
        assert_ne!(l.leaf_hash(), base);
        assert_ne!(
            classification_hash(&json!({"a": 1})),
            classification_hash(&json!({"a": 2}))
        );
        assert_eq!(
            classification_hash(&json!({"a": 1, "b": 2})),
            classification_hash(
                &serde_json::from_str::<serde_json::Value>(r#"{"b":2,"a":1}"#).unwrap()
            )
        );
    }
}
