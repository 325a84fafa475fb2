//! Request bodies to events: each line checked by the same reader the database uses
//! (`auditlog_core::ingest`), given its id and time at receipt, or refused with its line number
//! and the reason. One bad line never costs the others.

use auditlog_core::ingest::{self, Line};

/// An accepted event, as the database will be sent it.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// 1-based line of the body it came from.
    pub line: usize,
    pub event_id: uuid::Uuid,
    /// The line for `audit_log_batch()`, with id and time filled in.
    pub json: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    pub line: usize,
    pub error: String,
}

#[derive(Debug, Default, PartialEq)]
pub struct Decoded {
    pub events: Vec<Event>,
    pub rejected: Vec<Rejected>,
}

/// How an event without an id of its own gets one.
#[derive(Clone, Copy)]
pub enum Ids {
    /// A new UUIDv7 (the server: each request is new).
    New,
    /// Derived from the line's bytes and number (bulk import: the same file sent twice gives the
    /// same ids, so nothing is logged twice).
    FromLine,
}

/// Decodes an NDJSON body: lines split on `\n` (a trailing `\r` dropped), blank lines skipped.
/// `first_line` numbers the first line (bulk import reads a file in pieces).
pub fn decode(
    body: &[u8],
    max_line_bytes: usize,
    now_us: i64,
    ids: Ids,
    first_line: usize,
) -> Decoded {
    let mut out = Decoded::default();
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    if body.is_empty() {
        return out;
    }
    for (i, raw) in body.split(|b| *b == b'\n').enumerate() {
        let line = first_line + i;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match decode_line(raw, max_line_bytes, now_us, ids, line) {
            Ok(Some(e)) => out.events.push(e),
            Ok(None) => {}
            Err(error) => out.rejected.push(Rejected { line, error }),
        }
    }
    out
}

/// One line (or a whole `application/json` body): `Ok(None)` when blank.
pub fn decode_line(
    raw: &[u8],
    max_line_bytes: usize,
    now_us: i64,
    ids: Ids,
    line: usize,
) -> Result<Option<Event>, String> {
    if raw.len() > max_line_bytes {
        return Err(format!(
            "line is {} bytes, over the limit of {max_line_bytes} (--max-line-bytes)",
            raw.len()
        ));
    }
    let text = std::str::from_utf8(raw).map_err(|e| format!("not valid UTF-8: {e}"))?;
    let parsed: Line = match ingest::parse_line(text) {
        Ok(Some(l)) => l,
        Ok(None) => return Ok(None),
        Err(r) => return Err(r.reason),
    };
    let event_id = parsed.event_id.unwrap_or_else(|| match ids {
        Ids::New => uuid::Uuid::now_v7(),
        Ids::FromLine => line_id(raw, line),
    });
    let json = parsed.to_json(event_id, parsed.timestamp_us.unwrap_or(now_us));
    Ok(Some(Event {
        line,
        event_id,
        json,
    }))
}

