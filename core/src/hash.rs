//! The integrity hash of a stored event: SHA-256 over a canonical, versioned pre-image of every
//! stored field, the classification included.
//!
//! Pre-image, hash_version 1: the RFC 8785 form (see [`crate::canonical`]) of one JSON object
//! whose keys are the column names below plus `hash_version`. Timestamps are UTC with exactly six
//! fractional digits (`2026-11-27T12:00:00.000000Z`), Postgres's own precision, so neither the
//! session's TimeZone nor DateStyle can change them. Absent values are JSON null.

use crate::canonical::{write_string, Canonical};
use chrono::{DateTime, SecondsFormat};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub const HASH_VERSION: i16 = 1;

/// One `audit.audit_events` row as it is stored. `J` is how its JSON columns are held: serde
/// values when the event is built, the stored jsonb when the extension recomputes the hash.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent<J = Value> {
    pub event_id: uuid::Uuid,
    /// Microseconds since the Unix epoch.
    pub timestamp_us: i64,
    pub event_type: String,
    pub event_data: J,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub correlation_id: String,
    pub parent_correlation_id: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
    pub user_context: J,
    pub status: String,
    pub enrichment_data: J,
    pub classification: J,
    pub context_errors: J,
    pub created_at_us: i64,
    pub updated_at_us: i64,
    pub hash_version: i16,
}

/// `2026-11-27T12:00:00.000000Z` from microseconds since the Unix epoch.
pub fn format_timestamp_us(us: i64) -> String {
    match DateTime::from_timestamp_micros(us) {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Micros, true),
        // Beyond chrono's range (about 262,000 years): still exact and unambiguous.
        None => format!("@{us}us"),
    }
}

