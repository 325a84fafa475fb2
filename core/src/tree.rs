//! The one log: every sealed event's leaf appended to a single, growing RFC 9162 Merkle tree,
//! stored as c2sp.org/tlog-tiles tiles so that an inclusion or consistency proof between any two
//! sizes reads O(log n) of them.
//!
//! A tile at level L holds up to 256 consecutive hashes of the tree's level 8L: level 0 the leaf
//! hashes, level 1 the roots of each 256 leaves, and so on. A tile is final once it holds 256;
//! the rightmost tile of each level (the frontier) grows with every seal. The hashes a proof
//! needs are Go's `sumdb/tlog` stored hashes; the proofs themselves are `tlog_tiles`' (Go's
//! algorithms in Rust), and tests check them against Go's own code.

use std::collections::HashMap;
use tlog_tiles::{Tile as TlogTile, HASH_SIZE};

pub use tlog_tiles::{Error, Hash, HashReader, EMPTY_HASH};

pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile.
pub const TILE_WIDTH: usize = 1 << TILE_HEIGHT;

/// One tile as stored: its level, its index within the level and its hashes, 32 bytes each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tile {
    pub level: u8,
    pub index: u64,
    pub hashes: Vec<u8>,
}

impl Tile {
    pub fn width(&self) -> usize {
        self.hashes.len() / HASH_SIZE
    }
}

/// The tile that holds the rightmost hashes of `level` in a tree of `size` leaves, and its width
/// (0: the level has no partial tile at that size).
pub fn frontier_tile(size: u64, level: u8) -> (u64, usize) {
    let at_level = size >> (TILE_HEIGHT as u32 * level as u32);
    (
        at_level >> TILE_HEIGHT,
        (at_level % TILE_WIDTH as u64) as usize,
    )
}

/// The levels a tree of `size` leaves has tiles at.
pub fn levels(size: u64) -> u8 {
    let mut l = 0;
    while size >> (TILE_HEIGHT as u32 * l as u32) > 0 {
        l += 1;
    }
    l
}

/// The right edge of the tree: enough to append leaves and to compute the root.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Frontier {
    size: u64,
    /// The partial tile of each level, fewer than 256 hashes each.
    partial: Vec<Vec<u8>>,
}

