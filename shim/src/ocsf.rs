//! OCSF 1.1 JSON (schema.ocsf.io): one event per line. The class follows the taxonomy's
//! category; the seed's severity, user, session, address and correlation go to OCSF's own fields,
//! and everything else, with the event's place in the log, to `unmapped`.

use crate::exported::Exported;
use serde_json::{json, Value};

pub const VERSION: &str = "1.1.0";

/// (class_uid, category_uid, activity_id) of an event type in its taxonomy category.
fn class(category: &str, event_type: &str) -> (u32, u32, u32) {
    let has = |s: &str| event_type.contains(s);
    match category {
        // Authentication: 1 Logon, 2 Logoff, 99 Other.
        "authentication" if has(".login.") => (3002, 3, 1),
        "authentication" if has(".logout") || has(".session.timeout") => (3002, 3, 2),
        "authentication" => (3002, 3, 99),
        // User Access Management: 1 Assign Privileges, 2 Revoke Privileges.
        "authorization" if has(".role.removed") => (3005, 3, 2),
        "authorization" if has(".role.") || has(".permission.") => (3005, 3, 1),
        // Authorize Session: access decisions.
        "authorization" => (3003, 3, 99),
        // Datastore Activity: 1 Read, 2 Update, 3 Connect, 4 Query, 5 Write, 6 Create, 7 Delete.
        "data_access" if has(".read") => (6005, 6, 1),
        "data_access" if has(".update") => (6005, 6, 2),
        "data_access" if has(".create") => (6005, 6, 6),
        "data_access" if has(".delete") => (6005, 6, 7),
        "data_access" => (6005, 6, 99),
        // Base Event for the rest.
        _ => (0, 0, 99),
    }
}

pub fn render(e: &Exported) -> String {
    let category = e.class("category").and_then(Value::as_str).unwrap_or("");
    let event_type = e.text("event_type").unwrap_or("");
    let (class_uid, category_uid, activity_id) = class(category, event_type);
    let user = e.user().map(|uid| json!({"uid": uid}));
    let mut o = json!({
        "class_uid": class_uid,
        "category_uid": category_uid,
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "time": e.time_ms(),
        "severity_id": e.severity_codes().0,
        "severity": e.severity(),
        "status_id": if e.failed() { 2 } else { 1 },
        "message": event_type,
        "metadata": {
            "version": VERSION,
            "product": {"name": "auditlog", "vendor_name": "auditlog", "version": env!("CARGO_PKG_VERSION")},
            "uid": e.text("event_id"),
            "correlation_uid": e.text("correlation_id"),
            "sequence": e.position,
            "event_code": event_type,
        },
        "unmapped": {
            "event_type": event_type,
            "event_data": e.row.get("event_data"),
            "classification": e.row.get("classification"),
            "enrichment_data": e.row.get("enrichment_data"),
            "parent_correlation_id": e.row.get("parent_correlation_id"),
            "risk_score": e.risk_score(),
            "status": e.text("status"),
            "position": e.position,
            "tree_size": e.tree_size,
            "integrity_hash": e.text("integrity_hash"),
        },
    });
    let mut actor = json!({});
    if let Some(u) = &user {
        actor["user"] = u.clone();
        if class_uid == 3002 || class_uid == 3005 {
            o["user"] = u.clone();
        }
    }
    if let Some(s) = e.text("session_id") {
        actor["session"] = json!({"uid": s});
    }
    if actor.as_object().is_some_and(|a| !a.is_empty()) {
        o["actor"] = actor;
    }
    if let Some(ip) = e.text("ip_address") {
        o["src_endpoint"] = json!({"ip": ip});
    }
    if let Some(ua) = e.text("user_agent") {
        o["http_request"] = json!({"user_agent": ua});
    }
    o.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_login_is_an_authentication_logon_failure() {
        let v: Value = serde_json::from_str(&render(&crate::exported::sample())).unwrap();
        assert_eq!(
            (
                v["class_uid"].as_u64(),
                v["activity_id"].as_u64(),
                v["type_uid"].as_u64()
            ),
            (Some(3002), Some(1), Some(300201))
        );
        assert_eq!(v["status_id"], 2);
        assert_eq!(v["severity_id"], 3);
        assert_eq!(v["user"]["uid"], "7");
        assert_eq!(v["actor"]["session"]["uid"], "s1");
        assert_eq!(v["src_endpoint"]["ip"], "203.0.113.9");
        assert_eq!(v["time"], 1_796_074_289_072_i64);
        assert_eq!(v["metadata"]["sequence"], 42);
        assert_eq!(v["unmapped"]["tree_size"], 50);
        assert_eq!(v["unmapped"]["risk_score"], 60);
    }

    #[test]
    fn classes_follow_the_taxonomy() {
        assert_eq!(class("authorization", "authz.access.denied").0, 3003);
        assert_eq!(class("authorization", "authz.role.removed"), (3005, 3, 2));
        assert_eq!(class("data_access", "data.client.delete"), (6005, 6, 7));
        assert_eq!(class("system", "system.startup").0, 0);
    }
}
