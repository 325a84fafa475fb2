//! auditlog-shim: gets application events into the auditlog extension, and anchors its chain
//! outside the database. The binary's commands are built from these modules; [`client`] is the
//! library for Rust applications.

pub mod anchor;
pub mod checkpoint;
pub mod client;
pub mod deliver;
pub mod metrics;
pub mod ndjson;
pub mod report;
pub mod send;
pub mod serve;
pub mod spool;
