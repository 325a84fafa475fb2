//! Settings, as `auditlog.*` GUCs. All are superuser-only (PGC_SUSET): an application role must
//! not be able to make its own events look internal or in business hours. Set them in
//! postgresql.conf or with `ALTER SYSTEM` / `ALTER DATABASE ... SET`; values are checked when set.

use auditlog_core::enrich::{self, Settings};
use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;
use std::cell::RefCell;
use std::ffi::{CStr, CString};

pub static TIMEZONE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"UTC"));
pub static BUSINESS_HOURS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"9-17"));
pub static BUSINESS_DAYS: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"mon,tue,wed,thu,fri"));
pub static INTERNAL_NETWORKS: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(
    c"10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,127.0.0.0/8,169.254.0.0/16,::1/128,fe80::/10,fc00::/7",
));
pub static USER_CONTEXT_FUNCTION: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
pub static SESSION_CONTEXT_FUNCTION: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
pub static RESOURCE_CONTEXT_FUNCTION: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
pub static LOOKUP_TIMEOUT: GucSetting<i32> = GucSetting::<i32>::new(100);
pub static LOOKUP_CACHE_TTL: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static GEOLOCATION_DATABASES: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(None);
pub static MAX_EVENT_DATA_BYTES: GucSetting<i32> = GucSetting::<i32>::new(1024 * 1024);
pub static ALERT_RISK_THRESHOLD: GucSetting<i32> = GucSetting::<i32>::new(75);
pub static ALERT_CHANNEL: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"auditlog_alerts"));
pub static PARTITION_PERIOD: GucSetting<Option<CString>> =
    GucSetting::<Option<CString>>::new(Some(c"month"));
pub static PARTITIONS_AHEAD: GucSetting<i32> = GucSetting::<i32>::new(3);
pub static ALERT_FOLD_WINDOW: GucSetting<i32> = GucSetting::<i32>::new(600);
pub static LOG_ORIGIN: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static VAULT_MODE: GucSetting<bool> = GucSetting::<bool>::new(false);

/// The periods a partition of audit.audit_events may span (date_trunc's names).
pub const PARTITION_PERIODS: [&str; 5] = ["day", "week", "month", "quarter", "year"];

type Check = fn(&str) -> Result<(), String>;

/// Defines a validated string GUC. Each needs its own check-hook symbol, hence the macro.
macro_rules! checked_string_guc {
    ($name:literal, $short:literal, $long:literal, $setting:expr, $check:expr) => {{
        #[pgrx::pg_guard]
        unsafe extern "C-unwind" fn hook(
            newval: *mut *mut std::ffi::c_char,
            _extra: *mut *mut std::ffi::c_void,
            _source: pg_sys::GucSource::Type,
        ) -> bool {
            check_hook(newval, $check)
        }
        unsafe {
            GucRegistry::define_string_guc_with_hooks(
                $name,
                $short,
                $long,
                &$setting,
                GucContext::Suset,
                GucFlags::default(),
                Some(hook),
                None,
                None,
            )
        }
    }};
}

unsafe fn check_hook(newval: *mut *mut std::ffi::c_char, check: Check) -> bool {
    if newval.is_null() || (*newval).is_null() {
        return true;
    }
    match CStr::from_ptr(*newval)
        .to_str()
        .map_err(|e| e.to_string())
        .and_then(check)
    {
        Ok(()) => true,
        Err(detail) => {
            pgrx::warning!("{detail}");
            false
        }
    }
}

