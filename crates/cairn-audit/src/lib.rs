//! The auditor's and the monitor's side of the transparency log (DESIGN.md, "Transparency log
//! and audit"), for `cairn audit` and for anyone who audits Cairn from their own code.
//!
//! - [`receipt_entry`] and [`receipt_logged`]: a receipt's ERoT generation is the entry its C2SP `tlog-proof@v1`
//!   names, in a tree the log key signed; offline, with nothing but the log's key.
//! - [`check_consistent`]: two checkpoints of one log are of one tree.
//! - [`follow`]: a monitor's round: the log's new checkpoint is signed by the log key, its
//!   entries hash to it, and it extends the tree the monitor kept ([`MonitorState`]).
//!
//! The receipt's own check (signature, validity, container) is `cairn_token::receipt::check`,
//! the one the host's RHEM makes before a run.

use std::path::Path;

use cairn_client::{ApiClient, ClientError};
use cairn_log::tiles::{TILE_WIDTH, TileRef, unbundle};
use cairn_log::tree::verify_consistency;
use cairn_log::{Checkpoint, Entry, Event, Frontier, Hash, LogKey, TlogProof};
use cairn_proto::{Digest, b64};
use cairn_token::ReceiptClaims;
use serde::{Deserialize, Serialize};

/// Why an audit does not pass.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// What the auditor gave cannot be used (a malformed state file, say).
    #[error("{0}")]
    Input(String),
    /// A receipt or a proof that does not stand.
    #[error("{0}")]
    Rejected(String),
    /// What the monitor keeps could not be written.
    #[error("{0}")]
    Io(String),
    /// The log is not what it signed: rewritten, forked or shrunk.
    #[error("LOG INCONSISTENT: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

fn rejected(what: impl Into<String>) -> AuditError {
    AuditError::Rejected(what.into())
}

fn inconsistent(what: impl Into<String>) -> AuditError {
    AuditError::Inconsistent(what.into())
}

/// Where a log entry sits, and the signed tree that holds it.
pub struct Logged {
    pub index: u64,
    pub checkpoint: Checkpoint,
}

/// That the entry `proof` carries is `claims`' ERoT generation (its id, host, workload and
/// public key); answers the entry's bytes. Needs no key: a proof for another entry is refused
/// before anything is fetched.
pub fn receipt_entry<'a>(
    claims: &ReceiptClaims,
    proof: &'a TlogProof,
) -> Result<&'a [u8], AuditError> {
    let entry_bytes = proof
        .extra
        .as_deref()
        .ok_or_else(|| rejected("the tlog proof does not carry its entry"))?;
    let entry = Entry::parse(entry_bytes).map_err(|e| rejected(e.to_string()))?;
    let erot_pub = b64::decode(&claims.body.erot_pub)
        .map_err(|e| rejected(format!("the receipt's erot_pub: {e}")))?;
    let names_this_erot = matches!(
        &entry.event,
        Event::ErotGenerated { erot_id, host_id, workload_digest, erot_pub_digest, .. }
            if *erot_id == claims.registered.sub.as_str()
                && *host_id == claims.body.host_id
                && *workload_digest == claims.body.workload_digest
                && *erot_pub_digest == Digest::sha256(&erot_pub)
    );
    match names_this_erot {
        true => Ok(entry_bytes),
        false => Err(rejected(
            "the tlog proof's entry is not this receipt's ERoT generation",
        )),
    }
}

/// That `claims`' ERoT generation is the logged entry `proof` carries, in a tree `key`
/// signed.
pub fn receipt_logged(
    claims: &ReceiptClaims,
    proof: &TlogProof,
    key: &LogKey,
) -> Result<Logged, AuditError> {
    let entry_bytes = receipt_entry(claims, proof)?;
    let checkpoint = proof
        .verify(key, entry_bytes)
        .map_err(|e| rejected(format!("not logged: {e}")))?;
    Ok(Logged {
        index: proof.index,
        checkpoint,
    })
}

/// That two checkpoints of one log are of one tree, the smaller a prefix of the larger (the
/// server proves it; the proof is checked here).
pub async fn check_consistent(
    a: &Checkpoint,
    b: &Checkpoint,
    client: &ApiClient,
) -> Result<(), AuditError> {
    let (old, new) = if a.size <= b.size { (a, b) } else { (b, a) };
    if old.size == new.size {
        return match old.root == new.root {
            true => Ok(()),
            false => Err(inconsistent(format!(
                "two checkpoints of size {} with different roots: the log forked",
                old.size
            ))),
        };
    }
    if old.size == 0 {
        return Ok(());
    }
    let proof = client.log_consistency(old.size, new.size).await?;
    let hashes = proof
        .hashes
        .iter()
        .map(|h| Hash::parse_hash(h))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| rejected("the server's consistency proof is malformed"))?;
    verify_consistency(&hashes, old.size, old.root, new.size, new.root).map_err(|_| {
        inconsistent(format!(
            "the checkpoint of size {} is not a prefix of the one of size {}",
            old.size, new.size
        ))
    })
}

