//! `cairn audit verify | log`: the auditor's and the monitor's side of the transparency log.
//!
//! `verify` checks a receipt offline against the DERG's published keys, against the container
//! it names, and against its tlog proof (the ERoT's generation is logged) with nothing but
//! the log's key. `log` follows the log: each new checkpoint must be signed by the log key,
//! the log's entries must hash to it, and it must extend the last checkpoint the monitor kept.

use std::path::{Path, PathBuf};

use cairn_agent::ApiClient;
use cairn_log::tiles::{TILE_WIDTH, TileRef, unbundle};
use cairn_log::tree::verify_consistency;
use cairn_log::{Checkpoint, Entry, Event, Frontier, Hash, LogKey, TlogProof};
use cairn_proto::{Digest, b64};
use cairn_token::{Jwks, ReceiptClaims, Verifier};
use serde::{Deserialize, Serialize};

use crate::cli::{AuditCmd, Remote};
use crate::exit::{Exit, Failure, Result};

/// Where a receipt's tlog proof is kept: beside it, `RECEIPT.tlog-proof`.
pub fn proof_path(receipt: &Path) -> PathBuf {
    let mut name = receipt.as_os_str().to_owned();
    name.push(".tlog-proof");
    PathBuf::from(name)
}

/// The one loud line of a log that is not what it signed.
fn inconsistent(what: impl std::fmt::Display) -> Failure {
    Failure::new(Exit::Failure, format!("LOG INCONSISTENT: {what}"))
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("{}: {e}", path.display())))
}

/// The log key given, or the server's.
async fn log_key(given: Option<String>, remote: &Remote) -> Result<LogKey> {
    let text = match given {
        Some(text) => text,
        None => String::from_utf8_lossy(&remote.client()?.log_bytes("key").await?).into_owned(),
    };
    LogKey::parse(&text).map_err(|e| Failure::usage(format!("--log-key: {e}")))
}

pub async fn run(cmd: AuditCmd) -> Result {
    match cmd {
        AuditCmd::Verify {
            receipt,
            ewc,
            jwks,
            proof,
            log_key,
            checkpoint,
            remote,
            json,
        } => {
            verify(Verify {
                receipt,
                ewc,
                jwks,
                proof,
                log_key,
                checkpoint,
                remote,
                json,
            })
            .await
        }
        AuditCmd::Log {
            log_key,
            state,
            remote,
            json,
        } => {
            let key =
                LogKey::parse(&log_key).map_err(|e| Failure::usage(format!("--log-key: {e}")))?;
            follow(&key, state.as_deref(), &remote.client()?, json).await
        }
    }
}

struct Verify {
    receipt: PathBuf,
    ewc: Option<PathBuf>,
    jwks: Option<PathBuf>,
    proof: Option<PathBuf>,
    log_key: Option<String>,
    checkpoint: Option<PathBuf>,
    remote: Remote,
    json: bool,
}

async fn verify(args: Verify) -> Result {
    let token = String::from_utf8_lossy(&read(&args.receipt)?).into_owned();
    let jwks: Jwks = match &args.jwks {
        Some(path) => serde_json::from_slice(&read(path)?)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?,
        None => args.remote.client()?.jwks().await?,
    };
    let verifier =
        Verifier::for_receipts(&jwks, None).map_err(|e| Failure::usage(e.to_string()))?;
    let claims: ReceiptClaims = verifier
        .verify(token.trim())
        .map_err(|e| Failure::new(Exit::Failure, format!("receipt rejected: {e}")))?;
    if let Some(path) = &args.ewc {
        let digest = super::workload::file_digest(path)?;
        if digest != claims.ewc_digest {
            return Err(Failure::new(
                Exit::Failure,
                format!(
                    "{} is not the container this receipt names (digest {digest}, receipt {})",
                    path.display(),
                    claims.ewc_digest
                ),
            ));
        }
    }
    let proof_file = args
        .proof
        .clone()
        .unwrap_or_else(|| proof_path(&args.receipt));
    let logged = match (args.proof.is_some(), proof_file.exists()) {
        (false, false) => None,
        _ => Some(check_logged(&claims, &proof_file, &args).await?),
    };
    if args.json {
        let mut out = serde_json::to_value(&claims).expect("claims serialize");
        if let Some((index, checkpoint)) = &logged {
            out["log"] = serde_json::json!({
                "index": index,
                "tree_size": checkpoint.size,
                "root": checkpoint.root.to_string(),
            });
        }
        super::print_json(&out);
        return Ok(());
    }
    let name = claims.workload.get("name").and_then(|n| n.as_str());
    println!(
        "receipt valid: ERoT {} for workload {:?} on host {}",
        claims.sub,
        name.unwrap_or("(unnamed)"),
        claims.host_id
    );
    println!("  workload_digest {}", claims.workload_digest);
    println!(
        "  ewc_digest      {}{}",
        claims.ewc_digest,
        if args.ewc.is_some() {
            " (matches the file)"
        } else {
            ""
        }
    );
    println!("  issued by       {}", claims.iss);
    match logged {
        Some((index, checkpoint)) => println!(
            "  logged          entry {index} of the log's tree of {} (root {}){}",
            checkpoint.size,
            checkpoint.root,
            if args.checkpoint.is_some() {
                ", consistent with the checkpoint given"
            } else {
                ""
            }
        ),
        None => eprintln!(
            "NOT CHECKED: no tlog proof at {} (give --proof): nothing shows this ERoT was logged",
            proof_file.display()
        ),
    }
    Ok(())
}

