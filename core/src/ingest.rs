//! One NDJSON line to one event, for every way in that takes lines: the shim at receipt (to
//! answer the client at once) and `audit_log_batch()` in the database (which decides).
//!
//! A line is a JSON object: `event_type` (a non-empty string), `event_data` (an object; absent
//! is `{}`), `user_context` (any JSON; audit_log() keeps a malformed one in context_errors),
//! `event_id` (a UUID; absent: one is given) and `timestamp` (ISO 8601; absent: now). Other keys
//! are refused, so that a misspelt field is not silently lost.

use crate::context::parse_timestamp;
use crate::event::{check_input, json_kind};
use crate::hash::format_timestamp_us;
use serde_json::{Map, Value};

#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub event_id: Option<uuid::Uuid>,
    /// Microseconds since the Unix epoch.
    pub timestamp_us: Option<i64>,
    pub event_type: String,
    pub event_data: Value,
    /// Null when absent.
    pub user_context: Value,
}

/// Why a line is refused, with the event id when the line named a valid one.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub event_id: Option<uuid::Uuid>,
    pub reason: String,
}

const KEYS: [&str; 5] = [
    "event_type",
    "event_data",
    "user_context",
    "event_id",
    "timestamp",
];

/// `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Line>, Refusal> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let refuse = |event_id, reason: String| Refusal { event_id, reason };
    let mut obj = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(o)) => o,
        Ok(other) => {
            let kind = json_kind(&other);
            return Err(refuse(
                None,
                format!("a line must be a JSON object, not {kind}"),
            ));
        }
        Err(e) => return Err(refuse(None, format!("invalid JSON: {e}"))),
    };
    let event_id = match obj.remove("event_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            uuid::Uuid::parse_str(&s)
                .map_err(|e| refuse(None, format!("event_id {s:?} is not a UUID: {e}")))?,
        ),
        Some(other) => {
            let kind = json_kind(&other);
            return Err(refuse(
                None,
                format!("event_id must be a UUID string, not {kind}"),
            ));
        }
    };
    let refuse = |reason: String| Refusal { event_id, reason };
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(refuse(format!(
            "unknown key {k:?} (a line has {})",
            KEYS.join(", ")
        )));
    }
    let timestamp_us = match obj.remove("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(
            parse_timestamp(&s)
                .map(|t| t.timestamp_micros())
                .ok_or_else(|| refuse(format!("timestamp {s:?} is not an ISO 8601 time")))?,
        ),
        Some(other) => {
            let kind = json_kind(&other);
            return Err(refuse(format!(
                "timestamp must be an ISO 8601 string, not {kind}"
            )));
        }
    };
    let event_type = match obj.remove("event_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => {
            let kind = json_kind(&other);
            return Err(refuse(format!(
                "event_type must be a non-empty string, not {kind}"
            )));
        }
    };
    let (event_type, event_data) =
        check_input(event_type.as_deref(), obj.remove("event_data"), None).map_err(refuse)?;
    let user_context = obj.remove("user_context").unwrap_or(Value::Null);
    // JSON allows \u0000; PostgreSQL's text and jsonb do not. Refused here, by name, rather than
    // failing the whole batch in the database.
    if event_type.contains('\0') || has_nul(&event_data) || has_nul(&user_context) {
        return Err(refuse(
            "contains \\u0000, which PostgreSQL cannot store in text or jsonb".into(),
        ));
    }
    Ok(Some(Line {
        event_id,
        timestamp_us,
        event_type,
        event_data,
        user_context,
    }))
}

fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

