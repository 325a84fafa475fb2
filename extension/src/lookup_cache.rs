//! The lookup answers every session of the server shares (`auditlog_core::lookup::SharedEntry`),
//! in a dynamic shared memory segment (`crate::shared_memory`): a session that starts asks the
//! DBA's function only what no session asked within `auditlog.lookup_cache_ttl`, so short-lived
//! connections do not each pay every lookup again.
//!
//! A fixed array of entries, split into partitions each behind its own LWLock; a call's entry is
//! one of a few probed from its hash. With `auditlog.lookup_cache_slots = 0`, or if the segment
//! cannot be made, each session keeps its own cache only.

use crate::shared_memory::{self, locked, PARTITIONS};
use auditlog_core::lookup::{shared_slot, Answer, Call, SharedEntry};
use pgrx::guc::GucSetting;
use pgrx::pg_sys;
use std::cell::OnceCell;
use std::ffi::CString;

static SLOTS: GucSetting<i32> = GucSetting::<i32>::new(8192);

fn name() -> CString {
    let sizes = [size_of::<Header>(), size_of::<SharedEntry>()];
    shared_memory::segment_name("lookup cache", 1, &sizes)
}

#[repr(C)]
struct Header {
    locks: [pg_sys::LWLockPadded; PARTITIONS],
    slots: usize,
}

struct Table {
    header: *mut Header,
    entries: *mut SharedEntry,
}

thread_local! {
    /// This backend's mapping of the segment, once looked up (None: there is none to use).
    static TABLE: OnceCell<Option<Table>> = const { OnceCell::new() };
}

pub fn init() {
    shared_memory::define_slots(
        c"auditlog.lookup_cache_slots",
        c"Lookup answers kept in shared memory for every session (about 500 bytes each); 0: none.",
        c"Read when the first lookup after server start makes them. Each session also keeps its \
          own cache; an answer too long for a slot is kept there only.",
        &SLOTS,
    );
}

fn open() -> Option<Table> {
    let (wanted, size) =
        shared_memory::sized(&SLOTS, size_of::<Header>(), size_of::<SharedEntry>());
    let init = |at: *mut u8, tranche: i32| {
        // SAFETY: a new segment of `size` bytes, laid out here for `wanted` entries.
        unsafe {
            let header = at.cast::<Header>();
            shared_memory::init_locks(&mut (*header).locks, tranche);
            (*header).slots = wanted;
            let entries = header.add(1).cast::<SharedEntry>();
            for i in 0..wanted {
                entries.add(i).write(SharedEntry::EMPTY);
            }
        }
    };
    let header =
        shared_memory::segment(&name(), c"auditlog lookup cache", size, init)?.cast::<Header>();
    // SAFETY: the segment was laid out for the entries it says it holds.
    Some(Table {
        header,
        entries: unsafe { header.add(1).cast() },
    })
}

/// Maps the segment on first use, in a subtransaction: one that cannot be made (shared memory
/// exhausted) leaves this session with its own cache only, and never fails the event.
fn attached<R>(f: impl FnOnce(&Table) -> R) -> Option<R> {
    TABLE.with(|t| {
        if t.get().is_none() {
            let _ = t.set(crate::lookup::guarded(|| Ok(open())).ok().flatten());
        }
        t.get().expect("just set").as_ref().map(f)
    })
}

/// Where a call's answer is shared: this database's entry for it.
pub struct Key<'a> {
    call: &'a Call,
    database: u32,
    hash: u64,
}

impl<'a> Key<'a> {
    /// None when this session has no shared cache to use.
    pub fn of(call: &'a Call) -> Option<Key<'a>> {
        attached(|_| ())?;
        // SAFETY: reads this backend's database id.
        let database = unsafe { pg_sys::MyDatabaseId }.to_u32();
        let hash = SharedEntry::hash(database, call);
        Some(Key {
            call,
            database,
            hash,
        })
    }

    /// Runs `f` on the entries probed for this key, in order, under their partition's lock:
    /// `f` must neither fail nor allocate.
    fn with_probes<R>(&self, f: impl FnOnce(&[*mut SharedEntry]) -> R) -> Option<R> {
        attached(|table| {
            // SAFETY: the pointers are made before the lock and only read or written in `f`,
            // under it: a partition's entries are touched only under its lock.
            unsafe {
                let (partition, probes) = shared_memory::probes(self.hash, (*table.header).slots);
                let entries: Vec<*mut SharedEntry> =
                    probes.iter().map(|&i| table.entries.add(i)).collect();
                locked(&raw mut (*table.header).locks[partition], || f(&entries))
            }
        })
    }

    /// The shared answer and when it expires, if one is live at `now_us`.
    pub fn get(&self, now_us: i64) -> Option<(Answer, i64)> {
        let (call, database, hash) = (self.call, self.database, self.hash);
        // Copied out under the lock, decoded after it.
        let entry = self.with_probes(|entries| {
            // SAFETY: under the partition's lock (`with_probes`).
            entries
                .iter()
                .map(|&e| unsafe { &*e })
                .find(|e| e.holds(hash, database, call))
                .copied()
        })??;
        entry.answer(hash, database, call, now_us)
    }

    /// Shares `answer` until `expires_us` (not a failure, nor one too long for an entry).
    pub fn put(&self, answer: &Answer, expires_us: i64) {
        let (call, database, hash) = (self.call, self.database, self.hash);
        let Some(entry) = SharedEntry::new(hash, database, call, answer, expires_us) else {
            return;
        };
        self.with_probes(|entries| {
            // SAFETY: under the partition's lock (`with_probes`).
            unsafe {
                if let Some(i) = shared_slot(entries.iter().map(|&e| &*e), hash, database, call) {
                    *entries[i] = entry;
                }
            }
        });
    }
}
