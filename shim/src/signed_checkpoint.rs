//! Checkpoints as c2sp.org/tlog-checkpoint signed notes: the head of the one Merkle tree of all
//! sealed events (origin, size, root), signed with the log's Ed25519 note key, cosigned by
//! witnesses (c2sp.org/tlog-cosignature), kept as numbered files the database cannot rewrite.
//!
//! Files are `checkpoint-NNNNNNNN.note`, numbered after any 0.2.0 `checkpoint-NNNNNNNN.json`
//! ([`crate::checkpoint`]) in the same directory, so that one sequence runs through both.

use crate::cosignature;
use anyhow::{anyhow, bail, ensure, Context, Result};
use ed25519_dalek::{SigningKey, VerifyingKey};
use signed_note::{Note, NoteError, Signature, Signer, VerificationError, Verifier, Verifiers};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use tlog_tiles::checkpoint::Checkpoint;
use tlog_tiles::{check_tree, Hash, EMPTY_HASH};

/// A tree head: what a checkpoint signs.
#[derive(Clone, Debug, PartialEq)]
pub struct Head {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Head {
    /// Fails for an origin that cannot be a checkpoint's first line.
    pub fn new(origin: String, size: u64, root: Hash) -> Result<Head> {
        ensure!(
            !origin.is_empty() && !origin.chars().any(char::is_control),
            "the log origin {origin:?} cannot head a checkpoint"
        );
        Ok(Head { origin, size, root })
    }

    /// The note text: `<origin>\n<size>\n<base64 root>\n`.
    pub fn body(&self) -> Vec<u8> {
        format!("{}\n{}\n{}\n", self.origin, self.size, self.root).into_bytes()
    }
}

/// A checkpoint note's head and the note itself, signatures unchecked.
pub fn parse(note: &[u8]) -> Result<(Head, Note)> {
    let note = Note::from_bytes(note).map_err(|e| anyhow!("not a signed note: {e}"))?;
    let c = Checkpoint::from_bytes(note.text()).map_err(|e| anyhow!("not a checkpoint: {e}"))?;
    Ok((Head::new(c.origin().to_owned(), c.size(), *c.hash())?, note))
}

/// The log's signature on `head`.
pub fn sign(head: &Head, signer: &dyn Signer) -> Result<Signature> {
    let sig = signer
        .sign(&head.body())
        .map_err(|e| anyhow!("signing: {e}"))?;
    Ok(Signature::new(
        signer.name().to_owned(),
        signer.key_id(),
        sig,
    )?)
}

/// `head` with these signatures, as a checkpoint file holds it.
pub fn note(head: &Head, sigs: &[Signature]) -> Result<Vec<u8>> {
    Ok(Note::new(&head.body(), sigs)?.to_bytes())
}

/// The keys a note's signatures are checked against; other keys' signatures are ignored.
pub(crate) struct Keys<'a>(pub(crate) Vec<&'a dyn Verifier>);

impl Verifiers for Keys<'_> {
    fn verifier(&self, name: &str, id: u32) -> Result<&dyn Verifier, VerificationError> {
        self.0
            .iter()
            .copied()
            .find(|v| v.name() == name && v.key_id() == id)
            .ok_or_else(|| VerificationError::UnknownKey {
                name: name.to_owned(),
                id,
            })
    }
}

/// Whose signatures a checkpoint needs: the log's, and cosignatures by at least `require` of
/// `witnesses`.
pub struct Trust {
    pub log: Box<dyn Verifier>,
    pub witnesses: Vec<Box<dyn Verifier>>,
    pub require: usize,
    /// The log's origin, when the checker knows which log it expects (one key may sign several).
    pub origin: Option<String>,
}

/// A checkpoint whose signatures verified, and the distinct witnesses' cosignatures on it.
pub struct Verified {
    pub head: Head,
    pub cosignatures: Vec<Signature>,
}

