//! The log's Merkle tree (RFC 6962/9162 hashing), with `tlog_tiles`' stored-hash layout: each
//! node of the tree, once complete, is stored under `stored_hash_index(level, n)`, so a tile
//! is a range of stored hashes and every proof is a handful of them.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use tlog_tiles::{
    Hash, HashReader, check_record, check_tree, prove_record, prove_tree, record_hash,
    stored_hash_index, stored_hashes, sub_tree_index, tree_hash,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TreeError {
    #[error("the stored tree lacks hash {0}")]
    Missing(u64),
    #[error("{0}")]
    OutOfRange(String),
    #[error("the proof does not verify")]
    ProofInvalid,
}

/// Stored hashes by index, as read from the store for one computation.
#[derive(Default)]
pub struct Hashes(pub HashMap<u64, Hash>);

impl HashReader for Hashes {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.0
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// Answers every read with a zero hash, remembering which were asked: which hashes a
/// computation reads depends only on the tree's shape, so a dry run says what to load.
#[derive(Default)]
struct Recorder(RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash([0; 32]); indexes.len()])
    }
}

/// The right edge of a tree: the roots of its maximal complete subtrees, all that appending
/// to it needs and all that its root hash is made of (at most 64 hashes).
#[derive(Clone, Debug, PartialEq)]
pub struct Frontier {
    size: u64,
    hashes: BTreeMap<u64, Hash>,
}

impl Frontier {
    pub fn empty() -> Self {
        Frontier {
            size: 0,
            hashes: BTreeMap::new(),
        }
    }

    /// The stored-hash indexes a tree of `size` entries' frontier is made of: what to load.
    pub fn indexes(size: u64) -> Vec<u64> {
        match size {
            0 => vec![],
            _ => sub_tree_index(0, size, vec![]),
        }
    }

    /// The frontier of a tree of `size` entries, from the hashes stored at [`Self::indexes`].
    pub fn new(
        size: u64,
        hashes: impl IntoIterator<Item = (u64, Hash)>,
    ) -> Result<Self, TreeError> {
        let mut hashes: BTreeMap<u64, Hash> = hashes.into_iter().collect();
        let needed = Self::indexes(size);
        hashes.retain(|i, _| needed.contains(i));
        if let Some(missing) = needed.iter().find(|i| !hashes.contains_key(i)) {
            return Err(TreeError::Missing(*missing));
        }
        Ok(Frontier { size, hashes })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The tree's root hash (RFC 6962 `MTH`; the hash of the empty string for no entries).
    pub fn root(&self) -> Hash {
        tree_hash(self.size, self).expect("a frontier holds its own subtree roots")
    }

    /// The frontier's hashes by stored index, to persist or to keep.
    pub fn hashes(&self) -> impl Iterator<Item = (u64, Hash)> + '_ {
        self.hashes.iter().map(|(i, h)| (*i, *h))
    }

    /// Appends `entry`; returns the stored hashes it completes (index, hash), to persist.
    pub fn append(&mut self, entry: &[u8]) -> Vec<(u64, Hash)> {
        let first = stored_hash_index(0, self.size);
        let new =
            stored_hashes(self.size, entry, self).expect("the frontier is what appending reads");
        let added: Vec<(u64, Hash)> = (first..).zip(new).collect();
        self.hashes.extend(added.iter().copied());
        self.size += 1;
        let needed = Self::indexes(self.size);
        self.hashes.retain(|i, _| needed.contains(i));
        added
    }
}

impl HashReader for Frontier {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|i| {
                self.hashes
                    .get(i)
                    .copied()
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

/// A proof a client may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProofRequest {
    /// That entry `index` is in the tree of `size` entries.
    Inclusion { index: u64, size: u64 },
    /// That the tree of `old` entries is a prefix of the tree of `new` entries.
    Consistency { old: u64, new: u64 },
}

impl ProofRequest {
    /// Refuses a proof that cannot exist in a tree of `size` entries.
    pub fn check(self, size: u64) -> Result<(), TreeError> {
        let (ok, what) = match self {
            ProofRequest::Inclusion { index, size: t } => (
                index < t && t <= size,
                format!("index {index} in a tree of {t}"),
            ),
            ProofRequest::Consistency { old, new } => (
                0 < old && old <= new && new <= size,
                format!("sizes {old} and {new}"),
            ),
        };
        match ok {
            true => Ok(()),
            false => Err(TreeError::OutOfRange(format!(
                "no proof for {what}: the log holds {size} entries (an inclusion needs index < size; a consistency 0 < old ≤ new)"
            ))),
        }
    }

    /// The stored hashes [`Self::prove`] reads.
    pub fn indexes(self) -> Vec<u64> {
        let recorder = Recorder::default();
        self.run(&recorder).expect("a recorder answers every read");
        let mut indexes = recorder.0.into_inner();
        indexes.sort_unstable();
        indexes.dedup();
        indexes
    }

    /// The proof, from the stored hashes at [`Self::indexes`].
    pub fn prove(self, hashes: &Hashes) -> Result<Vec<Hash>, TreeError> {
        self.run(hashes).map_err(|_| {
            let missing = self
                .indexes()
                .into_iter()
                .find(|i| !hashes.0.contains_key(i));
            TreeError::Missing(missing.unwrap_or_default())
        })
    }

