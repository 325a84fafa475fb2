//! One sealed event as `export` reads it: the row (`to_jsonb` of `audit.all_events`), and where
//! it sits in the log, so that a SIEM's copy can be checked against a checkpoint. The formats
//! (ocsf.rs, syslog.rs, cef.rs) render it.

use serde_json::Value;

pub struct Exported {
    /// The row as `to_jsonb(e)` gives it.
    pub row: Value,
    /// Its position in the log's tree (1-based, as `audit.event_positions` has it).
    pub position: i64,
    /// The tree size after the batch that sealed it: any checkpoint at least this large
    /// includes it.
    pub tree_size: i64,
}

impl Exported {
    pub fn text(&self, key: &str) -> Option<&str> {
        self.row.get(key).and_then(Value::as_str)
    }

    pub fn class(&self, key: &str) -> Option<&Value> {
        self.row.get("classification").and_then(|c| c.get(key))
    }

    pub fn severity(&self) -> &str {
        self.class("severity")
            .and_then(Value::as_str)
            .unwrap_or("info")
    }

    /// The seed's severity in each format: (OCSF severity_id: 1 Informational, 3 Medium,
    /// 4 High, 5 Critical; RFC 5424: 6 Informational, 4 Warning, 3 Error, 2 Critical; CEF, 0-10).
    pub fn severity_codes(&self) -> (u32, u32, u32) {
        match self.severity() {
            "warning" => (3, 4, 5),
            "error" => (4, 3, 7),
            "critical" => (5, 2, 10),
            _ => (1, 6, 3),
        }
    }

    pub fn risk_score(&self) -> i64 {
        self.class("risk_score")
            .and_then(Value::as_i64)
            .unwrap_or(0)
    }

    /// The event's time in milliseconds since the epoch.
    pub fn time_ms(&self) -> i64 {
        self.text("timestamp")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map_or(0, |t| t.timestamp_millis())
    }

    /// The user id as text, whatever its JSON type.
    pub fn user(&self) -> Option<String> {
        match self.row.get("user_id") {
            Some(Value::Null) | None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(v) => Some(v.to_string()),
        }
    }

    /// Whether the event reports a failure: a `.failure` or `.denied` type.
    pub fn failed(&self) -> bool {
        let t = self.text("event_type").unwrap_or("");
        t.ends_with(".failure") || t.ends_with(".denied")
    }
}

#[cfg(test)]
pub fn sample() -> Exported {
    Exported {
        row: serde_json::json!({
            "event_id": "01a22e5e-b7b0-74ac-a28c-fad495b93ca2",
            "timestamp": "2026-11-30T21:31:29.07211+00:00",
            "event_type": "auth.login.failure",
            "event_data": {"reason": "bad password | \"x\" = y\n]"},
            "user_id": 7,
            "session_id": "s1",
            "correlation_id": "CORR_1796074289_7_d1cc5587",
            "parent_correlation_id": null,
            "ip_address": "203.0.113.9",
            "user_agent": "curl/8",
            "status": "stored",
            "classification": {"category": "authentication", "subcategory": "login_failure",
                               "severity": "warning", "risk_score": 60},
            "enrichment_data": {"temporal_context": {"hour": 21}},
            "integrity_hash": "1a7bf48fc3b5f53bf7e4a09a542169f8c885ec52f9af62db05c474ef92095ac3"
        }),
        position: 42,
        tree_size: 50,
    }
}
