//! c2sp.org/tlog-proof files: an event's leaf (as `extra`), its index and inclusion proof, and
//! the cosigned checkpoint they lead to. Checkable offline with the log's and witnesses' keys.
//!
//! `extra` is the leaf data the seal hashed: position (8 bytes, big-endian) || event_id (16) ||
//! integrity hash (32) || classification hash (32), at index position - 1. It is not trusted: it
//! counts only because its hash is proven to be that leaf.

use crate::signed_checkpoint::{Head, Trust, Verified};
use anyhow::{anyhow, ensure, Context, Result};
use auditlog_core::hash::StoredEvent;
use auditlog_core::seal::{SealedLeaf, LEAF_DATA_LEN};
use base64::prelude::*;
use chrono::DateTime;
use serde_json::Value;
use std::fmt::Write as _;
use tlog_tiles::{check_record, record_hash, Hash};

pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Clone, Debug, PartialEq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    /// The inclusion proof, from the leaf's sibling up.
    pub path: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: Vec<u8>,
}

/// What a proof proves: this leaf is in the tree of a checkpoint whose signatures verified.
pub struct Proven {
    pub leaf: SealedLeaf,
    pub checkpoint: Verified,
}

impl TlogProof {
    pub fn parse(text: &[u8]) -> Result<TlogProof> {
        let text = std::str::from_utf8(text).context("a tlog-proof is UTF-8 text")?;
        let (head, checkpoint) = text
            .split_once("\n\n")
            .context("no blank line before the checkpoint")?;
        let mut lines = head.split('\n');
        ensure!(lines.next() == Some(HEADER), "not a {HEADER} file");
        let mut line = lines.next().unwrap_or_default();
        let extra = match line.strip_prefix("extra ") {
            Some(b64) => {
                line = lines.next().unwrap_or_default();
                Some(BASE64_STANDARD.decode(b64).context("extra is not base64")?)
            }
            None => None,
        };
        let index = line.strip_prefix("index ").context("no index line")?;
        let n: u64 = index.parse().context("the index is not a number")?;
        ensure!(
            n.to_string() == index,
            "the index {index:?} is not plain decimal"
        );
        let path = lines
            .map(|l| Hash::parse_hash(l).map_err(|_| anyhow!("{l:?} is not a base64 hash")))
            .collect::<Result<_>>()?;
        Ok(TlogProof {
            extra,
            index: n,
            path,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            let _ = writeln!(head, "extra {}", BASE64_STANDARD.encode(extra));
        }
        let _ = writeln!(head, "index {}", self.index);
        for h in &self.path {
            let _ = writeln!(head, "{h}");
        }
        head.push('\n');
        [head.as_bytes(), &self.checkpoint].concat()
    }

    /// The leaf `extra` holds, if the path proves it at `index` in the tree `head` names.
    pub fn leaf(&self, head: &Head) -> Result<SealedLeaf> {
        let extra = self
            .extra
            .as_deref()
            .context("the proof has no extra line: it does not carry the event's leaf")?;
        ensure!(
            self.index < head.size,
            "index {} is beyond the checkpoint's {} events",
            self.index,
            head.size
        );
        check_record(&self.path, head.size, head.root, self.index, record_hash(extra)).map_err(
            |_| anyhow!("the inclusion proof does not hold: it does not lead to the checkpoint's root (its index, extra or path was altered)"),
        )?;
        let leaf = SealedLeaf::from_data(extra).with_context(|| {
            format!(
                "extra is {} bytes, not a sealed leaf's {LEAF_DATA_LEN}",
                extra.len()
            )
        })?;
        ensure!(
            u64::try_from(leaf.position).ok() == Some(self.index + 1),
            "the leaf says position {}, but it is at index {}",
            leaf.position,
            self.index
        );
        Ok(leaf)
    }

    /// The checkpoint's signatures, then the inclusion proof, as c2sp.org/tlog-proof says.
    pub fn check(&self, trust: &Trust) -> Result<Proven> {
        let checkpoint = trust.verify(&self.checkpoint)?;
        let leaf = self.leaf(&checkpoint.head)?;
        Ok(Proven { leaf, checkpoint })
    }
}

/// Checks an event row (`to_jsonb` of an `audit.all_events` row) against the leaf sealed for it:
/// its columns must hash, with the extension's own code, to the hashes the seal recorded.
pub fn check_event(row: &Value, leaf: &SealedLeaf) -> Result<()> {
    let e = stored_event(row)?;
    ensure!(
        e.event_id == leaf.event_id,
        "the row is event {}, the proof is for event {}",
        e.event_id,
        leaf.event_id
    );
    let (event_hash, classification_hash) = e.seal_hashes().map_err(anyhow::Error::msg)?;
    ensure!(
        classification_hash == leaf.classification_hash,
        "modified classification: the row's classification is not the one sealed (re-scored or re-tagged)"
    );
    ensure!(
        hex::decode(event_hash)? == leaf.event_hash,
        "modified event: the row's columns do not hash to the event hash sealed (edited, or lawfully redacted: see audit.redactions)"
    );
    Ok(())
}

/// The event as the extension hashes it (extension/src/integrity.rs), from its row as JSON.
fn stored_event(row: &Value) -> Result<StoredEvent> {
    let field = |k: &str| row.get(k).with_context(|| format!("the row has no {k}"));
    let text = |k: &str| -> Result<Option<String>> {
        match field(k)? {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s.clone())),
            v => Err(anyhow!("{k} is {v}, not text")),
        }
    };
    let required = |k: &str| -> Result<String> { text(k)?.with_context(|| format!("{k} is null")) };
    let int = |k: &str| -> Result<Option<i64>> {
        match field(k)? {
            Value::Null => Ok(None),
            v => v
                .as_i64()
                .map(Some)
                .with_context(|| format!("{k} is {v}, not an integer")),
        }
    };
    let time = |k: &str| -> Result<i64> { unix_us(&required(k)?).context(k.to_owned()) };
    let json = |k: &str| field(k).cloned();
    Ok(StoredEvent {
        event_id: required("event_id")?.parse().context("event_id")?,
        timestamp_us: time("timestamp")?,
        event_type: required("event_type")?,
        event_data: json("event_data")?,
        user_id: int("user_id")?,
        session_id: text("session_id")?,
        correlation_id: required("correlation_id")?,
        parent_correlation_id: text("parent_correlation_id")?,
        ip_address: text("ip_address")?.map(|ip| host(&ip)),
        user_agent: text("user_agent")?,
        user_context: json("user_context")?,
        status: required("status")?,
        enrichment_data: json("enrichment_data")?,
        classification: json("classification")?,
        context_errors: json("context_errors")?,
        created_at_us: time("created_at")?,
        updated_at_us: time("updated_at")?,
        hash_version: int("hash_version")?
            .and_then(|v| i16::try_from(v).ok())
            .context("hash_version is not a smallint")?,
    })
}

