//! The session an event came from (the seed's `_enrich_session_context`), from what the DBA's
//! `auditlog.session_context_function` answered for its session id.
//!
//! The answer's keys are the seed's: `session_created`, `last_activity` (timestamps),
//! `session_ip`, `user_agent`, `mfa_verified`, `session_duration_minutes`, `is_active`. Known
//! keys are checked and written in one form (timestamps in UTC, the address as Postgres prints
//! it); a malformed one is left out and reported; other keys are kept as given.

use crate::context::{parse_timestamp, ContextError};
use crate::hash::format_timestamp_us;
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::net::IpAddr;

/// `session_context` for a session the function did not find.
pub fn not_found() -> Value {
    json!({"is_active": false, "session_found": false})
}

/// `session_context` for a found session, and the address the session was opened from.
pub fn found(
    answer: &Value,
    at: DateTime<Utc>,
    errors: &mut Vec<ContextError>,
) -> (Value, Option<IpAddr>) {
    let Value::Object(given) = answer else {
        errors.push(ContextError::new(
            "session_lookup",
            answer,
            "expected a JSON object",
        ));
        return (json!({"session_found": true}), None);
    };
    let mut out = Map::new();
    let mut ip = None;
    let mut created = None;
    for (key, v) in given {
        let checked = match key.as_str() {
            _ if v.is_null() => Ok(Value::Null),
            "session_created" | "last_activity" => match v.as_str().and_then(parse_timestamp) {
                Some(t) => {
                    if key == "session_created" {
                        created = Some(t);
                    }
                    Ok(json!(format_timestamp_us(t.timestamp_micros())))
                }
                None => Err("expected an ISO 8601 timestamp"),
            },
            "session_ip" => match v.as_str().and_then(|s| s.trim().parse::<IpAddr>().ok()) {
                Some(a) => {
                    ip = Some(a);
                    Ok(json!(a.to_string()))
                }
                None => Err("expected an IPv4 or IPv6 address"),
            },
            "mfa_verified" | "is_active" => {
                v.as_bool().map(Value::Bool).ok_or("expected true or false")
            }
            "session_duration_minutes" => v
                .as_f64()
                .filter(|m| *m >= 0.0)
                .map(|_| v.clone())
                .ok_or("expected a number of minutes"),
            "user_agent" => v.as_str().map(|_| v.clone()).ok_or("expected a string"),
            _ => Ok(v.clone()),
        };
        match checked {
            Ok(v) => {
                out.insert(key.clone(), v);
            }
            Err(why) => errors.push(ContextError::new(&format!("session_lookup.{key}"), v, why)),
        }
    }
    // As the seed: a found session is active unless it says otherwise, and its duration is 0
    // unless known; here, unless it can be told from when the session began.
    if out.get("is_active").is_none_or(Value::is_null) {
        out.insert("is_active".into(), json!(true));
    }
    if out
        .get("session_duration_minutes")
        .is_none_or(Value::is_null)
    {
        let minutes = created.map_or(0, |c| (at - c).num_minutes().max(0));
        out.insert("session_duration_minutes".into(), json!(minutes));
    }
    out.insert("session_found".into(), json!(true));
    (Value::Object(out), ip)
}

/// Whether the event came from another address than the one its session was opened from
/// (an IPv4-mapped IPv6 address is its IPv4 address).
pub fn ip_mismatch(session_ip: Option<IpAddr>, event_ip: Option<IpAddr>) -> bool {
    matches!((session_ip, event_ip), (Some(s), Some(e)) if s.to_canonical() != e.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap()
    }

    #[test]
    fn the_seeds_keys_checked_and_normalised() {
        let mut errors = vec![];
        let (v, ip) = found(
            &json!({"session_created": "2026-11-30 11:15:00+01", "last_activity": "2026-11-30T11:59:00Z",
                    "session_ip": "2001:DB8::1", "user_agent": "curl/8", "mfa_verified": true,
                    "device": "laptop-7"}),
            at(),
            &mut errors,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(
            v,
            json!({"session_created": "2026-11-30T10:15:00.000000Z",
                   "last_activity": "2026-11-30T11:59:00.000000Z", "session_ip": "2001:db8::1",
                   "user_agent": "curl/8", "mfa_verified": true, "device": "laptop-7",
                   "is_active": true, "session_duration_minutes": 105, "session_found": true})
        );
    }

    #[test]
    fn malformed_values_reported_and_left_out() {
        let mut errors = vec![];
        let (v, ip) = found(
            &json!({"session_ip": "nope", "mfa_verified": "yes", "is_active": false,
                    "session_duration_minutes": 12}),
            at(),
            &mut errors,
        );
        assert_eq!(ip, None);
        assert_eq!(
            v,
            json!({"is_active": false, "session_duration_minutes": 12, "session_found": true})
        );
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["session_lookup.mfa_verified", "session_lookup.session_ip"]
        );
        assert_eq!(errors[1].value, json!("nope"));
        let mut errors = vec![];
        assert_eq!(
            found(&json!([1]), at(), &mut errors).0,
            json!({"session_found": true})
        );
        assert_eq!(errors[0].key, "session_lookup");
    }

    #[test]
    fn mismatch() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(ip_mismatch(ip("10.0.0.1"), ip("10.0.0.2")));
        assert!(!ip_mismatch(ip("10.0.0.1"), ip("::ffff:10.0.0.1")));
        assert!(!ip_mismatch(None, ip("10.0.0.1")));
        assert!(!ip_mismatch(ip("10.0.0.1"), None));
    }
}
