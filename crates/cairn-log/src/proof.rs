//! C2SP `tlog-proof@v1`: a self-contained, offline-verifiable proof that an entry is in the
//! log: the log's signed checkpoint, the entry's index and its inclusion path. Cairn puts the
//! logged entry itself in the proof's `extra` line, so that a receipt's holder can check what
//! was logged (the ERoT's generation) with nothing but the proof and the log's key.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use tlog_tiles::Hash;

use crate::note::{Checkpoint, LogKey, NoteError};
use crate::tree::{TreeError, verify_inclusion};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    #[error("not a tlog-proof@v1: {0}")]
    Malformed(&'static str),
    #[error("the proof's checkpoint: {0}")]
    Checkpoint(#[from] NoteError),
    #[error("the entry is not in the checkpoint's tree: {0}")]
    Inclusion(#[from] TreeError),
}

#[derive(Clone, Debug, PartialEq)]
pub struct TlogProof {
    /// Opaque to the format; for Cairn, the entry's bytes.
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub path: Vec<Hash>,
    /// The signed checkpoint (a signed note) the path leads to.
    pub checkpoint: Vec<u8>,
}

impl TlogProof {
    pub fn to_text(&self) -> String {
        let mut text = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            text.push_str(&format!("extra {}\n", BASE64_STANDARD.encode(extra)));
        }
        text.push_str(&format!("index {}\n", self.index));
        for hash in &self.path {
            text.push_str(&format!("{hash}\n"));
        }
        text.push('\n');
        text.push_str(&String::from_utf8_lossy(&self.checkpoint));
        text
    }

    pub fn parse(text: &str) -> Result<TlogProof, ProofError> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or(ProofError::Malformed("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n').peekable();
        if lines.next() != Some(HEADER) {
            return Err(ProofError::Malformed(
                "the first line is not c2sp.org/tlog-proof@v1",
            ));
        }
        let extra = match lines.peek().and_then(|l| l.strip_prefix("extra ")) {
            Some(b64) => {
                lines.next();
                Some(
                    BASE64_STANDARD
                        .decode(b64)
                        .map_err(|_| ProofError::Malformed("extra is not base64"))?,
                )
            }
            None => None,
        };
        let index = lines
            .next()
            .and_then(|l| l.strip_prefix("index "))
            .filter(|n| !n.starts_with('0') || *n == "0")
            .and_then(|n| n.parse().ok())
            .ok_or(ProofError::Malformed("no index line"))?;
        let path = lines
            .map(|l| {
                Hash::parse_hash(l).map_err(|_| ProofError::Malformed("a path line is not a hash"))
            })
            .collect::<Result<_, _>>()?;
        Ok(TlogProof {
            extra,
            index,
            path,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Checks that `entry` is entry `index` of the tree the checkpoint, signed by `key`,
    /// commits to; answers that checkpoint.
    pub fn verify(&self, key: &LogKey, entry: &[u8]) -> Result<Checkpoint, ProofError> {
        let checkpoint = key.open(&self.checkpoint)?;
        verify_inclusion(
            &self.path,
            checkpoint.size,
            checkpoint.root,
            self.index,
            entry,
        )?;
        Ok(checkpoint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::tests::{key_pair, signed};
    use crate::tree::{Frontier, Hashes, ProofRequest};

    #[test]
    fn a_proof_round_trips_and_verifies_offline() {
        let (pair, key) = key_pair();
        let mut frontier = Frontier::empty();
        let mut all = Hashes::default();
        let entries: Vec<Vec<u8>> = (0..37).map(|i| format!("e{i}").into_bytes()).collect();
        entries
            .iter()
            .for_each(|e| all.0.extend(frontier.append(e)));
        let checkpoint = signed(&pair, &key, frontier.size(), frontier.root());
        let request = ProofRequest::Inclusion {
            index: 12,
            size: 37,
        };
        let proof = TlogProof {
            extra: Some(entries[12].clone()),
            index: 12,
            path: request.prove(&all).unwrap(),
            checkpoint: checkpoint.note.clone(),
        };
        let text = proof.to_text();
        assert!(
            text.starts_with("c2sp.org/tlog-proof@v1\nextra ZTEy\nindex 12\n"),
            "{text}"
        );
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, proof);
        assert_eq!(parsed.verify(&key, &entries[12]).unwrap(), checkpoint);
        assert!(matches!(
            parsed.verify(&key, &entries[13]),
            Err(ProofError::Inclusion(_))
        ));
        let (_, other) = key_pair();
        assert!(matches!(
            parsed.verify(&other, &entries[12]),
            Err(ProofError::Checkpoint(_))
        ));
        let moved = TlogProof {
            index: 13,
            ..parsed.clone()
        };
        assert!(moved.verify(&key, &entries[12]).is_err());
        for bad in [
            "",
            "c2sp.org/tlog-proof@v2\nindex 1\n\nx",
            "c2sp.org/tlog-proof@v1\nindex 01\n\nx",
            "c2sp.org/tlog-proof@v1\nindex 1\nnot-a-hash\n\nx",
            "c2sp.org/tlog-proof@v1\nextra !!\nindex 1\n\nx",
        ] {
            assert!(TlogProof::parse(bad).is_err(), "{bad}");
        }
    }
}