impl Frontier {
    /// The frontier of a tree of `size` leaves from the stored tiles `frontier_tile` names for
    /// each level (a stored tile may have grown since: its first hashes are the ones needed).
    pub fn from_tiles(size: u64, tiles: &HashMap<(u8, u64), Vec<u8>>) -> Result<Frontier, String> {
        let mut partial = Vec::new();
        for level in 0..levels(size) {
            let (index, width) = frontier_tile(size, level);
            let data = if width == 0 {
                Vec::new()
            } else {
                let stored = tiles
                    .get(&(level, index))
                    .ok_or(format!("tile {level}/{index} is missing"))?;
                stored
                    .get(..width * HASH_SIZE)
                    .ok_or(format!(
                        "tile {level}/{index} holds {} hashes, fewer than the tree's {width}",
                        stored.len() / HASH_SIZE
                    ))?
                    .to_vec()
            };
            partial.push(data);
        }
        Ok(Frontier { size, partial })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash; each tile it completes is pushed to `full`.
    pub fn append(&mut self, leaf: &Hash, full: &mut Vec<Tile>) {
        self.size += 1;
        let mut hash = *leaf;
        let mut level = 0usize;
        loop {
            if self.partial.len() == level {
                self.partial
                    .push(Vec::with_capacity(TILE_WIDTH * HASH_SIZE));
            }
            let tile = &mut self.partial[level];
            tile.extend_from_slice(&hash.0);
            if tile.len() < TILE_WIDTH * HASH_SIZE {
                return;
            }
            let hashes = std::mem::replace(tile, Vec::with_capacity(TILE_WIDTH * HASH_SIZE));
            hash = TlogTile::subtree_hash(&hashes);
            let index = (self.size >> (TILE_HEIGHT as u32 * (level as u32 + 1))) - 1;
            full.push(Tile {
                level: level as u8,
                index,
                hashes,
            });
            level += 1;
        }
    }

    /// The partial tiles to store at this size (a level whose tile just filled has none).
    pub fn partial_tiles(&self) -> Vec<Tile> {
        (0..self.partial.len() as u8)
            .filter(|&l| !self.partial[l as usize].is_empty())
            .map(|level| Tile {
                level,
                index: frontier_tile(self.size, level).0,
                hashes: self.partial[level as usize].clone(),
            })
            .collect()
    }

    /// MTH of the tree: its complete subtrees, largest first, folded from the right.
    pub fn root(&self) -> Hash {
        let mut subtrees = Vec::new();
        for data in self.partial.iter().rev() {
            let width = data.len() / HASH_SIZE;
            let mut at = 0;
            for bit in (0..TILE_HEIGHT).rev() {
                let n = 1usize << bit;
                if width & n != 0 {
                    subtrees.push(TlogTile::subtree_hash(
                        &data[at * HASH_SIZE..(at + n) * HASH_SIZE],
                    ));
                    at += n;
                }
            }
        }
        let mut it = subtrees.into_iter().rev();
        match it.next() {
            None => EMPTY_HASH,
            Some(last) => it.fold(last, |right, left| tlog_tiles::node_hash(left, right)),
        }
    }
}

/// The tiles that hold the stored hashes `indexes` (Go's `sumdb/tlog` numbering).
pub fn tiles_for(indexes: &[u64]) -> Vec<(u8, u64)> {
    let mut keys: Vec<(u8, u64)> = indexes
        .iter()
        .map(|&i| {
            let t = TlogTile::from_index(TILE_HEIGHT, i);
            (t.level(), t.level_index())
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The stored hashes `indexes`, read from `tiles` (as `tiles_for` named them).
pub fn hashes_from_tiles(
    indexes: &[u64],
    tiles: &HashMap<(u8, u64), Vec<u8>>,
) -> Result<Vec<Hash>, tlog_tiles::Error> {
    indexes
        .iter()
        .map(|&i| {
            let t = TlogTile::from_index(TILE_HEIGHT, i);
            let data = tiles
                .get(&(t.level(), t.level_index()))
                .ok_or(tlog_tiles::Error::IndexesNotInTree)?;
            let width = (data.len() / HASH_SIZE) as u32;
            TlogTile::new(TILE_HEIGHT, t.level(), t.level_index(), width, false)
                .hash_at_index(data, i)
        })
        .collect()
}

/// Tiles held in memory, read as a `HashReader`.
pub struct Tiles(pub HashMap<(u8, u64), Vec<u8>>);

impl Tiles {
    /// Every tile a tree of these leaves stores, built as the seals build them.
    pub fn build(leaves: &[Hash]) -> Tiles {
        let mut frontier = Frontier::default();
        let mut full = Vec::new();
        for l in leaves {
            frontier.append(l, &mut full);
        }
        full.extend(frontier.partial_tiles());
        Tiles(
            full.into_iter()
                .map(|t| ((t.level, t.index), t.hashes))
                .collect(),
        )
    }
}

impl HashReader for Tiles {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        hashes_from_tiles(indexes, &self.0)
    }
}

/// MTH(D[size]): the root of the tree of the first `size` leaves.
pub fn root(r: &impl HashReader, size: u64) -> Result<Hash, tlog_tiles::Error> {
    tlog_tiles::tree_hash(size, r)
}

/// PATH(index, D[size]) of RFC 9162 section 2.1.3.
pub fn inclusion_proof(
    r: &impl HashReader,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, tlog_tiles::Error> {
    tlog_tiles::prove_record(size, index, r)
}

/// PROOF(old, D[new]) of RFC 9162 section 2.1.4: empty when the sizes are equal.
pub fn consistency_proof(
    r: &impl HashReader,
    old: u64,
    new: u64,
) -> Result<Vec<Hash>, tlog_tiles::Error> {
    if old == new {
        return Ok(Vec::new());
    }
    tlog_tiles::prove_tree(new, old, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlog_tiles::{check_record, check_tree, record_hash, stored_hashes, tree_hash};

    /// Go's own layout, built with tlog_tiles' port of `tlog.StoredHashes`: the reference the
    /// tiles are checked against.
    struct Stored(Vec<Hash>);

    impl HashReader for Stored {
        fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
            Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
        }
    }

    fn stored(data: &[Vec<u8>]) -> Stored {
        let mut s = Stored(Vec::new());
        for (n, d) in data.iter().enumerate() {
            let more = stored_hashes(n as u64, d, &s).unwrap();
            s.0.extend(more);
        }
        s
    }

    fn data(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| i.to_string().into_bytes()).collect()
    }

    fn leaves(data: &[Vec<u8>]) -> Vec<Hash> {
        data.iter().map(|d| record_hash(d)).collect()
    }

    /// RFC 6962's test leaves, as Certificate Transparency and Go's tlog tests use them.
    #[test]
    fn certificate_transparency_vectors() {
        let ct: Vec<Vec<u8>> = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ]
        .iter()
        .map(|h| hex::decode(h).unwrap())
        .collect();
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let l = leaves(&ct);
        let mut f = Frontier::default();
        for (i, want) in roots.iter().enumerate() {
            f.append(&l[i], &mut Vec::new());
            assert_eq!(hex::encode(f.root().0), *want, "size {}", i + 1);
        }
        // RFC 6962's consistency vectors: PROOF(1, D[8]), PROOF(6, D[8]), PROOF(2, D[5]).
        let tiles = Tiles::build(&l);
        let hexes = |p: Vec<Hash>| p.iter().map(|h| hex::encode(h.0)).collect::<Vec<_>>();
        assert_eq!(
            hexes(consistency_proof(&tiles, 1, 8).unwrap()),
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ]
        );
        assert_eq!(
            hexes(consistency_proof(&tiles, 6, 8).unwrap()),
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ]
        );
        let five = Tiles::build(&l[..5]);
        assert_eq!(
            hexes(consistency_proof(&five, 2, 5).unwrap()),
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ]
        );
    }

    /// Every tile as the seals build it equals the tile read from Go's stored hashes, and the
    /// frontier's root is Go's tree hash, at every size across tile boundaries of two levels.
    #[test]
    fn tiles_and_roots_match_go_layout() {
        let d = data(256 * 256 + 300);
        let s = stored(&d);
        let l = leaves(&d);
        let mut f = Frontier::default();
        let mut full = Vec::new();
        for (n, leaf) in l.iter().enumerate() {
            f.append(leaf, &mut full);
            let size = n as u64 + 1;
            if size < 600 || size % 997 == 0 || size > 256 * 256 - 3 {
                assert_eq!(f.root(), tree_hash(size, &s).unwrap(), "size {size}");
                for t in f.partial_tiles().iter().chain(&full) {
                    let want =
                        TlogTile::new(TILE_HEIGHT, t.level, t.index, t.width() as u32, false)
                            .read_data(&s)
                            .unwrap();
                    assert_eq!(t.hashes, want, "tile {}/{} at {size}", t.level, t.index);
                }
                full.clear();
            }
        }
        // A frontier read back from stored tiles continues as the one that wrote them, at tile
        // boundaries of both levels too.
        for size in [1, 255, 256, 257, 65_535, 65_536, 65_537, 65_600] {
            let tiles = Tiles::build(&l[..size]);
            let mut back = Frontier::from_tiles(size as u64, &tiles.0).unwrap();
            assert_eq!(
                back.root(),
                tree_hash(size as u64, &s).unwrap(),
                "size {size}"
            );
            for leaf in &l[size..] {
                back.append(leaf, &mut Vec::new());
            }
            assert_eq!(back.root(), f.root(), "continued from {size}");
        }
    }

    /// Proofs from tiles equal proofs from Go's layout, for every pair of sizes up to 300, and
    /// check with Go's algorithms; tampering with any of them fails.
    #[test]
    fn proofs_for_every_pair_of_sizes() {
        let n = 300;
        let d = data(n);
        let s = stored(&d);
        let tiles = Tiles::build(&leaves(&d));
        for new in 1..=n as u64 {
            let root = tree_hash(new, &s).unwrap();
            for i in 0..new {
                let p = inclusion_proof(&tiles, i, new).unwrap();
                assert_eq!(p, tlog_tiles::prove_record(new, i, &s).unwrap());
                let leaf = record_hash(&d[i as usize]);
                check_record(&p, new, root, i, leaf).unwrap();
                assert!(check_record(&p, new, root, (i + 1) % new, leaf).is_err() || new == 1);
                if let Some(h) = p.first() {
                    let mut bad = p.clone();
                    bad[0] = Hash(record_hash(&h.0).0);
                    assert!(check_record(&bad, new, root, i, leaf).is_err());
                }
            }
            for old in 1..=new {
                let p = consistency_proof(&tiles, old, new).unwrap();
                let old_root = tree_hash(old, &s).unwrap();
                check_tree(&p, new, root, old, old_root).unwrap();
                if old < new {
                    assert_eq!(p, tlog_tiles::prove_tree(new, old, &s).unwrap());
                    // Another old root: the fork a witness must refuse.
                    let forked = record_hash(b"fork");
                    assert!(check_tree(&p, new, root, old, forked).is_err());
                    let mut bad = p.clone();
                    bad[p.len() - 1] = forked;
                    assert!(check_tree(&bad, new, root, old, old_root).is_err());
                }
            }
        }
    }

    #[test]
    fn missing_or_short_tiles_are_errors() {
        let l = leaves(&data(600));
        let mut tiles = Tiles::build(&l);
        tiles.0.get_mut(&(0, 2)).unwrap().truncate(10 * HASH_SIZE);
        assert!(Frontier::from_tiles(600, &tiles.0).is_err());
        assert!(inclusion_proof(&tiles, 599, 600).is_err());
        tiles.0.remove(&(1, 0));
        assert!(Frontier::from_tiles(600, &tiles.0).is_err());
        assert!(Frontier::from_tiles(0, &HashMap::new()).unwrap().root() == EMPTY_HASH);
    }
}

