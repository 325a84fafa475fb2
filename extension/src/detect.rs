//! Detection rules as events arrive (`audit.detection_rules`; what a rule says is decided in
//! `auditlog_core::detect`). For each rule an event falls under, the recent events of its user,
//! address or correlation are fetched (one query per kind, only when a rule needs it), together
//! with the events earlier in the same batch.

use crate::spi_cache::prepared;
use crate::store::{pg_to_unix_us, unix_us_to_pg};
use auditlog_core::detect::{escalate, GroupBy, Measure, Rule, Seen};
use auditlog_core::event::Built;
use pgrx::datum::{JsonB, TimestampWithTimeZone};
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{SpiClient, SpiResult};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

thread_local! {
    /// The enabled rules, read again at most once a second: a DBA's change applies within one.
    static RULES: RefCell<Option<(Instant, Rc<Vec<Rule>>)>> = const { RefCell::new(None) };
}

fn rules(client: &SpiClient<'_>) -> SpiResult<Rc<Vec<Rule>>> {
    if let Some(r) = RULES.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(1))
            .map(|(_, r)| r.clone())
    }) {
        return Ok(r);
    }
    let json: Option<JsonB> = client
        .select(
            "SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]') FROM audit.detection_rules r WHERE enabled",
            Some(1),
            &[],
        )?
        .first()
        .get(1)?;
    let parsed: Vec<Rule> = serde_json::from_value(json.map(|j| j.0).unwrap_or_default())
        .unwrap_or_else(|e| {
            pgrx::error!("audit.detection_rules holds a rule that cannot be read: {e}")
        });
    let parsed = Rc::new(parsed);
    RULES.with(|c| *c.borrow_mut() = Some((Instant::now(), parsed.clone())));
    Ok(parsed)
}

/// The newest events (at most `limit`) sharing `column` with the event within `window_s` before
/// it, of `types`: enough to tell whether a threshold of `limit` is reached, read through the
/// partition's (column, timestamp) index.
#[allow(clippy::too_many_arguments)]
fn history(
    client: &SpiClient<'_>,
    column: &str,
    value: pgrx::datum::DatumWithOid<'_>,
    value_type: PgOid,
    at_us: i64,
    window_s: i64,
    types: Option<Vec<String>>,
    limit: i64,
) -> SpiResult<Vec<Seen>> {
    let cast = if column == "ip_address" { "::inet" } else { "" };
    let of_types = if types.is_some() {
        "AND event_type = ANY ($4)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT \"timestamp\", event_type, user_id, host(ip_address), correlation_id, event_id
           FROM audit.audit_events
          WHERE {column} = $1{cast} AND \"timestamp\" > $2 AND \"timestamp\" <= $3 {of_types}
          ORDER BY \"timestamp\" DESC LIMIT {limit}"
    );
    let ts = PgOid::BuiltIn(pg_sys::BuiltinOid::TIMESTAMPTZOID);
    let mut arg_types = vec![value_type, ts, ts];
    let mut args = vec![
        value,
        unix_us_to_pg(at_us - window_s * 1_000_000).into(),
        unix_us_to_pg(at_us).into(),
    ];
    if let Some(t) = types {
        arg_types.push(PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTARRAYOID));
        args.push(t.into());
    }
    let plan = prepared(client, &sql, &arg_types)?;
    client
        .select(&*plan, None, &args)?
        .map(|r| {
            Ok(Seen {
                event_id: uuid::Uuid::from_bytes(
                    *r.get::<pgrx::datum::Uuid>(6)?.expect("NOT NULL").as_bytes(),
                ),
                timestamp_us: pg_to_unix_us(r.get::<TimestampWithTimeZone>(1)?.expect("NOT NULL")),
                event_type: r.get::<String>(2)?.unwrap_or_default(),
                user_id: r.get::<i64>(3)?,
                ip_address: r.get::<String>(4)?,
                correlation_id: r.get::<String>(5)?.unwrap_or_default(),
            })
        })
        .collect()
}

/// The users a correlation has had (audit.correlation_metadata keeps them), as one stand-in
/// event each at the current event's time.
fn correlation_users(client: &SpiClient<'_>, current: &Seen) -> SpiResult<Vec<Seen>> {
    let plan = prepared(
        client,
        "SELECT user_ids FROM audit.correlation_metadata WHERE correlation_id = $1",
        &[PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTOID)],
    )?;
    let rows = client.select(&*plan, Some(1), &[current.correlation_id.as_str().into()])?;
    let users: Vec<i64> = if rows.is_empty() {
        Vec::new()
    } else {
        rows.first().get::<Vec<i64>>(1)?.unwrap_or_default()
    };
    Ok(users
        .into_iter()
        .map(|u| Seen {
            event_id: uuid::Uuid::from_u128(u as u128),
            user_id: Some(u),
            ..current.clone()
        })
        .collect())
}

/// The stored events rule `r` looks at for `current`: each rule its own window, types and
/// threshold, so it reads little; users of a correlation come from its roll-up.
fn stored_for(client: &SpiClient<'_>, r: &Rule, current: &Seen) -> SpiResult<Vec<Seen>> {
    if r.measure == Measure::DistinctUsers {
        return correlation_users(client, current);
    }
    let (text, int8) = (
        PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTOID),
        PgOid::BuiltIn(pg_sys::BuiltinOid::INT8OID),
    );
    let fetch = |column: &str, value: pgrx::datum::DatumWithOid<'_>, value_type| {
        history(
            client,
            column,
            value,
            value_type,
            current.timestamp_us,
            r.window_seconds,
            r.event_types.clone(),
            r.threshold,
        )
    };
    let mut out = Vec::new();
    if matches!(r.group_by, GroupBy::User | GroupBy::UserOrIp) {
        if let Some(user) = current.user_id {
            out.extend(fetch("user_id", user.into(), int8)?);
        }
    }
    if matches!(r.group_by, GroupBy::IpAddress | GroupBy::UserOrIp) {
        if let Some(ip) = &current.ip_address {
            out.extend(fetch("ip_address", ip.as_str().into(), text)?);
        }
    }
    if r.group_by == GroupBy::Correlation {
        out.extend(fetch(
            "correlation_id",
            current.correlation_id.as_str().into(),
            text,
        )?);
    }
    Ok(out)
}

/// Applies the rules the event completes (see `auditlog_core::detect::escalate`), counting the
/// stored events and `batch` (the events before it in the same call), then adds it to `batch`.
pub fn apply(client: &SpiClient<'_>, b: &mut Built, batch: &mut Vec<Seen>) -> SpiResult<()> {
    let e = &b.event;
    let current = Seen {
        event_id: e.event_id,
        timestamp_us: e.timestamp_us,
        event_type: e.event_type.clone(),
        user_id: e.user_id,
        ip_address: e.ip_address.clone(),
        correlation_id: e.correlation_id.clone(),
    };
    let business_hours = e.enrichment_data["temporal_context"]["is_business_hours"]
        .as_bool()
        .unwrap_or(true);
    let rules = rules(client)?;
    let applicable: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.applies(&e.event_type, business_hours))
        .collect();
    let mut fired = Vec::new();
    for r in applicable {
        let mut seen = stored_for(client, r, &current)?;
        // Fetched by user and by address, an event counts once.
        seen.sort_by_key(|s| s.event_id);
        seen.dedup_by_key(|s| s.event_id);
        if r.fires(&current, &seen, batch) {
            fired.push(r);
        }
    }
    escalate(b, &fired);
    batch.push(current);
    Ok(())
}
