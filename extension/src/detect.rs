//! Detection rules as events arrive (`audit.detection_rules`; what a rule says is decided in
//! `auditlog_core::detect`). Each rule counts an event's groups (its user, address or
//! correlation) in their windows: in shared memory (`crate::windows`), or, where there is none,
//! in windows this call seeds from the table. A window is seeded from the table only when the
//! shared ones cannot tell; when a window cannot tell, the table is counted instead.

use crate::spi_cache::prepared;
use crate::store::{pg_to_unix_us, unix_us_to_pg};
use auditlog_core::detect::{rules_from_json, Firing, Group, Measure, Rule, RuleSet};
use auditlog_core::event::Draft;
use auditlog_core::window::{Count, Entry, Outcome, Verdict, Window, CAPACITY};
use pgrx::datum::{JsonB, TimestampWithTimeZone};
use pgrx::pg_sys::{self, PgOid};
use pgrx::spi::{SpiClient, SpiResult};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

thread_local! {
    /// The enabled rules as this backend read them, until audit.detection_rules changes.
    static RULES: RefCell<Option<Rc<RuleSet>>> = const { RefCell::new(None) };
    static RULES_RELID: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
}

/// Registers the invalidation callback; once per backend, from `_PG_init`. A change to the
/// rules (its trigger) or dropping their table tells every backend to read them again.
pub fn init() {
    unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
        if relid == pg_sys::InvalidOid || relid == RULES_RELID.with(Cell::get) {
            RULES.with(|r| r.borrow_mut().take());
        }
    }
    // SAFETY: called from _PG_init, in the backend's main thread.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
}

/// The enabled rules, as committed when this call began.
pub fn rules(client: &SpiClient<'_>) -> SpiResult<Rc<RuleSet>> {
    // SAFETY: takes in the invalidations sent since, as taking a new lock would: a rule changed
    // by a transaction that committed before this call applies to this call's events.
    unsafe { pg_sys::AcceptInvalidationMessages() };
    if let Some(r) = RULES.with(|c| c.borrow().clone()) {
        return Ok(r);
    }
    // The scope: this database's audit table, which a new CREATE EXTENSION makes anew.
    let found = client.select(
        "SELECT coalesce(jsonb_agg(to_jsonb(r) || jsonb_build_object('row_version', r.xmin::text::bigint)), '[]'),
                (SELECT oid FROM pg_database WHERE datname = current_database()) || ':' ||
                'audit.audit_events'::regclass::oid,
                (SELECT xmin::text::bigint FROM pg_class WHERE oid = 'audit.audit_events'::regclass),
                'audit.detection_rules'::regclass::oid
           FROM audit.detection_rules r WHERE enabled",
        Some(1),
        &[],
    )?;
    let row = found.first();
    let rows = match row.get::<JsonB>(1)?.map(|j| j.0) {
        Some(serde_json::Value::Array(rows)) => rows,
        _ => Vec::new(),
    };
    let scope: String = row.get(2)?.unwrap_or_default();
    let scope_version = row.get::<i64>(3)?.unwrap_or_default() as u32;
    let relid = row.get::<pg_sys::Oid>(4)?.unwrap_or(pg_sys::InvalidOid);
    RULES_RELID.with(|r| r.set(relid));
    let parsed = Rc::new(
        rules_from_json(&scope, scope_version, rows).unwrap_or_else(|e| {
            pgrx::error!("audit.detection_rules holds a rule that cannot be read: {e}")
        }),
    );
    RULES.with(|c| *c.borrow_mut() = Some(parsed.clone()));
    Ok(parsed)
}

/// Since when the shared windows hold every event a rule version counts, worked out when the
/// version is first seen. Every call reads the rules as committed when it begins, so a version
/// misses only the events logged before it was committed, all before it is first seen (allowing
/// a second for the commit's invalidation to reach every backend). A version made with its
/// scope's audit table counts every event logged in the scope: it misses none if the table was
/// made after the windows, else only those logged before the windows were made, as does a
/// version committed before them.
fn horizon(set: &RuleSet, r: &Rule, now_us: i64) -> i64 {
    use crate::windows::{made_relative_to, Made};
    let key: [u8; 16] = r.fingerprint[..16].try_into().expect("16 of 32 bytes");
    if let Some(h) = crate::windows::horizon(key) {
        return h;
    }
    let with_table = r.row_version == set.scope_version;
    let from = match made_relative_to(r.row_version) {
        Made::Before if with_table => i64::MIN,
        _ if with_table => crate::windows::made_us(),
        Made::After => crate::windows::made_us(),
        _ => now_us.saturating_add(1_000_000),
    };
    crate::windows::register_horizon(key, from)
}

