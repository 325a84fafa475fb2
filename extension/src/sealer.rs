//! The background sealer: seals new events every `auditlog.seal_interval` seconds in
//! `auditlog.seal_database`, and keeps partitions made ahead (`audit_maintain_partitions()`)
//! every minute. It runs when `auditlog` is in `shared_preload_libraries`; without that,
//! schedule `SELECT seal_audit_events()` and `SELECT audit_maintain_partitions()` (pg_cron's
//! finest step is a minute).

use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::prelude::*;
use std::ffi::CString;
use std::time::Duration;

static SEAL_DATABASE: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"postgres"));
static SEAL_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(5);

pub fn init() {
    GucRegistry::define_string_guc(
        c"auditlog.seal_database",
        c"Database in which the background sealer seals events.",
        c"The database where CREATE EXTENSION auditlog was run; the sealer reads it when it starts.",
        &SEAL_DATABASE,
        // Not Postmaster: a backend that loads the library after startup may not define those.
        GucContext::Sighup,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auditlog.seal_interval",
        c"Seconds between the background sealer's seals; 0 stops it sealing.",
        c"Each seal gives the events committed since the last one their positions and a batch.",
        &SEAL_INTERVAL,
        0,
        3600,
        GucContext::Sighup,
        GucFlags::UNIT_S,
    );
    // SAFETY: a flag the postmaster sets while it loads shared_preload_libraries.
    if unsafe { pg_sys::process_shared_preload_libraries_in_progress } {
        BackgroundWorkerBuilder::new("auditlog sealer")
            .set_function("auditlog_sealer_main")
            .set_library("auditlog")
            .enable_spi_access()
            .set_restart_time(Some(Duration::from_secs(10)))
            .load();
    }
}

/// The extension's schema, or None while it is not installed in the database.
fn installed_schema() -> Option<String> {
    let q = "SELECT quote_ident(n.nspname) FROM pg_extension x JOIN pg_namespace n ON n.oid = x.extnamespace
              WHERE x.extname = 'auditlog'";
    Spi::get_one::<String>(q).ok().flatten()
}

/// Runs `SELECT schema.function()` in a transaction of its own; a failure is logged, not fatal.
fn call(function: &str) {
    BackgroundWorker::transaction(|| {
        // A primary kept read-only for a while (pg_auto_failover just after a promotion): wait,
        // for an error here would stop the worker.
        // SAFETY: a read of this transaction's own flag.
        if unsafe { pg_sys::XactReadOnly } {
            return;
        }
        if let Some(schema) = installed_schema() {
            if let Err(e) = Spi::run(&format!("SELECT {schema}.{function}()")) {
                warning!("auditlog sealer: {function}: {e}");
            }
        }
    });
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn auditlog_sealer_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let database = SEAL_DATABASE
        .get()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_else(|| "postgres".into());
    BackgroundWorker::connect_worker_to_spi(Some(&database), None);
    log!("auditlog sealer: sealing in database \"{database}\"");
    let mut partitions_checked: Option<std::time::Instant> = None;
    loop {
        if partitions_checked.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            call("audit_maintain_partitions");
            partitions_checked = Some(std::time::Instant::now());
        }
        let interval = SEAL_INTERVAL.get();
        // With sealing off, look again now and then for the setting to change (on SIGHUP).
        let wait = Duration::from_secs(if interval > 0 { interval as u64 } else { 60 });
        if !BackgroundWorker::wait_latch(Some(wait)) {
            break;
        }
        if BackgroundWorker::sighup_received() {
            // SAFETY: reloads the configuration file, as every process does on SIGHUP.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        // A vault's seals arrive from its source.
        if SEAL_INTERVAL.get() == 0 || crate::gucs::vault_mode() {
            continue;
        }
        call("seal_audit_events");
    }
    log!("auditlog sealer: stopping");
}
