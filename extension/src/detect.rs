//! Detection rules as events arrive (`audit.detection_rules`; what a rule says is decided in
//! `auditlog_core::detect`). Each rule counts an event's groups (its user, address or
//! correlation) in their windows: in shared memory when auditlog is preloaded
//! (`crate::windows`), else in windows this call seeds from the table. A window is seeded from
//! the table once; when it cannot tell, the table is counted instead.

use crate::spi_cache::prepared;
use crate::store::{pg_to_unix_us, unix_us_to_pg};
use auditlog_core::detect::{rules_from_json, Firing, Group, Measure, Rule};
use auditlog_core::event::Draft;
use auditlog_core::window::{Count, Entry, Verdict, Window, CAPACITY};
use pgrx::datum::{JsonB, TimestampWithTimeZone};
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{SpiClient, SpiResult};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

thread_local! {
    /// The enabled rules, read again at most once a second: a DBA's change applies within one.
    static RULES: RefCell<Option<(Instant, Rc<Vec<Rule>>)>> = const { RefCell::new(None) };
}

/// The enabled rules, as this backend last read them.
pub fn rules(client: &SpiClient<'_>) -> SpiResult<Rc<Vec<Rule>>> {
    if let Some(r) = RULES.with(|c| {
        c.borrow()
            .as_ref()
            .filter(|(at, _)| at.elapsed() < Duration::from_secs(1))
            .map(|(_, r)| r.clone())
    }) {
        return Ok(r);
    }
    // The scope: this database's audit table, which a new CREATE EXTENSION makes anew.
    let found = client.select(
        "SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]'),
                (SELECT oid FROM pg_database WHERE datname = current_database()) || ':' ||
                'audit.audit_events'::regclass::oid
           FROM audit.detection_rules r WHERE enabled",
        Some(1),
        &[],
    )?;
    let (rows, scope): (Option<JsonB>, Option<String>) = found.first().get_two()?;
    let rows = match rows.map(|j| j.0) {
        Some(serde_json::Value::Array(rows)) => rows,
        _ => Vec::new(),
    };
    let parsed = Rc::new(
        rules_from_json(&scope.unwrap_or_default(), rows).unwrap_or_else(|e| {
            pgrx::error!("audit.detection_rules holds a rule that cannot be read: {e}")
        }),
    );
    RULES.with(|c| *c.borrow_mut() = Some((Instant::now(), parsed.clone())));
    Ok(parsed)
}

/// The windows of one audit_log() or audit_log_batch() call: the shared ones hold every
/// backend's events; these hold this call's (and, without shared memory, the table's seed).
/// With shared memory, only a call of several events keeps its own: for a window evicted and
/// seeded again from the table before its earlier events are written.
#[derive(Default)]
pub struct Call {
    local: HashMap<[u8; 16], Window>,
    several: bool,
}

impl Call {
    pub fn for_batch() -> Call {
        Call {
            several: true,
            ..Call::default()
        }
    }
}

