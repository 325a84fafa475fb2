//! The log's one tree in the database: its tiles in `audit.tree_tiles`, which each seal extends,
//! and what an outside checker asks of it: `audit_tree_head()`, `audit_inclusion_proof()` and
//! `audit_consistency_proof()` (RFC 9162 sections 2.1.3 and 2.1.4), and the copies of the signed
//! checkpoints (`audit_store_signed_checkpoint()`).

use crate::internal::with_internal;
use crate::{chain, gucs, store};
use auditlog_core::seal::SealedLeaf;
use auditlog_core::tree::{self, Frontier, Hash, HashReader, Tile};
use pgrx::datum::{TimestampWithTimeZone, Uuid};
use pgrx::prelude::*;
use pgrx::spi::{SpiClient, SpiResult};
use std::collections::HashMap;

pub type TileMap = HashMap<(u8, u64), Vec<u8>>;

/// The stored tiles of `keys` (level, index); a missing one is simply absent.
pub fn read_tiles(client: &SpiClient<'_>, keys: &[(u8, u64)]) -> SpiResult<TileMap> {
    let levels: Vec<i16> = keys.iter().map(|k| k.0 as i16).collect();
    let indexes: Vec<i64> = keys.iter().map(|k| k.1 as i64).collect();
    let q = "SELECT t.level, t.tile_index, t.hashes FROM audit.tree_tiles t
               JOIN unnest($1::smallint[], $2::bigint[]) k(level, tile_index) USING (level, tile_index)";
    client
        .select(q, None, &[levels.into(), indexes.into()])?
        .map(|r| {
            let level = r.get::<i16>(1)?.unwrap_or_default() as u8;
            let index = r.get::<i64>(2)?.unwrap_or_default() as u64;
            Ok(((level, index), r.get::<Vec<u8>>(3)?.unwrap_or_default()))
        })
        .collect()
}

/// The tree of the first `size` sealed leaves, from its stored frontier tiles, or why it cannot
/// be read.
pub fn frontier(client: &SpiClient<'_>, size: u64) -> SpiResult<Result<Frontier, String>> {
    let keys: Vec<(u8, u64)> = (0..tree::levels(size))
        .map(|l| (l, tree::frontier_tile(size, l)))
        .filter(|(_, (_, width))| *width > 0)
        .map(|(l, (index, _))| (l, index))
        .collect();
    Ok(Frontier::from_tiles(size, &read_tiles(client, &keys)?))
}

/// Stores tiles, replacing the narrower ones they extend; a thousand (8 MB) per statement, so
/// that no seal's backlog, however long, makes one parameter too large.
pub fn write_tiles(client: &mut SpiClient<'_>, tiles: &[Tile]) -> SpiResult<()> {
    let q = "INSERT INTO audit.tree_tiles (level, tile_index, hashes)
             SELECT * FROM unnest($1::smallint[], $2::bigint[], $3::bytea[])
             ON CONFLICT (level, tile_index) DO UPDATE SET hashes = EXCLUDED.hashes";
    for chunk in tiles.chunks(1000) {
        let levels: Vec<i16> = chunk.iter().map(|t| t.level as i16).collect();
        let indexes: Vec<i64> = chunk.iter().map(|t| t.index as i64).collect();
        let hashes: Vec<&[u8]> = chunk.iter().map(|t| t.hashes.as_slice()).collect();
        with_internal(|| client.update(q, None, &[levels.into(), indexes.into(), hashes.into()]))?;
    }
    Ok(())
}

/// The stored tiles as the hash store Go's proof algorithms read.
struct StoredTiles<'a, 'c>(&'a SpiClient<'c>);

impl HashReader for StoredTiles<'_, '_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tree::Error> {
        let tiles = read_tiles(self.0, &tree::tiles_for(indexes))
            .map_err(|e| tree::Error::InvalidInput(e.to_string()))?;
        tree::hashes_from_tiles(indexes, &tiles)
    }
}

/// The tree's size now: the last sealed position.
fn tree_size(client: &SpiClient<'_>) -> SpiResult<u64> {
    Ok(chain::last(client)?.map_or(0, |b| b.batch.last_position as u64))
}

fn bytes(proof: Vec<Hash>) -> Vec<Vec<u8>> {
    proof.into_iter().map(|h| h.0.to_vec()).collect()
}

/// The log's origin: `auditlog.log_origin` when set, else the one recorded when the extension
/// was made (kept by pg_dump and pg_upgrade, unchanged by a database's new name).
fn origin(client: &SpiClient<'_>) -> SpiResult<String> {
    if let Some(o) = gucs::log_origin() {
        return Ok(o);
    }
    let recorded = client
        .select("SELECT origin FROM audit.log_origin", Some(1), &[])?
        .next()
        .map(|r| r.get::<String>(1))
        .transpose()?
        .flatten();
    Ok(recorded.unwrap_or_else(default_log_origin))
}

