//! c2sp.org/tlog-cosignature v1: a witness's timestamped Ed25519 signature (signed-note type 0x04)
//! over a checkpoint, as a [`signed_note`] Signer and Verifier, so that one [`VerifierList`]
//! checks a log's signature and its witnesses' cosignatures on the same note.
//!
//! The signed message is `cosignature/v1\ntime <unix seconds>\n` followed by the checkpoint's note
//! text; the signature is the 8-byte big-endian time followed by the 64-byte Ed25519 signature.
//! Keys are text: `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || seed)>` and the vkey
//! `<name>+<hex key ID>+<base64(0x04 || public key)>`; a log's Ed25519 keys are the same with type
//! 0x01, and both kinds are written and split here.
//!
//! [`VerifierList`]: signed_note::VerifierList

use anyhow::{anyhow, bail, ensure, Context, Result};
use base64::prelude::*;
use ed25519_dalek::{SignatureError, Signer as _, SigningKey, VerifyingKey};
use signed_note::{is_key_name_valid, key_id, Signer, StandardVerifier, Verifier};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) const ED25519: u8 = 0x01;
const COSIGNATURE_V1: u8 = 0x04;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What a v1 cosignature at `time` signs for the note text `text`.
fn message(time: u64, text: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {time}\n").into_bytes();
    m.extend_from_slice(text);
    m
}

/// The key ID of a key of signed-note type `kind`: SHA-256(name || "\n" || kind || public
/// key)[:4] (tlog-cosignature makes it mandatory for cosigner keys).
fn typed_key_id(name: &str, kind: u8, key: &VerifyingKey) -> u32 {
    key_id(name, &[&[kind], key.as_bytes().as_slice()].concat())
}

fn cosigner_key_id(name: &str, key: &VerifyingKey) -> u32 {
    typed_key_id(name, COSIGNATURE_V1, key)
}

/// `<name>+<hex key ID>+<base64(kind || public key)>`.
fn vkey(name: &str, kind: u8, key: &VerifyingKey) -> String {
    format!(
        "{name}+{:08x}+{}",
        typed_key_id(name, kind, key),
        BASE64_STANDARD.encode([&[kind], key.as_bytes().as_slice()].concat())
    )
}

/// The key texts (private key, vkey) of an Ed25519 key of type `kind` named `name`.
pub(crate) fn key_texts(name: &str, kind: u8, key: &SigningKey) -> (String, String) {
    let public = key.verifying_key();
    let skey = format!(
        "PRIVATE+KEY+{name}+{:08x}+{}",
        typed_key_id(name, kind, &public),
        BASE64_STANDARD.encode([&[kind], key.as_bytes().as_slice()].concat())
    );
    (skey, vkey(name, kind, &public))
}

/// Splits `name+id+base64(type || key)` (base64 may hold '+', a name may not).
pub(crate) fn split_key(text: &str) -> Result<(&str, u32, u8, Vec<u8>)> {
    let mut parts = text.splitn(3, '+');
    let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("a key is NAME+ID+KEY");
    };
    ensure!(
        is_key_name_valid(name),
        "{name:?} is not a key name (it must be non-empty, without spaces or '+')"
    );
    ensure!(
        id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "key ID {id:?} is not 8 hex digits"
    );
    let id = u32::from_str_radix(id, 16)?;
    let key = BASE64_STANDARD
        .decode(key)
        .context("the key is not base64")?;
    let (&kind, key) = key.split_first().context("the key is empty")?;
    Ok((name, id, kind, key.to_vec()))
}

fn ensure_cosigner(kind: u8) -> Result<()> {
    ensure!(
        kind == COSIGNATURE_V1,
        "not a cosignature/v1 key: its type is {kind:#04x}, not 0x04"
    );
    Ok(())
}

/// Signs checkpoints as a witness. The time in each cosignature is the clock's, unless set with
/// [`CosignatureSigner::with_time`].
#[derive(Clone)]
pub struct CosignatureSigner {
    name: String,
    id: u32,
    key: SigningKey,
    time: Option<u64>,
}