/// The newest events (at most `limit`) of `group` in (`from_us`, `to_us`] that rule `r`
/// counts, as window entries (for a count of users, each user's latest), each with whether the
/// rule fired on it; read through the partitions' (column, timestamp) indexes.
fn stored(
    client: &SpiClient<'_>,
    r: &Rule,
    group: &Group,
    from_us: i64,
    to_us: i64,
    limit: usize,
) -> SpiResult<Vec<(Entry, bool)>> {
    let column = group.column();
    let cast = if column == "ip_address" { "::inet" } else { "" };
    let of_types = if r.event_types.is_some() {
        "AND event_type = ANY ($5)"
    } else {
        ""
    };
    let filter =
        format!("{column} = $1{cast} AND \"timestamp\" > $2 AND \"timestamp\" <= $3 {of_types}");
    let sql = match r.measure {
        Measure::Events => format!(
            "SELECT \"timestamp\", event_id, user_id, classification -> 'tags' ? $4
               FROM audit.audit_events WHERE {filter} ORDER BY \"timestamp\" DESC LIMIT {limit}"
        ),
        Measure::DistinctUsers => format!(
            "SELECT * FROM (SELECT DISTINCT ON (user_id) \"timestamp\", event_id, user_id,
                                   classification -> 'tags' ? $4
                              FROM audit.audit_events WHERE {filter} AND user_id IS NOT NULL
                             ORDER BY user_id, \"timestamp\" DESC) u
              ORDER BY \"timestamp\" DESC LIMIT {limit}"
        ),
    };
    let ts = PgOid::BuiltIn(pg_sys::BuiltinOid::TIMESTAMPTZOID);
    let text = PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTOID);
    let (value, value_type) = match *group {
        Group::User(u) => (u.into(), PgOid::BuiltIn(pg_sys::BuiltinOid::INT8OID)),
        Group::IpAddress(ip) => (ip.into(), text),
        Group::Correlation(c) => (c.into(), text),
    };
    let mut arg_types = vec![value_type, ts, ts, text];
    let tag = format!("rule:{}", r.rule_id);
    let mut args = vec![
        value,
        unix_us_to_pg(from_us).into(),
        unix_us_to_pg(to_us).into(),
        tag.as_str().into(),
    ];
    if let Some(t) = &r.event_types {
        arg_types.push(PgOid::BuiltIn(pg_sys::BuiltinOid::TEXTARRAYOID));
        args.push(t.clone().into());
    }
    let plan = prepared(client, &sql, &arg_types)?;
    client
        .select(&*plan, None, &args)?
        .map(|row| {
            let at_us = pg_to_unix_us(row.get::<TimestampWithTimeZone>(1)?.expect("NOT NULL"));
            let id = uuid::Uuid::from_bytes(
                *row.get::<pgrx::datum::Uuid>(2)?
                    .expect("NOT NULL")
                    .as_bytes(),
            );
            let fired = row.get::<bool>(4)?.unwrap_or(false);
            Ok(r.key_of(id, row.get::<i64>(3)?)
                .map(|key| (Entry { at_us, key, xid: 0 }, fired)))
        })
        .filter_map(Result::transpose)
        .collect()
}

/// The latest time the table could be read up to: far enough for any event's time.
const END_OF_TIME_US: i64 = 9_000_000_000_000_000;

/// A new window for `group`, from the table's newest events that can still count from `from_us`.
fn seed(
    client: &SpiClient<'_>,
    r: &Rule,
    group: &Group,
    key: [u8; 16],
    from_us: i64,
) -> SpiResult<Window> {
    let rows = stored(client, r, group, from_us, END_OF_TIME_US, CAPACITY)?;
    // Read in full, it knows everything after from_us; cut at CAPACITY, only after its oldest.
    let unknown_upto = if rows.len() < CAPACITY {
        from_us
    } else {
        rows.iter().map(|(e, _)| e.at_us).min().unwrap_or(from_us)
    };
    let mut w = Window::new(key, unknown_upto);
    for (e, fired) in rows {
        w.record(e, r.window_us());
        if fired {
            w.mark_fired(e.at_us, 0);
        }
    }
    Ok(w)
}

/// Whether an entry's transaction has committed or may still: rolled-back events do not count.
fn live(xid: u32) -> bool {
    let xid = pg_sys::TransactionId::from_inner(xid);
    // SAFETY: reads the commit log; an xid older than the commit log's horizon finished long
    // ago (its status may be gone), and counts.
    unsafe {
        xid == pg_sys::InvalidTransactionId
            || pg_sys::TransactionIdPrecedes(xid, (*pg_sys::ShmemVariableCache).oldestClogXid)
            || !pg_sys::TransactionIdDidAbort(xid)
    }
}

/// How a rule stands in one of the event's groups.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Standing {
    Short,
    /// Reached, the rule having already fired in the group within its window.
    BurstGoingOn,
    NewBurst,
}

