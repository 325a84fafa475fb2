//! One event from the caller's arguments to the rows it writes: the seed's collector, enricher
//! and classifier in one pure function, so the extension and its tests share every rule.

use crate::classify::{classify, Classification};
use crate::context::{ContextError, UserContext};
use crate::correlation;
use crate::detect::{self, Firing};
use crate::enrich::{enrich, Found, Settings};
use crate::hash::{StoredEvent, HASH_VERSION};
use crate::taxonomy::{classify_unknown, EventClass};
use chrono::DateTime;
use serde_json::{json, Value};

/// What the caller gave.
pub struct NewEvent {
    pub event_id: uuid::Uuid,
    /// When it happened, in microseconds since the Unix epoch.
    pub timestamp_us: i64,
    /// When the database stored it: the same as `timestamp_us` for audit_log(), later for an
    /// event the shim held while the database was away.
    pub created_at_us: i64,
    pub event_type: String,
    pub event_data: Value,
    pub user_context: Value,
}

/// The checks every way in makes before an event is built: a non-empty event type (trimmed),
/// event data that is a JSON object (absent is `{}`) of at most `max_data_bytes` as compact JSON
/// (None: no limit, and no counting).
/// The error says what is wrong, for the caller to show as it is.
pub fn check_input(
    event_type: Option<&str>,
    event_data: Option<Value>,
    max_data_bytes: Option<usize>,
) -> Result<(String, Value), String> {
    let event_type = match event_type.map(str::trim) {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => return Err("event_type must be a non-empty string".into()),
    };
    let event_data = match event_data {
        None => Value::Object(Default::default()),
        Some(v @ Value::Object(_)) => v,
        Some(other) => {
            return Err(format!(
                "event_data must be a JSON object, not {}",
                json_kind(&other)
            ))
        }
    };
    if let Some(limit) = max_data_bytes {
        let size = compact_len(&event_data);
        if size > limit {
            return Err(format!(
                "event_data is {size} bytes, over the limit of {limit} bytes (auditlog.max_event_data_bytes)"
            ));
        }
    }
    Ok((event_type, event_data))
}

/// The length of `v` as compact JSON, counted without building the text.
fn compact_len(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, v).map_or(usize::MAX, |()| count.0)
}

/// "a string", "an array", ...: for error messages.
pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// How the taxonomy answered for this event type.
pub enum TaxonomyAnswer {
    Known(EventClass),
    /// Not in the taxonomy; the category of known types of the same family, if any.
    Unknown {
        sibling_category: Option<String>,
    },
}

/// A `field_access_audit` row (seed `_create_field_access_record`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldAccess {
    pub field_path: String,
    pub operation_type: &'static str,
    pub resource_type: String,
    /// Null when the event's `resource_id` is not an integer (it stays in `event_data`).
    pub resource_id: Option<i64>,
    pub field_sensitivity: String,
    pub encryption_key_version: Option<String>,
    pub access_granted: bool,
    pub denial_reason: Option<String>,
}

/// An `audit_alerts` row (seed `_create_real_time_alert`).
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub alert_id: String,
    pub alert_type: &'static str,
    pub severity: String,
    pub title: String,
    pub description: String,
    pub alert_data: Value,
}

/// An event classified and enriched, before the detection rules and the hash: what the rules
/// decide on.
pub struct Draft {
    /// Its `classification` column is set by [`Draft::seal`].
    pub event: StoredEvent,
    pub classification: Classification,
}

pub struct Built {
    pub event: StoredEvent,
    pub integrity_hash: String,
    /// SHA-256 of the canonical classification, for the seal.
    pub classification_hash: [u8; 32],
    pub classification: Classification,
    pub field_access: Option<FieldAccess>,
    pub alert: Option<Alert>,
    /// Alerts of the detection rules the event completed (see `crate::detect`).
    pub rule_alerts: Vec<Alert>,
}

