//! auditlog: a tamper-evident, classified security audit log inside PostgreSQL.
//!
//! The rules live in `auditlog-core`; this crate wires them to Postgres: settings (GUCs), the
//! SPI statements that read the taxonomy and write the rows, and the triggers that keep the
//! tables append-only.

use pgrx::prelude::*;

mod alerts;
mod append;
mod batch;
mod chain;
mod correlation;
mod detect;
mod forensics;
mod gucs;
mod integrity;
mod internal;
mod jsonb;
mod log;
mod lookup;
mod lookup_cache;
mod partitions;
mod redact;
mod reports;
mod seal;
mod sealer;
mod shared_memory;
mod spi_cache;
mod store;
mod taxonomy;
mod tree;
mod triggers;
mod vault;
mod verify;
mod windows;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../../sql/forensics.sql",
    name = "forensics",
    requires = ["schema"]
);
extension_sql_file!(
    "../../sql/reports.sql",
    name = "reports",
    requires = ["schema"]
);
extension_sql_file!("../../sql/finalize.sql", name = "finalize", finalize);

#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
    taxonomy::init();
    sealer::init();
    windows::init();
    lookup_cache::init();
    detect::init();
    append::init();
}

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