/// What a monitor keeps between rounds: the tree it verified, by its right edge.
#[derive(Serialize, Deserialize)]
pub struct MonitorState {
    origin: String,
    size: u64,
    root: String,
    /// The tree's right edge: (stored-hash index, hash).
    edge: Vec<(u64, String)>,
}

impl MonitorState {
    /// The tree kept at `path` for the log of `key`; an empty one if there is no file yet.
    pub fn load(path: Option<&Path>, key: &LogKey) -> Result<Frontier, AuditError> {
        let Some(path) = path.filter(|p| p.exists()) else {
            return Ok(Frontier::empty());
        };
        let bad = |what: String| AuditError::Input(format!("--state {}: {what}", path.display()));
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let state: MonitorState = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        if state.origin != key.origin() {
            return Err(bad(format!(
                "follows log {:?}, not {:?}",
                state.origin,
                key.origin()
            )));
        }
        let edge = state
            .edge
            .iter()
            .map(|(i, h)| Hash::parse_hash(h).map(|h| (*i, h)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("a bad hash".into()))?;
        let frontier = Frontier::new(state.size, edge).map_err(|e| bad(e.to_string()))?;
        if frontier.root().to_string() != state.root {
            return Err(bad("its edge does not make its root".into()));
        }
        Ok(frontier)
    }

    /// Keeps `frontier` at `path`, whole or not at all (written beside it, then renamed).
    pub fn save(path: &Path, key: &LogKey, frontier: &Frontier) -> Result<(), AuditError> {
        let state = MonitorState {
            origin: key.origin().to_string(),
            size: frontier.size(),
            root: frontier.root().to_string(),
            edge: frontier.hashes().map(|(i, h)| (i, h.to_string())).collect(),
        };
        let temp = path.with_extension("tmp");
        let fail = |e: std::io::Error| AuditError::Io(format!("{}: {e}", path.display()));
        std::fs::write(
            &temp,
            serde_json::to_vec_pretty(&state).expect("state serializes"),
        )
        .map_err(fail)?;
        std::fs::rename(&temp, path).map_err(fail)
    }
}

/// One round of a monitor.
pub struct Followed {
    /// The log's checkpoint, now verified.
    pub checkpoint: Checkpoint,
    /// The tree as far as it, to keep for the next round.
    pub frontier: Frontier,
    /// The entries new since the tree kept, with their indexes.
    pub entries: Vec<(u64, Vec<u8>)>,
}

/// Reads the log's checkpoint and every entry after `kept`, and checks that they are one
/// tree, signed by `key`, that extends `kept`.
pub async fn follow(
    key: &LogKey,
    mut kept: Frontier,
    client: &ApiClient,
) -> Result<Followed, AuditError> {
    let from = kept.size();
    let note = client.log_bytes("checkpoint").await?;
    let checkpoint = key.open(&note).map_err(|e| {
        inconsistent(format!(
            "the log's checkpoint does not verify with the log key: {e}"
        ))
    })?;
    if checkpoint.size < from {
        return Err(inconsistent(format!(
            "the log shrank from {from} entries (kept) to {}",
            checkpoint.size
        )));
    }
    let mut entries = vec![];
    let mut tile = from / TILE_WIDTH;
    while tile * TILE_WIDTH < checkpoint.size {
        let start = tile * TILE_WIDTH;
        let width = (checkpoint.size - start).min(TILE_WIDTH);
        let bundle = TileRef::Entries { index: tile, width };
        let bytes = client.log_bytes(&bundle.path()).await?;
        let bundled = unbundle(&bytes).map_err(rejected)?;
        if bundled.len() as u64 != width {
            return Err(inconsistent(format!(
                "{} holds {} entries, not {width}",
                bundle.path(),
                bundled.len()
            )));
        }
        for (index, entry) in (start..)
            .zip(bundled)
            .skip((from - start.min(from)) as usize)
        {
            kept.append(&entry);
            entries.push((index, entry));
        }
        tile += 1;
    }
    if kept.root() != checkpoint.root {
        return Err(inconsistent(match from {
            0 => format!(
                "the log's {} entries do not hash to the root its checkpoint signs (an entry was rewritten, removed or reordered)",
                checkpoint.size
            ),
            _ => format!(
                "the checkpoint of size {} does not extend the one of size {from} kept in the state: the log was rewritten",
                checkpoint.size
            ),
        }));
    }
    Ok(Followed {
        checkpoint,
        frontier: kept,
        entries,
    })
}
