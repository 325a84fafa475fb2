//! The detection windows in shared memory (`auditlog_core::window`), so every backend counts
//! the events every other backend logged without reading the table per event. Present when
//! auditlog is in `shared_preload_libraries`, sized by `auditlog.detection_slots`; without it,
//! the rules count from the table (`crate::detect`).
//!
//! A fixed array of windows, split into partitions each behind its own LWLock; a group's window
//! is found by probing a few slots from its key's hash. A new group takes an empty slot, else
//! one whose events can no longer count, else the one that expires first: dropping a window
//! loses nothing, as it is seeded again from the table when next needed.

use auditlog_core::window::Window;
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use std::ffi::CStr;

static SLOTS: GucSetting<i32> = GucSetting::<i32>::new(16384);

const PARTITIONS: usize = 16;
const PROBES: usize = 8;
const NAME: &CStr = c"auditlog detection windows";

struct Table {
    slots: *mut Window,
    per_partition: usize,
    locks: *mut pg_sys::LWLockPadded,
}

/// Set in the postmaster's shared-memory start-up and inherited by every backend it forks.
static mut TABLE: Option<Table> = None;
static mut PREV_REQUEST: pg_sys::shmem_request_hook_type = None;
static mut PREV_STARTUP: pg_sys::shmem_startup_hook_type = None;

fn slot_count() -> usize {
    let n = SLOTS.get().max(0) as usize;
    n.div_ceil(PARTITIONS) * PARTITIONS
}

/// Registers the setting and the shared memory; only while shared_preload_libraries loads.
pub fn init() {
    // SAFETY: a flag the postmaster sets while it loads shared_preload_libraries.
    if !unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        return;
    }
    GucRegistry::define_int_guc(
        c"auditlog.detection_slots",
        c"Detection windows kept in shared memory (about 400 bytes each); 0: none.",
        c"One per rule and user, address or correlation with recent events. With none, or more \
          groups active than slots, the detection rules read the table instead: slower, never wrong.",
        &SLOTS,
        0,
        1 << 22,
        GucContext::Postmaster,
        GucFlags::default(),
    );
    // SAFETY: hooks are chained during preload, in the postmaster, before any backend exists.
    unsafe {
        PREV_REQUEST = pg_sys::shmem_request_hook;
        pg_sys::shmem_request_hook = Some(request);
        PREV_STARTUP = pg_sys::shmem_startup_hook;
        pg_sys::shmem_startup_hook = Some(startup);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn request() {
    if let Some(prev) = PREV_REQUEST {
        prev();
    }
    if slot_count() > 0 {
        pg_sys::RequestAddinShmemSpace(slot_count() * size_of::<Window>());
        pg_sys::RequestNamedLWLockTranche(NAME.as_ptr(), PARTITIONS as i32);
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn startup() {
    if let Some(prev) = PREV_STARTUP {
        prev();
    }
    let n = slot_count();
    if n == 0 {
        return;
    }
    let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock; // AddinShmemInitLock
    pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
    let mut found = false;
    let slots = pg_sys::ShmemInitStruct(NAME.as_ptr(), n * size_of::<Window>(), &mut found)
        .cast::<Window>();
    if !found {
        for i in 0..n {
            slots.add(i).write(Window::EMPTY);
        }
    }
    TABLE = Some(Table {
        slots,
        per_partition: n / PARTITIONS,
        locks: pg_sys::GetNamedLWLockTranche(NAME.as_ptr()),
    });
    pg_sys::LWLockRelease(init_lock);
}

fn table() -> Option<&'static Table> {
    let table: *const Option<Table> = &raw const TABLE;
    // SAFETY: written once in the postmaster before this backend was forked, read-only since.
    unsafe { (*table).as_ref() }
}

/// Whether the windows are in shared memory.
pub fn shared() -> bool {
    table().is_some()
}

/// Runs `f` on the window of `key` under its partition's lock; the window is made from `seed`
/// if there is none (merged into it if another backend made one meanwhile). None: shared memory
/// is off, or there is no window and no seed. `f` runs under an LWLock: it must not fail.
pub fn with_window<R>(
    key: [u8; 16],
    now_us: i64,
    seed: Option<&Window>,
    window_us: i64,
    f: impl FnOnce(&mut Window) -> R,
) -> Option<R> {
    let table = table()?;
    let hash = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
    let partition = (hash % PARTITIONS as u64) as usize;
    let start = ((hash / PARTITIONS as u64) % table.per_partition as u64) as usize;
    // SAFETY: the lock is the partition's, from the tranche requested at start-up; the slots
    // of a partition are touched only under its lock, and nothing below can raise an error.
    unsafe {
        let lock = &raw mut (*table.locks.add(partition)).lock;
        pg_sys::LWLockAcquire(lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let base = table.slots.add(partition * table.per_partition);
        let probes = (0..PROBES.min(table.per_partition))
            .map(|i| base.add((start + i) % table.per_partition));
        let slot = match (probes.clone().find(|&s| (*s).key == key), seed) {
            (Some(s), Some(seed)) => {
                for e in seed.entries() {
                    (*s).record(*e, window_us);
                }
                (*s).mark_fired(seed.fired.at_us, seed.fired.xid);
                Some(s)
            }
            (Some(s), None) => Some(s),
            (None, Some(seed)) => {
                let free = probes
                    .min_by_key(|&s| {
                        if (*s).is_empty_slot() || (*s).expires_us < now_us {
                            i64::MIN
                        } else {
                            (*s).expires_us
                        }
                    })
                    .expect("a partition has slots");
                free.write(*seed);
                Some(free)
            }
            (None, None) => None,
        };
        let out = slot.map(|s| f(&mut *s));
        pg_sys::LWLockRelease(lock);
        out
    }
}
