//! RFC 9162 (Certificate Transparency v2) Merkle trees: leaf and node hashes with domain
//! separation, the tree head, and inclusion proofs (audit paths).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The largest power of two smaller than `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH(D[n]) over leaf hashes; the empty tree's root is SHA-256 of nothing.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): the audit path of leaf `m`, from the leaf's sibling up to the root's child.
pub fn audit_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    assert!(
        m < leaves.len(),
        "leaf {m} outside a tree of {}",
        leaves.len()
    );
    let n = leaves.len();
    if n == 1 {
        return Vec::new();
    }
    let k = split(n);
    if m < k {
        let mut p = audit_path(m, &leaves[..k]);
        p.push(root(&leaves[k..]));
        p
    } else {
        let mut p = audit_path(m - k, &leaves[k..]);
        p.push(root(&leaves[..k]));
        p
    }
}

/// Checks an audit path as RFC 9162 section 2.1.3.2 says: does leaf `index` of a tree of `size`
/// leaves, with hash `leaf`, lead to `root` along `path`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("leaf {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn small_trees_by_hand() {
        let l = leaves(3);
        assert_eq!(root(&l[..1]), l[0]);
        assert_eq!(root(&l[..2]), node_hash(&l[0], &l[1]));
        assert_eq!(root(&l), node_hash(&node_hash(&l[0], &l[1]), &l[2]));
        assert_eq!(
            hex::encode(root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        // Domain separation: a leaf is not a node of the same bytes.
        assert_ne!(leaf_hash(&[l[0], l[1]].concat()), node_hash(&l[0], &l[1]));
    }

    #[test]
    fn every_audit_path_verifies_and_tampering_fails() {
        for n in 1..=33 {
            let l = leaves(n);
            let r = root(&l);
            for m in 0..n {
                let p = audit_path(m, &l);
                assert!(
                    verify_inclusion(m as u64, n as u64, &l[m], &p, &r),
                    "n={n} m={m}"
                );
                // Wrong leaf, wrong index, wrong size, or a changed path element all fail.
                assert!(!verify_inclusion(
                    m as u64,
                    n as u64,
                    &leaf_hash(b"forged"),
                    &p,
                    &r
                ));
                if n > 1 {
                    assert!(!verify_inclusion(
                        ((m + 1) % n) as u64,
                        n as u64,
                        &l[m],
                        &p,
                        &r
                    ));
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(m as u64, n as u64, &l[m], &bad, &r));
                }
            }
        }
    }

    #[test]
    fn index_outside_tree_fails() {
        let l = leaves(4);
        assert!(!verify_inclusion(
            4,
            4,
            &l[0],
            &audit_path(0, &l),
            &root(&l)
        ));
    }
}
