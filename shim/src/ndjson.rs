//! One NDJSON line to one event, with a reason for every line refused.

use serde_json::{Map, Value};

#[derive(Debug, PartialEq)]
pub struct Event {
    pub event_type: String,
    pub event_data: Value,
    pub user_context: Value,
}

/// `Ok(None)` for a blank line.
pub fn parse_line(line: &str) -> Result<Option<Event>, String> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(mut obj) = v else {
        return Err("expected a JSON object".into());
    };
    let event_type = match obj.remove("event_type") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err("event_type is missing or empty".into())
        }
        Some(_) => return Err("event_type must be a string".into()),
    };
    let object = |key: &str, obj: &mut Map<String, Value>| match obj.remove(key) {
        None | Some(Value::Null) => Ok(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => Ok(v),
        Some(_) => Err(format!("{key} must be a JSON object")),
    };
    let event_data = object("event_data", &mut obj)?;
    let user_context = object("user_context", &mut obj)?;
    Ok(Some(Event {
        event_type,
        event_data,
        user_context,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn good_lines() {
        let e = parse_line(r#"{"event_type": "auth.logout", "user_context": {"user_id": 1}}"#)
            .unwrap()
            .unwrap();
        assert_eq!(e.event_type, "auth.logout");
        assert_eq!(e.event_data, json!({}));
        assert_eq!(e.user_context, json!({"user_id": 1}));
        assert_eq!(parse_line("   ").unwrap(), None);
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, why) in [
            ("{", "invalid JSON"),
            ("[1]", "expected a JSON object"),
            (r#"{"event_data": {}}"#, "event_type is missing"),
            (r#"{"event_type": ""}"#, "event_type is missing or empty"),
            (r#"{"event_type": 5}"#, "event_type must be a string"),
            (
                r#"{"event_type": "x", "event_data": [1]}"#,
                "event_data must be a JSON object",
            ),
            (
                r#"{"event_type": "x", "user_context": "u"}"#,
                "user_context must be a JSON object",
            ),
        ] {
            let err = parse_line(line).unwrap_err();
            assert!(err.contains(why), "{line}: {err}");
        }
    }
}
