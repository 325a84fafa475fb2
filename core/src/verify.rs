//! Verification of sealed batches: every break is named with its kind and place.

use crate::merkle::{self, Hash};
use crate::seal::{Batch, SealedLeaf, GENESIS};
use crate::tree::{self, Frontier, Tile};
use serde::Serialize;
use std::collections::HashMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ModifiedEvent,
    ModifiedClassification,
    ForgedRedaction,
    MissingEvent,
    InsertedEvent,
    ReorderedEvents,
    AlteredBatch,
    AlteredTree,
    TruncatedTail,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ModifiedEvent => "modified_event",
            Kind::ModifiedClassification => "modified_classification",
            Kind::ForgedRedaction => "forged_redaction",
            Kind::MissingEvent => "missing_event",
            Kind::InsertedEvent => "inserted_event",
            Kind::ReorderedEvents => "reordered_events",
            Kind::AlteredBatch => "altered_batch",
            Kind::AlteredTree => "altered_tree",
            Kind::TruncatedTail => "truncated_tail",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Problem {
    pub kind: Kind,
    pub batch_id: Option<i64>,
    pub position: Option<i64>,
    pub event_id: Option<uuid::Uuid>,
    pub detail: String,
}

/// A stored batch record and the hash stored with it.
pub struct StoredBatch {
    pub batch: Batch,
    pub batch_hash: String,
}

/// The event a sealed position points at, as it is stored now.
pub struct CurrentEvent {
    pub stored_integrity_hash: String,
    /// The integrity hash recomputed from the row, or why it could not be.
    pub recomputed_integrity_hash: Result<String, String>,
    pub classification_hash: Hash,
    /// (timestamp, event_id): the order positions were given in.
    pub order_key: (i64, uuid::Uuid),
    /// For a redacted event, the hash its redaction recorded for what is left of the row (the
    /// record itself is checked against its sealed digest apart).
    pub redacted_hash: Option<String>,
}

/// One position of a batch: what the seal recorded, and the event as it is now (None: gone).
pub struct SealedRow {
    pub leaf: SealedLeaf,
    pub current: Option<CurrentEvent>,
}

/// The log's tree rebuilt from the sealed leaves, batch after batch, to check each batch's
/// `tree_root` and the stored tiles.
pub struct LogWalk {
    /// None once a batch's positions are incomplete: the tree after it cannot be rebuilt.
    frontier: Option<Frontier>,
    /// The tiles completed since they were last taken, to compare with the stored ones.
    pub full: Vec<Tile>,
}

impl LogWalk {
    pub fn new(frontier: Frontier) -> LogWalk {
        LogWalk {
            frontier: Some(frontier),
            full: Vec::new(),
        }
    }

    /// A walk that checks no tree: where the tree before the first batch cannot be read.
    pub fn lost() -> LogWalk {
        LogWalk {
            frontier: None,
            full: Vec::new(),
        }
    }

    /// The tree as the walk left it, if it could be rebuilt.
    pub fn frontier(&self) -> Option<&Frontier> {
        self.frontier.as_ref()
    }
}

/// Tiles that differ from the ones rebuilt from the sealed leaves; a stored tile may have grown
/// past an `expected` one.
pub fn tile_problems(expected: &[Tile], stored: &HashMap<(u8, u64), Vec<u8>>) -> Vec<Problem> {
    expected
        .iter()
        .filter(|t| {
            stored
                .get(&(t.level, t.index))
                .is_none_or(|s| !s.starts_with(&t.hashes))
        })
        .map(|t| Problem {
            kind: Kind::AlteredTree,
            batch_id: None,
            position: None,
            event_id: None,
            detail: format!(
                "tile {}/{} does not hold the hashes of the sealed leaves",
                t.level, t.index
            ),
        })
        .collect()
}