/// Classifies, scores and enriches one event.
pub fn build(
    new: NewEvent,
    taxonomy: TaxonomyAnswer,
    ctx: UserContext,
    mut errors: Vec<ContextError>,
    found: Found,
    settings: &Settings,
) -> Draft {
    let at = DateTime::from_timestamp_micros(new.timestamp_us).expect("event time within range");
    let (class, known) = match taxonomy {
        TaxonomyAnswer::Known(c) => (c, true),
        TaxonomyAnswer::Unknown { sibling_category } => (
            classify_unknown(&new.event_type, sibling_category.as_deref()),
            false,
        ),
    };
    let enrichment = enrich(at, &ctx, settings, found, &mut errors);
    let classification = classify(&class, known, &enrichment);
    let correlation_id = ctx.correlation_id.clone().unwrap_or_else(|| {
        let user = ctx.user_id.map(|u| u.to_string());
        correlation::generate(at.timestamp(), user.as_deref())
    });
    let context_errors = if errors.is_empty() {
        Value::Null
    } else {
        json!(errors)
    };
    let event = StoredEvent {
        event_id: new.event_id,
        timestamp_us: new.timestamp_us,
        event_type: new.event_type,
        event_data: new.event_data,
        user_id: ctx.user_id,
        session_id: ctx.session_id,
        correlation_id,
        parent_correlation_id: ctx.parent_correlation_id,
        ip_address: ctx.ip_address.map(|ip| ip.to_string()),
        user_agent: ctx.user_agent,
        user_context: new.user_context,
        status: "stored".into(),
        enrichment_data: serde_json::to_value(&enrichment).expect("enrichment serialises"),
        classification: Value::Null,
        context_errors,
        created_at_us: new.created_at_us,
        updated_at_us: new.created_at_us,
        hash_version: HASH_VERSION,
    };
    Draft {
        event,
        classification,
    }
}

impl Draft {
    /// Whether the event happened within business hours (enrichment's temporal context).
    pub fn business_hours(&self) -> bool {
        self.event.enrichment_data["temporal_context"]["is_business_hours"]
            .as_bool()
            .unwrap_or(true)
    }