impl Trust {
    /// The log's signature and the known witnesses' cosignatures, however many.
    pub fn signed(&self, note: &[u8]) -> Result<Verified> {
        let (head, note) = parse(note)?;
        if let Some(origin) = &self.origin {
            ensure!(
                head.origin == *origin,
                "the checkpoint is of the log {:?}, not {origin:?}",
                head.origin
            );
        }
        match note.verify(&Keys(vec![self.log.as_ref()])) {
            Ok(_) => {}
            Err(NoteError::UnverifiedNote) => bail!(
                "forged checkpoint: it has no signature by the log's key {}",
                self.log.name()
            ),
            Err(NoteError::InvalidSignature { .. }) => {
                bail!(
                    "forged checkpoint: the log's signature does not verify (the note was edited)"
                )
            }
            Err(e) => bail!("forged checkpoint: {e}"),
        }
        // The log's own key never counts as a witness.
        let log = (self.log.name(), self.log.key_id());
        let witnesses = Keys(
            self.witnesses
                .iter()
                .map(|w| w.as_ref())
                .filter(|w| (w.name(), w.key_id()) != log)
                .collect(),
        );
        // Note::verify keeps one signature per key, so each counts once.
        let cosignatures = match note.verify(&witnesses) {
            Ok((verified, _)) => verified,
            Err(NoteError::UnverifiedNote) => Vec::new(),
            Err(e) => bail!("forged cosignature: {e}"),
        };
        Ok(Verified { head, cosignatures })
    }

    /// Whether enough witnesses cosigned.
    pub fn quorum(&self, v: &Verified) -> Result<()> {
        ensure!(
            v.cosignatures.len() >= self.require,
            "missing cosignatures: {} of the {} required",
            v.cosignatures.len(),
            self.require
        );
        Ok(())
    }

    /// [`Trust::signed`], and [`Trust::quorum`].
    pub fn verify(&self, note: &[u8]) -> Result<Verified> {
        let v = self.signed(note)?;
        self.quorum(&v)?;
        Ok(v)
    }
}

/// Why one head does not extend another.
#[derive(Debug, PartialEq)]
pub enum Break {
    /// The two are heads of different logs.
    OtherLog,
    /// The later head has fewer leaves.
    Shrunk,
    /// The earlier tree is not a prefix of the later one.
    Diverged,
}

/// Whether `new` extends `old`, given `proof`, a consistency proof (RFC 9162 2.1.4) from
/// `old.size` to `new.size`; it is not looked at when the sizes are equal or `old` is empty.
pub fn extends(old: &Head, new: &Head, proof: &[Hash]) -> Result<(), Break> {
    if old.origin != new.origin {
        return Err(Break::OtherLog);
    }
    if new.size < old.size {
        return Err(Break::Shrunk);
    }
    let holds = match old.size {
        0 => old.root == EMPTY_HASH,
        n if n == new.size => old.root == new.root,
        _ => check_tree(&proof.to_vec(), new.size, new.root, old.size, old.root).is_ok(),
    };
    holds.then_some(()).ok_or(Break::Diverged)
}

/// A c2sp.org/tlog-witness add-checkpoint request: the size the witness last cosigned, the
/// consistency proof from there, a blank line and the note.
pub fn add_checkpoint_request(old: u64, proof: &[Hash], note: &[u8]) -> Vec<u8> {
    let mut head = format!("old {old}\n");
    for h in proof {
        let _ = writeln!(head, "{h}");
    }
    head.push('\n');
    [head.as_bytes(), note].concat()
}

/// `witness`'s cosignature on `head` from its add-checkpoint response (signature lines; those of
/// other keys are ignored, as the protocol says).
pub fn cosignature(head: &Head, response: &str, witness: &dyn Verifier) -> Result<Signature> {
    let body = head.body();
    for line in response.lines().filter(|l| !l.is_empty()) {
        let sig = Signature::from_bytes(line.as_bytes())
            .map_err(|_| anyhow!("the response holds {line:?}, not a signature line"))?;
        if sig.name() == witness.name() && sig.id() == witness.key_id() {
            ensure!(
                witness.verify(&body, sig.signature()),
                "its cosignature does not verify with its key"
            );
            return Ok(sig);
        }
    }
    bail!(
        "the response has no cosignature by its key {}",
        witness.name()
    )
}

/// A log's note keys (signer key, verifier key) for an Ed25519 key, in signed_note's format:
/// how a 0.2.0 key comes to sign notes.
pub fn note_keys(name: &str, key: &SigningKey) -> (String, String) {
    cosignature::key_texts(name, cosignature::ED25519, key)
}

/// The name and Ed25519 key bytes of `<name>+<id>+<base64(0x01 || key)>`. The ID is checked by
/// signed_note when the key is used.
fn split_ed25519(key: &str) -> Result<(&str, [u8; 32])> {
    let (name, _, kind, key) = cosignature::split_key(key)?;
    ensure!(
        kind == cosignature::ED25519,
        "not an Ed25519 note key (type 0x01)"
    );
    let key = key
        .try_into()
        .map_err(|_| anyhow!("an Ed25519 key is 32 bytes"))?;
    Ok((name, key))
}

