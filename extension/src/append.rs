//! Appending one row to an audit table as COPY FROM does: the tuple straight into the table (for
//! a partitioned one, the partition its time falls in) and its indexes, with no statement to
//! plan, start and end. audit_log() writes three rows per event this way; an SPI statement for
//! them cost more than the inserts themselves.
//!
//! NOT NULL is checked here and CHECK constraints as the executor checks them, and a duplicate
//! in a unique index is an error, as in an INSERT. What the executor would also do is not
//! needed: the audit tables have no insert triggers, and audit_log() runs as their owner.

use pgrx::pg_sys::{self, Datum, Oid};
use std::cell::Cell;
use std::ffi::CStr;

thread_local! {
    /// (audit_events, event_ids, unsealed_events, audit_alerts), looked up once; dropped when
    /// any of them is.
    static TABLES: Cell<Option<[Oid; 4]>> = const { Cell::new(None) };
}

/// Registers the invalidation callback; once per backend, from `_PG_init`.
pub fn init() {
    unsafe extern "C-unwind" fn on_relcache(_arg: Datum, relid: Oid) {
        let ours = TABLES.with(Cell::get);
        if relid == pg_sys::InvalidOid || ours.is_some_and(|t| t.contains(&relid)) {
            TABLES.with(|t| t.set(None));
        }
    }
    // SAFETY: called from _PG_init, in the backend's main thread.
    unsafe { pg_sys::CacheRegisterRelcacheCallback(Some(on_relcache), Datum::from(0)) };
}

/// The oids of audit.audit_events, audit.event_ids, audit.unsealed_events and audit.audit_alerts.
pub fn tables() -> [Oid; 4] {
    if let Some(t) = TABLES.with(Cell::get) {
        return t;
    }
    let find = |name: &CStr| {
        // SAFETY: catalog look-ups by name; a missing schema raises an error.
        let oid = unsafe {
            pg_sys::get_relname_relid(
                name.as_ptr(),
                pg_sys::get_namespace_oid(c"audit".as_ptr(), false),
            )
        };
        if oid == pg_sys::InvalidOid {
            pgrx::error!("auditlog: audit.{} is missing", name.to_string_lossy());
        }
        oid
    };
    let t = [
        find(c"audit_events"),
        find(c"event_ids"),
        find(c"unsealed_events"),
        find(c"audit_alerts"),
    ];
    TABLES.with(|c| c.set(Some(t)));
    t
}

/// The partition of `parent` (locked) that holds `key`, a timestamptz, as the executor routes it:
/// the range whose lower bound is the greatest one at or below the key, else the default.
///
/// # Safety
/// `parent` must be an open, locked, range-partitioned relation on one timestamptz column.
unsafe fn partition_for(parent: pg_sys::Relation, key: i64) -> Oid {
    let desc = pg_sys::RelationGetPartitionDesc(parent, true);
    let bounds = (*desc).boundinfo;
    if bounds.is_null() {
        pgrx::error!("auditlog: audit.audit_events has no partition for this event");
    }
    let at_or_below = |i: usize| {
        match **(*bounds).kind.add(i) {
            pg_sys::PartitionRangeDatumKind::PARTITION_RANGE_DATUM_MINVALUE => true,
            pg_sys::PartitionRangeDatumKind::PARTITION_RANGE_DATUM_MAXVALUE => false,
            _ => (**(*bounds).datums.add(i)).value() as i64 <= key,
        }
    };
    // Bounds are sorted: count those at or below the key.
    let (mut lo, mut hi) = (0usize, (*bounds).ndatums as usize);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if at_or_below(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let index = match *(*bounds).indexes.add(lo) {
        -1 => (*bounds).default_index,
        i => i,
    };
    if index < 0 {
        pgrx::error!("auditlog: audit.audit_events has no partition for this event");
    }
    *(*desc).oids.add(index as usize)
}

/// Appends a row to table `relid`, its values in the table's column order; a partitioned table
/// routes it by `partition_key`, the row's timestamptz.
///
/// # Safety
/// `values` must hold datums of the columns' types (nulls where `nulls` says), alive for the call.
pub unsafe fn append(relid: Oid, values: &mut [Datum], nulls: &mut [bool], partition_key: Option<i64>) {
    let lock = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
    let table = pg_sys::table_open(relid, lock);
    let mut target = table;
    if let Some(key) = partition_key {
        // Locking the partition takes in any partition change made meanwhile: route again until
        // the partition locked is the one the key falls in.
        let mut leaf = partition_for(table, key);
        loop {
            target = pg_sys::table_open(leaf, lock);
            let now = partition_for(table, key);
            if now == leaf {
                break;
            }
            pg_sys::table_close(target, pg_sys::NoLock as pg_sys::LOCKMODE);
            leaf = now;
        }
    }
    let desc = (*table).rd_att;
    if (*desc).natts as usize != values.len() || values.len() != nulls.len() {
        pgrx::error!("auditlog: a row for {relid:?} has {} values", values.len());
    }
    for (i, null) in nulls.iter().enumerate() {
        let att = (*desc).attrs.as_ptr().add(i);
        if *null && (*att).attnotnull {
            pgrx::error!("auditlog: a row for {relid:?} has no value for a NOT NULL column");
        }
    }
    let mut tuple = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
    let target_desc = (*target).rd_att;
    if target != table {
        // A partition may order its columns otherwise (one attached as it was).
        let map = pg_sys::convert_tuples_by_name(desc, target_desc);
        if !map.is_null() {
            tuple = pg_sys::execute_attr_map_tuple(tuple, map);
        }
    }
    let estate = pg_sys::CreateExecutorState();
    let info = pg_sys::palloc0(size_of::<pg_sys::ResultRelInfo>()).cast::<pg_sys::ResultRelInfo>();
    pg_sys::InitResultRelInfo(info, target, 1, std::ptr::null_mut(), 0);
    let slot = pg_sys::MakeSingleTupleTableSlot(target_desc, &raw const pg_sys::TTSOpsHeapTuple);
    pg_sys::ExecStoreHeapTuple(tuple, slot, false);
    let constraints = (*target_desc).constr;
    if !constraints.is_null() && (*constraints).num_check > 0 {
        pg_sys::ExecConstraints(info, slot, estate);
    }
    pg_sys::heap_insert(target, tuple, pg_sys::GetCurrentCommandId(true), 0, std::ptr::null_mut());
    (*slot).tts_tid = (*tuple).t_self;
    pg_sys::ExecOpenIndices(info, false);
    pg_sys::ExecInsertIndexTuples(
        info,
        slot,
        estate,
        false,
        false,
        std::ptr::null_mut(),
        std::ptr::null_mut(),
    );
    pg_sys::ExecCloseIndices(info);
    pg_sys::ExecDropSingleTupleTableSlot(slot);
    pg_sys::FreeExecutorState(estate);
    if target != table {
        pg_sys::table_close(target, pg_sys::NoLock as pg_sys::LOCKMODE);
    }
    pg_sys::table_close(table, pg_sys::NoLock as pg_sys::LOCKMODE);
}