/// The worked examples of docs/integrity.md, computed by the code that seals: three events, their
/// pre-images, hashes and leaves, and the tree of three with its proofs.
#[cfg(test)]
mod worked_example {
    use super::*;
    use crate::hash::StoredEvent;
    use crate::seal::SealedLeaf;
    use serde_json::json;

    pub(crate) fn event(n: u128) -> StoredEvent {
        let at = 1_764_504_000_000_000; // 2025-11-30T12:00:00Z
        StoredEvent {
            event_id: uuid::Uuid::from_u128(0x019a_d4f0_0000_7000_8000_0000_0000_0000 + n),
            timestamp_us: at,
            event_type: "auth.login.success".into(),
            event_data: json!({"n": n as u64}),
            user_id: Some(42),
            session_id: None,
            correlation_id: "CORR_1".into(),
            parent_correlation_id: None,
            ip_address: Some("10.0.0.1".into()),
            user_agent: None,
            user_context: json!({"user_id": 42}),
            status: "success".into(),
            enrichment_data: json!({}),
            classification: json!({"risk_score": 5, "severity": "info"}),
            context_errors: serde_json::Value::Null,
            created_at_us: at,
            updated_at_us: at,
            hash_version: 1,
        }
    }

    pub(crate) fn leaf(n: u128) -> SealedLeaf {
        let (event_hash, classification_hash) = event(n).seal_hashes().unwrap();
        SealedLeaf {
            position: n as i64,
            event_id: event(n).event_id,
            event_hash: hex::decode(event_hash).unwrap().try_into().unwrap(),
            classification_hash,
        }
    }

