//! Dynamic detection rules (seed 2.2, `_apply_dynamic_classification`, made data): N events of
//! some types for one user, IP address or correlation within a window (or N users in one
//! correlation) escalate the event's severity, tag it and raise an alert. What a rule counts,
//! in which groups and how far back is decided here; the events themselves are counted in
//! `crate::window`s that the extension keeps in shared memory.

use crate::classify::Classification;
use crate::event::Alert;
use crate::hash::StoredEvent;
use crate::window::{Count, Entry};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

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
    /// The row version (its xmin): a rule changed, or disabled and enabled again, counts afresh.
    #[serde(default)]
    pub row_version: u32,
    /// SHA-256 of the row as read, its version included: tells one version of a rule from another.
    #[serde(skip)]
    pub fingerprint: [u8; 32],
}

/// A group whose recent events a rule counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group<'a> {
    User(i64),
    IpAddress(&'a str),
    Correlation(&'a str),
}

impl Group<'_> {
    /// The column of `audit.audit_events` that holds the group's value.
    pub fn column(&self) -> &'static str {
        match self {
            Group::User(_) => "user_id",
            Group::IpAddress(_) => "ip_address",
            Group::Correlation(_) => "correlation_id",
        }
    }
}

/// The enabled rules of one scope: the events of one database's audit table.
pub struct RuleSet {
    /// The version (xmin) of the scope's audit table as made: a rule of the same version was
    /// made with it, and so counts every event the table ever held.
    pub scope_version: u32,
    pub rules: Vec<Rule>,
}

/// Reads the enabled rules from their rows as JSON (`to_jsonb` of `audit.detection_rules`, with
/// `row_version`). `scope` names the events they count (a database's audit table): windows kept
/// for one scope never count in another.
pub fn rules_from_json(
    scope: &str,
    scope_version: u32,
    rows: Vec<Value>,
) -> Result<RuleSet, String> {
    let rules = rows
        .into_iter()
        .map(|row| {
            let fingerprint = Sha256::new()
                .chain_update(scope.as_bytes())
                .chain_update([0])
                .chain_update(row.to_string().as_bytes())
                .finalize()
                .into();
            let rule: Rule = serde_json::from_value(row).map_err(|e| e.to_string())?;
            Ok(Rule {
                fingerprint,
                ..rule
            })
        })
        .collect::<Result<_, String>>()?;
    Ok(RuleSet {
        scope_version,
        rules,
    })
}

/// The low 64 bits of an event id (UUIDv7's random ones): enough to tell a group's events apart.
fn event_key(id: uuid::Uuid) -> u64 {
    id.as_u128() as u64
}

