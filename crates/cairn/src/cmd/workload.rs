//! `cairn workload erot | seal | receipt`: the customer side of flow 4.

use std::io::{BufReader, BufWriter, IsTerminal};
use std::path::Path;

use cairn_client::ApiClient;
use cairn_ewc::Header;
use cairn_proto::api::{ErotRequest, ErotResponse, ReceiptRequest};
use cairn_proto::{Digest, HostId};

use crate::cli::{CustomerRemote, WorkloadCmd};
use crate::exit::{Exit, Failure, Result};

fn client(remote: &CustomerRemote) -> Result<ApiClient> {
    Ok(remote
        .remote
        .client()?
        .with_admin_token(Some(remote.token.clone())))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::usage(format!("{what} {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::usage(format!("{what} {}: {e}", path.display())))
}

/// Prints `text`, or writes it to `out` (mode 0600: receipts and ERoTs are not secret, but
/// they are the customer's).
fn emit(text: &str, out: Option<&Path>) -> Result {
    match out {
        Some(path) => cairn_agent::volume::write_key(
            &cairn_agent::volume::KeyOut::File(path.into()),
            format!("{text}\n").as_bytes(),
        )
        .map_err(|e| Failure::new(Exit::Failure, e.to_string())),
        None => {
            println!("{text}");
            Ok(())
        }
    }
}

/// SHA-256 of a file, streamed.
pub fn file_digest(path: &Path) -> Result<Digest> {
    cairn_agent::run::file_digest(path).map_err(Failure::usage)
}

pub async fn run(cmd: WorkloadCmd) -> Result {
    match cmd {
        WorkloadCmd::Erot {
            remote,
            host_id,
            workload,
            ttl,
            out,
        } => {
            let host_id: HostId = host_id.parse().map_err(|e: String| Failure::usage(e))?;
            let workload: serde_json::Value = read_json(&workload, "workload")?;
            let erot = client(&remote)?
                .create_erot(&ErotRequest {
                    host_id,
                    workload,
                    ttl_seconds: ttl,
                })
                .await?;
            emit(
                &serde_json::to_string_pretty(&erot).expect("JSON"),
                out.as_deref(),
            )
        }
        WorkloadCmd::Seal {
            payload,
            erot,
            out,
            threads,
        } => {
            let erot: ErotResponse = read_json(&erot, "ERoT")?;
            let header = Header::new(erot.erot_id.as_str(), erot.erot_pub, erot.workload_digest.0);
            let input = std::fs::File::open(&payload)
                .map_err(|e| Failure::usage(format!("{}: {e}", payload.display())))?;
            let len = input.metadata().map(|m| m.len()).unwrap_or(0);
            if out.exists() {
                return Err(Failure::usage(format!(
                    "{} exists; refusing to overwrite it",
                    out.display()
                )));
            }
            let output = std::fs::File::create(&out)
                .map_err(|e| Failure::usage(format!("{}: {e}", out.display())))?;
            let bar = progress_bar(len);
            let threads = threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            });
            let sealed = cairn_ewc::seal(
                BufReader::with_capacity(1 << 20, input),
                BufWriter::with_capacity(1 << 20, output),
                &header,
                threads,
                &mut |done| bar.set_position(done),
            );
            bar.finish_and_clear();
            let sealed = sealed.map_err(|e| {
                let _ = std::fs::remove_file(&out);
                Failure::new(Exit::Failure, format!("sealing: {e}"))
            })?;
            println!(
                "sealed {} bytes for {} into {} ({} bytes), ewc_digest {}",
                sealed.plaintext_len,
                erot.erot_id,
                out.display(),
                sealed.ewc_len,
                Digest(sealed.ewc_digest)
            );
            Ok(())
        }
        WorkloadCmd::Receipt {
            remote,
            erot_id,
            ewc,
            out,
        } => {
            let ewc_digest = file_digest(&ewc)?;
            let answer = client(&remote)?
                .receipt(&erot_id, &ReceiptRequest { ewc_digest })
                .await?;
            emit(&answer.receipt, out.as_deref())?;
            // The proof that the ERoT's generation is logged goes beside the receipt.
            match (&answer.tlog_proof, &out) {
                (Some(proof), Some(out)) => {
                    let path = super::audit::proof_path(out);
                    std::fs::write(&path, proof).map_err(|e| {
                        Failure::new(Exit::Failure, format!("{}: {e}", path.display()))
                    })?;
                    eprintln!("tlog proof written to {}", path.display());
                }
                (Some(_), None) => {
                    eprintln!(
                        "(give --out RECEIPT to keep the receipt's tlog proof as RECEIPT.tlog-proof)"
                    )
                }
                (None, _) => {}
            }
            Ok(())
        }
    }
}

/// A byte progress bar on a terminal; hidden otherwise.
fn progress_bar(len: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