pub fn init() {
    checked_string_guc!(
        c"auditlog.timezone",
        c"IANA time zone for an event's hour, weekday and business hours.",
        c"Enrichment's temporal_context is computed in this zone, whatever the session's TimeZone.",
        TIMEZONE,
        |s| enrich::parse_timezone(s).map(drop)
    );
    checked_string_guc!(
        c"auditlog.business_hours",
        c"Business hours as start-end on a 24-hour clock, end excluded (9-17).",
        c"Events outside them are tagged after_hours.",
        BUSINESS_HOURS,
        |s| enrich::parse_hours(s).map(drop)
    );
    checked_string_guc!(
        c"auditlog.business_days",
        c"Business days, comma-separated (mon,tue,wed,thu,fri).",
        c"Events on other days are tagged after_hours.",
        BUSINESS_DAYS,
        |s| enrich::parse_days(s).map(drop)
    );
    checked_string_guc!(
        c"auditlog.internal_networks",
        c"Comma-separated CIDR networks whose addresses count as internal.",
        c"An event from any other address, or from one that does not parse, scores +20 risk.",
        INTERNAL_NETWORKS,
        |s| enrich::parse_networks(s).map(drop)
    );
    GucRegistry::define_string_guc(
        c"auditlog.user_context_function",
        c"Function (user_id text) -> jsonb that supplies roles and account_created_at.",
        c"Called when the caller's user_context lacks roles or account_created_at; empty for none.",
        &USER_CONTEXT_FUNCTION,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"auditlog.session_context_function",
        c"Function (session_id text) -> jsonb that describes the event's session.",
        c"Its answer is enrichment_data.session_context; empty for none.",
        &SESSION_CONTEXT_FUNCTION,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"auditlog.resource_context_function",
        c"Function (resource_type text, resource_id text) -> jsonb that describes the resource.",
        c"Called when event_data has resource_id; its answer is enrichment_data.resource_context.",
        &RESOURCE_CONTEXT_FUNCTION,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auditlog.lookup_timeout",
        c"Longest a lookup function may take, in milliseconds.",
        c"One that takes longer is cancelled: the event is stored without its answer.",
        &LOOKUP_TIMEOUT,
        1,
        60_000,
        GucContext::Suset,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"auditlog.lookup_cache_ttl",
        c"Seconds a lookup's answer is reused by the same session.",
        c"0 keeps an answer for the statement that asked only.",
        &LOOKUP_CACHE_TTL,
        0,
        86_400,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    checked_string_guc!(
        c"auditlog.geolocation_databases",
        c"Comma-separated absolute paths of MaxMind-format (.mmdb) databases.",
        c"Each event's address is looked up in each (city, then ASN); a replaced file is re-read.",
        GEOLOCATION_DATABASES,
        auditlog_core::geolocation::check_setting
    );
    GucRegistry::define_int_guc(
        c"auditlog.max_event_data_bytes",
        c"Largest event_data accepted, in bytes of its JSON text.",
        c"A larger event_data is refused with an error that names this limit.",
        &MAX_EVENT_DATA_BYTES,
        1024,
        i32::MAX,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"auditlog.alert_risk_threshold",
        c"An event whose risk score exceeds this raises an alert.",
        c"The seed raises alerts above 75.",
        &ALERT_RISK_THRESHOLD,
        0,
        100,
        GucContext::Suset,
        GucFlags::default(),
    );
    checked_string_guc!(
        c"auditlog.partition_period",
        c"Time each new partition of audit.audit_events spans: day, week, month, quarter or year.",
        c"Read when audit_maintain_partitions() makes partitions; existing ones keep their span.",
        PARTITION_PERIOD,
        |s| if PARTITION_PERIODS.contains(&s) {
            Ok(())
        } else {
            Err(format!("one of {}", PARTITION_PERIODS.join(", ")))
        }
    );
    GucRegistry::define_int_guc(
        c"auditlog.alert_fold_window",
        c"Seconds within which an alert of the same cause folds into the open one.",
        c"Same type, correlation and title: the open alert's occurrences count goes up; 0 never folds.",
        &ALERT_FOLD_WINDOW,
        0,
        i32::MAX,
        GucContext::Suset,
        GucFlags::UNIT_S,
    );
    GucRegistry::define_int_guc(
        c"auditlog.partitions_ahead",
        c"Partitions of audit.audit_events kept ready beyond the current one.",
        c"audit_maintain_partitions() makes them; the background sealer calls it every minute.",
        &PARTITIONS_AHEAD,
        0,
        120,
        GucContext::Suset,
        GucFlags::default(),
    );
    checked_string_guc!(
        c"auditlog.alert_channel",
        c"NOTIFY channel on which each new alert is sent as JSON.",
        c"A monitor runs LISTEN on this channel.",
        ALERT_CHANNEL,
        |s| if s.is_empty() || s.len() > 63 {
            Err("a channel name has 1 to 63 bytes".into())
        } else {
            Ok(())
        }
    );
    GucRegistry::define_bool_guc(
        c"auditlog.vault_mode",
        c"This database is an audit vault: it only receives another database's log.",
        c"Events, seals and checkpoint copies arrive by logical replication and each seal is verified as it lands; nothing seals or logs here (see docs/scaling.md).",
        &VAULT_MODE,
        GucContext::Suset,
        GucFlags::default(),
    );
    checked_string_guc!(
        c"auditlog.log_origin",
        c"The log's name on its checkpoints (c2sp.org/tlog-checkpoint origin line).",
        c"Empty: the one audit.log_origin recorded when the extension was made. Witnesses know a log by it.",
        LOG_ORIGIN,
        |s| if s.is_empty() {
            Ok(())
        } else {
            auditlog_core::checkpoint::check_origin(s)
        }
    );
}

/// `auditlog.log_origin`, when set.
pub fn log_origin() -> Option<String> {
    Some(text(&LOG_ORIGIN)).filter(|s| !s.is_empty())
}

/// `auditlog.vault_mode`.
pub fn vault_mode() -> bool {
    VAULT_MODE.get()
}

pub fn partition_period() -> String {
    text(&PARTITION_PERIOD)
}

fn text(setting: &GucSetting<Option<CString>>) -> String {
    setting
        .get()
        .map(|c| c.to_string_lossy().into_owned())
        .unwrap_or_default()
}

pub fn alert_channel() -> String {
    text(&ALERT_CHANNEL)
}

/// A lookup function's setting: `None` when empty.
pub fn function(setting: &GucSetting<Option<CString>>) -> Option<String> {
    Some(text(setting)).filter(|s| !s.trim().is_empty())
}

pub fn geolocation_databases() -> String {
    text(&GEOLOCATION_DATABASES)
}

thread_local! {
    static PARSED: RefCell<Option<([String; 4], Settings)>> = const { RefCell::new(None) };
}

/// Enrichment settings, parsed once per change of the underlying GUCs.
pub fn settings() -> Settings {
    let raw = [
        text(&TIMEZONE),
        text(&BUSINESS_HOURS),
        text(&BUSINESS_DAYS),
        text(&INTERNAL_NETWORKS),
    ];
    PARSED.with(|p| {
        let mut p = p.borrow_mut();
        if let Some((key, s)) = p.as_ref() {
            if *key == raw {
                return s.clone();
            }
        }
        // The check hooks refused bad values already; these fallbacks only guard the impossible.
        let d = Settings::default();
        let (start_hour, end_hour) =
            enrich::parse_hours(&raw[1]).unwrap_or((d.start_hour, d.end_hour));
        let s = Settings {
            timezone: enrich::parse_timezone(&raw[0]).unwrap_or(d.timezone),
            start_hour,
            end_hour,
            business_days: enrich::parse_days(&raw[2]).unwrap_or(d.business_days),
            internal_networks: enrich::parse_networks(&raw[3]).unwrap_or(d.internal_networks),
        };
        *p = Some((raw, s.clone()));
        s
    })
}