impl CosignatureSigner {
    /// Parses `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x04 || 32-byte seed)>`.
    pub fn new(skey: &str) -> Result<Self> {
        let rest = skey
            .strip_prefix("PRIVATE+KEY+")
            .context("a witness private key starts with PRIVATE+KEY+")?;
        let (name, id, kind, seed) = split_key(rest)?;
        ensure_cosigner(kind)?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| anyhow!("an Ed25519 private key is 32 bytes"))?;
        let key = SigningKey::from_bytes(&seed);
        ensure!(
            id == cosigner_key_id(name, &key.verifying_key()),
            "key ID {id:08x} is not this key's"
        );
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
            time: None,
        })
    }

    /// Signs at `unix_secs` instead of the clock's time.
    pub fn with_time(self, unix_secs: u64) -> Self {
        Self {
            time: Some(unix_secs),
            ..self
        }
    }

    /// The verifier key to give those who check this witness's cosignatures.
    pub fn vkey(&self) -> String {
        vkey(&self.name, COSIGNATURE_V1, &self.key.verifying_key())
    }
}

impl Signer for CosignatureSigner {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, SignatureError> {
        let time = self.time.unwrap_or_else(unix_now);
        let sig = self.key.try_sign(&message(time, msg))?;
        Ok([time.to_be_bytes().as_slice(), &sig.to_bytes()].concat())
    }
}

/// Checks one witness's cosignatures.
#[derive(Clone)]
pub struct CosignatureVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl CosignatureVerifier {
    /// Parses `<name>+<hex key ID>+<base64(0x04 || 32-byte public key)>`.
    pub fn new(vkey: &str) -> Result<Self> {
        let (name, id, kind, key) = split_key(vkey)?;
        ensure_cosigner(kind)?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| anyhow!("an Ed25519 public key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(&key).map_err(|e| anyhow!("{vkey}: {e}"))?;
        ensure!(
            id == cosigner_key_id(name, &key),
            "key ID {id:08x} is not this key's"
        );
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }
}

impl Verifier for CosignatureVerifier {
    fn name(&self) -> &str {
        &self.name
    }

    fn key_id(&self) -> u32 {
        self.id
    }

    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Some(time) = timestamp(sig) else {
            return false;
        };
        let Ok(sig) = ed25519_dalek::Signature::from_slice(&sig[8..]) else {
            return false;
        };
        // Strict: an honest signer never makes what it refuses (small-order keys or points).
        self.key.verify_strict(&message(time, msg), &sig).is_ok()
    }
}

/// The time a cosignature (the 72 bytes after the key ID) says it was made, if it has the
/// shape of one; the spec caps it at 2^63 - 1.
pub fn timestamp(sig: &[u8]) -> Option<u64> {
    let time = u64::from_be_bytes(sig.get(..8)?.try_into().ok()?);
    (sig.len() == 72 && time <= i64::MAX as u64).then_some(time)
}

/// A new witness key named `name`: (private key, vkey). `name` must be a valid key name (no
/// spaces or '+'), or [`CosignatureSigner::new`] will refuse the private key.
pub fn generate(name: &str) -> (String, String) {
    keys(name, &SigningKey::generate(&mut rand_core::OsRng))
}

/// A witness key named `name` from an Ed25519 key: (private key, vkey).
pub fn keys(name: &str, key: &SigningKey) -> (String, String) {
    key_texts(name, COSIGNATURE_V1, key)
}