    fn run<R: HashReader>(self, reader: &R) -> Result<Vec<Hash>, tlog_tiles::Error> {
        match self {
            ProofRequest::Inclusion { index, size } => prove_record(size, index, reader),
            ProofRequest::Consistency { old, new } => prove_tree(new, old, reader),
        }
    }
}

/// Checks that `entry` is entry `index` of the tree of `size` entries with root `root`.
pub fn verify_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    entry: &[u8],
) -> Result<(), TreeError> {
    check_record(&proof.to_vec(), size, root, index, record_hash(entry))
        .map_err(|_| TreeError::ProofInvalid)
}

/// Checks that the tree of `old` entries with root `old_root` is a prefix of the tree of
/// `new` entries with root `new_root`.
pub fn verify_consistency(
    proof: &[Hash],
    old: u64,
    old_root: Hash,
    new: u64,
    new_root: Hash,
) -> Result<(), TreeError> {
    if old == new {
        return match (proof.is_empty(), old_root == new_root) {
            (true, true) => Ok(()),
            _ => Err(TreeError::ProofInvalid),
        };
    }
    check_tree(&proof.to_vec(), new, new_root, old, old_root).map_err(|_| TreeError::ProofInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stored hash of a tree of `n` entries, and its root at each size.
    fn build(n: u64) -> (Vec<Vec<u8>>, Hashes, Vec<Hash>) {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
        let mut frontier = Frontier::empty();
        let mut all = Hashes::default();
        let mut roots = vec![frontier.root()];
        for e in &entries {
            all.0.extend(frontier.append(e));
            roots.push(frontier.root());
        }
        (entries, all, roots)
    }

    fn prove(request: ProofRequest, all: &Hashes) -> Vec<Hash> {
        let needed = Hashes(
            request
                .indexes()
                .into_iter()
                .map(|i| (i, all.0[&i]))
                .collect(),
        );
        request.prove(&needed).unwrap()
    }

    #[test]
    fn the_empty_tree_and_known_roots() {
        // RFC 6962: MTH({}) = SHA-256(""), MTH({d0}) = SHA-256(0x00 || d0).
        assert_eq!(Frontier::empty().root(), tlog_tiles::EMPTY_HASH);
        let mut one = Frontier::empty();
        one.append(b"");
        assert_eq!(
            one.root().to_string(),
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="
        );
    }

    #[test]
    fn a_frontier_reloaded_from_its_hashes_grows_the_same_tree() {
        let (entries, all, roots) = build(300);
        for size in [0u64, 1, 2, 3, 7, 8, 255, 256, 257, 299] {
            let stored = Frontier::indexes(size).into_iter().map(|i| (i, all.0[&i]));
            let mut frontier = Frontier::new(size, stored).unwrap();
            assert_eq!(frontier.root(), roots[size as usize]);
            frontier.append(&entries[size as usize]);
            assert_eq!(frontier.root(), roots[size as usize + 1]);
        }
        assert!(matches!(Frontier::new(5, []), Err(TreeError::Missing(_))));
    }

    #[test]
    fn every_inclusion_and_consistency_proof_verifies_up_to_a_few_hundred() {
        let n = 300u64;
        let (entries, all, roots) = build(n);
        for size in 1..=n {
            let root = roots[size as usize];
            for index in (0..size).step_by(((size / 16) as usize).max(1)) {
                let request = ProofRequest::Inclusion { index, size };
                request.check(n).unwrap();
                let proof = prove(request, &all);
                let entry = &entries[index as usize];
                verify_inclusion(&proof, size, root, index, entry).unwrap();
                // A changed entry, a changed size, another index: refused.
                assert!(verify_inclusion(&proof, size, root, index, b"forged").is_err());
                if size < n {
                    let next = roots[size as usize + 1];
                    assert!(verify_inclusion(&proof, size + 1, next, index, entry).is_err());
                }
                if size > 1 {
                    let other = (index + 1) % size;
                    assert!(verify_inclusion(&proof, size, root, other, entry).is_err());
                }
            }
            for old in (1..=size).step_by(((size / 16) as usize).max(1)) {
                let request = ProofRequest::Consistency { old, new: size };
                request.check(n).unwrap();
                let proof = prove(request, &all);
                let old_root = roots[old as usize];
                verify_consistency(&proof, old, old_root, size, root).unwrap();
                if old < size {
                    assert!(
                        verify_consistency(&proof, old, roots[old as usize - 1], size, root)
                            .is_err()
                    );
                    assert!(verify_consistency(&proof, old + 1, old_root, size, root).is_err());
                }
            }
        }
    }

    #[test]
    fn a_reordered_pair_changes_the_root() {
        let (mut entries, _, roots) = build(20);
        entries.swap(4, 5);
        let mut frontier = Frontier::empty();
        entries.iter().for_each(|e| drop(frontier.append(e)));
        assert_ne!(frontier.root(), roots[20]);
    }

    #[test]
    fn proofs_outside_the_tree_are_refused() {
        for bad in [
            ProofRequest::Inclusion { index: 5, size: 5 },
            ProofRequest::Inclusion { index: 0, size: 11 },
            ProofRequest::Consistency { old: 0, new: 3 },
            ProofRequest::Consistency { old: 4, new: 3 },
            ProofRequest::Consistency { old: 3, new: 11 },
        ] {
            assert!(bad.check(10).is_err(), "{bad:?}");
        }
    }
}
