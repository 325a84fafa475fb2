//! OCSF 1.1 JSON (schema.ocsf.io): one event per line. The class follows the taxonomy's
//! category, if the event has what that class requires (else it is a Base Event); the seed's
//! severity, user, session, address and correlation go to the class's own fields where it has
//! them, and everything else, with the event's place in the log, to `unmapped`. The export test
//! validates every class against the OCSF schema (tests/interop/ocsf_validate.py).

use crate::exported::Exported;
use serde_json::{json, Map, Value};

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
        // Detection Finding, 1 Create: the security category is what was detected.
        "security" => (2004, 2, 1),
        // Base Event for the rest.
        _ => (0, 0, 99),
    }
}

/// Which of the seed's context fields a class has a place for (the rest go to `unmapped`).
struct Places {
    user: bool,
    actor: bool,
    session: bool,
    endpoint: bool,
}

fn places(class_uid: u32) -> Places {
    let (user, actor, session, endpoint) = match class_uid {
        3002 => (true, true, true, true),
        3003 => (true, false, true, false),
        3005 => (true, false, false, false),
        6005 => (false, true, false, true),
        _ => (false, false, false, false),
    };
    Places {
        user,
        actor,
        session,
        endpoint,
    }
}

/// The privileges an authorization event names (`privileges`, `permissions`, `permission` or
/// `role` in its data), else its subcategory: OCSF 3003 and 3005 require some.
fn privileges(e: &Exported) -> Value {
    let data = e.row.get("event_data");
    let named = ["privileges", "permissions", "permission", "role"]
        .iter()
        .find_map(|k| match data.and_then(|d| d.get(k))? {
            Value::String(s) => Some(vec![s.clone()]),
            Value::Array(a) => Some(
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
            ),
            _ => None,
        })
        .filter(|p| !p.is_empty());
    json!(named.unwrap_or_else(|| vec![e
        .class("subcategory")
        .and_then(Value::as_str)
        .unwrap_or_else(|| e.text("event_type").unwrap_or(""))
        .to_owned()]))
}