    #[test]
    fn the_values_in_the_docs() {
        let e = event(1);
        assert_eq!(
            e.preimage(),
            r#"{"classification":{"risk_score":5,"severity":"info"},"context_errors":null,"correlation_id":"CORR_1","created_at":"2025-11-30T12:00:00.000000Z","enrichment_data":{},"event_data":{"n":1},"event_id":"019ad4f0-0000-7000-8000-000000000001","event_type":"auth.login.success","hash_version":1,"ip_address":"10.0.0.1","parent_correlation_id":null,"session_id":null,"status":"success","timestamp":"2025-11-30T12:00:00.000000Z","updated_at":"2025-11-30T12:00:00.000000Z","user_agent":null,"user_context":{"user_id":42},"user_id":42}"#
        );
        assert_eq!(
            e.integrity_hash().unwrap(),
            "a8f5a2376cad9403f7dbb159433ac3b6c6ea2eefc920eb0668f224b00843ec7a"
        );
        assert_eq!(
            hex::encode(leaf(1).classification_hash),
            "9b5f329875ecb16d3865aadf25fab7af63b9e0e9f1f87d5cdb4b562d626b4a7b"
        );
        assert_eq!(
            hex::encode(leaf(1).data()),
            "0000000000000001019ad4f0000070008000000000000001\
             a8f5a2376cad9403f7dbb159433ac3b6c6ea2eefc920eb0668f224b00843ec7a\
             9b5f329875ecb16d3865aadf25fab7af63b9e0e9f1f87d5cdb4b562d626b4a7b"
        );
        let leaves: Vec<Hash> = (1..=3).map(|n| Hash(leaf(n).leaf_hash())).collect();
        let hexes: Vec<String> = leaves.iter().map(|h| hex::encode(h.0)).collect();
        assert_eq!(
            hexes,
            [
                "7eeb91764fcde80d06a43d27eac3ac37eeda065ba351a1d38b1e7408c18fb3db",
                "a25e747e87477cab8c496797d884400faaaadba6ebfe84f06db0701a68c590be",
                "20ac1e4f0412cada04f4cee33020e6b5f740c6d9d493c6168ed5c6443886359f",
            ]
        );
        assert_eq!(
            hex::encode(tlog_tiles::node_hash(leaves[0], leaves[1]).0),
            "e8d26128de89617b12b1a8bf65d3da83a230a551dd695138270d02982769154a"
        );
        let tiles = Tiles::build(&leaves);
        let root = tlog_tiles::tree_hash(3, &tiles).unwrap();
        assert_eq!(
            hex::encode(root.0),
            "9cf643f85d3dbdd966bbb6c1beb77108b0456deb60ed5a34f9477c85ae636a31"
        );
        assert_eq!(
            root.to_string(),
            "nPZD+F09vdlmu7bBvrdxCLBFbetg7Vo0+Ud8ha5jajE="
        );
        assert_eq!(
            inclusion_proof(&tiles, 0, 3).unwrap(),
            [leaves[1], leaves[2]]
        );
        assert_eq!(consistency_proof(&tiles, 2, 3).unwrap(), [leaves[2]]);
    }
}
