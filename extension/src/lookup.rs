//! Asking the DBA's lookup functions (`auditlog.user_context_function`,
//! `auditlog.session_context_function`, `auditlog.resource_context_function`) and the
//! geolocation databases for one event.
//!
//! A function is asked once per key and `auditlog.lookup_cache_ttl` by the whole server (this
//! session's cache, then the shared one in `crate::lookup_cache`), in a subtransaction under a
//! timer (`auditlog.lookup_timeout`): one that fails or hangs costs the event only its answer.
//! The event is stored, the error kept in its context_errors, and a WARNING raised. The function runs as audit_log() does: as the extension's owner, with its
//! pinned search_path (so it names its tables with their schema).

use crate::{gucs, lookup_cache};
use auditlog_core::enrich::Found;
use auditlog_core::geolocation::Databases;
use auditlog_core::lookup::{Answer, Cache, Call};
use pgrx::datum::{FromDatum, IntoDatum, JsonB};
use pgrx::guc::GucSetting;
use pgrx::pg_catalog::pg_proc::{PgProc, ProKind};
use pgrx::pg_sys::{self, ffi::pg_guard_ffi_boundary, panic::CaughtError};
use pgrx::{PgSqlErrorCode, PgTryBuilder};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
    static GEO: RefCell<Option<Databases>> = const { RefCell::new(None) };
}

/// What the session, resource and geolocation lookups say about one event; a failure is
/// warned about here and recorded by `auditlog_core::enrich`.
pub fn ask_all(
    session_id: Option<&str>,
    event_data: &Value,
    ip: Option<std::net::IpAddr>,
) -> Found {
    let session = session_id.and_then(|id| {
        ask(
            "auditlog.session_context_function",
            &gucs::SESSION_CONTEXT_FUNCTION,
            &[id],
        )
    });
    let resource = match event_data.get("resource_id") {
        None | Some(Value::Null) => None,
        Some(id) => {
            let id = scalar_text(id);
            let kind = event_data
                .get("resource_type")
                .map(scalar_text)
                .unwrap_or_default();
            let asked = serde_json::json!([kind, id]);
            ask(
                "auditlog.resource_context_function",
                &gucs::RESOURCE_CONTEXT_FUNCTION,
                &[&kind, &id],
            )
            .map(|a| (asked, a))
        }
    };
    Found {
        session,
        resource,
        place: ip.and_then(geolocate),
    }
}

/// The DBA's user lookup for the caller's user id (`None` when none is set).
pub fn ask_user(user_id: &str) -> Option<Answer> {
    ask(
        "auditlog.user_context_function",
        &gucs::USER_CONTEXT_FUNCTION,
        &[user_id],
    )
}

/// A JSON scalar as the text a lookup function receives (a string without its quotes).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The answer of the function `setting` names for `args` (`None`: no function set).
fn ask(setting: &str, guc: &GucSetting<Option<CString>>, args: &[&str]) -> Option<Answer> {
    let function = gucs::function(guc)?;
    let call = Call::new(&function, args);
    let now_us = crate::store::now_us();
    // SAFETY: reads the current statement's start time.
    let statement = unsafe { pg_sys::GetCurrentStatementStartTimestamp() };
    let cached = CACHE.with(|c| c.borrow().get(&call, now_us, statement).cloned());
    let answer = cached.unwrap_or_else(|| {
        let (answer, expires_us) = ask_server(&call, &function, args, now_us);
        CACHE.with(|c| {
            c.borrow_mut()
                .put(call, answer.clone(), now_us, expires_us, statement)
        });
        answer
    });
    if let Answer::Failed(why) = &answer {
        pgrx::warning!(
            "audit_log: {setting} \"{function}\" failed ({why}); the event is stored without \
             its answer and the error kept in context_errors"
        );
    }
    Some(answer)
}