/// The origin a log gets when it is made: unique per cluster and database.
#[pg_extern(volatile, schema = "audit")]
fn default_log_origin() -> String {
    // SAFETY: plain reads of this backend's database name and the control file's identifier.
    let (id, db) = unsafe {
        let name = pg_sys::get_database_name(pg_sys::MyDatabaseId);
        (
            pg_sys::GetSystemIdentifier(),
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned(),
        )
    };
    auditlog_core::checkpoint::default_origin(id, &db)
}

/// The head of the log: its origin, size, root and when the seal that made it ran. A checkpoint
/// signs the first three.
#[pg_extern(stable, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)] // pgrx reads the column names from this signature
fn audit_tree_head() -> TableIterator<
    'static,
    (
        name!(origin, String),
        name!(tree_size, i64),
        name!(root_hash, Vec<u8>),
        name!(sealed_at, Option<TimestampWithTimeZone>),
    ),
> {
    let (head, origin) =
        Spi::connect(|c| Ok::<_, pgrx::spi::SpiError>((chain::last(c)?, origin(c)?)))
            .unwrap_or_else(|e| error!("audit_tree_head: {e}"));
    let (size, root, at) = match head {
        Some(b) => (
            b.batch.last_position,
            hex::decode(&b.batch.tree_root).unwrap_or_default(),
            Some(store::unix_us_to_pg(b.batch.created_at_us)),
        ),
        None => (0, tree::EMPTY_HASH.0.to_vec(), None),
    };
    TableIterator::once((origin, size, root, at))
}

/// RFC 9162 section 2.1.3: the event's leaf (index, data) and its audit path in the tree of
/// `p_tree_size` leaves (now, by default).
#[pg_extern(stable, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
#[allow(clippy::type_complexity)]
fn audit_inclusion_proof(
    p_event_id: Uuid,
    p_tree_size: default!(Option<i64>, "NULL"),
) -> TableIterator<
    'static,
    (
        name!(leaf_index, i64),
        name!(tree_size, i64),
        name!(leaf_data, Vec<u8>),
        name!(inclusion_path, Vec<Vec<u8>>),
    ),
> {
    let row = Spi::connect(|client| {
        let q = "SELECT position, event_hash, classification_hash FROM audit.event_positions
                  WHERE event_id = $1";
        let Some(r) = client.select(q, Some(1), &[p_event_id.into()])?.next() else {
            error!("audit_inclusion_proof: event {p_event_id} is not sealed yet (seal_audit_events() seals it)");
        };
        let leaf = SealedLeaf {
            position: r.get::<i64>(1)?.expect("NOT NULL"),
            event_id: uuid::Uuid::from_bytes(*p_event_id.as_bytes()),
            event_hash: chain::hash32(r.get(2)?),
            classification_hash: chain::hash32(r.get(3)?),
        };
        let now = tree_size(client)?;
        let size = p_tree_size.map_or(now, |s| s.max(0) as u64);
        let index = leaf.position as u64 - 1;
        if size > now {
            error!("audit_inclusion_proof: the tree has {now} leaves, not {size}");
        }
        if index >= size {
            error!("audit_inclusion_proof: event {p_event_id} is leaf {index}, beyond a tree of {size}");
        }
        let path = tree::inclusion_proof(&StoredTiles(client), index, size)
            .unwrap_or_else(|e| error!("audit_inclusion_proof: the stored tree cannot prove it: {e}"));
        Ok::<_, pgrx::spi::SpiError>((index as i64, size as i64, leaf.data().to_vec(), bytes(path)))
    })
    .unwrap_or_else(|e| error!("audit_inclusion_proof: {e}"));
    TableIterator::once(row)
}

/// RFC 9162 section 2.1.4: the proof that the tree of `p_new_size` leaves extends the tree of
/// `p_old_size` (empty when they are equal).
#[pg_extern(stable, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_consistency_proof(p_old_size: i64, p_new_size: i64) -> Vec<Vec<u8>> {
    Spi::connect(|client| {
        let now = tree_size(client)? as i64;
        if p_old_size < 1 || p_old_size > p_new_size || p_new_size > now {
            error!("audit_consistency_proof: need 1 <= old size <= new size <= {now} (the tree's size), not {p_old_size} and {p_new_size}");
        }
        let proof = tree::consistency_proof(
            &StoredTiles(client),
            p_old_size as u64,
            p_new_size as u64,
        )
        .unwrap_or_else(|e| error!("audit_consistency_proof: the stored tree cannot prove it: {e}"));
        Ok::<_, pgrx::spi::SpiError>(bytes(proof))
    })
    .unwrap_or_else(|e| error!("audit_consistency_proof: {e}"))
}