/// That the receipt's ERoT generation is the logged entry its proof names, in a tree the
/// log key signed (and consistent with `--checkpoint`); answers the entry's index and tree.
async fn check_logged(
    claims: &ReceiptClaims,
    proof_file: &Path,
    args: &Verify,
) -> Result<(u64, Checkpoint)> {
    let text = String::from_utf8_lossy(&read(proof_file)?).into_owned();
    let proof = TlogProof::parse(&text)
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", proof_file.display())))?;
    let entry_bytes = proof
        .extra
        .as_deref()
        .ok_or_else(|| Failure::new(Exit::Failure, "the tlog proof does not carry its entry"))?;
    let entry =
        Entry::parse(entry_bytes).map_err(|e| Failure::new(Exit::Failure, e.to_string()))?;
    let erot_pub = b64::decode(&claims.erot_pub)
        .map_err(|e| Failure::new(Exit::Failure, format!("the receipt's erot_pub: {e}")))?;
    let names_this_erot = matches!(
        &entry.event,
        Event::ErotGenerated { erot_id, host_id, workload_digest, erot_pub_digest, .. }
            if *erot_id == claims.sub
                && *host_id == claims.host_id
                && *workload_digest == claims.workload_digest
                && *erot_pub_digest == Digest::sha256(&erot_pub)
    );
    if !names_this_erot {
        return Err(Failure::new(
            Exit::Failure,
            "the tlog proof's entry is not this receipt's ERoT generation",
        ));
    }
    let key = log_key(args.log_key.clone(), &args.remote).await?;
    let checkpoint = proof
        .verify(&key, entry_bytes)
        .map_err(|e| Failure::new(Exit::Failure, format!("not logged: {e}")))?;
    if let Some(path) = &args.checkpoint {
        let seen = key
            .open(&read(path)?)
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", path.display())))?;
        check_consistent(&seen, &checkpoint, &args.remote.client()?).await?;
    }
    Ok((proof.index, checkpoint))
}

/// That two checkpoints of one log are of one tree, the smaller a prefix of the larger.
async fn check_consistent(a: &Checkpoint, b: &Checkpoint, client: &ApiClient) -> Result {
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
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Failure::new(Exit::Failure, "the server's consistency proof is malformed"))?;
    verify_consistency(&hashes, old.size, old.root, new.size, new.root).map_err(|_| {
        inconsistent(format!(
            "the checkpoint of size {} is not a prefix of the one of size {}",
            old.size, new.size
        ))
    })
}

/// What a monitor keeps between runs: the tree it verified, by its right edge.
#[derive(Serialize, Deserialize)]
struct MonitorState {
    origin: String,
    size: u64,
    root: String,
    /// The tree's right edge: (stored-hash index, hash).
    edge: Vec<(u64, String)>,
}

fn load_state(path: Option<&Path>, key: &LogKey) -> Result<Frontier> {
    let Some(path) = path.filter(|p| p.exists()) else {
        return Ok(Frontier::empty());
    };
    let state: MonitorState = serde_json::from_slice(&read(path)?)
        .map_err(|e| Failure::usage(format!("--state {}: {e}", path.display())))?;
    if state.origin != key.origin() {
        return Err(Failure::usage(format!(
            "--state {} follows log {:?}, not {:?}",
            path.display(),
            state.origin,
            key.origin()
        )));
    }
    let edge = state
        .edge
        .iter()
        .map(|(i, h)| Hash::parse_hash(h).map(|h| (*i, h)))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Failure::usage(format!("--state {}: a bad hash", path.display())))?;
    let frontier = Frontier::new(state.size, edge)
        .map_err(|e| Failure::usage(format!("--state {}: {e}", path.display())))?;
    if frontier.root().to_string() != state.root {
        return Err(Failure::usage(format!(
            "--state {}: its edge does not make its root",
            path.display()
        )));
    }
    Ok(frontier)
}

