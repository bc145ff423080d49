//! The RHEM (`cairn agent run`, DESIGN.md flow 4, step 4): run one encrypted workload while
//! its ERoT key exists, without trusting it. The receipt is checked first (DERG signature,
//! this host's hardware key, this very container, held by one descriptor), then the
//! description against the host's ceilings and the sandbox against the kernel; only then does
//! the host attest and receive the ERoT private key, sealed to a fresh key. The container is
//! decrypted into an unnamed file, and runs only once every chunk authenticated and the
//! decrypted bytes proved to be the receipted ones: a wasm module in wasmtime, a native one in
//! the kernel sandbox ([`sandbox`]). The key is zeroized and the ERoT destroyed by a signed
//! completion. `docs/rhem.md` has the threat model.

use std::io::{Read, Seek};
use std::path::Path;

use cairn_proto::api::ReleaseRequest;
use cairn_proto::erot::EROT_KEY_INFO;
use cairn_proto::sealed::RecipientKey;
use cairn_proto::{Digest, Report, b64};
use cairn_token::{Jwks, ReceiptClaims};
use zeroize::Zeroizing;

use cairn_client::{ApiClient, ClientError};

use crate::{HardwareKeySigner, flows};

mod cgroup;
mod container;
mod limits;
mod output;
mod process;
mod sandbox;
mod seccomp;
mod wasm;

pub use container::file_digest;
pub use limits::{Ceilings, Limits, Runtime};
pub use output::{DEFAULT_MAX_OUTPUT, Output};
pub use sandbox::Sandbox;

use container::Container;
use process::Confinement;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("receipt: {0}")]
    Receipt(String),
    #[error("workload description: {0}")]
    Description(String),
    #[error("cannot sandbox the workload: {0}")]
    Sandbox(String),
    #[error("attestation: {0}")]
    Attestation(ClientError),
    #[error("ERoT key release: {0}")]
    Release(ClientError),
    #[error("container: {0}")]
    Container(String),
    #[error("workload: {0}")]
    Workload(String),
}

/// How this host runs workloads.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The most any description may ask for.
    pub ceilings: Ceilings,
    /// Bytes of stdout kept and shown (the digest covers all of it).
    pub max_output: usize,
    /// Run native workloads without the kernel sandbox (the operator's explicit choice).
    pub unsandboxed: bool,
    /// The bubblewrap to build the sandbox with (default: `bwrap` on `PATH`).
    pub bwrap: Option<std::path::PathBuf>,
    /// A cgroup v2 directory delegated to the agent for runs' memory and pids cgroups
    /// (default: the agent's own v1 cgroups where it may write them).
    pub cgroup: Option<std::path::PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            ceilings: Ceilings::default(),
            max_output: DEFAULT_MAX_OUTPUT,
            unsandboxed: false,
            bwrap: None,
            cgroup: None,
        }
    }
}

/// What the workload did.
#[derive(Debug)]
pub struct Outcome {
    pub erot_id: String,
    pub exit_status: i32,
    /// Its stdout: the kept head, the total and the digest the completion reported.
    pub output: Output,
    /// The head of its stderr (native workloads only).
    pub stderr: Vec<u8>,
}

/// Checks `receipt` against the DERG's keys, this host's key and the container's digest.
pub fn check_receipt(
    receipt: &str,
    jwks: &Jwks,
    hk: &dyn HardwareKeySigner,
    ewc_digest: &Digest,
) -> Result<ReceiptClaims, RunError> {
    let claims = cairn_token::receipt::check(receipt, jwks, Some(ewc_digest))
        .map_err(|e| RunError::Receipt(e.to_string()))?;
    let me = hk.public();
    if claims.body.hk_pub != b64::encode(&me.public_key) || claims.body.host_id != me.host_id() {
        return Err(RunError::Receipt(
            "it names another host's hardware key".into(),
        ));
    }
    Ok(claims)
}