/// One field of the pre-image.
enum Field<'a, J> {
    Json(&'a J),
    Text(Option<&'a str>),
    Int(Option<i64>),
    Time(i64),
}

impl<J: Canonical> StoredEvent<J> {
    /// The canonical pre-image, written directly: the keys below are in RFC 8785 order, so no
    /// intermediate JSON value is built (tests check it against the generic canonicaliser).
    pub fn preimage(&self) -> String {
        self.preimage_and_classification().0
    }

    /// The pre-image, and where in it the canonical classification is (its first field), which
    /// is what the seal's classification hash covers.
    fn preimage_and_classification(&self) -> (String, std::ops::Range<usize>) {
        let event_id = self.event_id.to_string();
        let fields: [(&str, Field<J>); 18] = [
            ("classification", Field::Json(&self.classification)),
            ("context_errors", Field::Json(&self.context_errors)),
            ("correlation_id", Field::Text(Some(&self.correlation_id))),
            ("created_at", Field::Time(self.created_at_us)),
            ("enrichment_data", Field::Json(&self.enrichment_data)),
            ("event_data", Field::Json(&self.event_data)),
            ("event_id", Field::Text(Some(&event_id))),
            ("event_type", Field::Text(Some(&self.event_type))),
            ("hash_version", Field::Int(Some(self.hash_version.into()))),
            ("ip_address", Field::Text(self.ip_address.as_deref())),
            (
                "parent_correlation_id",
                Field::Text(self.parent_correlation_id.as_deref()),
            ),
            ("session_id", Field::Text(self.session_id.as_deref())),
            ("status", Field::Text(Some(&self.status))),
            ("timestamp", Field::Time(self.timestamp_us)),
            ("updated_at", Field::Time(self.updated_at_us)),
            ("user_agent", Field::Text(self.user_agent.as_deref())),
            ("user_context", Field::Json(&self.user_context)),
            ("user_id", Field::Int(self.user_id)),
        ];
        let mut out = String::with_capacity(1024);
        let mut classification = 0..0;
        out.push('{');
        for (i, (key, field)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            write_string(key, &mut out);
            out.push(':');
            let start = out.len();
            match field {
                Field::Json(v) => v.write_canonical(&mut out),
                Field::Text(Some(t)) => write_string(t, &mut out),
                Field::Int(Some(n)) => out.push_str(&n.to_string()),
                Field::Text(None) | Field::Int(None) => out.push_str("null"),
                Field::Time(us) => write_string(&format_timestamp_us(*us), &mut out),
            }
            if i == 0 {
                classification = start..out.len();
            }
        }
        out.push('}');
        (out, classification)
    }

    /// Fails for a hash_version this build does not know.
    fn known_version(&self) -> Result<(), String> {
        if self.hash_version == HASH_VERSION {
            Ok(())
        } else {
            Err(format!(
                "hash_version {} is not known to this build",
                self.hash_version
            ))
        }
    }

    /// 64 lowercase hex digits. Fails only for a hash_version this build does not know.
    pub fn integrity_hash(&self) -> Result<String, String> {
        self.known_version()?;
        Ok(hex::encode(Sha256::digest(self.preimage().as_bytes())))
    }

    /// The integrity hash (hex) and the classification hash the seal records beside it, from
    /// one canonicalisation.
    pub fn seal_hashes(&self) -> Result<(String, [u8; 32]), String> {
        self.known_version()?;
        let (pre, classification) = self.preimage_and_classification();
        Ok((
            hex::encode(Sha256::digest(pre.as_bytes())),
            Sha256::digest(&pre.as_bytes()[classification]).into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn sample() -> StoredEvent {
        StoredEvent {
            event_id: uuid::Uuid::parse_str("0193a0c4-0000-7000-8000-000000000001").unwrap(),
            timestamp_us: 1_764_244_800_123_456,
            event_type: "auth.login.success".into(),
            event_data: json!({"b": 1, "a": "x"}),
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
            created_at_us: 1_764_244_800_123_456,
            updated_at_us: 1_764_244_800_123_456,
            hash_version: HASH_VERSION,
        }
    }

    /// The pre-image as the generic canonicaliser writes it: the definition the fast writer must
    /// match.
    fn generic_preimage(e: &StoredEvent) -> String {
        let ts = format_timestamp_us;
        crate::canonical::to_canonical_string(&json!({
            "hash_version": e.hash_version,
            "event_id": e.event_id.to_string(),
            "timestamp": ts(e.timestamp_us),
            "event_type": e.event_type,
            "event_data": e.event_data,
            "user_id": e.user_id,
            "session_id": e.session_id,
            "correlation_id": e.correlation_id,
            "parent_correlation_id": e.parent_correlation_id,
            "ip_address": e.ip_address,
            "user_agent": e.user_agent,
            "user_context": e.user_context,
            "status": e.status,
            "enrichment_data": e.enrichment_data,
            "classification": e.classification,
            "context_errors": e.context_errors,
            "created_at": ts(e.created_at_us),
            "updated_at": ts(e.updated_at_us),
        }))
    }

    #[test]
    fn fast_preimage_is_the_canonical_form() {
        let mut e = sample();
        assert_eq!(e.preimage(), generic_preimage(&e));
        e.user_id = None;
        e.parent_correlation_id = Some("p\"q\u{1}".into());
        e.context_errors = json!([{"key": "ip_address", "value": "x"}]);
        assert_eq!(e.preimage(), generic_preimage(&e));
    }

    #[test]
    fn timestamps_are_fixed_precision_utc() {
        assert_eq!(
            format_timestamp_us(1_764_244_800_123_456),
            "2025-11-27T12:00:00.123456Z"
        );
        assert_eq!(format_timestamp_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_timestamp_us(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn hash_is_stable_and_covers_every_field() {
        let e = sample();
        let h = e.integrity_hash().unwrap();
        assert_eq!(h.len(), 64);
        assert!(h
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        // Key order in the payload does not matter.
        let mut same = e.clone();
        same.event_data = serde_json::from_str(r#"{"a":"x","b":1}"#).unwrap();
        assert_eq!(same.integrity_hash().unwrap(), h);
        let changes: Vec<Box<dyn Fn(&mut StoredEvent)>> = vec![
            Box::new(|e| e.timestamp_us += 1),
            Box::new(|e| e.event_type.push('x')),
            Box::new(|e| e.event_data = json!({"b": 2, "a": "x"})),
            Box::new(|e| e.user_id = None),
            Box::new(|e| e.session_id = None),
            Box::new(|e| e.correlation_id.push('x')),
            Box::new(|e| e.parent_correlation_id = Some("p".into())),
            Box::new(|e| e.ip_address = None),
            Box::new(|e| e.user_agent = Some("u".into())),
            Box::new(|e| e.user_context = json!({})),
            Box::new(|e| e.status = "x".into()),
            Box::new(|e| e.enrichment_data = json!({"x": 1})),
            Box::new(|e| e.classification = json!({"risk_score": 21})),
            Box::new(|e| e.context_errors = json!([])),
            Box::new(|e| e.created_at_us += 1),
            Box::new(|e| e.updated_at_us += 1),
            Box::new(|e| e.event_id = uuid::Uuid::nil()),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut c = e.clone();
            change(&mut c);
            assert_ne!(c.integrity_hash().unwrap(), h, "change {i} went unseen");
        }
    }

    #[test]
    fn the_classification_hash_comes_from_the_same_preimage() {
        let mut e = sample();
        e.classification = json!({"tags": ["a"], "risk_score": 20, "\u{10000}": 1, "\u{e000}": 2});
        let (integrity, classification) = e.seal_hashes().unwrap();
        assert_eq!(integrity, e.integrity_hash().unwrap());
        assert_eq!(
            classification,
            crate::seal::classification_hash(&e.classification)
        );
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut e = sample();
        e.hash_version = 2;
        assert!(e.integrity_hash().is_err());
    }
}
