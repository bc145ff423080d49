//! The RHEM (`cairn agent run`, DESIGN.md flow 4, step 4): run one encrypted workload while
//! its ERoT key exists. The receipt is checked first (DERG signature, this host's hardware key,
//! this very container), then the host attests, receives the ERoT private key sealed to a
//! fresh key, decrypts the container into a private directory, and runs it only once every
//! chunk authenticated. The key is zeroized and the ERoT destroyed by a signed completion.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use cairn_proto::api::ReleaseRequest;
use cairn_proto::erot::EROT_KEY_INFO;
use cairn_proto::sealed::RecipientKey;
use cairn_proto::{Digest, Report, b64};
use cairn_token::{Jwks, ReceiptClaims, Verifier};
use zeroize::Zeroizing;

use crate::{ApiClient, ClientError, HardwareKeySigner, flows};

mod wasm;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("receipt: {0}")]
    Receipt(String),
    #[error("attestation: {0}")]
    Attestation(ClientError),
    #[error("ERoT key release: {0}")]
    Release(ClientError),
    #[error("container: {0}")]
    Container(String),
    #[error("workload: {0}")]
    Workload(String),
}

/// What the workload did.
#[derive(Debug)]
pub struct Outcome {
    pub erot_id: String,
    pub exit_status: i32,
    pub output: Vec<u8>,
    pub output_digest: Digest,
}

/// Checks `receipt` against the DERG's keys, this host's key and the container's digest.
pub fn check_receipt(
    receipt: &str,
    jwks: &Jwks,
    hk: &dyn HardwareKeySigner,
    ewc_digest: &Digest,
) -> Result<ReceiptClaims, RunError> {
    let verifier =
        Verifier::for_receipts(jwks, None).map_err(|e| RunError::Receipt(e.to_string()))?;
    let claims: ReceiptClaims = verifier
        .verify(receipt.trim())
        .map_err(|e| RunError::Receipt(e.to_string()))?;
    let me = hk.public();
    if claims.hk_pub != b64::encode(&me.public_key) || claims.host_id != me.host_id() {
        return Err(RunError::Receipt(
            "it names another host's hardware key".into(),
        ));
    }
    if &claims.ewc_digest != ewc_digest {
        return Err(RunError::Receipt(format!(
            "it is for another container (receipt {}, file {ewc_digest})",
            claims.ewc_digest
        )));
    }
    Ok(claims)
}

/// Runs the container at `ewc` under `receipt`: everything of flow 4, step 4, then the
/// completion report.
pub async fn run(
    client: &ApiClient,
    hk: &dyn HardwareKeySigner,
    report: Report,
    ewc: &Path,
    receipt: &str,
) -> Result<Outcome, RunError> {
    let ewc_digest = file_digest(ewc).map_err(RunError::Container)?;
    let jwks: Jwks = client.jwks().await.map_err(RunError::Attestation)?;
    let claims = check_receipt(receipt, &jwks, hk, &ewc_digest)?;
    let boot_key = RecipientKey::generate();
    let pat = flows::attest(client, hk, report, boot_key.public(), None)
        .await
        .map_err(RunError::Attestation)?;
    let sealed = client
        .release_erot(
            &claims.sub,
            &ReleaseRequest {
                pat,
                receipt: receipt.trim().into(),
            },
        )
        .await
        .map_err(RunError::Release)?;
    let private = boot_key
        .open(&sealed, EROT_KEY_INFO, claims.sub.as_bytes())
        .map_err(|e| RunError::Release(ClientError::Protocol(e.to_string())))?;
    let private: Zeroizing<[u8; 32]> = Zeroizing::new(private[..].try_into().map_err(|_| {
        RunError::Release(ClientError::Protocol("the ERoT key is not 32 bytes".into()))
    })?);
    let erot_key = RecipientKey::from_private(private);

    let dir = tempfile::Builder::new()
        .prefix("cairn-run-")
        .tempdir()
        .map_err(|e| RunError::Container(e.to_string()))?;
    let program = dir.path().join("workload");
    let opened = open_container(ewc, &program, &erot_key)?;
    drop(erot_key); // zeroized: the container is open, the key has no further use here
    if opened.header.erot_id != claims.sub
        || b64::encode(opened.header.erot_pub) != claims.erot_pub
        || Digest(opened.header.workload_digest) != claims.workload_digest
    {
        return Err(RunError::Container(
            "its header does not match the receipt".into(),
        ));
    }
    let limits = Limits::of(&claims.workload);
    let ran = if is_wasm(&program, &claims.workload) {
        let program = program.clone();
        tokio::task::spawn_blocking(move || wasm::run(&program, &limits))
            .await
            .map_err(|e| RunError::Workload(e.to_string()))
            .and_then(|ran| ran)
    } else {
        run_process(&program, dir.path(), &limits).await
    };
    drop(dir);
    // The key was used either way: completion retires the ERoT even when the workload failed
    // (status -1), so it is never released again.
    let (exit_status, output) = ran.as_ref().map_or((-1, &[][..]), |(s, o)| (*s, &o[..]));
    let output_digest = Digest::sha256(output);
    flows::complete(client, hk, &claims.sub, exit_status, output_digest)
        .await
        .map_err(RunError::Release)?;
    let (exit_status, output) = ran?;
    Ok(Outcome {
        erot_id: claims.sub,
        exit_status,
        output,
        output_digest,
    })
}

