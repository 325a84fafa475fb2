//! Dynamic shared memory segments that work the same with or without
//! `shared_preload_libraries`: the first backend to need one makes it and pins it until the
//! server stops; every other finds it through a small record in the server's main shared memory
//! (`ShmemInitStruct`, which has room for it whether or not auditlog is preloaded).

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use std::ffi::{CStr, CString};

/// A segment's fixed array is split into partitions, each behind its own LWLock.
pub const PARTITIONS: usize = 16;
/// Slots probed for one key, from its hash.
const PROBES: usize = 8;

/// A segment's name: bump `layout` when it changes; the sizes of what it holds change the name
/// too.
pub fn segment_name(what: &str, layout: u32, sizes: &[usize]) -> CString {
    let sizes: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    CString::new(format!(
        "auditlog {what} (layout {layout}, {})",
        sizes.join(" + ")
    ))
    .expect("no NUL")
}

/// Defines the setting `name` for how many slots a segment holds: read when the segment is
/// made, the first time one is needed after the server starts.
pub fn define_slots(
    name: &'static CStr,
    short: &'static CStr,
    long: &'static CStr,
    setting: &'static GucSetting<i32>,
) {
    GucRegistry::define_int_guc(
        name,
        short,
        long,
        setting,
        0,
        1 << 22,
        GucContext::Sighup,
        GucFlags::default(),
    );
}

/// The slots `setting` asks for, rounded up to whole partitions, and the bytes of a segment
/// of them: `header` then `per_slot` bytes each (0 for none).
pub fn sized(setting: &GucSetting<i32>, header: usize, per_slot: usize) -> (usize, usize) {
    let slots = (setting.get().max(0) as usize).div_ceil(PARTITIONS) * PARTITIONS;
    (
        slots,
        if slots == 0 {
            0
        } else {
            header + slots * per_slot
        },
    )
}

/// Initialises a new segment's partition locks (and any after them) in `tranche`.
///
/// # Safety
/// `locks` must be in the new segment, not yet seen by any other backend.
pub unsafe fn init_locks(locks: &mut [pg_sys::LWLockPadded], tranche: i32) {
    for lock in locks {
        // SAFETY: as the caller promises.
        unsafe { pg_sys::LWLockInitialize(&raw mut lock.lock, tranche) };
    }
}

/// The partition a key of `hash` lives in among `slots`, and the slots probed for it in order.
pub fn probes(hash: u64, slots: usize) -> (usize, Vec<usize>) {
    let per_partition = slots / PARTITIONS;
    let partition = (hash % PARTITIONS as u64) as usize;
    let start = ((hash / PARTITIONS as u64) % per_partition as u64) as usize;
    let first = partition * per_partition;
    let probes = (0..PROBES.min(per_partition))
        .map(|i| first + (start + i) % per_partition)
        .collect();
    (partition, probes)
}

/// In the main shared memory: where the segment is. `handle` is DSM_HANDLE_INVALID until made.
#[repr(C)]
struct Registry {
    handle: pg_sys::dsm_handle,
    tranche: i32,
}

/// The segment registered as `name`, mapped for the backend's life. If no backend has made it,
/// it is made with `size` bytes and `init` (given its address and the LWLock tranche for its
/// locks). None when it cannot be made, or none is made and `size` is 0.
///
/// A build that lays a segment out differently must register it under another name, so that it
/// never reads a segment an older build made (a new library can load while the server runs).
pub fn segment(
    name: &CStr,
    tranche_name: &'static CStr,
    size: usize,
    init: impl FnOnce(*mut u8, i32),
) -> Option<*mut u8> {
    // SAFETY: AddinShmemInitLock serialises every backend's look-up and the one that makes the
    // segment; nothing between acquire and release returns without releasing it, and an error
    // raised in between releases it as the transaction aborts.
    unsafe {
        let init_lock = &raw mut (*pg_sys::MainLWLockArray.add(21)).lock; // AddinShmemInitLock
        pg_sys::LWLockAcquire(init_lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let mut found = false;
        let registry = pg_sys::ShmemInitStruct(name.as_ptr(), size_of::<Registry>(), &mut found)
            .cast::<Registry>();
        if !found {
            registry.write(Registry {
                handle: pg_sys::DSM_HANDLE_INVALID,
                tranche: 0,
            });
        }
        let segment = if (*registry).handle != pg_sys::DSM_HANDLE_INVALID {
            let handle = (*registry).handle;
            let mapped = pg_sys::dsm_find_mapping(handle);
            if mapped.is_null() {
                pg_sys::dsm_attach(handle)
            } else {
                mapped
            }
        } else if size > 0 {
            let segment = pg_sys::dsm_create(size, pg_sys::DSM_CREATE_NULL_IF_MAXSEGMENTS as i32);
            if !segment.is_null() {
                let tranche = pg_sys::LWLockNewTrancheId();
                init(pg_sys::dsm_segment_address(segment).cast(), tranche);
                pg_sys::dsm_pin_segment(segment);
                registry.write(Registry {
                    handle: pg_sys::dsm_segment_handle(segment),
                    tranche,
                });
            }
            segment
        } else {
            std::ptr::null_mut()
        };
        if !segment.is_null() {
            // Kept mapped for the backend's life, not the transaction's.
            pg_sys::dsm_pin_mapping(segment);
        }
        let tranche = (*registry).tranche;
        pg_sys::LWLockRelease(init_lock);
        if segment.is_null() {
            return None;
        }
        // The tranche's name must outlive the backend.
        pg_sys::LWLockRegisterTranche(tranche, tranche_name.as_ptr());
        Some(pg_sys::dsm_segment_address(segment).cast())
    }
}

/// Runs `f` under `lock`, exclusively.
///
/// # Safety
/// `lock` must be an initialised LWLock in shared memory, and `f` must not raise an error.
pub unsafe fn locked<R>(lock: *mut pg_sys::LWLockPadded, f: impl FnOnce() -> R) -> R {
    // SAFETY: as the caller promises.
    unsafe {
        pg_sys::LWLockAcquire(&raw mut (*lock).lock, pg_sys::LWLockMode::LW_EXCLUSIVE);
        let out = f();
        pg_sys::LWLockRelease(&raw mut (*lock).lock);
        out
    }
}
