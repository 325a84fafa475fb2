//! 0.2.0's signed checkpoints, still read and verified: the chain head, signed with an Ed25519
//! key the database never sees, each naming the previous checkpoint's hash. 0.3.0 writes
//! c2sp.org checkpoint notes instead ([`crate::signed_checkpoint`]); making these is kept for
//! tests of upgrades.
//!
//! A checkpoint file is `{"checkpoint": {...}, "signature": hex}`; the signature and the
//! checkpoint's hash are over the RFC 8785 form of `checkpoint`.

use auditlog_core::canonical::to_canonical_string;
use auditlog_core::seal::GENESIS;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

pub const VERSION: i64 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Head {
    pub batch_id: i64,
    pub tree_size: i64,
    pub batch_hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub version: i64,
    pub seq: i64,
    pub prev_checkpoint_hash: String,
    pub head: Head,
    /// When it was signed, RFC 3339 UTC.
    pub signed_at: String,
    /// The first 16 hex digits of the public key.
    pub key_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signed {
    pub checkpoint: Checkpoint,
    pub signature: String,
}

fn payload(c: &Checkpoint) -> String {
    to_canonical_string(&serde_json::to_value(c).expect("a checkpoint serialises"))
}

impl Signed {
    pub fn sign(c: Checkpoint, key: &SigningKey) -> Signed {
        let signature = hex::encode(key.sign(payload(&c).as_bytes()).to_bytes());
        Signed {
            checkpoint: c,
            signature,
        }
    }

    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(payload(&self.checkpoint).as_bytes()))
    }

    pub fn signature_ok(&self, key: &VerifyingKey) -> bool {
        let Ok(bytes) = hex::decode(&self.signature) else {
            return false;
        };
        let Ok(sig) = Signature::from_slice(&bytes) else {
            return false;
        };
        key.verify(payload(&self.checkpoint).as_bytes(), &sig)
            .is_ok()
    }
}

pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())[..16].to_string()
}

/// The next checkpoint after `prev` for `head`.
pub fn next(
    prev: Option<&Signed>,
    head: Head,
    signed_at: String,
    key: &VerifyingKey,
) -> Checkpoint {
    Checkpoint {
        version: VERSION,
        seq: prev.map_or(1, |p| p.checkpoint.seq + 1),
        prev_checkpoint_hash: prev.map_or(GENESIS.to_string(), Signed::hash),
        head,
        signed_at,
        key_id: key_id(key),
    }
}

pub fn file_name(seq: i64) -> String {
    format!("checkpoint-{seq:08}.json")
}

/// A checkpoint file.
pub fn read(path: &Path) -> Result<Signed, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not a checkpoint: {e}"))
}

/// Checks the files' signatures and their chain. Returns the problems, each naming its file.
pub fn check_chain(files: &[(PathBuf, Result<Signed, String>)], key: &VerifyingKey) -> Vec<String> {
    let mut problems = Vec::new();
    let mut prev: Option<&Signed> = None;
    for (path, parsed) in files {
        let name = path.display();
        let s = match parsed {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("{name}: {e}"));
                continue;
            }
        };
        if !s.signature_ok(key) {
            problems.push(format!(
                "{name}: forged checkpoint: the signature does not verify with this public key"
            ));
        }
        let c = &s.checkpoint;
        let (want_seq, want_prev) = prev.map_or((1, GENESIS.to_string()), |p| {
            (p.checkpoint.seq + 1, p.hash())
        });
        if c.seq != want_seq || c.prev_checkpoint_hash != want_prev {
            problems.push(format!(
                "{name}: does not follow the checkpoint before it (seq {}, expected {want_seq}): a checkpoint is missing or forged",
                c.seq
            ));
        }
        if let Some(p) = prev {
            if c.head.tree_size < p.checkpoint.head.tree_size
                || c.head.batch_id < p.checkpoint.head.batch_id
            {
                problems.push(format!(
                    "{name}: the chain head went back from the checkpoint before it"
                ));
            }
        }
        prev = Some(s);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn chain(k: &SigningKey, n: i64) -> Vec<(PathBuf, Result<Signed, String>)> {
        let mut out: Vec<(PathBuf, Result<Signed, String>)> = Vec::new();
        for i in 1..=n {
            let prev = out.last().map(|(_, s)| s.as_ref().unwrap().clone());
            let head = Head {
                batch_id: i,
                tree_size: i * 10,
                batch_hash: format!("{i:064}"),
            };
            let c = next(
                prev.as_ref(),
                head,
                format!("2026-11-27T00:00:0{i}Z"),
                &k.verifying_key(),
            );
            out.push((PathBuf::from(file_name(i)), Ok(Signed::sign(c, k))));
        }
        out
    }

    #[test]
    fn a_good_chain_verifies() {
        let k = key(1);
        assert!(check_chain(&chain(&k, 4), &k.verifying_key()).is_empty());
    }

    #[test]
    fn forged_and_missing_checkpoints_are_named() {
        let k = key(1);
        // Signed with another key.
        let mut files = chain(&k, 3);
        let forged = Signed::sign(files[1].1.as_ref().unwrap().checkpoint.clone(), &key(2));
        files[1].1 = Ok(forged);
        let p = check_chain(&files, &k.verifying_key());
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("forged checkpoint"), "{p:?}");

        // An edited head under the old signature.
        let mut files = chain(&k, 3);
        if let Ok(s) = &mut files[2].1 {
            s.checkpoint.head.tree_size = 5;
        }
        let p = check_chain(&files, &k.verifying_key());
        assert!(
            p.iter().any(|m| m.contains("forged")) && p.iter().any(|m| m.contains("went back")),
            "{p:?}"
        );

        // A checkpoint removed from the middle.
        let mut files = chain(&k, 3);
        let _ = files.remove(1);
        let p = check_chain(&files, &k.verifying_key());
        assert!(p[0].contains("does not follow"), "{p:?}");
    }
}
