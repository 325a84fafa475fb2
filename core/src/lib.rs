//! Pure logic of auditlog, shared by the extension and the shim, tested with plain `cargo test`.

pub mod canonical;
pub mod checkpoint;
pub mod classify;
pub mod context;
pub mod correlation;
pub mod detect;
pub mod enrich;
pub mod event;
pub mod forensics;
pub mod geolocation;
pub mod hash;
pub mod ingest;
pub mod jsonb_layout;
pub mod lookup;
pub mod merkle;
pub mod redact;
pub mod risk;
pub mod seal;
pub mod session;
pub mod taxonomy;
pub mod tree;
pub mod verify;
pub mod window;
