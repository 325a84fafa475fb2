//! Sealing: what a sealed event's leaf commits to, and the batch record that chains batches.
//!
//! Leaf data: position (8 bytes, big-endian) || event_id (16 bytes) || integrity hash (32 bytes)
//! || classification hash (32 bytes), hashed as an RFC 9162 leaf. Each batch's leaves form its own
//! Merkle tree (`merkle_root`) and are appended to the log's one tree (`tree_root` after them,
//! core/src/tree.rs). The batch hash is SHA-256 over the RFC 8785 form of the batch record,
//! previous batch hash included, and from seal_version 2 on the tree root too.

use crate::canonical::{to_canonical_string, Canonical};
use crate::hash::format_timestamp_us;
use crate::merkle::{self, Hash};
use crate::tree::{self, Frontier};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// 2: the batch record holds the log tree's root after the batch. Batches of version 1 (before
/// the one tree) were given theirs when the tree was built, outside their batch hash.
pub const SEAL_VERSION: i16 = 2;
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

pub const LEAF_DATA_LEN: usize = 88;

impl SealedLeaf {
    /// The leaf's data: what a proof carries and what its leaf hash is over.
    pub fn data(&self) -> [u8; LEAF_DATA_LEN] {
        let mut data = [0u8; LEAF_DATA_LEN];
        data[..8].copy_from_slice(&self.position.to_be_bytes());
        data[8..24].copy_from_slice(self.event_id.as_bytes());
        data[24..56].copy_from_slice(&self.event_hash);
        data[56..].copy_from_slice(&self.classification_hash);
        data
    }

    pub fn from_data(data: &[u8]) -> Option<SealedLeaf> {
        let data: &[u8; LEAF_DATA_LEN] = data.try_into().ok()?;
        Some(SealedLeaf {
            position: i64::from_be_bytes(data[..8].try_into().ok()?),
            event_id: uuid::Uuid::from_slice(&data[8..24]).ok()?,
            event_hash: data[24..56].try_into().ok()?,
            classification_hash: data[56..].try_into().ok()?,
        })
    }

    pub fn leaf_hash(&self) -> Hash {
        merkle::leaf_hash(&self.data())
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
    /// The log tree's root after this batch, hex; its size is `last_position`.
    pub tree_root: String,
}

impl Batch {
    pub fn preimage(&self) -> String {
        let mut record = json!({
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
        });
        if self.seal_version >= 2 {
            record["tree_root"] = self.tree_root.clone().into();
        }
        to_canonical_string(&record)
    }

    pub fn batch_hash(&self) -> String {
        hex::encode(Sha256::digest(self.preimage().as_bytes()))
    }
}

/// Builds the next batch over `leaves` (already in position order, starting right after `prev`),
/// appending them to `log`, the tree as `prev` left it; the tiles they complete go to `full`.
pub fn next_batch(
    prev: Option<(&Batch, &str)>,
    leaves: &[SealedLeaf],
    times_us: (i64, i64),
    now_us: i64,
    log: &mut Frontier,
    full: &mut Vec<tree::Tile>,
) -> Batch {
    let hashes: Vec<Hash> = leaves.iter().map(SealedLeaf::leaf_hash).collect();
    for h in &hashes {
        log.append(&tree::Hash(*h), full);
    }
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
        tree_root: hex::encode(log.root().0),
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
        let (mut log, mut full) = (Frontier::default(), Vec::new());
        let b1 = next_batch(None, &[leaf(1), leaf(2)], (10, 20), 30, &mut log, &mut full);
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
        let b2 = next_batch(
            Some((&b1, &h1)),
            &[leaf(3)],
            (21, 21),
            40,
            &mut log,
            &mut full,
        );
        assert_eq!(
            (b2.batch_id, b2.first_position, b2.last_position),
            (2, 3, 3)
        );
        assert_eq!(b2.prev_batch_hash, h1);
        // Both batches' leaves in one tree: its root after each batch is recorded.
        let all: Vec<tree::Hash> = [leaf(1), leaf(2), leaf(3)]
            .iter()
            .map(|l| tree::Hash(l.leaf_hash()))
            .collect();
        let mut two = Frontier::default();
        two.append(&all[0], &mut full);
        two.append(&all[1], &mut full);
        assert_eq!(b1.tree_root, hex::encode(two.root().0));
        two.append(&all[2], &mut full);
        assert_eq!(b2.tree_root, hex::encode(two.root().0));
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
            Box::new(|b| b.tree_root = GENESIS.into()),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut c = b2.clone();
            change(&mut c);
            assert_ne!(c.batch_hash(), b2.batch_hash(), "change {i} went unseen");
        }
        // A version 1 batch was hashed before it had a tree root.
        let mut v1 = b2.clone();
        v1.seal_version = 1;
        let h = v1.batch_hash();
        v1.tree_root = GENESIS.into();
        assert_eq!(v1.batch_hash(), h);
    }

    #[test]
    fn leaf_data_round_trips() {
        let l = leaf(300);
        assert_eq!(SealedLeaf::from_data(&l.data()), Some(l.clone()));
        assert_eq!(l.data()[..8], 300i64.to_be_bytes());
        assert_eq!(SealedLeaf::from_data(&l.data()[1..]), None);
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
