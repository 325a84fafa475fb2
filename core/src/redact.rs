//! Erasure that keeps proofs: personal data leaves a stored event, and the chain still verifies.
//!
//! A redacted event keeps its sealed `integrity_hash` (the leaf commits to it) and gets a
//! second hash, of its redacted row (what is removed is the database's redaction statement's
//! to say; the hash is taken of what it stored). Every redaction is recorded, and the records of one request
//! are bound by a digest that an audit event of its own carries into the chain. Verification then
//! accepts a row that matches its recorded redacted hash, and checks each group of records
//! against its sealed digest: a row edited after its redaction, or a redaction record forged to
//! cover an edit, is seen.

use sha2::{Digest, Sha256};

/// One event's redaction: its id, the hash it was sealed with, the hash of what is left.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub event_id: uuid::Uuid,
    pub original_hash: String,
    pub redacted_hash: String,
}

/// SHA-256 (hex) over the records of one redaction request, in event id order: what the
/// request's own audit event carries.
pub fn digest(records: &[Record]) -> String {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by_key(|r| r.event_id);
    let mut h = Sha256::new();
    for r in sorted {
        h.update(format!(
            "{}:{}:{}\n",
            r.event_id, r.original_hash, r.redacted_hash
        ));
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_binds_every_record_in_any_order() {
        let rec = |n: u128, h: &str| Record {
            event_id: uuid::Uuid::from_u128(n),
            original_hash: format!("o{n}"),
            redacted_hash: h.into(),
        };
        let a = [rec(1, "x"), rec(2, "y")];
        let b = [rec(2, "y"), rec(1, "x")];
        assert_eq!(digest(&a), digest(&b));
        assert_ne!(digest(&a), digest(&[rec(1, "x"), rec(2, "z")]));
        assert_ne!(digest(&a), digest(&a[..1]));
    }
}