/// Runs the container at `ewc` under `receipt`: everything of flow 4, step 4, then the
/// completion report. Whatever can refuse without the ERoT key (the receipt, the description
/// against the host's ceilings, the sandbox) refuses before the key is asked for.
pub async fn run(
    client: &ApiClient,
    hk: &dyn HardwareKeySigner,
    report: Report,
    ewc: &Path,
    receipt: &str,
    options: &RunOptions,
) -> Result<Outcome, RunError> {
    let mut container = Container::open(ewc).map_err(RunError::Container)?;
    let ewc_digest = container.digest().map_err(RunError::Container)?;
    let jwks: Jwks = client.jwks().await.map_err(RunError::Attestation)?;
    let claims = check_receipt(receipt, &jwks, hk, &ewc_digest)?;
    let limits = Limits::of(&claims.body.workload).map_err(RunError::Description)?;
    limits
        .within(&options.ceilings)
        .and_then(|()| limits.fits(container.len()))
        .map_err(RunError::Description)?;
    let confinement = match limits.runtime {
        Runtime::Wasm => None,
        _ if options.unsandboxed => Some(Confinement::None),
        _ => Some(Confinement::Sandbox(
            Sandbox::probe(options.bwrap.as_deref(), options.cgroup.as_deref())
                .await
                .map_err(RunError::Sandbox)?,
        )),
    };

    let boot_key = RecipientKey::generate();
    let pat = flows::attest(client, hk, report, boot_key.public(), None)
        .await
        .map_err(RunError::Attestation)?;
    let sealed = client
        .release_erot(
            &claims.registered.sub,
            &ReleaseRequest {
                pat,
                receipt: receipt.trim().into(),
            },
        )
        .await
        .map_err(RunError::Release)?;
    let private = boot_key
        .open(
            &sealed,
            EROT_KEY_INFO,
            claims.registered.sub.as_str().as_bytes(),
        )
        .map_err(|e| RunError::Release(ClientError::Protocol(e.to_string())))?;
    let private: Zeroizing<[u8; 32]> = Zeroizing::new(private[..].try_into().map_err(|_| {
        RunError::Release(ClientError::Protocol("the ERoT key is not 32 bytes".into()))
    })?);
    let erot_key = RecipientKey::from_private(private);
    let opened = container.decrypt(&erot_key, &claims.body.ewc_digest);
    drop(erot_key); // zeroized: the container is open, the key has no further use here
    let ran = match opened {
        Ok(payload) => execute(payload, &claims, &limits, confinement, options).await,
        Err(e) => Err(RunError::Container(e)),
    };
    // The key was used either way: completion retires the ERoT even when the container did
    // not open or the workload failed (status -1), so it is never released again.
    let (exit_status, output_digest) = ran
        .as_ref()
        .map_or((-1, Output::none().digest), |r| (r.status, r.stdout.digest));
    flows::complete(
        client,
        hk,
        &claims.registered.sub,
        exit_status,
        output_digest,
    )
    .await
    .map_err(RunError::Release)?;
    let ran = ran?;
    Ok(Outcome {
        erot_id: claims.registered.sub.to_string(),
        exit_status,
        output: ran.stdout,
        stderr: ran.stderr,
    })
}

/// Runs an opened payload once its header proved it is the receipted workload.
async fn execute(
    mut payload: container::Payload,
    claims: &ReceiptClaims,
    limits: &Limits,
    confinement: Option<Confinement>,
    options: &RunOptions,
) -> Result<process::Ran, RunError> {
    let header = &payload.opened.header;
    if header.erot_id != claims.registered.sub.as_str()
        || b64::encode(header.erot_pub) != claims.body.erot_pub
        || Digest(header.workload_digest) != claims.body.workload_digest
    {
        return Err(RunError::Container(
            "its header does not match the receipt".into(),
        ));
    }
    let io = |e: std::io::Error| RunError::Container(e.to_string());
    let wasm = match limits.runtime {
        Runtime::Wasm => true,
        Runtime::Process => false,
        Runtime::Detect => {
            let mut magic = [0u8; 4];
            let is_wasm = payload.file.read_exact(&mut magic).is_ok() && &magic == b"\0asm";
            payload.file.rewind().map_err(io)?;
            is_wasm
        }
    };
    if wasm {
        let mut module = Vec::new();
        payload.file.read_to_end(&mut module).map_err(io)?;
        let (status, stdout) = wasm::run(module, limits, options.max_output).await?;
        return Ok(process::Ran {
            status,
            stdout,
            stderr: Vec::new(),
        });
    }
    let confinement = confinement.ok_or_else(|| {
        RunError::Workload("no confinement was prepared for a native payload".into())
    })?;
    process::run(
        &confinement,
        &payload.file,
        payload.opened.plaintext_len,
        limits,
        options.max_output,
    )
    .await
}