/// `call`'s answer from the shared cache or else from `function` (then shared), and until when
/// this session may keep it: never longer than its own TTL allows (0: nothing shared).
fn ask_server(call: &Call, function: &str, args: &[&str], now_us: i64) -> (Answer, i64) {
    let ttl_us = i64::from(gucs::LOOKUP_CACHE_TTL.get()) * 1_000_000;
    let own_expiry = now_us.saturating_add(ttl_us);
    let shared = lookup_cache::Key::of(call).filter(|_| ttl_us > 0);
    if let Some((answer, expires_us)) = shared.as_ref().and_then(|k| k.get(now_us)) {
        return (answer, expires_us.min(own_expiry));
    }
    let answer = guarded(|| invoke(function, args)).unwrap_or_else(Answer::Failed);
    if let Some(k) = &shared {
        k.put(&answer, own_expiry);
    }
    (answer, own_expiry)
}

/// Calls `function` with a text argument per arg, straight through the function manager (an
/// SPI statement per call cost more than a simple lookup's own query). Only a function that
/// takes exactly these text arguments, returns one jsonb and that auditlog_owner may execute is
/// called. Runs inside `guarded`: an error raised here rolls back with the subtransaction.
fn invoke(function: &str, args: &[&str]) -> Result<Answer, String> {
    let signature = format!("{function}({})", vec!["text"; args.len()].join(", "));
    let name = CString::new(function).map_err(|_| format!("{signature}: a name with NUL"))?;
    let types = vec![pg_sys::TEXTOID; args.len()];
    // SAFETY: the name list and the call's frame are allocated in the current memory context;
    // an ERROR (a malformed name, the function's own) unwinds to `guarded`.
    unsafe {
        let names = pg_sys::stringToQualifiedNameList(name.as_ptr());
        let oid = pg_sys::LookupFuncName(names, args.len() as i32, types.as_ptr(), true);
        let Some(proc) = PgProc::new(oid) else {
            return Err(format!(
                "no function {signature} (name it with its schema: audit_log() runs with \
                 search_path audit, pg_catalog)"
            ));
        };
        if proc.prorettype() != pg_sys::JSONBOID
            || proc.proretset()
            || !matches!(proc.prokind(), ProKind::Function)
        {
            return Err(format!(
                "{signature} must be a function returning one jsonb"
            ));
        }
        let role = pg_sys::GetUserId();
        if pg_sys::pg_proc_aclcheck(oid, role, pg_sys::ACL_EXECUTE as pg_sys::AclMode)
            != pg_sys::AclResult::ACLCHECK_OK
        {
            return Err(format!("auditlog_owner may not execute {signature}"));
        }
        let mut flinfo = pg_sys::FmgrInfo::default();
        pg_sys::fmgr_info(oid, &mut flinfo);
        let fcinfo = pg_sys::palloc0(
            size_of::<pg_sys::FunctionCallInfoBaseData>()
                + size_of::<pg_sys::NullableDatum>() * args.len(),
        )
        .cast::<pg_sys::FunctionCallInfoBaseData>();
        (*fcinfo).flinfo = &mut flinfo;
        (*fcinfo).fncollation = pg_sys::DEFAULT_COLLATION_OID;
        (*fcinfo).nargs = args.len() as i16;
        for (slot, arg) in (*fcinfo).args.as_mut_slice(args.len()).iter_mut().zip(args) {
            slot.value = arg.into_datum().expect("text is never NULL");
            slot.isnull = false;
        }
        let func = flinfo.fn_addr.expect("set by fmgr_info");
        let result = pg_guard_ffi_boundary(|| func(fcinfo));
        let found = JsonB::from_datum(result, (*fcinfo).isnull);
        Ok(Answer::from_result(found.map(|j| j.0)))
    }
}

/// Where the geolocation databases place `ip` (`None`: no database set).
fn geolocate(
    ip: std::net::IpAddr,
) -> Option<Result<Option<auditlog_core::geolocation::Place>, String>> {
    let setting = gucs::geolocation_databases();
    if setting.trim().is_empty() {
        return None;
    }
    GEO.with(|g| {
        let mut g = g.borrow_mut();
        match g.as_mut() {
            Some(dbs) if dbs.setting() == setting => dbs.refresh(),
            _ => *g = Some(Databases::open(&setting)),
        }
        let found = g.as_mut().expect("just set").lookup(ip);
        if let Err(why) = &found {
            pgrx::warning!(
                "audit_log: auditlog.geolocation_databases: {why}; the event is stored without \
                 its place and the error kept in context_errors"
            );
        }
        Some(found)
    })
}