impl Rule {
    pub fn counts(&self, event_type: &str) -> bool {
        self.event_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == event_type))
    }

    /// Whether the rule decides on this event at all.
    pub fn applies(&self, event_type: &str, business_hours: bool) -> bool {
        self.counts(event_type) && !(self.after_hours_only && business_hours)
    }

    pub fn window_us(&self) -> i64 {
        self.window_seconds.saturating_mul(1_000_000)
    }

    /// Whether the rule needs any earlier event (a threshold of one fires on the event alone).
    pub fn needs_history(&self, e: &StoredEvent) -> bool {
        self.count(e).needed > 0
    }

    /// The groups the event belongs to for this rule: the rule fires when any reaches its
    /// threshold.
    pub fn groups<'a>(&self, e: &'a StoredEvent) -> Vec<Group<'a>> {
        let user = e.user_id.map(Group::User);
        let ip = e.ip_address.as_deref().map(Group::IpAddress);
        match self.group_by {
            GroupBy::User => user.into_iter().collect(),
            GroupBy::IpAddress => ip.into_iter().collect(),
            GroupBy::UserOrIp => user.into_iter().chain(ip).collect(),
            GroupBy::Correlation => vec![Group::Correlation(&e.correlation_id)],
        }
    }

    /// The slot of one group: a digest of the rule as the DBA wrote it (so a changed rule starts
    /// counting afresh) and the group.
    pub fn group_key(&self, g: &Group) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.fingerprint);
        match g {
            Group::User(u) => {
                h.update(b"u");
                h.update(u.to_be_bytes());
            }
            Group::IpAddress(ip) => {
                h.update(b"i");
                h.update(ip.as_bytes());
            }
            Group::Correlation(c) => {
                h.update(b"c");
                h.update(c.as_bytes());
            }
        }
        h.finalize()[..16].try_into().expect("16 of 32 bytes")
    }

    /// What the event adds to each of its groups: itself, or its user for a count of users
    /// (None: an event without a user adds no user).
    pub fn entry(&self, e: &StoredEvent, xid: u32) -> Option<Entry> {
        Some(Entry {
            at_us: e.timestamp_us,
            key: self.key_of(e.event_id, e.user_id)?,
            xid,
        })
    }

    /// An event's key in a window: its id, or its user's for a count of users.
    pub fn key_of(&self, event_id: uuid::Uuid, user_id: Option<i64>) -> Option<u64> {
        match self.measure {
            Measure::Events => Some(event_key(event_id)),
            Measure::DistinctUsers => user_id.map(|u| u as u64),
        }
    }

    /// The count that makes the rule fire on `e`: threshold - 1 other events in the window
    /// before it, or enough other users to make threshold with its own.
    pub fn count(&self, e: &StoredEvent) -> Count {
        let threshold = self.threshold.max(1) as usize;
        let (needed, exclude) = match self.measure {
            Measure::Events => (threshold - 1, Some(event_key(e.event_id))),
            Measure::DistinctUsers => match e.user_id {
                Some(u) => (threshold - 1, Some(u as u64)),
                None => (threshold, None),
            },
        };
        Count {
            from_us: e.timestamp_us.saturating_sub(self.window_us()),
            at_us: e.timestamp_us,
            needed,
            exclude,
        }
    }
}

/// A rule an event completed. `new_burst`: the rule had not fired in the event's group within
/// its window, so this event begins a burst and raises the rule's alert; the rest of a burst is
/// escalated and tagged alike but raises none (a repeated burst folds into the open alert).
#[derive(Clone, Copy, Debug)]
pub struct Firing<'a> {
    pub rule: &'a Rule,
    pub new_burst: bool,
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

/// What the rules an event completed do to its classification (before it is hashed): its
/// severity rises to the highest they name, and it is tagged `rule:<id>` and with each rule's tags.
pub fn escalate(c: &mut Classification, fired: &[Firing]) {
    for Firing { rule: r, .. } in fired {
        if let Some(to) = &r.escalate_to {
            c.severity = higher_severity(&c.severity, to).to_string();
        }
        c.tags.push(format!("rule:{}", r.rule_id));
        c.tags.extend(r.add_tags.iter().cloned());
    }
}