/// Keeps a copy of a checkpoint note `auditlog-shim checkpoint` signed for this log (one already
/// kept is left as it is). Only a copy of the log's own tree is kept: its size and root must be
/// the tree's now, so that no role that may store copies can plant one that fails verification.
#[pg_extern(volatile, security_definer)]
#[search_path(audit, pg_catalog, pg_temp)]
fn audit_store_signed_checkpoint(p_note: &str) {
    crate::vault::audit::refuse_local_write("audit_store_signed_checkpoint");
    let (origin, size, root) = auditlog_core::checkpoint::parse_note(p_note)
        .unwrap_or_else(|e| error!("audit_store_signed_checkpoint: {e}"));
    Spi::connect_mut(|client| {
        let ours = self::origin(client)?;
        if origin != ours {
            error!("audit_store_signed_checkpoint: the checkpoint is for log {origin:?}, this is {ours:?}");
        }
        let now = tree_size(client)?;
        let held = if size > now {
            None
        } else {
            tree::root(&StoredTiles(client), size).ok()
        };
        if held != Some(root) {
            error!("audit_store_signed_checkpoint: the checkpoint does not sign this log's tree of {size} events (the log holds {now}): not keeping it");
        }
        let q = "INSERT INTO audit.signed_checkpoints (note, origin, tree_size, root_hash)
                 SELECT $1, $2, $3, $4
                  WHERE NOT EXISTS (SELECT FROM audit.signed_checkpoints WHERE tree_size = $3 AND note = $1)";
        client
            .update(
                q,
                None,
                &[p_note.into(), origin.into(), (size as i64).into(), root.0.to_vec().into()],
            )
            .map(drop)
    })
    .unwrap_or_else(|e| error!("audit_store_signed_checkpoint: {e}"));
}

/// Builds the tree from the sealed leaves already in `audit.event_positions` (no event is
/// re-hashed) and gives each batch without one its `tree_root`: what `ALTER EXTENSION auditlog
/// UPDATE` from 0.2.0 runs. It refuses, changing nothing, where a batch's leaves are incomplete,
/// do not give its `merkle_root`, or give another `tree_root` than the batch recorded: evidence
/// is never rewritten.
#[pg_extern(volatile, security_definer, schema = "audit")]
#[search_path(audit, pg_catalog, pg_temp)]
fn build_log_tree() -> i64 {
    Spi::connect_mut(|client| {
        // No seal runs meanwhile, and a tree once built is never rebuilt over.
        let lock = crate::seal::SEAL_LOCK;
        client.update("SELECT pg_advisory_xact_lock($1)", None, &[lock.into()])?;
        if client.select("SELECT FROM audit.tree_tiles LIMIT 1", Some(1), &[])?.next().is_some() {
            error!("build_log_tree: the log's tree is built already");
        }
        let leaves = "SELECT position, event_id, event_hash, classification_hash
                        FROM audit.event_positions WHERE position BETWEEN $1 AND $2 ORDER BY position";
        let set_root = "UPDATE audit.audit_log_integrity SET tree_root = $2 WHERE id = $1";
        let (mut log, mut full) = (Frontier::default(), Vec::new());
        for b in chain::range(client, 1, None)? {
            let (first, last) = (b.batch.first_position, b.batch.last_position);
            let mut hashes = Vec::with_capacity(b.batch.event_count as usize);
            for (expected, r) in (first..).zip(client.select(leaves, None, &[first.into(), last.into()])?) {
                let id: Uuid = r.get(2)?.expect("NOT NULL");
                let leaf = SealedLeaf {
                    position: r.get::<i64>(1)?.expect("NOT NULL"),
                    event_id: uuid::Uuid::from_bytes(*id.as_bytes()),
                    event_hash: chain::hash32(r.get(3)?),
                    classification_hash: chain::hash32(r.get(4)?),
                };
                if leaf.position != expected {
                    error!("build_log_tree: position {expected} of batch {} is missing; SELECT * FROM verify_audit_chain() names the damage", b.batch.batch_id);
                }
                hashes.push(leaf.leaf_hash());
            }
            if hashes.len() as i64 != b.batch.event_count
                || hex::encode(auditlog_core::merkle::root(&hashes)) != b.batch.merkle_root
            {
                error!("build_log_tree: the sealed leaves of batch {} do not give its merkle_root; SELECT * FROM verify_audit_chain() names the damage", b.batch.batch_id);
            }
            for h in &hashes {
                log.append(&Hash(*h), &mut full);
            }
            let root = hex::encode(log.root().0);
            if b.batch.tree_root.is_empty() {
                with_internal(|| client.update(set_root, None, &[b.batch.batch_id.into(), root.as_str().into()]))?;
            } else if b.batch.tree_root != root {
                error!("build_log_tree: batch {} recorded another tree_root than its leaves give", b.batch.batch_id);
            }
            write_tiles(client, &std::mem::take(&mut full))?;
        }
        write_tiles(client, &log.partial_tiles())?;
        Ok::<_, pgrx::spi::SpiError>(log.size() as i64)
    })
    .unwrap_or_else(|e| error!("build_log_tree: {e}"))
}
