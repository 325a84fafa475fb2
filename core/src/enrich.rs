//! Enrichment: when the event happened in business terms, where it came from, and who did it.

use crate::context::{ContextError, UserContext};
use crate::geolocation::Place;
use crate::lookup::Answer;
use crate::session;
use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{json, Value};
use std::net::IpAddr;

/// The settings enrichment reads (in the extension, the `auditlog.*` GUCs).
#[derive(Clone, Debug)]
pub struct Settings {
    pub timezone: Tz,
    /// Business hours are `[start_hour, end_hour)` in `timezone`, on `business_days`.
    pub start_hour: u32,
    pub end_hour: u32,
    pub business_days: Vec<Weekday>,
    pub internal_networks: Vec<IpNet>,
}

pub const DEFAULT_INTERNAL_NETWORKS: &str =
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,169.254.0.0/16,::1/128,fe80::/10,fc00::/7";

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: Tz::UTC,
            start_hour: 9,
            end_hour: 17,
            business_days: vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ],
            internal_networks: parse_networks(DEFAULT_INTERNAL_NETWORKS).expect("valid default"),
        }
    }
}

/// Reads a comma-separated list of CIDR networks (a bare address is a single host).
pub fn parse_networks(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<IpNet>()
                .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("\"{s}\" is not a CIDR network"))
        })
        .collect()
}

/// Reads business hours as `H-H` (24-hour clock, end exclusive), e.g. `9-17`.
pub fn parse_hours(s: &str) -> Result<(u32, u32), String> {
    let err = || format!("\"{s}\" is not an hour range like 9-17");
    let (a, b) = s.trim().split_once('-').ok_or_else(err)?;
    let (a, b) = (
        a.trim().parse::<u32>().map_err(|_| err())?,
        b.trim().parse::<u32>().map_err(|_| err())?,
    );
    if a > 24 || b > 24 || a >= b {
        return Err(err());
    }
    Ok((a, b))
}

/// Reads a comma-separated list of weekday names (`mon,tue,...` or full names).
pub fn parse_days(s: &str) -> Result<Vec<Weekday>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<Weekday>()
                .map_err(|_| format!("\"{d}\" is not a weekday"))
        })
        .collect()
}