/// The alerts of the bursts an event begins, of rules that say to raise one.
pub fn alerts(e: &StoredEvent, c: &Classification, fired: &[Firing]) -> Vec<Alert> {
    fired
        .iter()
        .filter(|f| f.new_burst && f.rule.raise_alert)
        .map(|Firing { rule: r, .. }| Alert {
            alert_id: format!("ALERT_{}_{}", r.rule_id, e.event_id),
            alert_type: "detection_rule",
            severity: r.escalate_to.clone().unwrap_or_else(|| c.severity.clone()),
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
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Verdict, Window};
    use std::collections::HashMap;

    fn rule(
        types: Option<&[&str]>,
        group_by: GroupBy,
        measure: Measure,
        threshold: i64,
        window: i64,
    ) -> Rule {
        let row = json!({
            "rule_id": "r", "description": "d", "enabled": true,
            "event_types": types, "group_by": group_by_name(group_by),
            "measure": if measure == Measure::Events { "events" } else { "distinct_users" },
            "threshold": threshold, "window_seconds": window, "after_hours_only": false,
            "escalate_to": "critical", "add_tags": [], "raise_alert": true, "builtin": false,
        });
        rules_from_json("test", 0, vec![row])
            .unwrap()
            .rules
            .remove(0)
    }

    fn group_by_name(g: GroupBy) -> &'static str {
        match g {
            GroupBy::User => "user",
            GroupBy::IpAddress => "ip_address",
            GroupBy::UserOrIp => "user_or_ip",
            GroupBy::Correlation => "correlation",
        }
    }

    fn event(t_s: i64, ty: &str, user: Option<i64>, ip: Option<&str>, corr: &str) -> StoredEvent {
        StoredEvent {
            event_id: uuid::Uuid::now_v7(),
            timestamp_us: t_s * 1_000_000,
            event_type: ty.into(),
            event_data: Value::Null,
            user_id: user,
            session_id: None,
            correlation_id: corr.into(),
            parent_correlation_id: None,
            ip_address: ip.map(String::from),
            user_agent: None,
            user_context: Value::Null,
            status: "stored".into(),
            enrichment_data: Value::Null,
            classification: Value::Null,
            context_errors: Value::Null,
            created_at_us: 0,
            updated_at_us: 0,
            hash_version: 1,
        }
    }

    /// Logs `earlier` then `now` as the extension does: each event recorded in the window of
    /// each of its groups, the rule deciding on `now` from the windows it falls in.
    fn fires(r: &Rule, earlier: &[StoredEvent], now: &StoredEvent) -> bool {
        let mut windows: HashMap<[u8; 16], Window> = HashMap::new();
        for e in earlier.iter().filter(|e| r.counts(&e.event_type)) {
            for g in r.groups(e) {
                let k = r.group_key(&g);
                if let Some(entry) = r.entry(e, 0) {
                    windows
                        .entry(k)
                        .or_insert_with(|| Window::new(k, i64::MIN))
                        .record(entry, r.window_us());
                }
            }
        }
        r.groups(now).iter().any(|g| {
            let w = windows
                .get(&r.group_key(g))
                .copied()
                .unwrap_or(Window::new(r.group_key(g), i64::MIN));
            w.verdict(&r.count(now), |_| true) == Verdict::Reached
        })
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
        let now = event(1000, "auth.login.failure", Some(1), Some("10.0.0.1"), "C");
        let four: Vec<StoredEvent> = (0..4)
            .map(|i| event(900 + i, "auth.login.failure", Some(1), None, "X"))
            .collect();
        assert!(fires(&r, &four, &now), "4 earlier + this one = 5");
        assert!(!fires(&r, &four[..3], &now), "4 in all: not yet");
        // By address, other users.
        let by_ip: Vec<StoredEvent> = (0..4)
            .map(|i| {
                event(
                    900 + i,
                    "auth.login.failure",
                    Some(50 + i),
                    Some("10.0.0.1"),
                    "X",
                )
            })
            .collect();
        assert!(fires(&r, &by_ip, &now));
        // Another address, other users: not counted.
        let elsewhere: Vec<StoredEvent> = (0..4)
            .map(|i| {
                event(
                    900 + i,
                    "auth.login.failure",
                    Some(50 + i),
                    Some("10.0.0.2"),
                    "X",
                )
            })
            .collect();
        assert!(!fires(&r, &elsewhere, &now));
        // Outside the window, or another type: not counted.
        let old: Vec<StoredEvent> = (0..4)
            .map(|i| event(600 + i, "auth.login.failure", Some(1), None, "X"))
            .collect();
        assert!(!fires(&r, &old, &now));
        let other: Vec<StoredEvent> = (0..4)
            .map(|i| event(900 + i, "auth.login.success", Some(1), None, "X"))
            .collect();
        assert!(!fires(&r, &other, &now));
    }

    #[test]
    fn distinct_users_and_correlation_rates() {
        let multi = rule(None, GroupBy::Correlation, Measure::DistinctUsers, 2, 3600);
        let now = event(1000, "data.client.read", Some(2), None, "C");
        assert!(fires(
            &multi,
            &[event(999, "auth.login.success", Some(1), None, "C")],
            &now
        ));
        // The same user again, another correlation, or an hour before: no.
        assert!(!fires(
            &multi,
            &[event(999, "auth.login.success", Some(2), None, "C")],
            &now
        ));
        assert!(!fires(
            &multi,
            &[event(999, "x", Some(1), None, "OTHER")],
            &now
        ));
        assert!(!fires(
            &multi,
            &[event(1000 - 3600, "x", Some(1), None, "C")],
            &now
        ));
        // An event without a user counts the others alone.
        let anonymous = event(1000, "x", None, None, "C");
        let two = [
            event(998, "x", Some(1), None, "C"),
            event(999, "x", Some(3), None, "C"),
        ];
        assert!(!fires(&multi, &two[..1], &anonymous));
        assert!(fires(&multi, &two, &anonymous));
        // More than 10 per second: 11 in the second.
        let rapid = rule(None, GroupBy::Correlation, Measure::Events, 11, 1);
        let ten: Vec<StoredEvent> = (0..10).map(|_| event(1000, "x", None, None, "C")).collect();
        assert!(fires(&rapid, &ten, &now));
        assert!(!fires(&rapid, &ten[..9], &now));
        // The same event logged again (a retried batch) counts once.
        let again: Vec<StoredEvent> = ten[..9].iter().chain(&ten[..1]).cloned().collect();
        assert!(!fires(&rapid, &again, &now));
    }

    #[test]
    fn a_changed_rule_counts_in_other_windows() {
        let a = rule(None, GroupBy::Correlation, Measure::Events, 11, 1);
        let b = rule(None, GroupBy::Correlation, Measure::Events, 12, 1);
        let g = Group::Correlation("C");
        assert_eq!(a.group_key(&g), a.clone().group_key(&g));
        assert_ne!(a.group_key(&g), b.group_key(&g));
        assert_ne!(a.group_key(&g), a.group_key(&Group::Correlation("D")));
        assert_ne!(
            a.group_key(&Group::User(1)),
            a.group_key(&Group::IpAddress("1"))
        );
        let row = |t: i64| {
            json!({"rule_id": "r", "description": "d", "event_types": null, "group_by": "user",
                   "measure": "events", "threshold": t, "window_seconds": 1,
                   "after_hours_only": false, "escalate_to": null, "add_tags": [],
                   "raise_alert": true})
        };
        let in_db = |scope| {
            rules_from_json(scope, 0, vec![row(2)])
                .unwrap()
                .rules
                .remove(0)
        };
        assert_eq!(in_db("1:2").group_key(&g), in_db("1:2").group_key(&g));
        assert_ne!(in_db("1:2").group_key(&g), in_db("1:3").group_key(&g));
        // Disabled and enabled again, or changed: a new row version, which counts afresh.
        let mut again = row(2);
        again["row_version"] = json!(7);
        let again = rules_from_json("1:2", 0, vec![again])
            .unwrap()
            .rules
            .remove(0);
        assert_eq!(again.row_version, 7);
        assert_ne!(in_db("1:2").group_key(&g), again.group_key(&g));
    }

    #[test]
    fn after_hours_thresholds_of_one_and_severity() {
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
        let e = event(1000, "data.bulk.export", Some(1), None, "C");
        assert!(!r.needs_history(&e));
        assert!(fires(&r, &[], &e));
        assert_eq!(higher_severity("info", "critical"), "critical");
        assert_eq!(higher_severity("critical", "warning"), "critical");
    }

    #[test]
    fn escalation_tags_and_alerts() {
        let mut r = rule(None, GroupBy::Correlation, Measure::Events, 2, 1);
        r.add_tags = vec!["burst".into()];
        let mut quiet = r.clone();
        quiet.raise_alert = false;
        quiet.rule_id = "q".into();
        quiet.add_tags.clear();
        quiet.escalate_to = Some("warning".into());
        let e = event(1000, "x", Some(1), None, "C");
        let mut c = Classification {
            category: "c".into(),
            subcategory: "s".into(),
            severity: "info".into(),
            compliance_relevance: "low".into(),
            retention_period: 365,
            privacy_impact: "low".into(),
            security_relevance: "low".into(),
            risk_score: 10,
            tags: vec!["a".into()],
        };
        let fired = |new_burst| [&quiet, &r].map(|rule| Firing { rule, new_burst });
        escalate(&mut c, &fired(true));
        assert_eq!(c.severity, "critical");
        assert_eq!(c.tags, ["a", "rule:q", "rule:r", "burst"]);
        let raised = alerts(&e, &c, &fired(true));
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].alert_type, "detection_rule");
        assert_eq!(raised[0].alert_data["rule_id"], "r");
        assert!(alerts(&e, &c, &fired(false)).is_empty(), "a burst going on");
    }
}
