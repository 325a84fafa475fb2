//! Dynamic detection rules (seed 2.2, `_apply_dynamic_classification`, made data): N events of
//! some types for one user, IP address or correlation within a window (or N users in one
//! correlation) escalate the event's severity, tag it and raise an alert. The extension fetches
//! the recent events each rule looks at; what a rule says of them is decided here.

use crate::event::{Alert, Built};
use serde::Deserialize;
use serde_json::json;

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    User,
    IpAddress,
    /// Fires when either the user's or the address's count reaches the threshold.
    UserOrIp,
    Correlation,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    Events,
    DistinctUsers,
}

/// One row of `audit.detection_rules`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Rule {
    pub rule_id: String,
    pub description: String,
    /// The event types it counts and fires on; None: every type.
    pub event_types: Option<Vec<String>>,
    pub group_by: GroupBy,
    pub measure: Measure,
    pub threshold: i64,
    pub window_seconds: i64,
    pub after_hours_only: bool,
    pub escalate_to: Option<String>,
    pub add_tags: Vec<String>,
    pub raise_alert: bool,
}

/// An earlier event a rule may count: already stored, or earlier in the same batch.
#[derive(Clone, Debug, PartialEq)]
pub struct Seen {
    pub event_id: uuid::Uuid,
    pub timestamp_us: i64,
    pub event_type: String,
    pub user_id: Option<i64>,
    pub ip_address: Option<String>,
    pub correlation_id: String,
}

impl Rule {
    pub fn counts(&self, event_type: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == event_type))
    }

    /// Whether the rule looks at this event at all.
    pub fn applies(&self, event_type: &str, business_hours: bool) -> bool {
        self.counts(event_type) && !(self.after_hours_only && business_hours)
    }

    /// Whether `current` (the event being logged) together with earlier events (`stored`, and
    /// `earlier` in the same batch) reaches the threshold. They may hold anything; the rule picks
    /// what it counts.
    pub fn fires(&self, current: &Seen, stored: &[Seen], earlier: &[Seen]) -> bool {
        let from = current.timestamp_us - self.window_seconds * 1_000_000;
        let in_window = |s: &&Seen| {
            s.timestamp_us > from
                && s.timestamp_us <= current.timestamp_us
                && self.counts(&s.event_type)
        };
        let group = |same: &dyn Fn(&Seen) -> bool| -> Vec<&Seen> {
            stored
                .iter()
                .chain(earlier)
                .filter(in_window)
                .filter(|s| same(s))
                .collect()
        };
        let reaches = |group: Vec<&Seen>| match self.measure {
            Measure::Events => group.len() as i64 + 1 >= self.threshold,
            Measure::DistinctUsers => {
                let mut users: Vec<i64> = group
                    .iter()
                    .filter_map(|s| s.user_id)
                    .chain(current.user_id)
                    .collect();
                users.sort_unstable();
                users.dedup();
                users.len() as i64 >= self.threshold
            }
        };
        let by_user =
            || current.user_id.is_some() && reaches(group(&|s| s.user_id == current.user_id));
        let by_ip = || {
            current.ip_address.is_some() && reaches(group(&|s| s.ip_address == current.ip_address))
        };
        match self.group_by {
            GroupBy::User => by_user(),
            GroupBy::IpAddress => by_ip(),
            GroupBy::UserOrIp => by_user() || by_ip(),
            GroupBy::Correlation => reaches(group(&|s| s.correlation_id == current.correlation_id)),
        }
    }
}

