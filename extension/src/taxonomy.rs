//! `audit.event_types`, cached in each backend and dropped whenever the table changes.
//!
//! Reading the taxonomy with SPI on every call cost more than the insert it classifies. The
//! trigger `audit.cached_table_changed` sends a relcache invalidation for the table on any change, which
//! every backend receives at its next transaction start (its own at the next command), so a DBA's
//! change still applies to the very next event in every session.

use auditlog_core::event::TaxonomyAnswer;
use auditlog_core::taxonomy::{family, EventClass};
use pgrx::pg_sys;
use pgrx::spi::{SpiClient, SpiResult};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

#[derive(Default)]
struct Taxonomy {
    types: HashMap<String, EventClass>,
    /// First dotted segment -> category of the first type (by name) of that family.
    families: HashMap<String, String>,
}

thread_local! {
    static CACHE: RefCell<Option<Taxonomy>> = const { RefCell::new(None) };
    static VALID: Cell<bool> = const { Cell::new(false) };
    static RELID: Cell<pg_sys::Oid> = const { Cell::new(pg_sys::InvalidOid) };
}

/// Registers the invalidation callback; once per backend, from `_PG_init`.
pub fn init() {
    unsafe extern "C-unwind" fn on_relcache(_arg: pg_sys::Datum, relid: pg_sys::Oid) {
        if relid == pg_sys::InvalidOid || relid == RELID.with(Cell::get) {
            VALID.with(|v| v.set(false));
        }
    }
    // SAFETY: called from _PG_init, in the backend's main thread.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), pg_sys::Datum::from(0)) };
}

const LOAD: &str = "
    SELECT event_type, category, subcategory, severity, compliance_relevance, retention_period,
           privacy_impact, security_relevance
      FROM audit.event_types ORDER BY event_type";

fn load(client: &SpiClient<'_>) -> SpiResult<Taxonomy> {
    let relid = client
        .select("SELECT 'audit.event_types'::regclass::oid", Some(1), &[])?
        .first()
        .get(1)?;
    RELID.with(|r| r.set(relid.unwrap_or(pg_sys::InvalidOid)));
    let mut t = Taxonomy::default();
    for row in client.select(LOAD, None, &[])? {
        let text = |i| row.get::<String>(i).map(Option::unwrap_or_default);
        let event_type = text(1)?;
        let class = EventClass {
            category: text(2)?,
            subcategory: text(3)?,
            severity: text(4)?,
            compliance_relevance: text(5)?,
            retention_period: row.get::<i32>(6)?.unwrap_or_default(),
            privacy_impact: text(7)?,
            security_relevance: text(8)?,
        };
        t.families
            .entry(family(&event_type).to_string())
            .or_insert_with(|| class.category.clone());
        t.types.insert(event_type, class);
    }
    Ok(t)
}

/// How the taxonomy classifies `event_type`.
pub fn answer(client: &SpiClient<'_>, event_type: &str) -> SpiResult<TaxonomyAnswer> {
    if !VALID.with(Cell::get) || CACHE.with(|c| c.borrow().is_none()) {
        // Marked valid before loading, so an invalidation that arrives meanwhile still counts.
        VALID.with(|v| v.set(true));
        let loaded = load(client)?;
        CACHE.with(|c| *c.borrow_mut() = Some(loaded));
    }
    Ok(CACHE.with(|c| {
        let c = c.borrow();
        let t = c.as_ref().expect("loaded above");
        match t.types.get(event_type) {
            Some(class) => TaxonomyAnswer::Known(class.clone()),
            None => TaxonomyAnswer::Unknown {
                sibling_category: t.families.get(family(event_type)).cloned(),
            },
        }
    }))
}
