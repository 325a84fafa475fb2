//! The `classification` an event is stored with: its taxonomy attributes, risk score and tags.

use crate::enrich::Enrichment;
use crate::risk::{self, RiskFactors, NEW_ACCOUNT_DAYS};
use crate::taxonomy::EventClass;
use serde::Serialize;

/// The seed's classification keys, in the seed's order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Classification {
    pub category: String,
    pub subcategory: String,
    pub severity: String,
    pub compliance_relevance: String,
    pub retention_period: i32,
    pub privacy_impact: String,
    pub security_relevance: String,
    pub risk_score: i32,
    pub tags: Vec<String>,
}

pub const UNKNOWN_EVENT_TYPE_TAG: &str = "unknown_event_type";

pub fn risk_factors(e: &Enrichment) -> RiskFactors {
    let user = e.user_context.as_ref();
    RiskFactors {
        new_account: user
            .and_then(|u| u.account_age_days)
            .is_some_and(|d| d < NEW_ACCOUNT_DAYS),
        admin: user.is_some_and(|u| u.roles.iter().any(|r| r == "admin")),
        external_ip: e.geolocation.as_ref().is_some_and(|g| !g.is_internal),
        session_ip_mismatch: e.session_ip_mismatch,
    }
}

pub fn classify(class: &EventClass, known: bool, e: &Enrichment) -> Classification {
    let factors = risk_factors(e);
    let risk_score = risk::risk_score(&class.category, &class.severity, factors);
    Classification {
        category: class.category.clone(),
        subcategory: class.subcategory.clone(),
        severity: class.severity.clone(),
        compliance_relevance: class.compliance_relevance.clone(),
        retention_period: class.retention_period,
        privacy_impact: class.privacy_impact.clone(),
        security_relevance: class.security_relevance.clone(),
        risk_score,
        tags: tags(class, known, e, factors, risk_score),
    }
}

/// The seed's `_generate_tags`, plus `unknown_event_type` for a type the taxonomy lacks.
fn tags(
    class: &EventClass,
    known: bool,
    e: &Enrichment,
    f: RiskFactors,
    risk_score: i32,
) -> Vec<String> {
    let mut tags = vec![
        format!("category:{}", class.category),
        format!("subcategory:{}", class.subcategory),
        format!("severity:{}", class.severity),
    ];
    if let Some(user) = &e.user_context {
        tags.extend(user.roles.iter().map(|r| format!("user_role:{r}")));
    }
    if f.new_account {
        tags.push("new_user".into());
    }
    if f.session_ip_mismatch {
        tags.push("session_ip_mismatch".into());
    }
    let t = &e.temporal_context;
    tags.push(format!("hour:{}", t.hour));
    tags.push(format!("day_of_week:{}", t.day_of_week));
    tags.push(
        if t.is_business_hours {
            "business_hours"
        } else {
            "after_hours"
        }
        .into(),
    );
    tags.push(
        match risk_score {
            75.. => "high_risk",
            50.. => "medium_risk",
            _ => "low_risk",
        }
        .into(),
    );
    if matches!(class.compliance_relevance.as_str(), "high" | "critical") {
        tags.push("compliance_relevant".into());
    }
    if matches!(class.privacy_impact.as_str(), "high" | "critical") {
        tags.push("privacy_relevant".into());
    }
    if !known {
        tags.push(UNKNOWN_EVENT_TYPE_TAG.into());
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::{Network, Temporal, User};

    fn class(category: &str, severity: &str, compliance: &str, privacy: &str) -> EventClass {
        EventClass {
            category: category.into(),
            subcategory: "sub".into(),
            severity: severity.into(),
            compliance_relevance: compliance.into(),
            retention_period: 2555,
            privacy_impact: privacy.into(),
            security_relevance: "low".into(),
        }
    }

    fn enrichment(business: bool) -> Enrichment {
        Enrichment {
            temporal_context: Temporal {
                hour: 10,
                day_of_week: "friday".into(),
                is_business_hours: business,
                timezone: "UTC".into(),
            },
            geolocation: None,
            user_context: None,
            session_context: None,
            resource_context: None,
            session_ip_mismatch: false,
        }
    }

    #[test]
    fn plain_event_tags() {
        let c = classify(
            &class("system", "info", "medium", "none"),
            true,
            &enrichment(true),
        );
        assert_eq!(c.risk_score, 10);
        assert_eq!(
            c.tags,
            [
                "category:system",
                "subcategory:sub",
                "severity:info",
                "hour:10",
                "day_of_week:friday",
                "business_hours",
                "low_risk"
            ]
        );
    }

    #[test]
    fn every_tag_at_once() {
        let mut e = enrichment(false);
        e.user_context = Some(User {
            roles: vec!["admin".into(), "ops".into()],
            account_age_days: Some(3),
        });
        e.geolocation = Some(Network {
            ip_address: Some("8.8.8.8".into()),
            is_internal: false,
            network: None,
            risk_level: "medium",
            place: Default::default(),
        });
        e.session_ip_mismatch = true;
        let c = classify(
            &class("data_access", "warning", "critical", "high"),
            false,
            &e,
        );
        // (40 + 10 + 15 + 20 + 10) * 1.5 = 142.5 -> capped
        assert_eq!(c.risk_score, 100);
        assert_eq!(
            c.tags,
            [
                "category:data_access",
                "subcategory:sub",
                "severity:warning",
                "user_role:admin",
                "user_role:ops",
                "new_user",
                "session_ip_mismatch",
                "hour:10",
                "day_of_week:friday",
                "after_hours",
                "high_risk",
                "compliance_relevant",
                "privacy_relevant",
                "unknown_event_type"
            ]
        );
    }

    #[test]
    fn risk_tag_thresholds_and_unknown_age() {
        let mut e = enrichment(true);
        // account age unknown: not a new user
        e.user_context = Some(User {
            roles: vec![],
            account_age_days: None,
        });
        assert!(!risk_factors(&e).new_account);
        // 80 * 1.0 = 80 -> high; 60 -> medium (>= 50)
        assert!(classify(&class("security", "info", "low", "low"), true, &e)
            .tags
            .contains(&"high_risk".to_string()));
        assert!(classify(&class("privacy", "info", "low", "low"), true, &e)
            .tags
            .contains(&"medium_risk".to_string()));
        e.user_context = Some(User {
            roles: vec![],
            account_age_days: Some(30),
        });
        assert!(!risk_factors(&e).new_account);
    }
}