/// Checks one batch: its record, its link to the previous batch, its positions, its Merkle root,
/// the log tree's root after it and every event in it. `rows` are the batch's position rows in
/// position order; `log` is the tree as the batch before left it.
pub fn verify_batch(
    prev: Option<&StoredBatch>,
    b: &StoredBatch,
    rows: &[SealedRow],
    log: &mut LogWalk,
) -> Vec<Problem> {
    let id = b.batch.batch_id;
    let mut out = Vec::new();
    let mut problem = |kind, position, event_id, detail: String| {
        out.push(Problem {
            kind,
            batch_id: Some(id),
            position,
            event_id,
            detail,
        })
    };
    if b.batch.batch_hash() != b.batch_hash {
        problem(
            Kind::AlteredBatch,
            None,
            None,
            "the batch record does not match its batch_hash".into(),
        );
    }
    match prev {
        Some(p) => {
            if b.batch.prev_batch_hash != p.batch_hash {
                problem(
                    Kind::AlteredBatch,
                    None,
                    None,
                    format!("does not chain to batch {}", p.batch.batch_id),
                );
            }
            if b.batch.batch_id != p.batch.batch_id + 1
                || b.batch.first_position != p.batch.last_position + 1
            {
                problem(
                    Kind::AlteredBatch,
                    None,
                    None,
                    format!(
                        "follows batch {} (positions to {}) but starts at position {}: batches are missing",
                        p.batch.batch_id, p.batch.last_position, b.batch.first_position
                    ),
                );
            }
        }
        None if b.batch.batch_id == 1 && b.batch.prev_batch_hash != GENESIS => problem(
            Kind::AlteredBatch,
            None,
            None,
            "the first batch does not start the chain".into(),
        ),
        None => {}
    }
    if b.batch.last_position - b.batch.first_position + 1 != b.batch.event_count {
        problem(
            Kind::AlteredBatch,
            None,
            None,
            "event_count does not match its positions".into(),
        );
    }

    // Positions: exactly first..=last, once each. Rows outside that are reported and set aside.
    let mut in_range: Vec<&SealedRow> = Vec::with_capacity(rows.len());
    let mut expected = b.batch.first_position;
    for r in rows {
        let p = r.leaf.position;
        if p < expected || p > b.batch.last_position {
            problem(
                Kind::InsertedEvent,
                Some(p),
                Some(r.leaf.event_id),
                "a position the batch does not hold".into(),
            );
            continue;
        }
        for gone in expected..p {
            problem(
                Kind::MissingEvent,
                Some(gone),
                None,
                "the sealed position is gone".into(),
            );
        }
        expected = p + 1;
        in_range.push(r);
    }
    for gone in expected..=b.batch.last_position {
        problem(
            Kind::MissingEvent,
            Some(gone),
            None,
            "the sealed position is gone".into(),
        );
    }

    // Each event against what was sealed.
    let mut reordered = false;
    let mut last_key = None;
    for r in &in_range {
        let (p, eid) = (Some(r.leaf.position), Some(r.leaf.event_id));
        let Some(cur) = &r.current else {
            problem(
                Kind::MissingEvent,
                p,
                eid,
                "the sealed event is gone".into(),
            );
            continue;
        };
        let sealed_hash = hex::encode(r.leaf.event_hash);
        let reclassified = cur.classification_hash != r.leaf.classification_hash;
        let kind = if reclassified {
            Kind::ModifiedClassification
        } else {
            Kind::ModifiedEvent
        };
        // A redacted row holds less than was sealed: it must match what its redaction recorded,
        // while its integrity_hash stays the sealed one.
        let expected = cur
            .redacted_hash
            .as_ref()
            .unwrap_or(&cur.stored_integrity_hash);
        match &cur.recomputed_integrity_hash {
            Err(why) => problem(
                kind,
                p,
                eid,
                format!("its hash cannot be recomputed: {why}"),
            ),
            Ok(h) if h != expected => problem(
                kind,
                p,
                eid,
                if cur.redacted_hash.is_some() {
                    "the row was changed after its redaction".into()
                } else {
                    "the row does not match its integrity_hash".into()
                },
            ),
            Ok(_) if cur.stored_integrity_hash != sealed_hash => problem(
                kind,
                p,
                eid,
                "the row and its integrity_hash were both changed after sealing".into(),
            ),
            Ok(_) if reclassified => problem(
                kind,
                p,
                eid,
                "the classification was changed after sealing".into(),
            ),
            Ok(_) => {}
        }
        if last_key.is_some_and(|k| k > cur.order_key) {
            reordered = true;
            problem(
                Kind::ReorderedEvents,
                p,
                eid,
                "out of the order it was sealed in".into(),
            );
        }
        last_key = Some(cur.order_key);
    }

    let leaves: Vec<Hash> = in_range.iter().map(|r| r.leaf.leaf_hash()).collect();
    if hex::encode(merkle::root(&leaves)) != b.batch.merkle_root && !reordered {
        problem(
            Kind::AlteredBatch,
            None,
            None,
            "the sealed leaves do not match the Merkle root".into(),
        );
    }
    let complete = in_range.len() as i64 == b.batch.event_count
        && b.batch.last_position - b.batch.first_position + 1 == b.batch.event_count;
    match log.frontier.as_mut() {
        // Reordered leaves are named above; the tree after them cannot be rebuilt either.
        Some(f) if complete && !reordered && f.size() as i64 == b.batch.first_position - 1 => {
            for l in &leaves {
                f.append(&tree::Hash(*l), &mut log.full);
            }
            if hex::encode(f.root().0) != b.batch.tree_root {
                problem(
                    Kind::AlteredTree,
                    None,
                    None,
                    "tree_root is not the root of the log's tree after the sealed leaves".into(),
                );
            }
        }
        _ => log.frontier = None,
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::next_batch;

    fn sealed(n: i64, first: i64) -> Vec<SealedRow> {
        (first..first + n)
            .map(|p| {
                let event_hash = [p as u8; 32];
                SealedRow {
                    leaf: SealedLeaf {
                        position: p,
                        event_id: uuid::Uuid::from_u128(p as u128),
                        event_hash,
                        classification_hash: [9; 32],
                    },
                    current: Some(CurrentEvent {
                        stored_integrity_hash: hex::encode(event_hash),
                        recomputed_integrity_hash: Ok(hex::encode(event_hash)),
                        classification_hash: [9; 32],
                        order_key: (p * 10, uuid::Uuid::from_u128(p as u128)),
                        redacted_hash: None,
                    }),
                }
            })
            .collect()
    }

    fn leaves(rows: &[SealedRow]) -> Vec<SealedLeaf> {
        rows.iter().map(|r| r.leaf.clone()).collect()
    }

    /// The log tree after the first batch's three leaves.
    fn after_b1() -> LogWalk {
        let mut f = Frontier::default();
        for l in leaves(&sealed(3, 1)) {
            f.append(&tree::Hash(l.leaf_hash()), &mut Vec::new());
        }
        LogWalk::new(f)
    }

    fn empty() -> LogWalk {
        LogWalk::new(Frontier::default())
    }

    fn chain() -> (StoredBatch, StoredBatch, Vec<SealedRow>) {
        let (mut log, mut full) = (Frontier::default(), Vec::new());
        let b1 = next_batch(
            None,
            &leaves(&sealed(3, 1)),
            (10, 30),
            40,
            &mut log,
            &mut full,
        );
        let h1 = b1.batch_hash();
        let rows2 = sealed(4, 4);
        let b2 = next_batch(
            Some((&b1, &h1)),
            &leaves(&rows2),
            (40, 70),
            80,
            &mut log,
            &mut full,
        );
        let h2 = b2.batch_hash();
        (
            StoredBatch {
                batch: b1,
                batch_hash: h1,
            },
            StoredBatch {
                batch: b2,
                batch_hash: h2,
            },
            rows2,
        )
    }

    fn kinds(p: &[Problem]) -> Vec<(Kind, Option<i64>)> {
        p.iter().map(|p| (p.kind, p.position)).collect()
    }

    #[test]
    fn a_clean_chain_verifies() {
        let (b1, b2, rows) = chain();
        assert!(verify_batch(None, &b1, &sealed(3, 1), &mut empty()).is_empty());
        assert!(verify_batch(Some(&b1), &b2, &rows, &mut after_b1()).is_empty());
    }

    #[test]
    fn each_tamper_kind() {
        let (b1, b2, rows) = chain();
        let check =
            |rows: &[SealedRow]| kinds(&verify_batch(Some(&b1), &b2, rows, &mut after_b1()));

        let mut r = sealed(4, 4);
        r[1].current.as_mut().unwrap().recomputed_integrity_hash = Ok("edited".into());
        assert_eq!(check(&r), [(Kind::ModifiedEvent, Some(5))]);

        let mut r = sealed(4, 4);
        let c = r[1].current.as_mut().unwrap();
        c.recomputed_integrity_hash = Ok("rehashed".into());
        c.stored_integrity_hash = "rehashed".into();
        assert_eq!(check(&r), [(Kind::ModifiedEvent, Some(5))]);

        let mut r = sealed(4, 4);
        r[2].current.as_mut().unwrap().classification_hash = [1; 32];
        r[2].current.as_mut().unwrap().recomputed_integrity_hash = Ok("x".into());
        assert_eq!(check(&r), [(Kind::ModifiedClassification, Some(6))]);

        let mut r = sealed(4, 4);
        r[0].current = None;
        assert_eq!(check(&r), [(Kind::MissingEvent, Some(4))]);

        let mut r = sealed(4, 4);
        r.remove(2);
        assert_eq!(
            check(&r),
            [(Kind::MissingEvent, Some(6)), (Kind::AlteredBatch, None)]
        );

        let mut r = sealed(4, 4);
        r.swap(1, 2);
        (r[1].leaf.position, r[2].leaf.position) = (5, 6);
        assert_eq!(check(&r), [(Kind::ReorderedEvents, Some(6))]);

        let mut forged = sealed(5, 4);
        forged[4].leaf.position = 8;
        assert_eq!(check(&forged), [(Kind::InsertedEvent, Some(8))]);

        assert!(check(&rows).is_empty());
    }

    #[test]
    fn a_redacted_row_verifies_against_its_recorded_hash_only() {
        let (b1, b2, _) = chain();
        let check =
            |rows: &[SealedRow]| kinds(&verify_batch(Some(&b1), &b2, rows, &mut after_b1()));
        let mut r = sealed(4, 4);
        let c = r[1].current.as_mut().unwrap();
        c.recomputed_integrity_hash = Ok("what is left".into());
        c.redacted_hash = Some("what is left".into());
        assert!(check(&r).is_empty());
        // Changed after its redaction.
        r[1].current.as_mut().unwrap().recomputed_integrity_hash = Ok("edited later".into());
        let found = verify_batch(Some(&b1), &b2, &r, &mut after_b1());
        assert_eq!(kinds(&found), [(Kind::ModifiedEvent, Some(5))]);
        assert!(found[0].detail.contains("after its redaction"));
        // A redaction does not license a changed integrity_hash.
        let mut r = sealed(4, 4);
        let c = r[1].current.as_mut().unwrap();
        (c.recomputed_integrity_hash, c.redacted_hash) = (Ok("left".into()), Some("left".into()));
        c.stored_integrity_hash = "other".into();
        assert_eq!(check(&r), [(Kind::ModifiedEvent, Some(5))]);
    }

    #[test]
    fn altered_batch_records() {
        let (b1, mut b2, rows) = chain();
        b2.batch.event_count = 5;
        let k = kinds(&verify_batch(Some(&b1), &b2, &rows, &mut after_b1()));
        assert!(k.contains(&(Kind::AlteredBatch, None)), "{k:?}");

        // Recomputing the hash of an edited record still breaks the link to the next batch.
        let (b1, b2, rows) = chain();
        let mut b1x = StoredBatch {
            batch: b1.batch.clone(),
            batch_hash: b1.batch_hash.clone(),
        };
        b1x.batch.batch_end_us += 1;
        b1x.batch_hash = b1x.batch.batch_hash();
        assert_eq!(
            kinds(&verify_batch(None, &b1x, &sealed(3, 1), &mut empty())),
            []
        );
        assert_eq!(
            kinds(&verify_batch(Some(&b1x), &b2, &rows, &mut after_b1())),
            [(Kind::AlteredBatch, None)]
        );
    }

    #[test]
    fn the_log_tree_is_rebuilt_and_checked() {
        let (b1, b2, rows) = chain();
        let mut walk = empty();
        assert!(verify_batch(None, &b1, &sealed(3, 1), &mut walk).is_empty());
        assert!(verify_batch(Some(&b1), &b2, &rows, &mut walk).is_empty());
        assert_eq!(walk.frontier().map(Frontier::size), Some(7));

        // Another tree root, its batch hash recomputed: the chain breaks and the tree says so.
        let mut b2x = StoredBatch {
            batch: b2.batch.clone(),
            batch_hash: String::new(),
        };
        b2x.batch.tree_root = GENESIS.into();
        b2x.batch_hash = b2x.batch.batch_hash();
        assert_eq!(
            kinds(&verify_batch(Some(&b1), &b2x, &rows, &mut after_b1())),
            [(Kind::AlteredTree, None)]
        );

        // A walk that cannot rebuild a batch stops checking the tree after it.
        let mut walk = after_b1();
        let mut r = sealed(4, 4);
        r.remove(1);
        assert!(!verify_batch(Some(&b1), &b2, &r, &mut walk).is_empty());
        assert!(walk.frontier().is_none());
        assert!(verify_batch(Some(&b1), &b2x, &rows, &mut walk).is_empty());

        // Stored tiles against the rebuilt ones, a grown one included.
        let built = tree::Tiles::build(
            &leaves(&sealed(300, 1))
                .iter()
                .map(|l| tree::Hash(l.leaf_hash()))
                .collect::<Vec<_>>(),
        );
        let mut expected: Vec<Tile> = built
            .0
            .iter()
            .map(|(&(level, index), h)| Tile {
                level,
                index,
                hashes: h.clone(),
            })
            .collect();
        expected.sort_by_key(|t| (t.level, t.index));
        assert!(tile_problems(&expected, &built.0).is_empty());
        let mut shorter = expected.clone();
        shorter[1].hashes.truncate(32 * 10);
        assert!(tile_problems(&shorter, &built.0).is_empty());
        let mut stored = built.0.clone();
        stored.get_mut(&(0, 1)).unwrap()[5] ^= 1;
        stored.remove(&(1, 0));
        let found = tile_problems(&expected, &stored);
        assert_eq!(kinds(&found), [(Kind::AlteredTree, None); 2]);
        assert!(found[0].detail.contains("tile 0/1"), "{found:?}");
    }
}