impl Line {
    /// The line as the database is sent it: id and time always present.
    pub fn to_json(&self, event_id: uuid::Uuid, timestamp_us: i64) -> String {
        let mut m = Map::new();
        m.insert("event_id".into(), event_id.to_string().into());
        m.insert("timestamp".into(), format_timestamp_us(timestamp_us).into());
        m.insert("event_type".into(), self.event_type.clone().into());
        m.insert("event_data".into(), self.event_data.clone());
        if !self.user_context.is_null() {
            m.insert("user_context".into(), self.user_context.clone());
        }
        Value::Object(m).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn good_lines() {
        let e = parse_line(r#"{"event_type": " auth.logout ", "user_context": {"user_id": 1}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.event_type, "auth.logout");
        assert_eq!(e.event_data, json!({}));
        assert_eq!(e.user_context, json!({"user_id": 1}));
        assert_eq!((e.event_id, e.timestamp_us), (None, None));
        assert_eq!(parse_line("   ").unwrap(), None);
        let id = "0193a0c4-0000-7000-8000-000000000001";
        let line = format!(
            r#"{{"event_id": "{id}", "timestamp": "2026-11-27T12:00:00.5Z", "event_type": "x", "user_context": "odd"}}"#
        );
        let e = parse_line(&line).unwrap().unwrap();
        assert_eq!(e.event_id.unwrap().to_string(), id);
        assert_eq!(e.timestamp_us, Some(1_795_780_800_500_000));
        // A malformed user_context is the database's to record, not a refusal.
        assert_eq!(e.user_context, json!("odd"));
    }

    #[test]
    fn round_trips_through_to_json() {
        let e = parse_line(r#"{"event_type": "x", "event_data": {"a": [1, "\u0001"]}}"#)
            .unwrap()
            .unwrap();
        let id = uuid::Uuid::now_v7();
        let back = parse_line(&e.to_json(id, 1_796_212_800_500_001))
            .unwrap()
            .unwrap();
        assert_eq!(back.event_id, Some(id));
        assert_eq!(back.timestamp_us, Some(1_796_212_800_500_001));
        assert_eq!(
            (back.event_type, back.event_data),
            (e.event_type, e.event_data)
        );
    }

    #[test]
    fn bad_lines_say_why() {
        let id = "0193a0c4-0000-7000-8000-000000000001";
        for (line, why, named) in [
            ("{", "invalid JSON", false),
            ("[1]", "a line must be a JSON object, not an array", false),
            (
                r#"{"event_data": {}}"#,
                "event_type must be a non-empty string",
                false,
            ),
            (
                r#"{"event_type": " "}"#,
                "event_type must be a non-empty string",
                false,
            ),
            (
                r#"{"event_type": 5}"#,
                "event_type must be a non-empty string, not a number",
                false,
            ),
            (
                r#"{"event_type": "x", "event_data": [1]}"#,
                "event_data must be a JSON object, not an array",
                false,
            ),
            (
                r#"{"event_type": "x", "event_id": "nope"}"#,
                "event_id \"nope\" is not a UUID",
                false,
            ),
            (
                r#"{"event_type": "x", "event_id": 7}"#,
                "event_id must be a UUID string, not a number",
                false,
            ),
            (
                r#"{"event_type": "x", "evnt_data": {}}"#,
                "unknown key \"evnt_data\"",
                false,
            ),
            (
                &format!(r#"{{"event_type": "x", "event_id": "{id}", "timestamp": "soon"}}"#),
                "timestamp \"soon\" is not an ISO 8601 time",
                true,
            ),
            (
                &format!(r#"{{"event_type": "x", "event_id": "{id}", "timestamp": 5}}"#),
                "timestamp must be an ISO 8601 string",
                true,
            ),
            (
                r#"{"event_type": "x", "event_data": {"a": ["\u0000"]}}"#,
                "\\u0000",
                false,
            ),
            (
                r#"{"event_type": "x", "user_context": {"k\u0000": 1}}"#,
                "\\u0000",
                false,
            ),
            (
                r#"{"event_type": "x", "event_data": {"a": "\ud800"}}"#,
                "invalid JSON",
                false,
            ),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.reason.contains(why), "{line}: {}", err.reason);
            assert_eq!(err.event_id.is_some(), named, "{line}");
        }
    }
}