/// Decrypts into `path` (created 0700, private); on any failure the partial file is removed
/// before anything could run it.
fn open_container(
    ewc: &Path,
    path: &Path,
    key: &RecipientKey,
) -> Result<cairn_ewc::Opened, RunError> {
    use std::os::unix::fs::OpenOptionsExt;
    let input = std::fs::File::open(ewc)
        .map_err(|e| RunError::Container(format!("{}: {e}", ewc.display())))?;
    let output = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(path)
        .map_err(|e| RunError::Container(e.to_string()))?;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let opened = cairn_ewc::open(
        std::io::BufReader::with_capacity(1 << 20, input),
        std::io::BufWriter::with_capacity(1 << 20, output),
        key,
        threads,
        &mut |_| {},
    );
    opened.map_err(|e| {
        let _ = std::fs::remove_file(path);
        RunError::Container(e.to_string())
    })
}

/// SHA-256 of a file, streamed (an EWC digest).
pub fn file_digest(path: &Path) -> Result<Digest, String> {
    let mut file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
    }
    Ok(Digest(
        context.finish().as_ref().try_into().expect("32 bytes"),
    ))
}

/// What the workload description grants: its arguments, memory and time.
#[derive(Clone, Debug)]
pub struct Limits {
    pub args: Vec<String>,
    pub memory_mb: u64,
    pub timeout_s: u64,
}

impl Limits {
    /// `args` (default none), `memory_mb` (default 256), `timeout_s` (default 60).
    pub fn of(workload: &serde_json::Value) -> Self {
        let number = |name: &str, default: u64| {
            workload
                .get(name)
                .and_then(|v| v.as_u64())
                .unwrap_or(default)
        };
        Limits {
            args: workload
                .get("args")
                .and_then(|a| a.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default(),
            memory_mb: number("memory_mb", 256),
            timeout_s: number("timeout_s", 60),
        }
    }
}

/// WebAssembly when the description says `"runtime": "wasm"`, or when it names no runtime
/// and the payload is a wasm binary.
fn is_wasm(program: &Path, workload: &serde_json::Value) -> bool {
    match workload.get("runtime").and_then(|r| r.as_str()) {
        Some(runtime) => runtime == "wasm",
        None => {
            let mut magic = [0u8; 4];
            std::fs::File::open(program)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
                && &magic == b"\0asm"
        }
    }
}

/// The `process` runtime: the executable in its private directory as working directory,
/// with an empty environment, the description's `args`, its `memory_mb` as the address-space
/// limit and its `timeout_s` as a wall-clock and CPU limit, enforced by `prlimit(1)` and a
/// kill on timeout.
async fn run_process(
    program: &Path,
    dir: &Path,
    limits: &Limits,
) -> Result<(i32, Vec<u8>), RunError> {
    let (args, memory_mb, timeout) = (&limits.args, limits.memory_mb, limits.timeout_s);
    let mut command = tokio::process::Command::new("prlimit");
    command
        .arg(format!("--as={}", memory_mb * 1024 * 1024))
        .arg(format!("--cpu={timeout}"))
        .arg("--nofile=64")
        .arg("--")
        .arg(PathBuf::from(program))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|e| RunError::Workload(format!("cannot start it: {e}")))?;
    let output = tokio::time::timeout(Duration::from_secs(timeout), child.wait_with_output())
        .await
        .map_err(|_| RunError::Workload(format!("killed after {timeout} s")))?
        .map_err(|e| RunError::Workload(e.to_string()))?;
    let status = output.status.code().unwrap_or(-1);
    Ok((status, output.stdout))
}
