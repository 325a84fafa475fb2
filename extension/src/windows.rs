//! The detection windows in shared memory (`auditlog_core::window`), so every backend counts
//! the events every other backend logged without reading the table per event.
//!
//! They live in a dynamic shared memory segment (`crate::shared_memory`), so they work the same
//! with or without `shared_preload_libraries`.
//! With `auditlog.detection_slots = 0`, or if the segment cannot be made, the rules count from
//! the table instead (`crate::detect`): slower, never wrong.
//!
//! A fixed array of windows, split into partitions each behind its own LWLock; a group's window
//! is found by probing a few slots from its key's hash. A new group takes an empty slot, else
//! one whose events can no longer count, else the least recently used.
//!
//! A group with no window needs no read of the table when the segment knows the group had no
//! events in the range a rule counts. Each rule version has a horizon (`crate::detect` works it
//! out when the rule is first seen): every event it counts after that time is recorded here as it
//! is logged. So a window is seeded from the table only when the range reaches back before the
//! horizon, or before the newest event of a window that one of the group's slots dropped while
//! it could still count (a group's window only ever lives in those slots).

use crate::shared_memory::{self, locked, PARTITIONS};
use auditlog_core::window::{slot_for_new, Window};
use pgrx::guc::GucSetting;
use pgrx::pg_sys;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::ffi::CString;

static SLOTS: GucSetting<i32> = GucSetting::<i32>::new(16384);

/// Rule versions remembered with their horizons; one forgotten is worked out anew.
const HORIZONS: usize = 256;

fn name() -> CString {
    let sizes = [size_of::<Header>(), size_of::<Window>()];
    shared_memory::segment_name("detection windows", 5, &sizes)
}

#[repr(C)]
#[derive(Clone, Copy)]
struct Horizon {
    rule: [u8; 16],
    from_us: i64,
}

/// The segment: this header (a lock per partition, and one for the horizons), then per slot the
/// newest time held by a window it dropped while that could still count, then the windows.
#[repr(C)]
struct Header {
    locks: [pg_sys::LWLockPadded; PARTITIONS + 1],
    horizons: [Horizon; HORIZONS],
    next_horizon: usize,
    slots: usize,
    /// When the segment was made; every transaction before the first had ended then, and
    /// every one from the second on began after.
    made_us: i64,
    oldest_running_xid: pg_sys::TransactionId,
    next_xid: pg_sys::TransactionId,
}

struct Table {
    header: *mut Header,
    lost_us: *mut i64,
    slots: *mut Window,
    count: usize,
}

/// Where the per-slot arrays of a segment of `slots` windows start.
///
/// # Safety
/// `header` must start a segment laid out for `slots` windows.
unsafe fn arrays(header: *mut Header, slots: usize) -> (*mut i64, *mut Window) {
    let lost = header.add(1).cast::<i64>();
    (lost, lost.add(slots).cast::<Window>())
}

thread_local! {
    /// This backend's mapping of the segment, once looked up (None: there is none to use).
    static TABLE: OnceCell<Option<Table>> = const { OnceCell::new() };
    /// The horizons this backend has used: fixed for the segment's life.
    static KNOWN: RefCell<HashMap<[u8; 16], i64>> = RefCell::new(HashMap::new());
}

pub fn init() {
    shared_memory::define_slots(
        c"auditlog.detection_slots",
        c"Detection windows kept in shared memory (about 430 bytes each); 0: none.",
        c"One per rule and user, address or correlation with recent events; read when the first \
          detection after server start makes them. With none, or more groups active than slots, \
          the detection rules read the table instead: slower, never wrong.",
        &SLOTS,
    );
}

/// Finds the segment, making it first if no backend has; None when there is none to use.
fn open() -> Option<Table> {
    let per_slot = size_of::<i64>() + size_of::<Window>();
    let (wanted, size) = shared_memory::sized(&SLOTS, size_of::<Header>(), per_slot);
    let init = |at: *mut u8, tranche: i32| {
        // SAFETY: a new segment of `size` bytes, laid out here for `wanted` windows.
        unsafe {
            let header = at.cast::<Header>();
            shared_memory::init_locks(&mut (*header).locks, tranche);
            (*header).horizons = [Horizon {
                rule: [0; 16],
                from_us: i64::MAX,
            }; HORIZONS];
            (*header).next_horizon = 0;
            (*header).slots = wanted;
            (*header).made_us = crate::store::now_us();
            (*header).oldest_running_xid = pg_sys::GetOldestActiveTransactionId();
            (*header).next_xid = pg_sys::ReadNextTransactionId();
            let (lost, slots) = arrays(header, wanted);
            for i in 0..wanted {
                lost.add(i).write(i64::MIN);
                slots.add(i).write(Window::EMPTY);
            }
        }
    };
    let header = shared_memory::segment(&name(), c"auditlog detection windows", size, init)?
        .cast::<Header>();
    // SAFETY: the segment was laid out for the windows it says it holds.
    unsafe {
        let slots = (*header).slots;
        let (lost_us, windows) = arrays(header, slots);
        Some(Table {
            header,
            lost_us,
            slots: windows,
            count: slots,
        })
    }
}

