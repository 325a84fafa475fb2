//! The seven attributes the seed's taxonomy gives every event type, and the fallback for types
//! the taxonomy does not know.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventClass {
    pub category: String,
    pub subcategory: String,
    pub severity: String,
    pub compliance_relevance: String,
    pub retention_period: i32,
    pub privacy_impact: String,
    pub security_relevance: String,
}

/// Classifies an event type the taxonomy does not hold, in the spirit of the seed's
/// `_classify_unknown_event`. An unknown event is never dropped, and never made to look harmless:
/// - category: that of the known types sharing its first dotted segment (`auth.password.reset`
///   is `authentication` because `auth.login.success` is), else `unknown`;
/// - subcategory: the remaining segments joined by `_` (`password_reset`);
/// - severity `warning`, since nobody has decided this event is routine;
/// - compliance, privacy and security relevance `medium`;
/// - retention 2555 days, the longest the seed uses, so nothing is purged early.
pub fn classify_unknown(event_type: &str, sibling_category: Option<&str>) -> EventClass {
    let subcategory = match event_type.split_once('.') {
        Some((_, rest)) if !rest.is_empty() => rest.replace('.', "_"),
        _ => event_type.replace('.', "_"),
    };
    EventClass {
        category: sibling_category.unwrap_or("unknown").to_string(),
        subcategory,
        severity: "warning".into(),
        compliance_relevance: "medium".into(),
        retention_period: 2555,
        privacy_impact: "medium".into(),
        security_relevance: "medium".into(),
    }
}

/// The first dotted segment of an event type: the key for finding an unknown type's siblings.
pub fn family(event_type: &str) -> &str {
    event_type.split('.').next().unwrap_or(event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_takes_its_siblings_category() {
        let c = classify_unknown("auth.password.reset", Some("authentication"));
        assert_eq!(c.category, "authentication");
        assert_eq!(c.subcategory, "password_reset");
        assert_eq!(c.severity, "warning");
        assert_eq!(c.retention_period, 2555);
    }

    #[test]
    fn unknown_without_siblings() {
        let c = classify_unknown("billing.invoice.paid", None);
        assert_eq!(c.category, "unknown");
        assert_eq!(c.subcategory, "invoice_paid");
        assert_eq!(classify_unknown("heartbeat", None).subcategory, "heartbeat");
        assert_eq!(family("billing.invoice.paid"), "billing");
    }
}
