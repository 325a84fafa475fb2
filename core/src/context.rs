//! Reading the caller's `user_context`. A malformed optional value never loses the event: it is
//! left out of the typed field and reported as a [`ContextError`], and the caller's value stays
//! verbatim in the stored `user_context`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};
use std::net::IpAddr;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct UserContext {
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub ip_address: Option<IpAddr>,
    /// An address was given but does not parse: treated as external for risk.
    pub ip_invalid: bool,
    pub user_agent: Option<String>,
    pub correlation_id: Option<String>,
    pub parent_correlation_id: Option<String>,
    pub roles: Option<Vec<String>>,
    pub account_created_at: Option<DateTime<Utc>>,
}

/// One malformed value: which key, what was given, and why it was not used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContextError {
    pub key: String,
    pub value: Value,
    pub error: String,
}

impl ContextError {
    pub fn new(key: &str, value: &Value, error: impl Into<String>) -> Self {
        ContextError {
            key: key.to_string(),
            value: value.clone(),
            error: error.into(),
        }
    }
}

/// Parses `user_context` (a JSON object; SQL NULL or JSON null mean none) into typed fields.
pub fn parse(ctx: &Value) -> (UserContext, Vec<ContextError>) {
    let mut errors = Vec::new();
    let empty = Map::new();
    let map = match ctx {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            errors.push(ContextError::new(
                "user_context",
                other,
                "user_context must be a JSON object",
            ));
            &empty
        }
    };
    let mut out = UserContext::default();
    let take = |key: &str, errors: &mut Vec<ContextError>| -> Option<String> {
        match map.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(v) => {
                errors.push(ContextError::new(key, v, "expected a string"));
                None
            }
        }
    };
    out.session_id = take("session_id", &mut errors);
    out.user_agent = take("user_agent", &mut errors);
    out.correlation_id = take("correlation_id", &mut errors);
    out.parent_correlation_id = take("parent_correlation_id", &mut errors);

    if let Some(v) = map.get("user_id").filter(|v| !v.is_null()) {
        let parsed = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.trim().parse::<i64>().ok(),
            _ => None,
        };
        match parsed {
            Some(id) => out.user_id = Some(id),
            None => errors.push(ContextError::new(
                "user_id",
                v,
                "expected an integer user id",
            )),
        }
    }
    if let Some(v) = map.get("ip_address").filter(|v| !v.is_null()) {
        match v.as_str().map(|s| s.trim().parse::<IpAddr>()) {
            Some(Ok(ip)) => out.ip_address = Some(ip),
            _ => {
                out.ip_invalid = true;
                errors.push(ContextError::new(
                    "ip_address",
                    v,
                    "expected an IPv4 or IPv6 address",
                ));
            }
        }
    }
    if let Some(v) = map.get("roles").filter(|v| !v.is_null()) {
        match v
            .as_array()
            .and_then(|a| a.iter().map(|r| r.as_str().map(String::from)).collect())
        {
            Some(roles) => out.roles = Some(roles),
            None => errors.push(ContextError::new(
                "roles",
                v,
                "expected an array of strings",
            )),
        }
    }
    if let Some(v) = map.get("account_created_at").filter(|v| !v.is_null()) {
        match v.as_str().and_then(parse_timestamp) {
            Some(t) => out.account_created_at = Some(t),
            None => errors.push(ContextError::new(
                "account_created_at",
                v,
                "expected an ISO 8601 timestamp or date",
            )),
        }
    }
    (out, errors)
}

/// Fills the roles and account age that the caller did not give from what a DBA's lookup
/// function returned (a JSON object with the same keys). Malformed lookup values are errors too.
pub fn fill_from_lookup(ctx: &mut UserContext, found: &Value, errors: &mut Vec<ContextError>) {
    let (looked_up, mut lookup_errors) = parse(found);
    for e in &mut lookup_errors {
        e.key = format!("lookup.{}", e.key);
    }
    errors.append(&mut lookup_errors);
    if ctx.roles.is_none() {
        ctx.roles = looked_up.roles;
    }
    if ctx.account_created_at.is_none() {
        ctx.account_created_at = looked_up.account_created_at;
    }
}

/// RFC 3339, `YYYY-MM-DD HH:MM:SS[.f][+zone]`, or a bare date. A time without a zone is UTC.
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_every_key() {
        let (c, errors) = parse(&json!({
            "user_id": 42, "session_id": "s1", "ip_address": "10.1.2.3", "user_agent": "curl",
            "correlation_id": "CORR_1", "parent_correlation_id": "CORR_0",
            "roles": ["admin", "ops"], "account_created_at": "2026-01-02T03:04:05+01:00"
        }));
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(c.user_id, Some(42));
        assert_eq!(c.session_id.as_deref(), Some("s1"));
        assert_eq!(c.ip_address, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(c.roles, Some(vec!["admin".into(), "ops".into()]));
        assert_eq!(
            c.account_created_at.unwrap().to_rfc3339(),
            "2026-01-02T02:04:05+00:00"
        );
        assert_eq!(c.parent_correlation_id.as_deref(), Some("CORR_0"));
    }

    #[test]
    fn malformed_values_are_reported_not_fatal() {
        let (c, errors) = parse(&json!({
            "user_id": "alice", "ip_address": "300.1.1.1", "roles": "admin",
            "account_created_at": "yesterday", "session_id": {"x": 1}
        }));
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "session_id",
                "user_id",
                "ip_address",
                "roles",
                "account_created_at"
            ]
        );
        assert_eq!(errors[1].value, json!("alice"));
        assert!(c.ip_invalid);
        assert_eq!(
            c,
            UserContext {
                ip_invalid: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn non_object_context_is_an_error_and_null_is_empty() {
        assert_eq!(parse(&json!([1])).1[0].key, "user_context");
        assert!(parse(&Value::Null).1.is_empty());
    }

    #[test]
    fn numeric_strings_and_dates() {
        let (c, _) =
            parse(&json!({"user_id": "7", "session_id": 99, "account_created_at": "2026-03-01"}));
        assert_eq!(c.user_id, Some(7));
        assert_eq!(c.session_id.as_deref(), Some("99"));
        assert_eq!(
            c.account_created_at.unwrap().to_rfc3339(),
            "2026-03-01T00:00:00+00:00"
        );
        assert!(parse_timestamp("2026-03-01 10:00:00.5").is_some());
    }

    #[test]
    fn lookup_fills_only_what_is_missing() {
        let (mut c, mut errors) = parse(&json!({"roles": ["viewer"]}));
        fill_from_lookup(
            &mut c,
            &json!({"roles": ["admin"], "account_created_at": "2026-01-01"}),
            &mut errors,
        );
        assert_eq!(c.roles, Some(vec!["viewer".into()]));
        assert!(c.account_created_at.is_some());
        fill_from_lookup(&mut c, &json!({"roles": 5}), &mut errors);
        assert_eq!(errors[0].key, "lookup.roles");
    }
}
