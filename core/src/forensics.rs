//! Correlation forensics (seed section 3.2, `CorrelationAuditTracker.analyze_correlation_flow`):
//! the flow of one correlation's events, the seed's suspicious indicators and its overall risk
//! level, with the seed's keys.

use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// One event of a correlation, as the analysis needs it.
pub struct FlowEvent {
    /// Microseconds since the Unix epoch.
    pub timestamp_us: i64,
    pub event_type: String,
    pub user_id: Option<i64>,
    pub session_id: Option<String>,
    pub risk_score: i64,
}

/// The seed's rule: CRITICAL at a maximum risk of 90 or two high-severity indicators; HIGH at a
/// maximum of 75, an average of 60 or one high-severity indicator; MEDIUM at a maximum of 50 or
/// an average of 40; LOW otherwise.
pub fn overall_risk_level(risk_scores: &[i64], high_severity_indicators: usize) -> &'static str {
    let max = risk_scores.iter().copied().max().unwrap_or(0);
    let avg = if risk_scores.is_empty() {
        0.0
    } else {
        risk_scores.iter().sum::<i64>() as f64 / risk_scores.len() as f64
    };
    if max >= 90 || high_severity_indicators >= 2 {
        "CRITICAL"
    } else if max >= 75 || avg >= 60.0 || high_severity_indicators >= 1 {
        "HIGH"
    } else if max >= 50 || avg >= 40.0 {
        "MEDIUM"
    } else {
        "LOW"
    }
}

/// The analysis of `events` (in time order), or the seed's error object when there are none.
pub fn analyze(correlation_id: &str, events: &[FlowEvent]) -> Value {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return json!({"error": "No events found for correlation ID"});
    };
    let duration = (last.timestamp_us - first.timestamp_us) as f64 / 1e6;
    let mut event_types: BTreeMap<&str, i64> = BTreeMap::new();
    for e in events {
        *event_types.entry(&e.event_type).or_default() += 1;
    }
    let users: BTreeSet<i64> = events.iter().filter_map(|e| e.user_id).collect();
    let sessions: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e.session_id.as_deref())
        .collect();
    let risks: Vec<i64> = events.iter().map(|e| e.risk_score).collect();
    let high_risk = risks.iter().filter(|r| **r > 75).count();

    let mut indicators = Vec::new();
    if users.len() > 1 {
        indicators.push(json!({
            "type": "multiple_users",
            "description": format!("Multiple users ({}) in single correlation", users.len()),
            "severity": "high",
        }));
    }
    if high_risk > 0 {
        indicators.push(json!({
            "type": "high_risk_events",
            "description": format!("{high_risk} high-risk events detected"),
            "severity": "medium",
        }));
    }
    if duration > 0.0 {
        let rate = events.len() as f64 / duration;
        if rate > 10.0 {
            indicators.push(json!({
                "type": "rapid_events",
                "description": format!("High event rate: {rate:.2} events/second"),
                "severity": "high",
            }));
        }
    }
    let high_severity = indicators
        .iter()
        .filter(|i| i["severity"] == "high")
        .count();
    let average = risks.iter().sum::<i64>() as f64 / risks.len() as f64;
    json!({
        "correlation_id": correlation_id,
        "event_count": events.len(),
        "duration_seconds": duration,
        "start_time": crate::hash::format_timestamp_us(first.timestamp_us),
        "end_time": crate::hash::format_timestamp_us(last.timestamp_us),
        "event_types": event_types,
        "users_involved": users.len(),
        "sessions_involved": sessions.len(),
        "risk_metrics": {
            "average_risk_score": average,
            "max_risk_score": risks.iter().max(),
            "high_risk_event_count": high_risk,
        },
        "suspicious_indicators": indicators,
        "overall_risk_level": overall_risk_level(&risks, high_severity),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(t_ms: i64, user: Option<i64>, risk: i64) -> FlowEvent {
        FlowEvent {
            timestamp_us: 1_795_780_800_000_000 + t_ms * 1000,
            event_type: "auth.login.success".into(),
            user_id: user,
            session_id: user.map(|u| format!("s{u}")),
            risk_score: risk,
        }
    }

    #[test]
    fn each_risk_level_at_its_threshold() {
        assert_eq!(overall_risk_level(&[90], 0), "CRITICAL");
        assert_eq!(overall_risk_level(&[10], 2), "CRITICAL");
        assert_eq!(overall_risk_level(&[89], 0), "HIGH");
        assert_eq!(overall_risk_level(&[75], 0), "HIGH");
        assert_eq!(overall_risk_level(&[60, 60], 0), "HIGH");
        assert_eq!(overall_risk_level(&[10], 1), "HIGH");
        assert_eq!(overall_risk_level(&[74, 0], 0), "MEDIUM");
        assert_eq!(overall_risk_level(&[40, 40], 0), "MEDIUM");
        assert_eq!(overall_risk_level(&[49, 20], 0), "LOW");
        assert_eq!(overall_risk_level(&[], 0), "LOW");
    }

    #[test]
    fn the_seed_indicators() {
        // Two users, one high-risk event, 3 events in 0.2 s (15/s).
        let a = analyze(
            "C",
            &[ev(0, Some(1), 20), ev(100, Some(2), 80), ev(200, None, 20)],
        );
        let kinds: Vec<&str> = a["suspicious_indicators"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["type"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            ["multiple_users", "high_risk_events", "rapid_events"]
        );
        assert_eq!(a["overall_risk_level"], "CRITICAL"); // two high-severity indicators
        assert_eq!(a["users_involved"], 2);
        assert_eq!(a["sessions_involved"], 2);
        assert_eq!(a["event_count"], 3);
        assert_eq!(a["duration_seconds"], 0.2);
        assert_eq!(a["risk_metrics"]["max_risk_score"], 80);
        assert_eq!(a["risk_metrics"]["high_risk_event_count"], 1);
        assert_eq!(a["event_types"]["auth.login.success"], 3);
        // One user, slow, low risk: nothing suspicious. A lone event has no rate.
        let calm = analyze("C", &[ev(0, Some(1), 20), ev(60_000, Some(1), 30)]);
        assert_eq!(calm["suspicious_indicators"], json!([]));
        assert_eq!(calm["overall_risk_level"], "LOW");
        let lone = analyze("C", &[ev(0, Some(1), 20)]);
        assert_eq!(lone["duration_seconds"], 0.0);
        assert_eq!(lone["suspicious_indicators"], json!([]));
        assert_eq!(
            analyze("C", &[])["error"],
            "No events found for correlation ID"
        );
    }
}
