//! auditlog-shim: gets application events into the auditlog extension, and anchors its chain
//! outside the database. The binary's commands are built from these modules; [`client`] is the
//! library for Rust applications, with [`correlation`]'s contexts.

pub mod alerts;
pub mod anchor;
pub mod backoff;
pub mod cef;
pub mod checkpoint;
pub mod client;
pub mod connection;
pub mod correlation;
pub mod cosignature;
pub mod deliver;
pub mod durable;
pub mod export;
pub mod export_cursor;
pub mod exported;
pub mod http_client;
pub mod metrics;
pub mod ndjson;
pub mod ocsf;
pub mod otlp;
pub mod report;
pub mod send;
pub mod serve;
pub mod shards;
pub mod signed_checkpoint;
pub mod sinks;
pub mod spool;
pub mod syslog;
pub mod tlog_proof;
pub mod vault_status;
pub mod witness;