pub fn parse_timezone(s: &str) -> Result<Tz, String> {
    s.trim()
        .parse::<Tz>()
        .map_err(|_| format!("\"{s}\" is not an IANA time zone"))
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Temporal {
    pub hour: u32,
    pub day_of_week: String,
    pub is_business_hours: bool,
    pub timezone: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Network {
    pub ip_address: Option<String>,
    pub is_internal: bool,
    /// The internal network the address falls in.
    pub network: Option<String>,
    /// `low` inside the internal networks, `medium` outside, as the seed's geolocation mock.
    pub risk_level: &'static str,
    /// Country, region, city and AS from the geolocation databases, where they know them.
    #[serde(flatten)]
    pub place: Place,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct User {
    pub roles: Vec<String>,
    pub account_age_days: Option<i64>,
}

/// What `enrichment_data` holds, with the seed's keys. `geolocation` always holds the network
/// class, and the place where a geolocation database knows the address.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Enrichment {
    pub temporal_context: Temporal,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geolocation: Option<Network>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_context: Option<User>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_context: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_context: Option<Value>,
    /// The session was opened from another address than the event's (a tag and a risk factor).
    #[serde(skip)]
    pub session_ip_mismatch: bool,
}

/// What the lookups outside core answered for one event (`None`: not asked).
#[derive(Clone, Debug, Default)]
pub struct Found {
    pub session: Option<Answer>,
    /// What was asked (`[resource_type, resource_id]`, for the error) and the answer.
    pub resource: Option<(Value, Answer)>,
    pub place: Option<Result<Option<Place>, String>>,
}

pub fn temporal(at: DateTime<Utc>, s: &Settings) -> Temporal {
    let local = at.with_timezone(&s.timezone);
    let hour = local.hour();
    let day = local.weekday();
    Temporal {
        hour,
        day_of_week: weekday_name(day).to_string(),
        is_business_hours: s.business_days.contains(&day)
            && hour >= s.start_hour
            && hour < s.end_hour,
        timezone: s.timezone.name().to_string(),
    }
}

fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

/// The internal network that holds `ip`, if any. An IPv4-mapped IPv6 address counts as IPv4.
pub fn internal_network(ip: IpAddr, networks: &[IpNet]) -> Option<IpNet> {
    let ip = ip.to_canonical();
    networks.iter().copied().find(|n| n.contains(&ip))
}

/// The enrichment of one event; a failed lookup leaves its key out and adds to `errors`.
pub fn enrich(
    at: DateTime<Utc>,
    ctx: &UserContext,
    s: &Settings,
    found: Found,
    errors: &mut Vec<ContextError>,
) -> Enrichment {
    let place = match found.place {
        Some(Ok(p)) => p.unwrap_or_default(),
        Some(Err(why)) => {
            let ip = json!(ctx.ip_address.map(|ip| ip.to_string()));
            errors.push(ContextError::new("geolocation", &ip, why));
            Place::default()
        }
        None => Place::default(),
    };
    let geolocation = match (ctx.ip_address, ctx.ip_invalid) {
        (Some(ip), _) => {
            let net = internal_network(ip, &s.internal_networks);
            Some(Network {
                ip_address: Some(ip.to_string()),
                is_internal: net.is_some(),
                network: net.map(|n| n.to_string()),
                risk_level: if net.is_some() { "low" } else { "medium" },
                place,
            })
        }
        // An address that does not parse cannot be shown to be internal.
        (None, true) => Some(Network {
            ip_address: None,
            is_internal: false,
            network: None,
            risk_level: "medium",
            place,
        }),
        (None, false) => None,
    };
    let user_context = (ctx.user_id.is_some()
        || ctx.roles.is_some()
        || ctx.account_created_at.is_some())
    .then(|| User {
        roles: ctx.roles.clone().unwrap_or_default(),
        account_age_days: ctx.account_created_at.map(|c| (at - c).num_days()),
    });
    let mut session_ip = None;
    let session_context = match found.session {
        Some(Answer::Found(v)) => {
            let (v, ip) = session::found(&v, at, errors);
            session_ip = ip;
            Some(v)
        }
        Some(Answer::NotFound) => Some(session::not_found()),
        Some(Answer::Failed(why)) => {
            errors.push(ContextError::new(
                "session_lookup",
                &json!(ctx.session_id),
                why,
            ));
            None
        }
        None => None,
    };
    let resource_context = match found.resource {
        Some((_, Answer::Found(v))) if v.is_object() => {
            let mut m = v.as_object().expect("an object").clone();
            m.entry("resource_found").or_insert(json!(true));
            Some(Value::Object(m))
        }
        Some((_, Answer::Found(other))) => {
            errors.push(ContextError::new(
                "resource_lookup",
                &other,
                "expected a JSON object",
            ));
            None
        }
        Some((_, Answer::NotFound)) => Some(json!({"resource_found": false})),
        Some((asked, Answer::Failed(why))) => {
            errors.push(ContextError::new("resource_lookup", &asked, why));
            None
        }
        None => None,
    };
    Enrichment {
        temporal_context: temporal(at, s),
        geolocation,
        user_context,
        session_context,
        resource_context,
        session_ip_mismatch: session::ip_mismatch(session_ip, ctx.ip_address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::rc::Rc;

    #[test]
    fn rfc1918_not_prefix_match() {
        let nets = parse_networks(DEFAULT_INTERNAL_NETWORKS).unwrap();
        for ip in [
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(
                internal_network(ip.parse().unwrap(), &nets).is_some(),
                "{ip}"
            );
        }
        // The seed's startswith('172.') would call these internal.
        for ip in [
            "172.15.0.1",
            "172.32.0.1",
            "8.8.8.8",
            "2001:db8::1",
            "11.0.0.1",
        ] {
            assert!(
                internal_network(ip.parse().unwrap(), &nets).is_none(),
                "{ip}"
            );
        }
    }

    #[test]
    fn business_hours_in_the_configured_zone() {
        let mut s = Settings::default();
        // Friday 2026-11-27 08:30 UTC
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 8, 30, 0).unwrap();
        let t = temporal(at, &s);
        assert_eq!(
            (t.hour, t.day_of_week.as_str(), t.is_business_hours),
            (8, "friday", false)
        );
        s.timezone = parse_timezone("Europe/Berlin").unwrap();
        let t = temporal(at, &s);
        assert_eq!(
            (t.hour, t.is_business_hours, t.timezone.as_str()),
            (9, true, "Europe/Berlin")
        );
        let saturday = Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap();
        assert!(!temporal(saturday, &s).is_business_hours);
    }

    #[test]
    fn settings_parse_and_reject() {
        assert_eq!(parse_hours("8-18").unwrap(), (8, 18));
        assert!(parse_hours("18-8").is_err());
        assert!(parse_hours("nine").is_err());
        assert_eq!(
            parse_days("mon, Tuesday").unwrap(),
            vec![Weekday::Mon, Weekday::Tue]
        );
        assert!(parse_days("someday").is_err());
        assert!(parse_networks("10.0.0.0/8, 1.2.3.4").unwrap()[1]
            .contains(&"1.2.3.4".parse::<IpAddr>().unwrap()));
        assert!(parse_networks("10.0.0.0/33").is_err());
        assert!(parse_timezone("Mars/Base").is_err());
    }

    #[test]
    fn enrichment_shapes() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let ctx = UserContext {
            ip_invalid: true,
            ..Default::default()
        };
        let e = enrich(
            at,
            &ctx,
            &Settings::default(),
            Found::default(),
            &mut vec![],
        );
        assert!(!e.geolocation.unwrap().is_internal);
        assert!(e.user_context.is_none());
        let ctx = UserContext {
            user_id: Some(1),
            account_created_at: Some(Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap()),
            ..Default::default()
        };
        assert_eq!(
            enrich(
                at,
                &ctx,
                &Settings::default(),
                Found::default(),
                &mut vec![]
            )
            .user_context
            .unwrap()
            .account_age_days,
            Some(26)
        );
    }

    #[test]
    fn lookups_land_in_their_keys() {
        let at = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
        let ctx = UserContext {
            session_id: Some("s1".into()),
            ip_address: Some("81.2.69.142".parse().unwrap()),
            ..Default::default()
        };
        let found = Found {
            session: Some(Answer::Found(Rc::new(json!({"session_ip": "10.1.1.1"})))),
            resource: Some((json!(["client", "7"]), Answer::NotFound)),
            place: Some(Ok(Some(Place {
                country: Some("GB".into()),
                city: Some("London".into()),
                ..Default::default()
            }))),
        };
        let mut errors = vec![];
        let e = enrich(at, &ctx, &Settings::default(), found, &mut errors);
        assert!(errors.is_empty());
        assert!(e.session_ip_mismatch);
        assert_eq!(e.session_context.unwrap()["session_ip"], json!("10.1.1.1"));
        assert_eq!(e.resource_context, Some(json!({"resource_found": false})));
        let geo = serde_json::to_value(e.geolocation.unwrap()).unwrap();
        assert_eq!(
            geo,
            json!({"ip_address": "81.2.69.142", "is_internal": false, "network": null,
                   "risk_level": "medium", "country": "GB", "city": "London"})
        );

        // Failures: the key left out, the reason kept with what was asked.
        let found = Found {
            session: Some(Answer::Failed("timed out after 50 ms".into())),
            resource: Some((json!(["client", "7"]), Answer::Failed("boom".into()))),
            place: Some(Err("/geo.mmdb: gone".into())),
        };
        let e = enrich(at, &ctx, &Settings::default(), found, &mut errors);
        assert_eq!((e.session_context, e.resource_context), (None, None));
        assert!(!e.session_ip_mismatch);
        let errors: Vec<_> = errors
            .iter()
            .map(|e| (e.key.as_str(), e.value.clone()))
            .collect();
        assert_eq!(
            errors,
            [
                ("geolocation", json!("81.2.69.142")),
                ("session_lookup", json!("s1")),
                ("resource_lookup", json!(["client", "7"]))
            ]
        );
        let found = Found {
            session: Some(Answer::NotFound),
            resource: Some((
                json!(["client", "7"]),
                Answer::Found(Rc::new(json!({"owner": "ops"}))),
            )),
            place: None,
        };
        let e = enrich(at, &ctx, &Settings::default(), found, &mut vec![]);
        assert_eq!(
            e.session_context,
            Some(json!({"is_active": false, "session_found": false}))
        );
        assert_eq!(
            e.resource_context,
            Some(json!({"owner": "ops", "resource_found": true}))
        );
    }
}