/// A UUIDv8 from SHA-256 of the line number and the line's bytes.
fn line_id(raw: &[u8], line: usize) -> uuid::Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update((line as u64).to_be_bytes())
        .chain_update(raw)
        .finalize();
    uuid::Uuid::new_v8(digest[..16].try_into().expect("16 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: i64 = 1_795_780_800_000_000;

    #[test]
    fn good_and_bad_lines_each_get_their_answer() {
        let body = b"{\"event_type\": \"auth.logout\"}\r\n\n{bad\n\xff\xfe\n{\"event_type\": \"x\", \"event_data\": {\"a\": \"\\u0000\"}}\n{\"event_type\": \"auth.login.success\", \"event_data\": {\"n\": 1}}\n";
        let d = decode(body, 1 << 20, NOW, Ids::New, 1);
        assert_eq!(d.events.iter().map(|e| e.line).collect::<Vec<_>>(), [1, 6]);
        let why: Vec<_> = d
            .rejected
            .iter()
            .map(|r| (r.line, r.error.split(':').next().unwrap().to_string()))
            .collect();
        assert_eq!(
            why,
            [
                (3, "invalid JSON".into()),
                (4, "not valid UTF-8".into()),
                (
                    5,
                    "contains \\u0000, which PostgreSQL cannot store in text or jsonb".into()
                )
            ]
        );
        let sent = ingest::parse_line(&d.events[1].json).unwrap().unwrap();
        assert_eq!(sent.event_id, Some(d.events[1].event_id));
        assert_eq!(sent.timestamp_us, Some(NOW));
    }

    #[test]
    fn long_lines_and_empty_bodies() {
        let long = format!(
            "{{\"event_type\": \"x\", \"event_data\": {{\"b\": \"{}\"}}}}",
            "x".repeat(100)
        );
        let d = decode(long.as_bytes(), 50, NOW, Ids::New, 1);
        assert!(
            d.rejected[0].error.contains("over the limit of 50"),
            "{:?}",
            d.rejected
        );
        assert_eq!(decode(b"", 50, NOW, Ids::New, 1), Decoded::default());
        assert_eq!(decode(b"\n", 50, NOW, Ids::New, 1), Decoded::default());
    }

    #[test]
    fn ids_from_lines_are_stable_and_distinct() {
        let body = b"{\"event_type\": \"a\"}\n{\"event_type\": \"a\"}\n";
        let one = decode(body, 1 << 20, NOW, Ids::FromLine, 1);
        let two = decode(body, 1 << 20, NOW + 5, Ids::FromLine, 1);
        assert_eq!(one.events[0].event_id, two.events[0].event_id);
        assert_ne!(one.events[0].event_id, one.events[1].event_id);
        let given = decode(
            b"{\"event_type\": \"a\", \"event_id\": \"0193a0c4-0000-7000-8000-000000000001\"}",
            1 << 20,
            NOW,
            Ids::FromLine,
            1,
        );
        assert_eq!(
            given.events[0].event_id.to_string(),
            "0193a0c4-0000-7000-8000-000000000001"
        );
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Any bytes at all: no panic, and every non-blank line is either an event or a
        /// rejection with its number, in order, never both and never lost.
        #[test]
        fn every_line_is_accounted_for(body in prop::collection::vec(any::<u8>(), 0..2000)) {
            let d = decode(&body, 512, NOW, Ids::New, 1);
            let trimmed = body.strip_suffix(b"\n").unwrap_or(&body);
            let non_blank: Vec<usize> = if trimmed.is_empty() { vec![] } else {
                trimmed.split(|b| *b == b'\n').enumerate()
                    .map(|(i, l)| (i, l.strip_suffix(b"\r").unwrap_or(l)))
                    .filter(|(_, l)| l.len() > 512 || std::str::from_utf8(l).map_or(true, |s| !s.trim().is_empty()))
                    .map(|(i, _)| i + 1).collect()
            };
            let mut seen: Vec<usize> = d.events.iter().map(|e| e.line).chain(d.rejected.iter().map(|r| r.line)).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, non_blank);
        }

        /// Well-formed events with any payload survive the trip to what the database is sent.
        #[test]
        fn valid_events_round_trip(event_type in "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}",
                                   data in prop::collection::btree_map("[a-z]{1,6}", arb_json(), 0..5),
                                   ctx in arb_json()) {
            let data = serde_json::Value::Object(data.into_iter().collect());
            let line = serde_json::json!({"event_type": event_type, "event_data": data, "user_context": ctx}).to_string();
            let d = decode(line.as_bytes(), usize::MAX, NOW, Ids::New, 1);
            let has_nul = line.contains("\\u0000");
            prop_assert_eq!(d.events.len() + d.rejected.len(), 1);
            if has_nul {
                prop_assert!(d.rejected[0].error.contains("\\u0000"));
            } else {
                let sent = ingest::parse_line(&d.events[0].json).unwrap().unwrap();
                prop_assert_eq!(sent.event_data, data);
                prop_assert_eq!(sent.event_type, event_type);
            }
        }
    }
}
