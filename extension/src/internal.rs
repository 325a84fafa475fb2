//! Whether a change to an audit table comes from the extension's own code.
//!
//! The append-only triggers refuse UPDATE, DELETE and TRUNCATE unless this says yes. The flag is a
//! Rust value no SQL can set, and it only counts in the (sub)transaction that set it, so an error
//! that skips the reset cannot leave a later statement allowed.

use pgrx::pg_sys;
use std::cell::Cell;

thread_local! {
    static INTERNAL: Cell<Option<(u32, u32)>> = const { Cell::new(None) };
}

fn current() -> (u32, u32) {
    // SAFETY: MyProc is set for every backend that runs SQL.
    unsafe { ((*pg_sys::MyProc).lxid, pg_sys::GetCurrentSubTransactionId()) }
}

/// Runs `f` with changes to audit tables allowed.
pub fn with_internal<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(Option<(u32, u32)>);
    impl Drop for Reset {
        fn drop(&mut self) {
            INTERNAL.with(|c| c.set(self.0));
        }
    }
    let _reset = Reset(INTERNAL.with(|c| c.replace(Some(current()))));
    f()
}

pub fn is_internal() -> bool {
    INTERNAL.with(|c| c.get()) == Some(current())
}