/// An inet as the hash takes it: `host()` (no netmask), then in its canonical text.
fn host(inet: &str) -> String {
    let addr = inet.split_once('/').map_or(inet, |(a, _)| a);
    addr.parse::<std::net::IpAddr>()
        .map_or(addr.to_string(), |a| a.to_string())
}

/// Microseconds since the epoch of a timestamptz as to_jsonb writes it: RFC 3339 in the
/// session's time zone.
fn unix_us(text: &str) -> Result<i64> {
    let parse = |t: &str| {
        DateTime::parse_from_rfc3339(t)
            .map(|t| t.timestamp_micros())
            .with_context(|| format!("{text:?} is not a timestamp"))
    };
    // Old local mean times have offsets with seconds (+00:09:21), beyond RFC 3339: parsed
    // without them, then applied.
    let (b, n) = (text.as_bytes(), text.len());
    if n > 9 && matches!(b[n - 9], b'+' | b'-') && b[n - 6] == b':' && b[n - 3] == b':' {
        let secs: i64 = text[n - 2..].parse().context("offset seconds")?;
        let sign = if b[n - 9] == b'+' { 1 } else { -1 };
        return Ok(parse(&text[..n - 3])? - sign * secs * 1_000_000);
    }
    parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signed_checkpoint::tests::{head, log, path, signed, trust, witness};
    use auditlog_core::hash::HASH_VERSION;
    use serde_json::json;

    fn extra(position: i64, event_hash: [u8; 32]) -> Vec<u8> {
        let leaf = SealedLeaf {
            position,
            event_id: uuid::Uuid::from_u128(position as u128),
            event_hash,
            classification_hash: [7; 32],
        };
        leaf.data().to_vec()
    }

    /// A proof for index 2 of a tree of six leaves, whose checkpoint one witness cosigned.
    fn proof() -> (TlogProof, Trust) {
        let extras: Vec<Vec<u8>> = (1..=6).map(|p| extra(p, [p as u8; 32])).collect();
        let leaves: Vec<Hash> = extras.iter().map(|e| record_hash(e)).collect();
        let l = log(1);
        let (w, vkey) = witness("w1.example");
        let p = TlogProof {
            extra: Some(extras[2].clone()),
            index: 2,
            path: path(2, &leaves),
            checkpoint: signed(&head(&leaves), &l, &[&w]),
        };
        (p, trust(&l, &[&vkey], 1))
    }

    #[test]
    fn a_proof_round_trips_and_proves_its_leaf() {
        let (p, t) = proof();
        let text = String::from_utf8(p.to_bytes()).unwrap();
        assert!(
            text.starts_with("c2sp.org/tlog-proof@v1\nextra AAAAAAAAAAM"),
            "{text}"
        );
        assert!(text.contains("\nindex 2\n") && text.contains("=\n\nexample.com/auditlog\n6\n"));
        assert_eq!(TlogProof::parse(text.as_bytes()).unwrap(), p);
        let proven = p.check(&t).unwrap();
        assert_eq!(proven.leaf.position, 3);
        assert_eq!(proven.leaf.event_hash, [3; 32]);
        assert_eq!(proven.checkpoint.head.size, 6);
        assert_eq!(proven.checkpoint.cosignatures.len(), 1);
    }

    #[test]
    fn an_altered_proof_does_not_hold() {
        let (p, t) = proof();
        let fails = |p: TlogProof| p.check(&t).err().unwrap().to_string();

        let mut other = p.clone();
        other.index = 3;
        assert!(fails(other).contains("does not hold"));
        let mut other = p.clone();
        other.extra.as_mut().unwrap()[30] ^= 1;
        assert!(fails(other).contains("does not hold"));
        let mut other = p.clone();
        other.path[1] = other.path[0];
        assert!(fails(other).contains("does not hold"));
        let mut other = p.clone();
        other.path.pop();
        assert!(fails(other).contains("does not hold"));
        let mut other = p.clone();
        other.index = 6;
        assert!(fails(other).contains("beyond the checkpoint's 6 events"));
        let mut other = p.clone();
        other.extra = None;
        assert!(fails(other).contains("no extra line"));

        // The checkpoint: its size edited, or without the cosignature required.
        let mut other = p.clone();
        let note = String::from_utf8(other.checkpoint).unwrap();
        other.checkpoint = note.replacen("\n6\n", "\n7\n", 1).into_bytes();
        assert!(fails(other).contains("forged checkpoint"));
        let mut other = p.clone();
        other.checkpoint = signed(&head(&[]), &log(1), &[]);
        assert!(fails(other).contains("missing cosignatures"));
    }

    #[test]
    fn a_leaf_at_another_index_than_its_position_is_refused() {
        // A tree whose third leaf says it is at position 7.
        let extras: Vec<Vec<u8>> = [1, 2, 7].iter().map(|p| extra(*p, [0; 32])).collect();
        let leaves: Vec<Hash> = extras.iter().map(|e| record_hash(e)).collect();
        let p = TlogProof {
            extra: Some(extras[2].clone()),
            index: 2,
            path: path(2, &leaves),
            checkpoint: Vec::new(),
        };
        let e = p.leaf(&head(&leaves)).err().unwrap();
        assert!(e.to_string().contains("position 7"), "{e}");
    }

    #[test]
    fn malformed_files_are_refused() {
        let (p, _) = proof();
        let text = String::from_utf8(p.to_bytes()).unwrap();
        for (bad, why) in [
            (text.replacen("@v1", "@v2", 1), "not a c2sp.org"),
            (text.replacen("index 2", "index 02", 1), "plain decimal"),
            (text.replacen("index 2", "idx 2", 1), "no index line"),
            (
                text.replacen(&p.path[0].to_string(), "AAAA", 1),
                "not a base64 hash",
            ),
            (text.replacen("\n\n", "\n", 1), "not a base64 hash"),
        ] {
            let e = TlogProof::parse(bad.as_bytes()).err().unwrap();
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
        let bare = TlogProof {
            extra: None,
            path: Vec::new(),
            ..p
        };
        let text = String::from_utf8(bare.to_bytes()).unwrap();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 2\n\nexample.com"));
        assert_eq!(TlogProof::parse(text.as_bytes()).unwrap(), bare);
    }

    /// A row as `SELECT to_jsonb(e) FROM audit.all_events e` prints it, in a session at +01:00.
    fn row() -> Value {
        serde_json::from_str(
            r#"{"event_id": "0193a0c4-0000-7000-8000-000000000001",
                "timestamp": "2026-11-27T13:00:00.123456+01:00",
                "event_type": "auth.login.success",
                "event_data": {"b": 1, "a": "x", "n": 12345678901234567890123},
                "user_id": 42, "session_id": "s", "correlation_id": "CORR_1",
                "parent_correlation_id": null, "ip_address": "10.0.0.1", "user_agent": null,
                "user_context": {"user_id": 42}, "status": "stored", "enrichment_data": {},
                "classification": {"risk_score": 20}, "context_errors": null,
                "integrity_hash": "not looked at", "hash_version": 1,
                "created_at": "2026-11-27T12:00:00.123456+00:00",
                "updated_at": "2026-11-27T12:00:00.12+00:00"}"#,
        )
        .unwrap()
    }

    /// The leaf sealed for that row, from the event built by hand.
    fn sealed() -> SealedLeaf {
        let e = StoredEvent {
            event_id: "0193a0c4-0000-7000-8000-000000000001".parse().unwrap(),
            timestamp_us: 1_795_780_800_123_456,
            event_type: "auth.login.success".into(),
            event_data: serde_json::from_str(r#"{"a": "x", "b": 1, "n": 12345678901234567890123}"#)
                .unwrap(),
            user_id: Some(42),
            session_id: Some("s".into()),
            correlation_id: "CORR_1".into(),
            parent_correlation_id: None,
            ip_address: Some("10.0.0.1".into()),
            user_agent: None,
            user_context: json!({"user_id": 42}),
            status: "stored".into(),
            enrichment_data: json!({}),
            classification: json!({"risk_score": 20}),
            context_errors: Value::Null,
            created_at_us: 1_795_780_800_123_456,
            updated_at_us: 1_795_780_800_120_000,
            hash_version: HASH_VERSION,
        };
        let (hash, classification_hash) = e.seal_hashes().unwrap();
        SealedLeaf {
            position: 3,
            event_id: e.event_id,
            event_hash: hex::decode(hash).unwrap().try_into().unwrap(),
            classification_hash,
        }
    }

    #[test]
    fn an_event_row_is_checked_against_its_sealed_leaf() {
        let leaf = sealed();
        check_event(&row(), &leaf).unwrap();

        let fails = |change: &dyn Fn(&mut Value)| {
            let mut r = row();
            change(&mut r);
            check_event(&r, &leaf).err().unwrap().to_string()
        };
        assert!(fails(&|r| r["event_data"]["n"] = json!(1)).contains("modified event"));
        assert!(
            fails(&|r| r["timestamp"] = json!("2026-11-27T13:00:00.123457+01:00"))
                .contains("modified event")
        );
        assert!(fails(&|r| r["classification"]["risk_score"] = json!(0))
            .contains("modified classification"));
        assert!(fails(&|r| r["event_id"] = json!(uuid::Uuid::nil())).contains("the row is event"));
        assert!(fails(&|r| {
            r.as_object_mut().unwrap().remove("status");
        })
        .contains("no status"));
    }

    #[test]
    fn columns_are_read_as_the_extension_hashes_them() {
        assert_eq!(host("10.0.0.1/24"), "10.0.0.1");
        assert_eq!(host("2001:0db8:0:0::1/64"), "2001:db8::1");
        assert_eq!(host("not an address"), "not an address");
        assert_eq!(
            unix_us("2026-11-27T13:00:00.123456+01:00").unwrap(),
            1_795_780_800_123_456
        );
        assert_eq!(
            unix_us("1900-01-01T00:00:00+00:09:21").unwrap(),
            -2_208_989_361_000_000
        );
        assert_eq!(
            unix_us("1900-01-01T00:00:00-00:09:21").unwrap(),
            -2_208_989_361_000_000 + 2 * 561_000_000
        );
        assert!(unix_us("infinity").is_err());
    }
}