/// The verifier key of a log's signer key.
pub fn log_vkey(skey: &str) -> Result<String> {
    let key = skey
        .strip_prefix("PRIVATE+KEY+")
        .context("a signer key starts with PRIVATE+KEY+")?;
    let (name, seed) = split_ed25519(key)?;
    Ok(note_keys(name, &SigningKey::from_bytes(&seed)).1)
}

/// The Ed25519 public key in a log's verifier key: what 0.2.0's JSON checkpoints verify with.
pub fn ed25519_key(vkey: &str) -> Result<VerifyingKey> {
    VerifyingKey::from_bytes(&split_ed25519(vkey)?.1).map_err(|e| anyhow!("{vkey}: {e}"))
}

pub fn file_name(seq: u64) -> String {
    format!("checkpoint-{seq:08}.note")
}

/// The sequence number in `checkpoint-<digits>.<ext>`.
fn seq(path: &Path, ext: &str) -> Option<u64> {
    let digits = path
        .file_name()?
        .to_str()?
        .strip_prefix("checkpoint-")?
        .strip_suffix(ext)?
        .strip_suffix('.')?;
    digits
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| digits.parse().ok())?
}

/// A checkpoint directory: 0.2.0's JSON files (every `checkpoint-*.json`, by name, as 0.2.0 read
/// them) and the numbered notes, by number.
pub struct Dir {
    pub json: Vec<PathBuf>,
    pub notes: Vec<(u64, PathBuf)>,
}

