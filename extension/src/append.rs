//! Appending rows to the audit tables as COPY FROM does: each tuple straight into its table (for
//! a partitioned one, the partition its time falls in) and that table's indexes, with no
//! statement to plan, start and end. audit_log() writes three rows per event this way; an SPI
//! statement for them cost more than the inserts themselves. An [`Appender`] keeps the tables
//! and their indexes open for many rows, as a batch writes them.
//!
//! NOT NULL is checked here and CHECK constraints as the executor checks them, and a duplicate
//! in a unique index is an error, as in an INSERT. What the executor would also do is not
//! needed: the audit tables have no insert triggers, and audit_log() runs as their owner.

use pgrx::pg_sys::{self, Datum, Oid};
use std::cell::Cell;
use std::collections::HashMap;
use std::ffi::CStr;

thread_local! {
    /// (audit_events, event_ids, unsealed_events, audit_alerts, event_positions), looked up
    /// once; dropped when any of them is.
    static TABLES: Cell<Option<[Oid; 5]>> = const { Cell::new(None) };
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

/// The oids of audit.audit_events, audit.event_ids, audit.unsealed_events, audit.audit_alerts
/// and audit.event_positions.
pub fn tables() -> [Oid; 5] {
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
        find(c"event_positions"),
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
    let at_or_below = |i: usize| match **(*bounds).kind.add(i) {
        pg_sys::PartitionRangeDatumKind::PARTITION_RANGE_DATUM_MINVALUE => true,
        pg_sys::PartitionRangeDatumKind::PARTITION_RANGE_DATUM_MAXVALUE => false,
        _ => (**(*bounds).datums.add(i)).value() as i64 <= key,
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

const LOCK: pg_sys::LOCKMODE = pg_sys::RowExclusiveLock as pg_sys::LOCKMODE;
const NO_LOCK: pg_sys::LOCKMODE = pg_sys::NoLock as pg_sys::LOCKMODE;

/// A table rows go into, open with its indexes.
struct Target {
    rel: pg_sys::Relation,
    info: *mut pg_sys::ResultRelInfo,
    slot: *mut pg_sys::TupleTableSlot,
    check: bool,
    /// For a batch: the page being filled stays pinned from row to row, as COPY keeps it.
    bulk: pg_sys::BulkInsertState,
}

/// Tables open for appending, and the executor state their index inserts use. Open them for one
/// row or for a batch; [`Appender::finish`] closes them (an error instead leaves that to the
/// transaction's abort, as for any relation).
pub struct Appender {
    estate: *mut pg_sys::EState,
    many: bool,
    /// Tables named by the caller (a partitioned one too), and the partitions rows went to.
    opened: HashMap<Oid, pg_sys::Relation>,
    targets: HashMap<Oid, Target>,
}

impl Appender {
    /// For the rows of one event.
    pub fn new() -> Appender {
        Appender {
            // SAFETY: a memory context of its own, freed by finish().
            estate: unsafe { pg_sys::CreateExecutorState() },
            many: false,
            opened: HashMap::new(),
            targets: HashMap::new(),
        }
    }

    /// For the rows of many events, as a batch writes them.
    pub fn for_batch() -> Appender {
        Appender {
            many: true,
            ..Appender::new()
        }
    }

    fn open(&mut self, relid: Oid) -> pg_sys::Relation {
        // SAFETY: opens and locks as an INSERT would; kept until finish().
        *self
            .opened
            .entry(relid)
            .or_insert_with(|| unsafe { pg_sys::table_open(relid, LOCK) })
    }

    /// The table a row for `relid` goes into: the table itself, or the partition `key` falls in.
    fn target(&mut self, relid: Oid, key: Option<i64>) -> Oid {
        let table = self.open(relid);
        let Some(key) = key else { return relid };
        // SAFETY: the parent is open and locked. Locking the partition takes in any partition
        // change made meanwhile: route again until the partition locked is the one the key
        // falls in.
        unsafe {
            let mut leaf = partition_for(table, key);
            loop {
                self.open(leaf);
                let now = partition_for(table, key);
                if now == leaf {
                    return leaf;
                }
                leaf = now;
            }
        }
    }

    /// Appends a row to table `relid`, its values in the table's column order; a partitioned table
    /// routes it by `partition_key`, the row's timestamptz.
    ///
    /// # Safety
    /// `values` must hold datums of the columns' types (nulls where `nulls` says), alive for the
    /// call.
    pub unsafe fn append(
        &mut self,
        relid: Oid,
        values: &mut [Datum],
        nulls: &mut [bool],
        partition_key: Option<i64>,
    ) {
        let desc = (*self.open(relid)).rd_att;
        if (*desc).natts as usize != values.len() || values.len() != nulls.len() {
            pgrx::error!("auditlog: a row for {relid:?} has {} values", values.len());
        }
        for (i, null) in nulls.iter().enumerate() {
            if *null && (*(*desc).attrs.as_ptr().add(i)).attnotnull {
                pgrx::error!("auditlog: a row for {relid:?} has no value for a NOT NULL column");
            }
        }
        let into = self.target(relid, partition_key);
        let target = match self.targets.get(&into) {
            Some(t) => t,
            None => {
                // Kept with the executor state, whatever memory the caller resets meanwhile.
                let old = pg_sys::MemoryContextSwitchTo((*self.estate).es_query_cxt);
                let rel = self.opened[&into];
                let info = pg_sys::palloc0(size_of::<pg_sys::ResultRelInfo>())
                    .cast::<pg_sys::ResultRelInfo>();
                pg_sys::InitResultRelInfo(info, rel, 1, std::ptr::null_mut(), 0);
                pg_sys::ExecOpenIndices(info, false);
                let slot = pg_sys::MakeSingleTupleTableSlot(
                    (*rel).rd_att,
                    &raw const pg_sys::TTSOpsHeapTuple,
                );
                let constraints = (*(*rel).rd_att).constr;
                let check = !constraints.is_null() && (*constraints).num_check > 0;
                let bulk = if self.many {
                    pg_sys::GetBulkInsertState()
                } else {
                    std::ptr::null_mut()
                };
                pg_sys::MemoryContextSwitchTo(old);
                self.targets.entry(into).or_insert(Target {
                    rel,
                    info,
                    slot,
                    check,
                    bulk,
                })
            }
        };
        // Each row's tuple lives in the per-row memory, reset after it.
        let mut econtext = (*self.estate).es_per_tuple_exprcontext;
        if econtext.is_null() {
            econtext = pg_sys::MakePerTupleExprContext(self.estate);
        }
        let per_row = (*econtext).ecxt_per_tuple_memory;
        let old = pg_sys::MemoryContextSwitchTo(per_row);
        let mut tuple = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
        if into != relid {
            // A partition may order its columns otherwise (one attached as it was).
            let map = pg_sys::convert_tuples_by_name(desc, (*target.rel).rd_att);
            if !map.is_null() {
                tuple = pg_sys::execute_attr_map_tuple(tuple, map);
            }
        }
        pg_sys::ExecStoreHeapTuple(tuple, target.slot, false);
        if target.check {
            pg_sys::ExecConstraints(target.info, target.slot, self.estate);
        }
        pg_sys::heap_insert(
            target.rel,
            tuple,
            pg_sys::GetCurrentCommandId(true),
            0,
            target.bulk,
        );
        (*target.slot).tts_tid = (*tuple).t_self;
        pg_sys::ExecInsertIndexTuples(
            target.info,
            target.slot,
            self.estate,
            false,
            false,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        pg_sys::ExecClearTuple(target.slot);
        pg_sys::MemoryContextSwitchTo(old);
        pg_sys::MemoryContextReset(per_row);
    }

    /// Closes what was opened; the locks stay until the transaction ends, as an INSERT's do.
    pub fn finish(self) {
        // SAFETY: each opened once above, closed once here.
        unsafe {
            for t in self.targets.values() {
                pg_sys::ExecCloseIndices(t.info);
                pg_sys::ExecDropSingleTupleTableSlot(t.slot);
                if !t.bulk.is_null() {
                    pg_sys::FreeBulkInsertState(t.bulk);
                }
            }
            for rel in self.opened.values() {
                pg_sys::table_close(*rel, NO_LOCK);
            }
            pg_sys::FreeExecutorState(self.estate);
        }
    }
}