/// The table a data access event touched: its data's `resource_type`, else the event type's
/// middle part (`data.client.read`: client). OCSF 6005 requires a database, bucket or table.
fn table(e: &Exported) -> Value {
    let event_type = e.text("event_type").unwrap_or("");
    let name = e
        .row
        .get("event_data")
        .and_then(|d| d.get("resource_type"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| event_type.split('.').nth(1).unwrap_or(event_type));
    json!({"name": name})
}

/// `service` names the application users authenticate to (OCSF 3002 requires a service or a
/// destination endpoint).
pub fn render(e: &Exported, service: &str) -> String {
    let category = e.class("category").and_then(Value::as_str).unwrap_or("");
    let event_type = e.text("event_type").unwrap_or("");
    let user = e.user().map(|uid| json!({"uid": uid}));
    let session = e.text("session_id").map(|s| json!({"uid": s}));
    let ip = e.text("ip_address");
    let (mut class_uid, mut category_uid, mut activity_id) = class(category, event_type);
    // A class whose required context the event lacks: a Base Event, the context in `unmapped`.
    let lacking = match class_uid {
        3002 | 3003 | 3005 => user.is_none(),
        6005 => ip.is_none() || (user.is_none() && session.is_none()),
        _ => false,
    };
    if lacking {
        (class_uid, category_uid, activity_id) = (0, 0, 99);
    }
    let at = places(class_uid);
    let mut metadata = json!({
        "version": VERSION,
        "product": {"name": "auditlog", "vendor_name": "auditlog", "version": env!("CARGO_PKG_VERSION")},
        "sequence": e.position,
        "event_code": event_type,
    });
    for (k, v) in [("uid", "event_id"), ("correlation_uid", "correlation_id")] {
        if let Some(v) = e.text(v) {
            metadata[k] = json!(v);
        }
    }
    let mut o = json!({
        "class_uid": class_uid,
        "category_uid": category_uid,
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "time": e.time_ms(),
        "severity_id": e.severity_codes().0,
        "severity": e.severity(),
        // A finding's status is its triage state: a new one. Elsewhere 1 Success, 2 Failure.
        "status_id": if e.failed() && class_uid != 2004 { 2 } else { 1 },
        "message": event_type,
        "metadata": metadata,
    });
    if let (true, Some(u)) = (at.user, &user) {
        o["user"] = u.clone();
    }
    if let (true, Some(s)) = (at.session, &session) {
        o["session"] = s.clone();
    }
    if at.actor {
        let mut actor = Map::new();
        actor.extend(user.clone().map(|u| ("user".into(), u)));
        actor.extend(session.clone().map(|s| ("session".into(), s)));
        if !actor.is_empty() {
            o["actor"] = Value::Object(actor);
        }
    }
    if at.endpoint {
        if let Some(ip) = ip {
            o["src_endpoint"] = json!({"ip": ip});
        }
        if let Some(ua) = e.text("user_agent") {
            o["http_request"] = json!({"user_agent": ua});
        }
    }
    let mut unmapped = Map::new();
    let unplaced = [
        ("event_type", true),
        ("event_data", true),
        ("classification", true),
        ("enrichment_data", true),
        ("parent_correlation_id", true),
        ("user_id", !at.user && !at.actor),
        ("session_id", !at.session && !at.actor),
        ("ip_address", !at.endpoint),
        ("user_agent", !at.endpoint),
    ];
    for (k, unplaced) in unplaced {
        if let Some(v) = e.row.get(k).filter(|v| unplaced && !v.is_null()) {
            unmapped.insert(k.into(), v.clone());
        }
    }
    match class_uid {
        3002 => o["service"] = json!({"name": service}),
        3003 | 3005 => o["privileges"] = privileges(e),
        6005 => o["table"] = table(e),
        2004 => {
            o["finding_info"] = json!({
                "uid": e.text("event_id"),
                "title": event_type,
                "types": [e.class("subcategory")],
            })
        }
        _ => {}
    }
    unmapped.insert("risk_score".into(), json!(e.risk_score()));
    unmapped.insert("status".into(), json!(e.text("status")));
    unmapped.insert("position".into(), json!(e.position));
    unmapped.insert("tree_size".into(), json!(e.tree_size));
    unmapped.insert("integrity_hash".into(), json!(e.text("integrity_hash")));
    o["unmapped"] = Value::Object(unmapped);
    o.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(e: &Exported) -> Value {
        serde_json::from_str(&render(e, "app")).unwrap()
    }

    #[test]
    fn a_failed_login_is_an_authentication_logon_failure() {
        let v = rendered(&crate::exported::sample());
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
        assert_eq!(v["service"]["name"], "app");
        assert_eq!(v["time"], 1_796_074_289_072_i64);
        assert_eq!(v["metadata"]["sequence"], 42);
        assert_eq!(v["unmapped"]["tree_size"], 50);
        assert_eq!(v["unmapped"]["risk_score"], 60);
        assert!(v["unmapped"].get("user_id").is_none());
    }

    #[test]
    fn what_a_class_has_no_place_for_is_unmapped() {
        let mut e = crate::exported::sample();
        e.row["event_type"] = json!("authz.role.assigned");
        e.row["classification"]["category"] = json!("authorization");
        e.row["event_data"] = json!({"role": "admin"});
        let v = rendered(&e);
        assert_eq!(
            (v["class_uid"].as_u64(), v["activity_id"].as_u64()),
            (Some(3005), Some(1))
        );
        assert_eq!(v["privileges"], json!(["admin"]));
        assert_eq!(v["unmapped"]["ip_address"], "203.0.113.9");
        assert_eq!(v["unmapped"]["session_id"], "s1");
        assert!(v.get("actor").is_none() && v.get("src_endpoint").is_none());
        // Without the user its class requires: a Base Event.
        e.row["user_id"] = Value::Null;
        let v = rendered(&e);
        assert_eq!(
            (v["class_uid"].as_u64(), v["type_uid"].as_u64()),
            (Some(0), Some(99))
        );
        assert!(v.get("privileges").is_none());
    }

    #[test]
    fn classes_follow_the_taxonomy() {
        assert_eq!(class("authorization", "authz.access.denied").0, 3003);
        assert_eq!(class("authorization", "authz.role.removed"), (3005, 3, 2));
        assert_eq!(class("data_access", "data.client.delete"), (6005, 6, 7));
        assert_eq!(class("security", "security.breach.suspected"), (2004, 2, 1));
        assert_eq!(class("system", "system.startup").0, 0);
    }
}