impl Dir {
    pub fn read(dir: &Path) -> std::io::Result<Dir> {
        let mut json = Vec::new();
        let mut notes = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with("checkpoint-") && name.ends_with(".json") {
                json.push(path);
            } else if let Some(n) = seq(&path, "note") {
                notes.push((n, path));
            }
        }
        json.sort();
        notes.sort();
        Ok(Dir { json, notes })
    }

    fn last_json_seq(&self) -> u64 {
        self.json
            .iter()
            .filter_map(|p| seq(p, "json"))
            .max()
            .unwrap_or(0)
    }

    /// The number of the next note.
    pub fn next_seq(&self) -> u64 {
        let last_note = self.notes.last().map_or(0, |(n, _)| *n);
        self.last_json_seq().max(last_note) + 1
    }

    /// Notes that do not follow the file before them (the first note follows the last JSON one):
    /// a checkpoint is missing.
    pub fn gaps(&self) -> Vec<String> {
        let mut want = self.last_json_seq() + 1;
        let mut problems = Vec::new();
        for (n, path) in &self.notes {
            if *n != want {
                problems.push(format!(
                    "{}: does not follow the checkpoint before it (number {n}, expected {want}): a checkpoint is missing",
                    path.display()
                ));
            }
            want = n + 1;
        }
        problems
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cosignature::{self, CosignatureSigner};
    use auditlog_core::tree::{self, Tiles};
    use base64::prelude::*;
    use signed_note::{StandardSigner, StandardVerifier};
    use tlog_tiles::record_hash;

    /// The tree over `leaves` as the seals store it, and its root (RFC 9162 2.1.1).
    pub(crate) fn root(leaves: &[Hash]) -> Hash {
        tree::root(&Tiles::build(leaves), leaves.len() as u64).unwrap()
    }

    /// The inclusion proof of leaf `m` (RFC 9162 2.1.3).
    pub(crate) fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        tree::inclusion_proof(&Tiles::build(leaves), m as u64, leaves.len() as u64).unwrap()
    }

    /// The consistency proof from the first `m` leaves to all of them (RFC 9162 2.1.4).
    fn consistency(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        tree::consistency_proof(&Tiles::build(leaves), m as u64, leaves.len() as u64).unwrap()
    }

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| record_hash(&i.to_be_bytes())).collect()
    }

    pub(crate) fn head(leaves: &[Hash]) -> Head {
        Head::new(
            "example.com/auditlog".into(),
            leaves.len() as u64,
            root(leaves),
        )
        .unwrap()
    }

    pub(crate) struct Log {
        pub(crate) signer: StandardSigner,
        pub(crate) vkey: String,
    }

    pub(crate) fn log(seed: u8) -> Log {
        let (skey, vkey) = note_keys("auditlog", &SigningKey::from_bytes(&[seed; 32]));
        Log {
            signer: StandardSigner::new(&skey).unwrap(),
            vkey,
        }
    }

    pub(crate) fn witness(name: &str) -> (CosignatureSigner, String) {
        let (skey, vkey) = cosignature::generate(name);
        (CosignatureSigner::new(&skey).unwrap(), vkey)
    }

    pub(crate) fn trust(log: &Log, witnesses: &[&String], require: usize) -> Trust {
        Trust {
            log: Box::new(StandardVerifier::new(&log.vkey).unwrap()),
            witnesses: witnesses
                .iter()
                .map(|v| cosignature::verifier(v).unwrap())
                .collect(),
            require,
            origin: None,
        }
    }

    /// `head` signed by the log and cosigned by each of `witnesses`.
    pub(crate) fn signed(head: &Head, log: &Log, witnesses: &[&CosignatureSigner]) -> Vec<u8> {
        let mut sigs = vec![sign(head, &log.signer).unwrap()];
        sigs.extend(witnesses.iter().map(|w| sign(head, *w).unwrap()));
        note(head, &sigs).unwrap()
    }

    #[test]
    fn a_checkpoint_is_the_c2sp_body_signed() {
        let h = head(&leaves(5));
        let l = log(1);
        let text = String::from_utf8(signed(&h, &l, &[])).unwrap();
        let (body, sigs) = text.split_once("\n\n").unwrap();
        assert_eq!(
            format!("{body}\n"),
            format!(
                "example.com/auditlog\n5\n{}\n",
                BASE64_STANDARD.encode(h.root.0)
            )
        );
        assert!(
            sigs.starts_with("— auditlog ") && sigs.ends_with('\n'),
            "{sigs}"
        );
        let v = trust(&l, &[], 0).verify(text.as_bytes()).unwrap();
        assert_eq!(v.head, h);
        assert!(v.cosignatures.is_empty());
    }

    #[test]
    fn forged_and_edited_notes_are_named() {
        let h = head(&leaves(5));
        let (l, other) = (log(1), log(2));
        let t = trust(&l, &[], 0);
        let err = |note: &[u8]| {
            t.verify(note)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };

        // Signed with another key of the same name.
        assert!(err(&signed(&h, &other, &[])).contains("forged checkpoint"));
        // The size edited under the log's signature.
        let text = String::from_utf8(signed(&h, &l, &[])).unwrap();
        let edited = text.replacen("\n5\n", "\n6\n", 1);
        assert!(err(edited.as_bytes()).contains("the note was edited"));
        // A signature line removed, and a file that is not a note.
        let (body, _) = text.split_once("\n\n").unwrap();
        assert!(err(format!("{body}\n\n").as_bytes()).contains("not a signed note"));
        assert!(err(b"{\"checkpoint\": {}}").contains("not a signed note"));
    }

    #[test]
    fn cosignatures_are_counted_once_per_known_witness() {
        let h = head(&leaves(7));
        let l = log(1);
        let (w1, v1) = witness("w1.example");
        let (w2, v2) = witness("w2.example");
        let (stranger, _) = witness("w3.example");
        let note = signed(&h, &l, &[&w1, &w2, &stranger]);

        let v = trust(&l, &[&v1, &v2], 2).verify(&note).unwrap();
        let names: Vec<&str> = v.cosignatures.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["w1.example", "w2.example"]);

        // The same cosignature twice, or the same key given twice, counts once.
        let twice = signed(&h, &l, &[&w1, &w1]);
        let e = trust(&l, &[&v1, &v1], 2).verify(&twice).err().unwrap();
        assert_eq!(e.to_string(), "missing cosignatures: 1 of the 2 required");

        // A witness that did not cosign, and the log's own key given as a witness.
        let e = trust(&l, &[&v1], 1)
            .verify(&signed(&h, &l, &[&w2]))
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("missing cosignatures: 0 of the 1"),
            "{e}"
        );
        let e = trust(&l, &[&l.vkey], 1)
            .verify(&signed(&h, &l, &[]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("missing cosignatures"), "{e}");

        // A cosignature for another head, pasted under this one.
        let other = signed(&head(&leaves(8)), &l, &[&w1]);
        let pasted_line = String::from_utf8(other)
            .unwrap()
            .lines()
            .last()
            .unwrap()
            .to_owned();
        let note = format!(
            "{}{pasted_line}\n",
            String::from_utf8(signed(&h, &l, &[])).unwrap()
        );
        let e = trust(&l, &[&v1], 1).verify(note.as_bytes()).err().unwrap();
        assert!(e.to_string().contains("forged cosignature"), "{e}");
    }

    #[test]
    fn a_head_extends_another_only_with_a_consistency_proof() {
        let all = leaves(13);
        let (h7, h13) = (head(&all[..7]), head(&all));
        assert_eq!(extends(&h7, &h13, &consistency(7, &all)), Ok(()));
        assert_eq!(extends(&h13, &h13, &[]), Ok(()));
        assert_eq!(extends(&head(&[]), &h13, &[]), Ok(()));
        assert_eq!(extends(&h13, &h7, &[]), Err(Break::Shrunk));

        // A proof for other sizes, a rewritten leaf, another log, another root at the same size.
        let p = consistency(7, &all);
        assert_eq!(extends(&head(&all[..6]), &h13, &p), Err(Break::Diverged));
        let mut rewritten = all.clone();
        rewritten[3] = record_hash(b"rewritten");
        assert_eq!(
            extends(&h7, &head(&rewritten), &consistency(7, &rewritten)),
            Err(Break::Diverged)
        );
        let other = Head {
            origin: "elsewhere".into(),
            ..h13.clone()
        };
        assert_eq!(extends(&h7, &other, &p), Err(Break::OtherLog));
        let forked = head(&rewritten[..7]);
        assert_eq!(extends(&h7, &forked, &[]), Err(Break::Diverged));
    }

    #[test]
    fn witness_requests_and_responses() {
        let all = leaves(7);
        let h = head(&all);
        let proof = consistency(3, &all);
        let req = add_checkpoint_request(3, &proof, b"NOTE\n");
        assert_eq!(
            String::from_utf8(req).unwrap(),
            format!(
                "old 3\n{}\n\nNOTE\n",
                proof
                    .iter()
                    .map(Hash::to_string)
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        );
        assert_eq!(add_checkpoint_request(0, &[], b"N\n"), b"old 0\n\nN\n");

        let l = log(1);
        let (w1, v1) = witness("w1.example");
        let (w2, _) = witness("w2.example");
        let v1 = cosignature::verifier(&v1).unwrap();
        let line = |w: &CosignatureSigner, h: &Head| {
            String::from_utf8(sign(h, w).unwrap().to_bytes()).unwrap()
        };
        let response = format!("{}{}", line(&w2, &h), line(&w1, &h));
        let sig = cosignature(&h, &response, v1.as_ref()).unwrap();
        assert_eq!(sig.name(), "w1.example");
        assert!(trust(&l, &[], 0)
            .verify(&note(&h, &[sign(&h, &l.signer).unwrap(), sig]).unwrap())
            .is_ok());

        let e = |r: &str| cosignature(&h, r, v1.as_ref()).err().unwrap().to_string();
        assert!(e(&line(&w2, &h)).contains("no cosignature by its key"));
        assert!(e(&line(&w1, &head(&all[..2]))).contains("does not verify"));
        assert!(e("409\n").contains("not a signature line"));
    }

    #[test]
    fn keys_convert_from_0_2_0_and_back() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let (skey, vkey) = note_keys("auditlog", &key);
        assert!(StandardSigner::new(&skey).is_ok());
        assert!(StandardVerifier::new(&vkey).is_ok());
        assert_eq!(log_vkey(&skey).unwrap(), vkey);
        assert_eq!(ed25519_key(&vkey).unwrap(), key.verifying_key());
        let (witness_skey, _) = cosignature::generate("w");
        assert!(log_vkey(&witness_skey).is_err());
    }

    #[test]
    fn notes_are_numbered_after_the_json_checkpoints() {
        let dir = std::env::temp_dir().join(format!("auditlog-notes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let touch = |name: &str| std::fs::write(dir.join(name), "").unwrap();
        assert_eq!(Dir::read(&dir).unwrap().next_seq(), 1);
        for name in [
            "checkpoint-00000001.json",
            "checkpoint-00000002.json",
            "other.note",
        ] {
            touch(name);
        }
        let d = Dir::read(&dir).unwrap();
        assert_eq!((d.json.len(), d.notes.len(), d.next_seq()), (2, 0, 3));
        touch(&file_name(3));
        touch(&file_name(4));
        let d = Dir::read(&dir).unwrap();
        assert_eq!(d.next_seq(), 5);
        assert!(d.gaps().is_empty());

        std::fs::remove_file(dir.join(file_name(3))).unwrap();
        let gaps = Dir::read(&dir).unwrap().gaps();
        assert_eq!(gaps.len(), 1);
        assert!(gaps[0].contains("number 4, expected 3"), "{gaps:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// docs/integrity.md's keys, checkpoint, cosignature and proof file, from fixed keys; Go's
    /// sumdb/note and sumdb/tlog verify the same (tests/tests/tree.rs does so for live ones).
    #[test]
    fn worked_example() {
        let (skey, vkey) = note_keys("example.com/auditlog", &SigningKey::from_bytes(&[7; 32]));
        let (wskey, wvkey) =
            cosignature::keys("witness.example.com", &SigningKey::from_bytes(&[8; 32]));
        assert_eq!(
            (skey.as_str(), vkey.as_str()),
            (
                "PRIVATE+KEY+example.com/auditlog+0a404da8+AQcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH",
                "example.com/auditlog+0a404da8+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
            )
        );
        assert_eq!(
            wvkey,
            "witness.example.com+b0084a49+BBOY9ixtGkV8UbpqS189vS9p/KkyFiGNyJl+QWvRfZPK"
        );
        let root = Hash::parse_hash("nPZD+F09vdlmu7bBvrdxCLBFbetg7Vo0+Ud8ha5jajE=").unwrap();
        let head = Head::new("example.com/auditlog".into(), 3, root).unwrap();
        let own = sign(&head, &StandardSigner::new(&skey).unwrap()).unwrap();
        let witness = CosignatureSigner::new(&wskey)
            .unwrap()
            .with_time(1_764_504_060);
        let cosigned = note(&head, &[own, sign(&head, &witness).unwrap()]).unwrap();
        let checkpoint = "example.com/auditlog\n3\nnPZD+F09vdlmu7bBvrdxCLBFbetg7Vo0+Ud8ha5jajE=\n\n\
            \u{2014} example.com/auditlog CkBNqHfvJ9hgMqAmZ412Pas2YEH8Of2pAmb9fZfhymrCi5ZdziJgjentFuXgxum+LwgXQIlZCPT7Qvb2+VDLNqtjjg4=\n\
            \u{2014} witness.example.com sAhKSQAAAABpLDH8Q2hxc7nCTeUrUQ7g1fih+4SspwPuIaMmRz4FnHfbtUmENf5AH8doyP/HOwCQi28vMZuBX7vYJV8wogkRbqxNCg==\n";
        assert_eq!(String::from_utf8(cosigned.clone()).unwrap(), checkpoint);
        let leaf = |h: &str| Hash::parse_hash(h).unwrap();
        let proof = crate::tlog_proof::TlogProof {
            extra: Some(BASE64_STANDARD.decode("AAAAAAAAAAEBmtTwAABwAIAAAAAAAAABqPWiN2ytlAP327FZQzrDtsbqLu/JIOsGaPIksAhD7HqbXzKYdeyxbThlqt8l+revY7ng6fH4fVzbS1YtYmtKew==").unwrap()),
            index: 0,
            path: vec![
                leaf("ol50fodHfKuMSWeX2IRAD6qq26br/oTwbbBwGmjFkL4="),
                leaf("IKweTwQSytoE9M7jMCDmtfdAxtnUk8YWjtXGRDiGNZ8="),
            ],
            checkpoint: cosigned,
        };
        assert_eq!(
            String::from_utf8(proof.to_bytes()).unwrap(),
            format!(
                "c2sp.org/tlog-proof@v1\n\
                 extra AAAAAAAAAAEBmtTwAABwAIAAAAAAAAABqPWiN2ytlAP327FZQzrDtsbqLu/JIOsGaPIksAhD7HqbXzKYdeyxbThlqt8l+revY7ng6fH4fVzbS1YtYmtKew==\n\
                 index 0\n\
                 ol50fodHfKuMSWeX2IRAD6qq26br/oTwbbBwGmjFkL4=\n\
                 IKweTwQSytoE9M7jMCDmtfdAxtnUk8YWjtXGRDiGNZ8=\n\n{checkpoint}"
            )
        );
        let trust = Trust {
            log: Box::new(StandardVerifier::new(&vkey).unwrap()),
            witnesses: vec![cosignature::verifier(&wvkey).unwrap()],
            require: 1,
            origin: None,
        };
        let proven = proof.check(&trust).unwrap();
        assert_eq!((proven.leaf.position, proven.checkpoint.head.size), (1, 3));
    }
}