/// The verifier for a vkey of either kind: a log's Ed25519 key (type 0x01) or a witness's
/// cosignature key (type 0x04), so one list can check a log and its witnesses.
pub fn verifier(vkey: &str) -> Result<Box<dyn Verifier>> {
    match split_key(vkey)?.2 {
        ED25519 => Ok(Box::new(
            StandardVerifier::new(vkey).with_context(|| format!("verifier key {vkey}"))?,
        )),
        COSIGNATURE_V1 => Ok(Box::new(CosignatureVerifier::new(vkey)?)),
        kind => bail!("verifier key {vkey}: unsupported key type {kind:#04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};
    use signed_note::{Note, NoteError, StandardSigner, VerifierList};

    const TEXT: &str = "example.com/log\n5\nf+7CoKgXKE/tNys9TTXcr/ad6U/K3xvznmzew9y6SP0=\n";

    /// A new witness: a signer on the clock, and its verifier.
    fn witness() -> (CosignatureSigner, CosignatureVerifier) {
        let (skey, vkey) = generate("witness.example/w1");
        (
            CosignatureSigner::new(&skey).unwrap(),
            CosignatureVerifier::new(&vkey).unwrap(),
        )
    }

    #[test]
    fn signs_and_verifies() {
        let (clock, verifier) = witness();
        let signer = clock.clone().with_time(1_700_000_000);
        let sig = signer.sign(TEXT.as_bytes()).unwrap();
        assert_eq!(sig.len(), 72);
        assert_eq!(timestamp(&sig), Some(1_700_000_000));
        assert!(verifier.verify(TEXT.as_bytes(), &sig));
        // Ed25519 is deterministic: with the time fixed, so is the cosignature.
        assert_eq!(signer.sign(TEXT.as_bytes()).unwrap(), sig);

        let before = unix_now();
        let sig = clock.sign(TEXT.as_bytes()).unwrap();
        assert!((before..=unix_now()).contains(&timestamp(&sig).unwrap()));
        assert!(verifier.verify(TEXT.as_bytes(), &sig));
    }

    #[test]
    fn key_id_and_key_formats() {
        let (skey, vkey) = generate("witness.example/w1");
        let (signer, verifier) = (
            CosignatureSigner::new(&skey).unwrap(),
            CosignatureVerifier::new(&vkey).unwrap(),
        );
        assert_eq!(signer.vkey(), vkey);
        let parts: Vec<&str> = vkey.splitn(3, '+').collect();
        assert_eq!(parts[0], "witness.example/w1");
        let key = BASE64_STANDARD.decode(parts[2]).unwrap();
        assert_eq!((key.len(), key[0]), (33, 0x04));
        // The key ID computed here from the spec's formula, not with signed_note::key_id.
        let mut h = Sha256::new();
        h.update(b"witness.example/w1\n\x04");
        h.update(&key[1..]);
        let id = u32::from_be_bytes(h.finalize()[..4].try_into().unwrap());
        assert_eq!(parts[1], format!("{id:08x}"));
        assert_eq!((signer.key_id(), verifier.key_id()), (id, id));
        assert!(skey.starts_with(&format!("PRIVATE+KEY+witness.example/w1+{id:08x}+B")));

        // A wrong key ID, a log's (0x01) key, a name with a space, a short key: refused.
        let wrong_id = vkey.replace(parts[1], "00000000");
        assert!(CosignatureVerifier::new(&wrong_id).is_err());
        let (log_skey, log_vkey) = signed_note::generate_key(&mut rand_core::OsRng, "log");
        assert!(CosignatureVerifier::new(&log_vkey).is_err());
        assert!(CosignatureSigner::new(&log_skey).is_err());
        assert!(CosignatureVerifier::new(&vkey.replacen("witness.", "witness ", 1)).is_err());
        assert!(CosignatureVerifier::new(&format!("w+{}+BAAA", parts[1])).is_err());
        assert!(CosignatureSigner::new(&skey.replacen("PRIVATE+KEY+", "", 1)).is_err());
        let wrong_skey_id = skey.replacen(parts[1], "00000000", 1);
        assert!(CosignatureSigner::new(&wrong_skey_id).is_err());
    }

    #[test]
    fn another_checkpoint_or_time_fails() {
        let (signer, verifier) = witness();
        let sig = signer
            .with_time(1_700_000_000)
            .sign(TEXT.as_bytes())
            .unwrap();
        assert!(!verifier.verify(TEXT.replace("\n5\n", "\n6\n").as_bytes(), &sig));
        assert!(!verifier.verify(format!("{TEXT}extension\n").as_bytes(), &sig));
        let mut later = sig.clone();
        later[7] ^= 1;
        assert!(!verifier.verify(TEXT.as_bytes(), &later));
        assert!(!verifier.verify(TEXT.as_bytes(), &sig[..71]));
        // Another key under the same name.
        let (other, _) = witness();
        assert!(!verifier.verify(TEXT.as_bytes(), &other.sign(TEXT.as_bytes()).unwrap()));
        // Past 2^63 - 1 is not a time.
        let mut far = sig.clone();
        far[0] = 0x80;
        assert_eq!(timestamp(&far), None);
        assert!(!verifier.verify(TEXT.as_bytes(), &far));
    }

    #[test]
    fn log_signature_and_cosignature_verify_together() {
        let (log_skey, log_vkey) =
            signed_note::generate_key(&mut rand_core::OsRng, "example.com/log");
        let (w_skey, w_vkey) = generate("witness.example/w1");
        let mut note = Note::new(TEXT.as_bytes(), &[]).unwrap();
        let log = StandardSigner::new(&log_skey).unwrap();
        let w = CosignatureSigner::new(&w_skey).unwrap();
        note.add_sigs(&[&log, &w]).unwrap();

        let both = VerifierList::new(vec![
            verifier(&log_vkey).unwrap(),
            verifier(&w_vkey).unwrap(),
        ]);
        let note = Note::from_bytes(&note.to_bytes()).unwrap();
        let (verified, unverified) = note.verify(&both).unwrap();
        assert_eq!(verified.len(), 2);
        assert!(unverified.is_empty());
        assert_eq!(verified[1].name(), "witness.example/w1");

        // Without the witness's key, its cosignature is merely unknown.
        let log_only = VerifierList::new(vec![verifier(&log_vkey).unwrap()]);
        let (verified, unverified) = note.verify(&log_only).unwrap();
        assert_eq!((verified.len(), unverified.len()), (1, 1));
    }

    /// sigsum-go's fixed cosigned message (pkg/types/tree_head_test.go, validTreeHeadCosignedData):
    /// the same cosignature/v1 message, written by other people.
    #[test]
    fn message_matches_sigsum() {
        let body =
            "sigsum.org/v1/tree/66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925\n\
                    257\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
        assert_eq!(
            String::from_utf8(message(72623859790382856, body.as_bytes())).unwrap(),
            format!("cosignature/v1\ntime 72623859790382856\n{body}")
        );
    }

    /// Published keys: the transparency.dev "little garden" witness lists its key as a 0x04 vkey
    /// (transparency.dev/witnesses), and TesseraCT's README shows the same key as a 0x01 one; the
    /// IDs differ only by the type byte hashed in.
    #[test]
    fn published_witness_key_ids() {
        let cosigner = "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM";
        let plain = "transparency.dev/DEV:witness-little-garden+4b7fca75+AStusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM";
        assert_eq!(
            CosignatureVerifier::new(cosigner).unwrap().key_id(),
            0xd804_2a87
        );
        assert_eq!(verifier(cosigner).unwrap().key_id(), 0xd804_2a87);
        assert_eq!(verifier(plain).unwrap().key_id(), 0x4b7f_ca75);
        assert!(CosignatureVerifier::new(plain).is_err());
    }

    /// A real checkpoint of the arche2025h1.staging.ct.transparency.dev log, signed by the log and
    /// cosigned by four public witnesses (Go implementations, not this code); it was found in the
    /// test suite of a Python library (tlog_scales). Three witnesses' vkeys are published beside
    /// it; the fourth, the RFC 6962 log signature, stay unknown and are ignored.
    #[test]
    fn real_cosigned_checkpoint() {
        let note = "arche2025h1.staging.ct.transparency.dev\n1432088532\nU7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n\n\
— arche2025h1.staging.ct.transparency.dev zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgIpwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n\
— arche2025h1.staging.ct.transparency.dev ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59RA23oHP7Ry1k3ZFWwQ=\n\
— transparency.dev/DEV:witness-little-garden 2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7sEodkRAErumC2q44vdgJY096st5BQ==\n\
— witness1.smartit.nu/witness1 pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7TOQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n\
— remora.n621.de 2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n\
— witness.stagemole.eu Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n";
        let keys = [
            "arche2025h1.staging.ct.transparency.dev+ba2f06c0+AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f",
            "transparency.dev/DEV:witness-little-garden+d8042a87+BCtusOxINQNUTN5Oj8HObRkh2yHf/MwYaGX4CPdiVEPM",
            "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
            "witness.stagemole.eu+67f7aea0+BEqSG3yu9YrmcM3BHvQYTxwFj3uSWakQepafafpUqklv",
        ];
        let list = || VerifierList::new(keys.iter().map(|k| verifier(k).unwrap()).collect());
        let (verified, unverified) = Note::from_bytes(note.as_bytes())
            .unwrap()
            .verify(&list())
            .unwrap();
        assert_eq!(verified.len(), 4);
        assert_eq!(unverified.len(), 2);
        for sig in &verified[1..] {
            assert_eq!(timestamp(sig.signature()), Some(0x6a12_2120));
        }
        // One digit of the size changed: every signature fails.
        let forged = note.replacen("1432088532", "1432088533", 1);
        assert!(matches!(
            Note::from_bytes(forged.as_bytes()).unwrap().verify(&list()),
            Err(NoteError::InvalidSignature { .. })
        ));
        for k in &keys[1..] {
            let w = CosignatureVerifier::new(k).unwrap();
            let note = Note::from_bytes(note.as_bytes()).unwrap();
            let (ok, _) = note.verify(&VerifierList::new(vec![Box::new(w)])).unwrap();
            assert_eq!(ok.len(), 1);
        }
    }
}