    /// Applies the detection rules the event completed, then hashes it and derives what else it
    /// writes. `alert_threshold`: an alert is raised above it (seed: 75).
    pub fn seal(self, fired: &[Firing<'_>], alert_threshold: i32) -> Built {
        let Draft {
            mut event,
            mut classification,
        } = self;
        detect::escalate(&mut classification, fired);
        event.classification =
            serde_json::to_value(&classification).expect("classification serialises");
        let (integrity_hash, classification_hash) =
            event.seal_hashes().expect("current hash version");
        let field_access = field_access(&event);
        let alert =
            (classification.risk_score > alert_threshold).then(|| alert(&event, &classification));
        let rule_alerts = detect::alerts(&event, &classification, fired);
        Built {
            event,
            integrity_hash,
            classification_hash,
            classification,
            field_access,
            alert,
            rule_alerts,
        }
    }
}

/// The seed's five field-level event types and the operation each records.
pub fn field_operation(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "encryption.field.encrypt" => "encrypt",
        "encryption.field.decrypt" => "decrypt",
        "data.client.read" => "read",
        "data.client.update" => "write",
        "authz.access.denied" => "access_denied",
        _ => return None,
    })
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn field_access(e: &StoredEvent) -> Option<FieldAccess> {
    let operation_type = field_operation(&e.event_type)?;
    let data = &e.event_data;
    let field_path = text(data.get("field_path")).filter(|p| !p.is_empty())?;
    let resource_id = match data.get("resource_id") {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    Some(FieldAccess {
        field_path,
        operation_type,
        resource_type: text(data.get("resource_type")).unwrap_or_else(|| "unknown".into()),
        resource_id,
        field_sensitivity: text(data.get("field_sensitivity")).unwrap_or_else(|| "unknown".into()),
        encryption_key_version: text(data.get("key_version")),
        access_granted: e.event_type != "authz.access.denied",
        denial_reason: text(data.get("denial_reason")),
    })
}

fn alert(e: &StoredEvent, c: &Classification) -> Alert {
    Alert {
        alert_id: format!("ALERT_{}", e.event_id),
        alert_type: "high_risk_event",
        severity: c.severity.clone(),
        title: format!("High-risk event detected: {}", e.event_type),
        description: format!("Event {} has risk score {}", e.event_id, c.risk_score),
        alert_data: json!({
            "event_id": e.event_id.to_string(),
            "event_type": e.event_type,
            "risk_score": c.risk_score,
            "user_id": e.user_id,
            "correlation_id": e.correlation_id,
            "timestamp": crate::hash::format_timestamp_us(e.timestamp_us),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context;

    fn new(
        event_type: &str,
        data: Value,
        ctx: Value,
    ) -> (NewEvent, UserContext, Vec<ContextError>) {
        let (c, errors) = context::parse(&ctx);
        let n = NewEvent {
            event_id: uuid::Uuid::now_v7(),
            timestamp_us: 1_764_244_800_000_000, // Thursday 2025-11-27 12:00 UTC
            created_at_us: 1_764_244_800_000_000,
            event_type: event_type.into(),
            event_data: data,
            user_context: ctx,
        };
        (n, c, errors)
    }

    fn security() -> EventClass {
        EventClass {
            category: "security".into(),
            subcategory: "breach_suspected".into(),
            severity: "critical".into(),
            compliance_relevance: "critical".into(),
            retention_period: 2555,
            privacy_impact: "critical".into(),
            security_relevance: "critical".into(),
        }
    }

    #[test]
    fn high_risk_raises_an_alert_and_the_hash_matches_the_row() {
        let (n, c, e) = new(
            "security.breach.suspected",
            json!({}),
            json!({"user_id": 5, "correlation_id": "CORR_X"}),
        );
        let b = build(
            n,
            TaxonomyAnswer::Known(security()),
            c,
            e,
            Found::default(),
            &Settings::default(),
        )
        .seal(&[], 75);
        assert_eq!(b.classification.risk_score, 100);
        let a = b.alert.expect("alert");
        assert_eq!(a.alert_id, format!("ALERT_{}", b.event.event_id));
        assert_eq!(a.alert_data["risk_score"], json!(100));
        assert_eq!(b.event.correlation_id, "CORR_X");
        assert_eq!(b.integrity_hash, b.event.integrity_hash().unwrap());
        assert!(b.field_access.is_none());
    }

    #[test]
    fn unknown_type_and_generated_correlation() {
        let (n, c, e) = new("auth.password.reset", json!({}), json!({"user_id": 9}));
        let b = build(
            n,
            TaxonomyAnswer::Unknown {
                sibling_category: Some("authentication".into()),
            },
            c,
            e,
            Found::default(),
            &Settings::default(),
        )
        .seal(&[], 75);
        assert!(b
            .classification
            .tags
            .contains(&"unknown_event_type".to_string()));
        assert_eq!(b.classification.category, "authentication");
        assert!(b.event.correlation_id.starts_with("CORR_1764244800_9_"));
        assert!(b.alert.is_none());
    }

    #[test]
    fn field_level_events() {
        let (n, c, e) = new(
            "authz.access.denied",
            json!({"field_path": "clients.ssn", "resource_type": "clients", "resource_id": "17", "denial_reason": "no role"}),
            json!({}),
        );
        let b = build(
            n,
            TaxonomyAnswer::Unknown {
                sibling_category: None,
            },
            c,
            e,
            Found::default(),
            &Settings::default(),
        )
        .seal(&[], 75);
        let f = b.field_access.unwrap();
        assert_eq!(
            (f.operation_type, f.access_granted, f.resource_id),
            ("access_denied", false, Some(17))
        );
        assert_eq!(f.field_sensitivity, "unknown");
        let (n, c, e) = new("data.client.read", json!({"resource_id": 3}), json!({}));
        assert!(build(
            n,
            TaxonomyAnswer::Unknown {
                sibling_category: None
            },
            c,
            e,
            Found::default(),
            &Settings::default(),
        )
        .seal(&[], 75)
        .field_access
        .is_none());
        assert_eq!(field_operation("data.client.update"), Some("write"));
        assert_eq!(field_operation("data.client.create"), None);
    }

    #[test]
    fn context_errors_are_kept() {
        let (n, c, e) = new("auth.logout", json!({}), json!({"ip_address": "nope"}));
        let b = build(
            n,
            TaxonomyAnswer::Unknown {
                sibling_category: None,
            },
            c,
            e,
            Found::default(),
            &Settings::default(),
        )
        .seal(&[], 75);
        assert_eq!(b.event.context_errors[0]["key"], json!("ip_address"));
        assert_eq!(b.event.context_errors[0]["value"], json!("nope"));
        assert_eq!(b.event.ip_address, None);
        // An unparseable address counts as external: +20.
        assert_eq!(b.classification.risk_score, (20 + 20) * 15 / 10);
    }
}