fn save_state(path: &Path, key: &LogKey, frontier: &Frontier) -> Result {
    let state = MonitorState {
        origin: key.origin().to_string(),
        size: frontier.size(),
        root: frontier.root().to_string(),
        edge: frontier.hashes().map(|(i, h)| (i, h.to_string())).collect(),
    };
    let temp = path.with_extension("tmp");
    let fail = |e: std::io::Error| Failure::new(Exit::Failure, format!("{}: {e}", path.display()));
    std::fs::write(
        &temp,
        serde_json::to_vec_pretty(&state).expect("state serializes"),
    )
    .map_err(fail)?;
    std::fs::rename(&temp, path).map_err(fail)
}

async fn follow(key: &LogKey, state: Option<&Path>, client: &ApiClient, json: bool) -> Result {
    let mut frontier = load_state(state, key)?;
    let kept = frontier.size();
    let note = client.log_bytes("checkpoint").await?;
    let checkpoint = key.open(&note).map_err(|e| {
        inconsistent(format!(
            "the log's checkpoint does not verify with the log key: {e}"
        ))
    })?;
    if checkpoint.size < kept {
        return Err(inconsistent(format!(
            "the log shrank from {kept} entries (kept) to {}",
            checkpoint.size
        )));
    }
    let mut events = vec![];
    let mut tile = kept / TILE_WIDTH;
    while tile * TILE_WIDTH < checkpoint.size {
        let start = tile * TILE_WIDTH;
        let width = (checkpoint.size - start).min(TILE_WIDTH);
        let bundle = TileRef::Entries { index: tile, width };
        let bytes = client.log_bytes(&bundle.path()).await?;
        let entries = unbundle(&bytes).map_err(|e| Failure::new(Exit::Failure, e))?;
        if entries.len() as u64 != width {
            return Err(inconsistent(format!(
                "{} holds {} entries, not {width}",
                bundle.path(),
                entries.len()
            )));
        }
        for (index, entry) in (start..)
            .zip(entries)
            .skip((kept - start.min(kept)) as usize)
        {
            frontier.append(&entry);
            events.push((index, entry));
        }
        tile += 1;
    }
    if frontier.root() != checkpoint.root {
        return Err(inconsistent(match kept {
            0 => format!(
                "the log's {} entries do not hash to the root its checkpoint signs (an entry was rewritten, removed or reordered)",
                checkpoint.size
            ),
            _ => format!(
                "the checkpoint of size {} does not extend the one of size {kept} kept in the state: the log was rewritten",
                checkpoint.size
            ),
        }));
    }
    if let Some(path) = state {
        save_state(path, key, &frontier)?;
    }
    if json {
        let events: Vec<serde_json::Value> = events
            .iter()
            .map(|(index, entry)| {
                serde_json::json!({
                    "index": index,
                    "entry": serde_json::from_slice::<serde_json::Value>(entry).unwrap_or_default(),
                })
            })
            .collect();
        super::print_json(&serde_json::json!({
            "tree_size": checkpoint.size,
            "root": checkpoint.root.to_string(),
            "events": events,
        }));
        return Ok(());
    }
    println!(
        "log {} verified: {} entries (root {}), {} new since {kept}",
        key.origin(),
        checkpoint.size,
        checkpoint.root,
        events.len()
    );
    for (index, entry) in &events {
        match Entry::parse(entry) {
            Ok(parsed) => println!(
                "  {index:>8}  {}  {:<17} {}",
                time::OffsetDateTime::from_unix_timestamp(parsed.time)
                    .map(super::rfc3339)
                    .unwrap_or_else(|_| parsed.time.to_string()),
                parsed.event.event_type(),
                super::one_line(parsed.event.subject())
            ),
            Err(_) => println!(
                "  {index:>8}  (not a Cairn event) {}",
                super::one_line(&String::from_utf8_lossy(entry))
            ),
        }
    }
    Ok(())
}
