//! `cairn audit verify | log`: the auditor's and the monitor's side of the transparency log,
//! printed. The checks are `cairn_token::receipt::check` and the `cairn-audit` library.
//!
//! `verify` checks a receipt offline against the DERG's published keys, against the container
//! it names, and against its tlog proof (the ERoT's generation is logged) with nothing but
//! the log's key. `log` follows the log: each new checkpoint must be signed by the log key,
//! the log's entries must hash to it, and it must extend the last checkpoint the monitor kept.

use std::path::{Path, PathBuf};

use cairn_audit::{AuditError, Logged, MonitorState};
use cairn_client::ApiClient;
use cairn_log::{Entry, LogKey, TlogProof};
use cairn_token::receipt::ReceiptError;
use cairn_token::{Jwks, ReceiptClaims};

use crate::cli::{AuditCmd, Remote};
use crate::exit::{Exit, Failure, Result};

/// Where a receipt's tlog proof is kept: beside it, `RECEIPT.tlog-proof`.
pub fn proof_path(receipt: &Path) -> PathBuf {
    let mut name = receipt.as_os_str().to_owned();
    name.push(".tlog-proof");
    PathBuf::from(name)
}

impl From<AuditError> for Failure {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::Input(what) => Failure::usage(what),
            AuditError::Client(e) => e.into(),
            other => Failure::new(Exit::Failure, other.to_string()),
        }
    }
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
    let ewc_digest = match &args.ewc {
        Some(path) => Some(super::workload::file_digest(path)?),
        None => None,
    };
    let claims = cairn_token::receipt::check(&token, &jwks, ewc_digest.as_ref()).map_err(|e| {
        let message = match (&e, &args.ewc) {
            (ReceiptError::OtherContainer { receipt, file }, Some(path)) => format!(
                "{} is not the container this receipt names (digest {file}, receipt {receipt})",
                path.display()
            ),
            _ => format!("receipt rejected: {e}"),
        };
        Failure::new(Exit::Failure, message)
    })?;
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
        if let Some(Logged { index, checkpoint }) = &logged {
            out["log"] = serde_json::json!({
                "index": index,
                "tree_size": checkpoint.size,
                "root": checkpoint.root.to_string(),
            });
        }
        super::print_json(&out);
        return Ok(());
    }
    let name = claims.body.workload.get("name").and_then(|n| n.as_str());
    println!(
        "receipt valid: ERoT {} for workload {:?} on host {}",
        claims.registered.sub,
        name.unwrap_or("(unnamed)"),
        claims.body.host_id
    );
    println!("  workload_digest {}", claims.body.workload_digest);
    println!(
        "  ewc_digest      {}{}",
        claims.body.ewc_digest,
        if args.ewc.is_some() {
            " (matches the file)"
        } else {
            ""
        }
    );
    println!("  issued by       {}", claims.registered.iss);
    match logged {
        Some(Logged { index, checkpoint }) => println!(
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

/// The receipt's tlog proof read and checked, and its tree checked against `--checkpoint`.
async fn check_logged(claims: &ReceiptClaims, proof_file: &Path, args: &Verify) -> Result<Logged> {
    let text = String::from_utf8_lossy(&read(proof_file)?).into_owned();
    let proof = TlogProof::parse(&text)
        .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", proof_file.display())))?;
    // A proof of another entry is refused before the log key is fetched.
    cairn_audit::receipt_entry(claims, &proof)?;
    let key = log_key(args.log_key.clone(), &args.remote).await?;
    let logged = cairn_audit::receipt_logged(claims, &proof, &key)?;
    if let Some(path) = &args.checkpoint {
        let seen = key
            .open(&read(path)?)
            .map_err(|e| Failure::new(Exit::Failure, format!("{}: {e}", path.display())))?;
        cairn_audit::check_consistent(&seen, &logged.checkpoint, &args.remote.client()?).await?;
    }
    Ok(logged)
}

async fn follow(key: &LogKey, state: Option<&Path>, client: &ApiClient, json: bool) -> Result {
    let kept = MonitorState::load(state, key)?;
    let from = kept.size();
    let followed = cairn_audit::follow(key, kept, client).await?;
    if let Some(path) = state {
        MonitorState::save(path, key, &followed.frontier)?;
    }
    let checkpoint = &followed.checkpoint;
    if json {
        let events: Vec<serde_json::Value> = followed
            .entries
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
        "log {} verified: {} entries (root {}), {} new since {from}",
        key.origin(),
        checkpoint.size,
        checkpoint.root,
        followed.entries.len()
    );
    for (index, entry) in &followed.entries {
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
