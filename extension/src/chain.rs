//! Reading the batch chain (`audit.audit_log_integrity`) into core's types, and its head.

use crate::store::pg_to_unix_us;
use auditlog_core::seal::{Batch, GENESIS};
use auditlog_core::verify::StoredBatch;
use pgrx::datum::{JsonB, TimestampWithTimeZone};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiHeapTupleData, SpiResult};
use serde_json::json;

/// The columns every query below selects (`read` finds them by name).
pub const BATCH_COLUMNS: &str =
    "id, prev_batch_hash, merkle_root, first_position, last_position, event_count, \
     batch_start_time, batch_end_time, created_at, seal_version, batch_hash, tree_root";

/// A batch record from `$row`, anything with `get_by_name`: a query's row or a trigger's tuple.
/// A macro, not a function: the two have no common trait, and their errors differ.
macro_rules! batch_record {
    ($row:expr, $err:ty) => {{
        let row = $row;
        let ts = |name: &str| -> Result<i64, $err> {
            let v: Option<TimestampWithTimeZone> = row.get_by_name(name)?;
            Ok(v.map(pg_to_unix_us).unwrap_or_default())
        };
        let text = |name: &str| -> Result<String, $err> {
            let v: Option<String> = row.get_by_name(name)?;
            Ok(v.unwrap_or_default())
        };
        let int = |name: &str| -> Result<i64, $err> {
            let v: Option<i64> = row.get_by_name(name)?;
            Ok(v.unwrap_or_default())
        };
        let event_count: Option<i32> = row.get_by_name("event_count")?;
        let seal_version: Option<i16> = row.get_by_name("seal_version")?;
        Ok(StoredBatch {
            batch: Batch {
                batch_id: int("id")?,
                prev_batch_hash: text("prev_batch_hash")?,
                merkle_root: text("merkle_root")?,
                first_position: int("first_position")?,
                last_position: int("last_position")?,
                event_count: event_count.unwrap_or_default().into(),
                batch_start_us: ts("batch_start_time")?,
                batch_end_us: ts("batch_end_time")?,
                created_at_us: ts("created_at")?,
                seal_version: seal_version.unwrap_or_default(),
                tree_root: text("tree_root")?,
            },
            batch_hash: text("batch_hash")?,
        })
    }};
}

pub fn read(row: &SpiHeapTupleData<'_>) -> SpiResult<StoredBatch> {
    batch_record!(row, pgrx::spi::SpiError)
}

/// A batch record as a trigger receives it (the row is not in the table yet).
pub fn from_tuple(
    row: &PgHeapTuple<'_, AllocatedByPostgres>,
) -> Result<StoredBatch, pgrx::datum::TryFromDatumError> {
    batch_record!(row, pgrx::datum::TryFromDatumError)
}

/// The newest batch, if any.
pub fn last(client: &SpiClient<'_>) -> SpiResult<Option<StoredBatch>> {
    let q =
        format!("SELECT {BATCH_COLUMNS} FROM audit.audit_log_integrity ORDER BY id DESC LIMIT 1");
    let rows = client.select(q.as_str(), Some(1), &[])?;
    rows.into_iter().next().map(|r| read(&r)).transpose()
}

/// Batches `from..=to` (to: the newest when None), oldest first.
pub fn range(client: &SpiClient<'_>, from: i64, to: Option<i64>) -> SpiResult<Vec<StoredBatch>> {
    let q = format!(
        "SELECT {BATCH_COLUMNS} FROM audit.audit_log_integrity WHERE id >= $1 AND ($2 IS NULL OR id <= $2) ORDER BY id"
    );
    let rows = client.select(q.as_str(), None, &[from.into(), to.into()])?;
    rows.into_iter().map(|r| read(&r)).collect()
}

/// A stored SHA-256; one that is not 32 bytes reads as zeros, which verification reports.
pub fn hash32(bytes: Option<Vec<u8>>) -> auditlog_core::merkle::Hash {
    bytes.and_then(|b| b.try_into().ok()).unwrap_or([0; 32])
}

/// The newest batch: its number, the number of sealed events, its batch_hash and its record.
/// What the JSON checkpoints of 0.2.0 signed; checkpoints now sign `audit_tree_head()`.
#[pg_extern(stable, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_chain_head() -> JsonB {
    let head = Spi::connect(last).unwrap_or_else(|e| error!("audit_chain_head: {e}"));
    JsonB(match head {
        Some(b) => {
            let mut record = serde_json::to_value(&b.batch).expect("a batch serialises");
            record["batch_hash"] = b.batch_hash.clone().into();
            json!({
                "batch_id": b.batch.batch_id,
                "tree_size": b.batch.last_position,
                "batch_hash": b.batch_hash,
                "created_at": auditlog_core::hash::format_timestamp_us(b.batch.created_at_us),
                "batch": record,
            })
        }
        None => {
            json!({"batch_id": 0, "tree_size": 0, "batch_hash": GENESIS, "created_at": null, "batch": null})
        }
    })
}