/// The higher of two severities (info < warning < error < critical).
pub fn higher_severity<'a>(a: &'a str, b: &'a str) -> &'a str {
    let rank = |s: &str| {
        ["info", "warning", "error", "critical"]
            .iter()
            .position(|x| *x == s)
            .unwrap_or(0)
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

/// Applies the rules an event completed: its severity rises to the highest they name, it is
/// tagged `rule:<id>` and with each rule's tags, its hashes are taken again, and each rule that
/// says so raises an alert.
pub fn escalate(b: &mut Built, fired: &[&Rule]) {
    if fired.is_empty() {
        return;
    }
    for r in fired {
        if let Some(to) = &r.escalate_to {
            b.classification.severity = higher_severity(&b.classification.severity, to).to_string();
        }
        b.classification.tags.push(format!("rule:{}", r.rule_id));
        b.classification.tags.extend(r.add_tags.iter().cloned());
    }
    b.event.classification =
        serde_json::to_value(&b.classification).expect("classification serialises");
    (b.integrity_hash, b.classification_hash) =
        b.event.seal_hashes().expect("current hash version");
    let e = &b.event;
    for r in fired.iter().filter(|r| r.raise_alert) {
        b.rule_alerts.push(Alert {
            alert_id: format!("ALERT_{}_{}", r.rule_id, e.event_id),
            alert_type: "detection_rule",
            severity: r
                .escalate_to
                .clone()
                .unwrap_or_else(|| b.classification.severity.clone()),
            title: format!("Detection rule {}: {}", r.rule_id, r.description),
            description: format!(
                "Event {} ({}) completed the pattern of rule {}",
                e.event_id, e.event_type, r.rule_id
            ),
            alert_data: json!({
                "rule_id": r.rule_id,
                "event_id": e.event_id.to_string(),
                "event_type": e.event_type,
                "user_id": e.user_id,
                "ip_address": e.ip_address,
                "correlation_id": e.correlation_id,
                "timestamp": crate::hash::format_timestamp_us(e.timestamp_us),
            }),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        types: Option<&[&str]>,
        group_by: GroupBy,
        measure: Measure,
        threshold: i64,
        window: i64,
    ) -> Rule {
        Rule {
            rule_id: "r".into(),
            description: "d".into(),
            event_types: types.map(|t| t.iter().map(|s| s.to_string()).collect()),
            group_by,
            measure,
            threshold,
            window_seconds: window,
            after_hours_only: false,
            escalate_to: Some("critical".into()),
            add_tags: vec![],
            raise_alert: true,
        }
    }

    fn seen(t_s: i64, ty: &str, user: Option<i64>, ip: Option<&str>, corr: &str) -> Seen {
        Seen {
            event_id: uuid::Uuid::now_v7(),
            timestamp_us: t_s * 1_000_000,
            event_type: ty.into(),
            user_id: user,
            ip_address: ip.map(String::from),
            correlation_id: corr.into(),
        }
    }

    #[test]
    fn brute_force_fires_at_five_failures_for_a_user_or_an_address_within_the_window() {
        let r = rule(
            Some(&["auth.login.failure"]),
            GroupBy::UserOrIp,
            Measure::Events,
            5,
            300,
        );
        let now = seen(1000, "auth.login.failure", Some(1), Some("10.0.0.1"), "C");
        let four: Vec<Seen> = (0..4)
            .map(|i| seen(900 + i, "auth.login.failure", Some(1), None, "X"))
            .collect();
        let three: Vec<Seen> = four[..3].to_vec();
        assert!(r.fires(&now, &four, &[]), "4 earlier + this one = 5");
        assert!(!r.fires(&now, &three, &[]), "4 in all: not yet");
        // By address, other users.
        let by_ip: Vec<Seen> = (0..4)
            .map(|i| {
                seen(
                    900 + i,
                    "auth.login.failure",
                    Some(50 + i),
                    Some("10.0.0.1"),
                    "X",
                )
            })
            .collect();
        assert!(r.fires(&now, &by_ip, &[]));
        // Outside the window, or another type: not counted.
        let old: Vec<Seen> = (0..4)
            .map(|i| seen(600 + i, "auth.login.failure", Some(1), None, "X"))
            .collect();
        assert!(!r.fires(&now, &old, &[]));
        let other: Vec<Seen> = (0..4)
            .map(|i| seen(900 + i, "auth.login.success", Some(1), None, "X"))
            .collect();
        assert!(!r.fires(&now, &other, &[]));
    }

    #[test]
    fn distinct_users_and_correlation_rates() {
        let multi = rule(None, GroupBy::Correlation, Measure::DistinctUsers, 2, 3600);
        let now = seen(1000, "data.client.read", Some(2), None, "C");
        let other_user = [seen(999, "auth.login.success", Some(1), None, "C")];
        assert!(multi.fires(&now, &other_user, &[]));
        // The same, earlier in the batch rather than stored.
        assert!(multi.fires(&now, &[], &other_user));
        assert!(!multi.fires(
            &now,
            &[seen(999, "auth.login.success", Some(2), None, "C")],
            &[]
        ));
        assert!(!multi.fires(
            &now,
            &[seen(999, "auth.login.success", Some(1), None, "OTHER")],
            &[]
        ));
        // More than 10 per second: 11 in the second.
        let rapid = rule(None, GroupBy::Correlation, Measure::Events, 11, 1);
        let ten: Vec<Seen> = (0..10).map(|_| seen(1000, "x", None, None, "C")).collect();
        assert!(rapid.fires(&now, &ten, &[]));
        assert!(rapid.fires(&now, &ten[..5], &ten[5..]));
        assert!(!rapid.fires(&now, &ten[..9], &[]));
    }

    #[test]
    fn after_hours_and_severity() {
        let mut r = rule(
            Some(&["data.bulk.export"]),
            GroupBy::User,
            Measure::Events,
            1,
            1,
        );
        r.after_hours_only = true;
        assert!(r.applies("data.bulk.export", false));
        assert!(!r.applies("data.bulk.export", true));
        assert!(!r.applies("auth.logout", false));
        assert_eq!(higher_severity("info", "critical"), "critical");
        assert_eq!(higher_severity("critical", "warning"), "critical");
    }
}