/// The windows of one audit_log() or audit_log_batch() call where there are none in shared
/// memory, each seeded from the table when the call first needs it.
#[derive(Default)]
pub struct Call {
    local: HashMap<[u8; 16], Window>,
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
    // The time range is written as (column, timestamp) row comparisons, which only the group's
    // (column, timestamp) index can use: the kept plan reads that index whatever the statistics
    // were when it was made (on a new table, the time index, or the user index for a count of
    // users, looked as cheap, and those read every recent event). The price: no partition is
    // pruned, one index descent each.
    let filter = format!(
        "{column} = $1{cast} AND ({column}, \"timestamp\") > ($1{cast}, $2)
         AND ({column}, \"timestamp\") <= ($1{cast}, $3) {of_types}"
    );
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

/// What became of the transaction that logged an entry.
fn outcome(xid: u32) -> Outcome {
    let xid = pg_sys::TransactionId::from_inner(xid);
    // SAFETY: reads the commit log; an xid older than the commit log's horizon finished long
    // ago (its status may be gone), and counts.
    unsafe {
        if pg_sys::TransactionIdPrecedes(xid, (*pg_sys::ShmemVariableCache).oldestClogXid) {
            Outcome::Committed
        } else if pg_sys::TransactionIdIsCurrentTransactionId(xid) {
            Outcome::Open
        } else if pg_sys::TransactionIdDidCommit(xid) {
            Outcome::Committed
        } else if pg_sys::TransactionIdDidAbort(xid) {
            Outcome::Aborted
        } else {
            Outcome::Open
        }
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
/// (and that the rule fired, if it did). `known_from_us`: the rule's horizon.
#[allow(clippy::too_many_arguments)]
fn judge(
    client: &SpiClient<'_>,
    call: &mut Call,
    r: &Rule,
    known_from_us: i64,
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
    // Under the window's lock: its settled state before this event, the verdict on it, whether
    // a burst was going on; the event recorded, and the firing if reached. Settled, every entry
    // left counts.
    let step = |w: &mut Window| {
        w.settle(outcome);
        let before = *w;
        if let Some(e) = entry {
            w.record(e, window_us);
        }
        let verdict = before.verdict(&count, |_| true);
        if verdict == Verdict::Reached {
            w.mark_fired(e.timestamp_us, xid);
        }
        (before, verdict, before.burst_going_on(&count, |_| true))
    };
    let shared = |seed: Option<&Window>, step: &dyn Fn(&mut Window) -> _| {
        crate::windows::with_window(
            key,
            known_from_us,
            now_us,
            count.from_us,
            seed,
            window_us,
            step,
        )
    };
    let (before, verdict, going_on) = if crate::windows::shared() {
        match shared(None, &step) {
            Some(found) => found,
            None => {
                let w = seed(client, r, group, key, count.from_us)?;
                shared(Some(&w), &step).expect("a seeded window is kept")
            }
        }
    } else {
        let local = match call.local.entry(key) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(seed(client, r, group, key, count.from_us)?)
            }
        };
        step(local)
    };
    let reached = match verdict {
        Verdict::Unknown => {
            let exact = exact(client, r, group, &count, &before)?;
            if exact == Verdict::Reached {
                let mark = |w: &mut Window| w.mark_fired(e.timestamp_us, xid);
                crate::windows::with_window(
                    key,
                    i64::MAX,
                    now_us,
                    count.from_us,
                    None,
                    window_us,
                    mark,
                );
                if let Some(local) = call.local.get_mut(&key) {
                    mark(local);
                }
            }
            exact
        }
        v => v,
    } == Verdict::Reached;
    Ok(match (reached, going_on) {
        (false, _) => Standing::Short,
        (true, true) => Standing::BurstGoingOn,
        (true, false) => Standing::NewBurst,
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
    // Settled, the window's entries all count.
    Ok(count.over(&entries, i64::MIN, |_| true))
}

/// The rules of `rules` that `draft` completes, counting it in each of its groups' windows on
/// the way.
pub fn fired<'r>(
    client: &SpiClient<'_>,
    call: &mut Call,
    rules: &'r RuleSet,
    draft: &Draft,
    now_us: i64,
) -> SpiResult<Vec<Firing<'r>>> {
    let e = &draft.event;
    let business_hours = draft.business_hours();
    // SAFETY: the event is about to be written in this transaction, which takes an xid.
    let xid = unsafe { pg_sys::GetCurrentTransactionId() }.into_inner();
    let mut fired = Vec::new();
    for rule in rules.rules.iter().filter(|r| r.counts(&e.event_type)) {
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
        let known_from = if crate::windows::shared() {
            horizon(rules, rule, now_us)
        } else {
            i64::MAX
        };
        let mut standings = Vec::new();
        for g in rule.groups(e) {
            standings.push(judge(
                client, call, rule, known_from, draft, &g, now_us, xid,
            )?);
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