/// Where rule `r` stands for `draft` in one group, recording the event in the group's window
/// (and that the rule fired, if it did).
fn judge(
    client: &SpiClient<'_>,
    call: &mut Call,
    r: &Rule,
    draft: &Draft,
    group: &Group,
    now_us: i64,
    xid: u32,
) -> SpiResult<Standing> {
    let e = &draft.event;
    let key = r.group_key(group);
    let count = r.count(e);
    let entry = r.entry(e, xid);
    let window_us = r.window_us();
    let record = |w: &mut Window| {
        let before = *w;
        if let Some(e) = entry {
            w.record(e, window_us);
        }
        before
    };
    let before = if crate::windows::shared() {
        let before = match crate::windows::with_window(key, now_us, None, window_us, record) {
            Some(w) => w,
            None => {
                // This call's own earlier events are not in the table yet: add them.
                let mut w = seed(client, r, group, key, count.from_us)?;
                if let Some(mine) = call.local.get(&key) {
                    mine.entries().iter().for_each(|m| w.record(*m, window_us));
                    w.mark_fired(mine.fired.at_us, mine.fired.xid);
                }
                crate::windows::with_window(key, now_us, Some(&w), window_us, record)
                    .expect("a seeded window is kept")
            }
        };
        if call.several {
            record(
                call.local
                    .entry(key)
                    .or_insert_with(|| Window::new(key, i64::MIN)),
            );
        }
        before
    } else {
        let local = match call.local.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(seed(client, r, group, key, count.from_us)?)
            }
        };
        record(local)
    };
    let reached = match before.verdict(&count, live) {
        Verdict::Unknown => exact(client, r, group, &count, &before)?,
        v => v,
    } == Verdict::Reached;
    if !reached {
        return Ok(Standing::Short);
    }
    let mark = |w: &mut Window| w.mark_fired(e.timestamp_us, xid);
    crate::windows::with_window(key, now_us, None, window_us, mark);
    if let Some(local) = call.local.get_mut(&key) {
        mark(local);
    }
    Ok(if before.burst_going_on(&count, live) {
        Standing::BurstGoingOn
    } else {
        Standing::NewBurst
    })
}

/// The count from the table itself, with the window's events not yet committed.
fn exact(
    client: &SpiClient<'_>,
    r: &Rule,
    group: &Group,
    count: &Count,
    window: &Window,
) -> SpiResult<Verdict> {
    let mut entries: Vec<Entry> = stored(
        client,
        r,
        group,
        count.from_us,
        count.at_us,
        count.needed + 1,
    )?
    .into_iter()
    .map(|(e, _)| e)
    .collect();
    entries.extend_from_slice(window.entries());
    // The same event (or user) read and remembered counts once, at its latest.
    entries.sort_by_key(|e| (e.key, std::cmp::Reverse(e.at_us)));
    entries.dedup_by_key(|e| e.key);
    Ok(count.over(&entries, i64::MIN, live))
}

/// The rules of `rules` that `draft` completes, counting it in each of its groups' windows on
/// the way.
pub fn fired<'r>(
    client: &SpiClient<'_>,
    call: &mut Call,
    rules: &'r [Rule],
    draft: &Draft,
    now_us: i64,
) -> SpiResult<Vec<Firing<'r>>> {
    let e = &draft.event;
    let business_hours = draft.business_hours();
    // SAFETY: the event is about to be written in this transaction, which takes an xid.
    let xid = unsafe { pg_sys::GetCurrentTransactionId() }.into_inner();
    let mut fired = Vec::new();
    for rule in rules.iter().filter(|r| r.counts(&e.event_type)) {
        let applies = rule.applies(&e.event_type, business_hours);
        if !rule.needs_history(e) {
            if applies {
                fired.push(Firing {
                    rule,
                    new_burst: true,
                });
            }
            continue;
        }
        let mut standings = Vec::new();
        for g in rule.groups(e) {
            standings.push(judge(client, call, rule, draft, &g, now_us, xid)?);
        }
        if applies && standings.iter().any(|s| *s != Standing::Short) {
            fired.push(Firing {
                rule,
                new_burst: standings.contains(&Standing::NewBurst),
            });
        }
    }
    Ok(fired)
}