fn with_table<R>(f: impl FnOnce(Option<&Table>) -> R) -> R {
    TABLE.with(|t| f(t.get_or_init(open).as_ref()))
}

/// Whether the windows are in shared memory.
pub fn shared() -> bool {
    with_table(|t| t.is_some())
}

/// The horizon registered for a rule version (`rule`: the head of its fingerprint), if any.
pub fn horizon(rule: [u8; 16]) -> Option<i64> {
    if let Some(h) = KNOWN.with(|c| c.borrow().get(&rule).copied()) {
        return Some(h);
    }
    with_table(|table| {
        let header = table?.header;
        // SAFETY: the horizons are touched only under the last lock; nothing below raises.
        let h = unsafe {
            locked(&raw mut (*header).locks[PARTITIONS], || {
                (*header)
                    .horizons
                    .iter()
                    .find(|h| h.rule == rule)
                    .map(|h| h.from_us)
            })
        }?;
        KNOWN.with(|c| c.borrow_mut().insert(rule, h));
        Some(h)
    })
}

/// Registers a rule version's horizon, unless another backend did first; returns the one kept.
pub fn register_horizon(rule: [u8; 16], from_us: i64) -> i64 {
    let kept = with_table(|table| {
        let Some(table) = table else { return from_us };
        let header = table.header;
        // SAFETY: as in `horizon`.
        unsafe {
            locked(&raw mut (*header).locks[PARTITIONS], || {
                let h = &mut *header;
                if let Some(found) = h.horizons.iter().find(|x| x.rule == rule) {
                    return found.from_us;
                }
                // Forgotten, a rule is worked out anew later, knowing less: never wrong.
                h.horizons[h.next_horizon] = Horizon { rule, from_us };
                h.next_horizon = (h.next_horizon + 1) % HORIZONS;
                from_us
            })
        }
    });
    KNOWN.with(|c| c.borrow_mut().insert(rule, kept));
    kept
}

/// When the windows were made: no event logged before is in them.
pub fn made_us() -> i64 {
    // SAFETY: set once when the segment was made.
    with_table(|table| table.map_or(i64::MAX, |t| unsafe { (*t.header).made_us }))
}

/// Where transaction `xid` stands to the windows' making.
#[derive(PartialEq, Eq)]
pub enum Made {
    /// It had ended: everything logged since saw what it wrote.
    After,
    /// It began after: nothing it made was logged before.
    Before,
    Unknown,
}

pub fn made_relative_to(xid: u32) -> Made {
    with_table(|table| {
        let Some(t) = table else { return Made::Unknown };
        let xid = pg_sys::TransactionId::from_inner(xid);
        // SAFETY: set once when the segment was made; comparing ids reads nothing else.
        unsafe {
            if pg_sys::TransactionIdPrecedes(xid, (*t.header).oldest_running_xid) {
                Made::After
            } else if pg_sys::TransactionIdFollowsOrEquals(xid, (*t.header).next_xid) {
                Made::Before
            } else {
                Made::Unknown
            }
        }
    })
}

/// Runs `f` on the window of `key` under its partition's lock. A group with no window gets
/// `seed` or, when the segment knows the group had no events after `from_us` (the rule's horizon
/// is `known_from_us`), an empty one. None: shared memory is off, or the group must be seeded
/// from the table first. `f` runs under an LWLock: it must not fail.
pub fn with_window<R>(
    key: [u8; 16],
    known_from_us: i64,
    now_us: i64,
    from_us: i64,
    seed: Option<&Window>,
    window_us: i64,
    f: impl FnOnce(&mut Window) -> R,
) -> Option<R> {
    with_table(|table| {
        let table = table?;
        let hash = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let (partition, probes) = shared_memory::probes(hash, table.count);
        // SAFETY: the slots and horizon of a partition are touched only under its lock, and
        // nothing below raises an error.
        unsafe {
            let header = table.header;
            locked(&raw mut (*header).locks[partition], || {
                let slot = |i: usize| table.slots.add(i);
                if let Some(&i) = probes.iter().find(|&&i| (*slot(i)).key == key) {
                    let s = slot(i);
                    if let Some(seed) = seed {
                        // Another backend made it meanwhile: add what the seed knows.
                        seed.entries()
                            .iter()
                            .for_each(|e| (*s).record(*e, window_us));
                        (*s).mark_fired(seed.fired.at_us, seed.fired.xid);
                    }
                    return Some(f(&mut *s));
                }
                let lost = probes
                    .iter()
                    .map(|&i| *table.lost_us.add(i))
                    .max()
                    .unwrap_or(i64::MIN);
                let known_from = known_from_us.max(lost);
                let new = match seed {
                    Some(seed) => *seed,
                    None if from_us >= known_from => Window::new(key, known_from),
                    None => return None,
                };
                let (place, dropped) = slot_for_new(probes.iter().map(|&i| &*slot(i)), now_us)
                    .expect("a partition has slots");
                let i = probes[place];
                if let Some(t) = dropped {
                    *table.lost_us.add(i) = (*table.lost_us.add(i)).max(t);
                }
                let s = slot(i);
                s.write(new);
                Some(f(&mut *s))
            })
        }
    })
}