// PostgreSQL's timeouts (utils/timeout.h), which pgrx does not bind.
unsafe extern "C" {
    fn RegisterTimeout(id: i32, handler: Option<unsafe extern "C" fn()>) -> i32;
    fn enable_timeout_after(id: i32, delay_ms: i32);
    fn disable_timeout(id: i32, keep_indicator: bool);
}
/// `USER_TIMEOUT` in PostgreSQL 15's `TimeoutId`: asks for a free slot.
const USER_TIMEOUT: i32 = 12;

static TIMED_OUT: AtomicBool = AtomicBool::new(false);
thread_local! {
    static TIMER: Cell<Option<i32>> = const { Cell::new(None) };
}

/// Runs in the signal handler when a lookup's time is up: cancels it as a query cancel would.
unsafe extern "C" fn time_is_up() {
    TIMED_OUT.store(true, Ordering::SeqCst);
    // SAFETY: what PostgreSQL's own cancel handler sets; SetLatch is safe in a handler.
    unsafe {
        pg_sys::QueryCancelPending = 1;
        pg_sys::InterruptPending = 1;
        pg_sys::SetLatch(pg_sys::MyLatch);
    }
}

fn timer() -> i32 {
    TIMER.with(|t| {
        *t.get().get_or_insert_with(|| {
            // SAFETY: registers a handler once per backend.
            let id = unsafe { RegisterTimeout(USER_TIMEOUT, Some(time_is_up)) };
            t.set(Some(id));
            id
        })
    })
}

/// Runs `f` in a subtransaction, cancelled after `auditlog.lookup_timeout`: an error inside, or
/// an `Err` it returns, is returned as its message and rolled back with everything `f` did. A
/// cancel that is not the timer's (the user's, statement_timeout) and a Rust panic still end
/// the statement.
pub fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    let timeout_ms = gucs::LOOKUP_TIMEOUT.get();
    let timer = timer();
    // SAFETY: the subtransaction begins and ends here, on every path, and the memory context
    // and resource owner are put back as they were (as PL/pgSQL's exception blocks do).
    unsafe {
        let memory = pg_sys::CurrentMemoryContext;
        let owner = pg_sys::CurrentResourceOwner;
        pg_sys::BeginInternalSubTransaction(std::ptr::null());
        pg_sys::MemoryContextSwitchTo(memory);
        TIMED_OUT.store(false, Ordering::SeqCst);
        enable_timeout_after(timer, timeout_ms);
        let restore = move || {
            pg_sys::MemoryContextSwitchTo(memory);
            pg_sys::CurrentResourceOwner = owner;
        };
        PgTryBuilder::new(AssertUnwindSafe(|| {
            let value = f();
            disable_timeout(timer, false);
            // Time ran out after `f` returned: the cancel is not meant for what follows.
            if TIMED_OUT.swap(false, Ordering::SeqCst) {
                pg_sys::QueryCancelPending = 0;
            }
            if value.is_ok() {
                pg_sys::ReleaseCurrentSubTransaction();
            } else {
                pg_sys::RollbackAndReleaseCurrentSubTransaction();
            }
            restore();
            value
        }))
        .catch_others(|e: CaughtError| {
            disable_timeout(timer, false);
            let ours = TIMED_OUT.swap(false, Ordering::SeqCst);
            pg_sys::RollbackAndReleaseCurrentSubTransaction();
            restore();
            match &e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                    if ours {
                        Err(format!("timed out after {timeout_ms} ms"))
                    } else if r.sql_error_code() == PgSqlErrorCode::ERRCODE_QUERY_CANCELED {
                        e.rethrow()
                    } else {
                        Err(r.message().to_string())
                    }
                }
                CaughtError::RustPanic { .. } => e.rethrow(),
            }
        })
        .execute()
    }
}
