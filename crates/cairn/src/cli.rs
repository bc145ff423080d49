//! The command line of DESIGN.md.

use std::path::PathBuf;

use cairn_agent::HkSpec;
use cairn_agent::run::{Ceilings, DEFAULT_MAX_OUTPUT};
use cairn_client::{ApiClient, ClientError, Trust};
use cairn_keystore::KeyStoreSpec;
use cairn_log::webhook::Webhook;
use cairn_proto::api::{TokenRole, VolumeFormat};
use cairn_server::Role;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};

/// A flag whose values are the words of one of Cairn's enums: listed in `--help`, refused
/// with the list when wrong, parsed by the enum's own `FromStr`.
fn one_of<T>(words: impl IntoIterator<Item = &'static str>) -> impl TypedValueParser<Value = T>
where
    T: std::str::FromStr<Err = String> + Clone + Send + Sync + 'static,
{
    PossibleValuesParser::new(words).try_map(|word| word.parse::<T>())
}

/// A secret flag's value: the secret itself, or `@FILE` to read it from FILE (its last line
/// ending dropped), so that it need not be in argv, which every local user can read in
/// `/proc`. The environment variable beside each such flag serves the same end.
fn secret(value: &str) -> Result<String, String> {
    match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\n', '\r']).to_string())
            .map_err(|e| format!("{path}: {e}")),
        None => Ok(value.to_string()),
    }
}

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Identity rooted in physical servers; secrets only for those that prove it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run or set up the server (attestation service and its admin API)
    #[command(subcommand)]
    Server(ServerCmd),
    /// Host agent: scan hardware, enroll, attest
    #[command(subcommand)]
    Agent(AgentCmd),
    /// Operate a server: hosts and tokens
    #[command(subcommand)]
    Admin(AdminCmd),
    /// Customer side of ERoTs: derive one, seal a workload for it, get its receipt
    #[command(subcommand)]
    Workload(WorkloadCmd),
    /// Auditor side: check receipts and follow the transparency log
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Measure throughput and latency
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Args, Clone)]
pub struct CustomerRemote {
    #[command(flatten)]
    pub remote: Remote,
    /// Customer (or admin) bearer token, or @FILE to read it from FILE
    #[arg(long, env = "CAIRN_TOKEN", hide_env_values = true, value_parser = secret)]
    pub token: String,
}

#[derive(Subcommand)]
pub enum WorkloadCmd {
    /// Ask the DERG for an ERoT: a key pair for WORKLOAD on HOST_ID (prints it as JSON)
    Erot {
        #[command(flatten)]
        remote: CustomerRemote,
        #[arg(long)]
        host_id: String,
        /// The workload description, a JSON file ({"name", "code_digest", "memory_mb", "args", ...})
        #[arg(long)]
        workload: PathBuf,
        /// Seconds the ERoT lives (at most the server's limit)
        #[arg(long)]
        ttl: Option<u64>,
        /// Write the answer here instead of stdout
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Seal a payload into an encrypted workload container for an ERoT (offline)
    Seal {
        /// The payload: a WASM module, an executable, any file
        payload: PathBuf,
        /// The ERoT, as `cairn workload erot` printed it
        #[arg(long)]
        erot: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Threads (default: all cores)
        #[arg(long)]
        threads: Option<usize>,
    },
    /// Get the DERG's signed receipt for a sealed container
    Receipt {
        #[command(flatten)]
        remote: CustomerRemote,
        #[arg(long)]
        erot_id: cairn_proto::ErotId,
        #[arg(long)]
        ewc: PathBuf,
        /// Write the receipt here instead of stdout
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Verify a receipt's signature (against the server's JWKS or a saved one), that its
    /// ERoT's generation is in the transparency log (its tlog proof, checked offline with
    /// the log key) and, with --checkpoint, that the log is consistent with a checkpoint
    /// seen before; with --ewc, that it names this container
    Verify {
        receipt: PathBuf,
        #[arg(long)]
        ewc: Option<PathBuf>,
        /// A saved JWKS instead of fetching the server's
        #[arg(long)]
        jwks: Option<PathBuf>,
        /// The receipt's tlog proof (default: RECEIPT.tlog-proof)
        #[arg(long)]
        proof: Option<PathBuf>,
        /// The log's verifier key (`NAME+ID+KEY`, or @FILE), as `GET /v1/log/key` and
        /// `cairn server init` print it; fetched from the server when not given
        #[arg(long, env = "CAIRN_LOG_KEY", value_parser = secret)]
        log_key: Option<String>,
        /// A checkpoint of the log seen before: the proof's must be consistent with it
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        json: bool,
    },
    /// Follow the log as a monitor: verify each new checkpoint's signature, that the log's
    /// entries hash to it and that it extends the last one kept, then list the new events
    Log {
        /// The log's verifier key (`NAME+ID+KEY`, or @FILE)
        #[arg(long, env = "CAIRN_LOG_KEY", value_parser = secret)]
        log_key: String,
        /// Where the monitor keeps what it verified (size, root, the tree's right edge);
        /// without it, the whole log is checked from its first entry each time
        #[arg(long)]
        state: Option<PathBuf>,
        #[command(flatten)]
        remote: Remote,
        #[arg(long)]
        json: bool,
    },
}

/// Where the server is and how to reach it.
#[derive(Args, Clone)]
pub struct Remote {
    /// Server URL
    #[arg(long, env = "CAIRN_SERVER", default_value = "http://127.0.0.1:7410")]
    pub server: String,
    /// Allow plain HTTP to a non-loopback server
    #[arg(long)]
    pub insecure: bool,
    /// PEM bundle of the CAs to trust for an https server, instead of the system's roots
    /// (the `ca.pem` that `cairn server init --tls` made)
    #[arg(long, env = "CAIRN_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl Remote {
    pub fn client(&self) -> Result<ApiClient, ClientError> {
        let trust = Trust::from_pem_file(self.ca_cert.as_deref())?;
        ApiClient::new(&self.server, self.insecure, &trust)
    }
}

#[derive(Args, Clone)]
pub struct AdminRemote {
    #[command(flatten)]
    pub remote: Remote,
    /// Admin bearer token, or @FILE to read it from FILE
    #[arg(long, env = "CAIRN_ADMIN_TOKEN", hide_env_values = true, value_parser = secret)]
    pub admin_token: String,
}

/// Where the server's keys are (the one declaration of `--key-store`).
#[derive(Args, Clone)]
pub struct KeyStoreArg {
    /// Where the server's keys are: `file` (DATA_DIR/keys) or
    /// `pkcs11:MODULE?token=LABEL&pin-file=PATH[&alg=EdDSA|ES256]` (an HSM)
    #[arg(
        id = "key_store",
        long = "key-store",
        env = "CAIRN_KEY_STORE",
        default_value = "file"
    )]
    pub spec: KeyStoreSpec,
}

/// The server's defaults, each written once (`ServerConfig::new`, `Limits`, `Refresh`): the
/// flags below show and take them from there.
fn served() -> cairn_server::ServerConfig {
    cairn_server::ServerConfig::new(PathBuf::new(), String::new())
}

#[derive(Args, Clone)]
pub struct ServeArgs {
    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1:7410")]
    pub listen: String,
    /// Database URL: sqlite://PATH or postgres://… (default: DATA_DIR/cairn.db)
    #[arg(long, env = "CAIRN_DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(flatten)]
    pub key_store: KeyStoreArg,
    /// Roles to serve, comma separated
    #[arg(
        long,
        value_delimiter = ',',
        default_values_t = served().roles,
        value_parser = one_of::<Role>(Role::WORDS.iter().copied())
    )]
    pub roles: Vec<Role>,
    /// The `iss` of issued tokens (default: http://LISTEN)
    #[arg(long)]
    pub issuer: Option<String>,
    /// Refuse replaceable-component drift instead of issuing `warning` PATs
    #[arg(long)]
    pub strict_drift: bool,
    /// Seconds a challenge nonce stays valid (used ones are remembered that long, and 5
    /// minutes more)
    #[arg(long, default_value_t = served().nonce_ttl.as_secs(), value_parser = clap::value_parser!(u64).range(..=3600))]
    pub nonce_ttl: u64,
    /// Seconds a PAT stays valid
    #[arg(long, default_value_t = served().pat_ttl.as_secs())]
    pub pat_ttl: u64,
    /// Seconds an instance security token stays valid
    #[arg(long, default_value_t = served().security_token_ttl.as_secs())]
    pub security_token_ttl: u64,
    /// JSON file of external issuers whose security tokens the key broker accepts
    #[arg(long)]
    pub trusted_issuers: Option<PathBuf>,
    /// Seconds between fetches of a trusted issuer's JWKS URL
    #[arg(long, default_value_t = served().issuer_refresh.every.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub issuer_refresh: u64,
    /// Seconds an issuer's keys stay trusted once its JWKS URL cannot be fetched; then its
    /// tokens are refused until a fetch succeeds
    #[arg(long, default_value_t = served().issuer_refresh.max_staleness.as_secs())]
    pub issuer_max_staleness: u64,
    /// PEM bundle of TPM manufacturer CAs (repeatable): TPM hosts' EK certificates must chain
    /// to one. Without it EK certificates go unchecked and TPM hosts wait for approval
    #[arg(long)]
    pub ek_ca: Vec<PathBuf>,
    /// TPM hosts whose EK certificate chains to --ek-ca become active once they prove their
    /// attestation key is in that TPM (credential activation), without an operator
    #[arg(long, requires = "ek_ca")]
    pub ek_auto_approve: bool,
    /// JSON file of the PCR values TPM hosts' quotes may show, per PCR, by default and per
    /// host; a value off its list refuses the attestation (or warns: "on_mismatch": "warn")
    #[arg(long)]
    pub pcr_reference: Option<PathBuf>,
    /// Hosts that may await approval at once; past it, enrollments without a join token are
    /// refused (503 pending-hosts-full)
    #[arg(long, default_value_t = served().max_pending_hosts)]
    pub max_pending_hosts: u64,
    /// Log entries that may wait to be sequenced into the tree; past it, requests that would
    /// log are refused (503 storage-unavailable) before they change anything
    #[arg(long, default_value_t = served().max_log_queue as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_log_queue: u64,
    /// Seconds a client has for its TLS handshake, and then for each request's head (also how
    /// long an idle connection stays open)
    #[arg(long, default_value_t = served().limits.header_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout: u64,
    /// Seconds from a request's head to its answer, its body read included
    #[arg(long, default_value_t = served().limits.request_timeout.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    /// Connections open at once; more wait to be accepted
    #[arg(long, default_value_t = served().limits.max_connections as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,
    /// Connections one client address may hold open; its further ones are closed at once
    /// (behind a TLS proxy every client has the proxy's address: raise it to the cap)
    #[arg(long, default_value_t = served().limits.max_connections_per_address as u64, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections_per_address: u64,
    /// Seconds a shutdown (SIGTERM, Ctrl-C) waits for requests in flight
    #[arg(long, default_value_t = served().limits.shutdown_grace.as_secs())]
    pub shutdown_grace: u64,
    /// Push events to URL (repeatable), signed as Standard Webhooks says, in log order,
    /// retried until taken; the fragment filters them: `URL#host.*,volume.released` (default:
    /// every event). https://, or http:// to loopback; its secret: `cairn server webhook-secret`
    #[arg(long = "webhook", value_name = "URL[#TYPES]")]
    pub webhooks: Vec<Webhook>,
}

/// How `server run` speaks TLS.
#[derive(Args, Clone)]
pub struct TlsArgs {
    /// PEM certificate chain to serve TLS with, reloaded on SIGHUP (default: the one
    /// `server init --tls` made in DATA_DIR/tls/, if it did)
    #[arg(long, env = "CAIRN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's PEM private key
    #[arg(long, env = "CAIRN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP, also on a non-loopback address: only behind a TLS-terminating proxy
    #[arg(long, conflicts_with = "tls_cert")]
    pub insecure_plaintext: bool,
}

#[derive(Subcommand)]
pub enum ServerCmd {
    /// Create keys, the database and the first admin token (printed once)
    Init {
        #[arg(long)]
        data_dir: PathBuf,
        #[arg(long, env = "CAIRN_DATABASE_URL")]
        database_url: Option<String>,
        #[command(flatten)]
        key_store: KeyStoreArg,
        /// Also make a private CA and a server certificate in DATA_DIR/tls/ (ca.pem for
        /// clients; server.pem and server.key, used by `server run`). The CA's key is not kept
        #[arg(long)]
        tls: bool,
        /// A DNS name or IP address the certificate is for (repeatable; default: localhost,
        /// 127.0.0.1, ::1)
        #[arg(long = "tls-san", value_name = "NAME", requires = "tls")]
        tls_sans: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Serve from an initialized data directory
    Run {
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Init (with a private CA) and run in a temporary directory; prints the URL, the CA file
    /// and the admin token
    Dev {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Print the secret a webhook's deliveries are signed with (`whsec_…`, for its receiver),
    /// derived from the server's keys: the same on every replica
    WebhookSecret {
        #[arg(long)]
        data_dir: PathBuf,
        #[command(flatten)]
        key_store: KeyStoreArg,
        /// The webhook, as given to --webhook (its filter does not change the secret)
        #[arg(value_name = "URL[#TYPES]")]
        webhook: Webhook,
    },
}

#[derive(Args, Clone)]
pub struct HkArg {
    /// Hardware key: soft:PATH (Ed25519 file, created on first use) or tpm:TCTI
    #[arg(long, env = "CAIRN_HK")]
    pub hk: HkSpec,
    /// Read hardware from a captured /sys and /proc tree instead of this machine
    #[arg(long, default_value = "/")]
    pub root: PathBuf,
}

#[derive(Subcommand)]
pub enum AgentCmd {
    /// Print this machine's hardware report and fingerprint
    Scan {
        #[arg(long, default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Enroll this machine (pending until approved, or active with a join token)
    Enroll {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        hk: HkArg,
        /// Single-use join token: enroll straight to active (@FILE: read from FILE)
        #[arg(long, env = "CAIRN_JOIN_TOKEN", hide_env_values = true, value_parser = secret)]
        join_token: Option<String>,
        /// Host name to register (default: this machine's hostname)
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Boot: attest, obtain the volume key with the security token, unlock the volume.
    /// Exit codes: 0 unlocked, 10 attestation refused, 11 key release refused, 12 unlock
    /// failed, 2 usage, 3 server unreachable
    Boot(BootArgs),
    /// Run an encrypted workload: check its receipt, attest, get the ERoT key once, decrypt,
    /// run it (wasm in wasmtime, native in a bubblewrap sandbox), report completion. Exit
    /// codes: the workload's own status when it ran; 10 attestation refused; 11 key release
    /// refused; 12 the container does not open; 13 the host cannot sandbox the workload
    /// (nothing was requested or run); 1 a bad receipt, a workload over this host's ceilings,
    /// or a failed workload
    Run(RunArgs),
    /// Attest and print a PAT (diagnostics)
    Attest {
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        hk: HkArg,
        /// Bind the PAT to this security token (its SHA-256 becomes the `tkd` claim)
        #[arg(long)]
        token_file: Option<PathBuf>,
        /// Print the decoded claims too
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Clone)]
pub struct RunArgs {
    /// The encrypted workload container
    pub ewc: PathBuf,
    /// Its receipt (a JWS from `cairn workload receipt`)
    #[arg(long)]
    pub receipt: PathBuf,
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub hk: HkArg,
    /// The most memory (MiB) a workload may ask for; more is refused before the key is asked for
    #[arg(long, env = "CAIRN_MAX_MEMORY_MB", default_value_t = Ceilings::default().memory_mb)]
    pub max_memory_mb: u64,
    /// The longest run (seconds) a workload may ask for
    #[arg(long, env = "CAIRN_MAX_TIMEOUT_S", default_value_t = Ceilings::default().timeout_s)]
    pub max_timeout_s: u64,
    /// The most processes a native workload may ask for
    #[arg(long, env = "CAIRN_MAX_PIDS", default_value_t = Ceilings::default().pids)]
    pub max_pids: u64,
    /// Bytes of the workload's stdout kept and printed; the rest is counted and hashed only
    #[arg(long, env = "CAIRN_MAX_OUTPUT", default_value_t = DEFAULT_MAX_OUTPUT)]
    pub max_output: usize,
    /// Run native workloads WITHOUT the kernel sandbox: as this agent's user, seeing this
    /// host's files, network and processes. Only for hosts that cannot sandbox and run
    /// nothing but trusted workloads
    #[arg(long, conflicts_with = "bwrap")]
    pub unsandboxed: bool,
    /// The bubblewrap that builds the sandbox (default: `bwrap` on PATH)
    #[arg(long, env = "CAIRN_BWRAP")]
    pub bwrap: Option<PathBuf>,
    /// A cgroup v2 directory delegated to the agent (memory and pids in its
    /// cgroup.subtree_control): each run gets a child cgroup capping all its processes
    /// together. Default: the agent's own cgroup v1 memory and pids cgroups, where it may write
    #[arg(long, env = "CAIRN_CGROUP", conflicts_with = "unsandboxed")]
    pub cgroup: Option<PathBuf>,
}

#[derive(Args, Clone)]
#[command(group(clap::ArgGroup::new("token").required(true).args(["token_file", "token_env", "token_url"])))]
pub struct BootArgs {
    #[command(flatten)]
    pub remote: Remote,
    #[command(flatten)]
    pub hk: HkArg,
    /// The volume to unlock
    #[arg(long)]
    pub volume: String,
    /// Read the instance's security token from this file
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Read the security token from this environment variable
    #[arg(long)]
    pub token_env: Option<String>,
    /// Fetch the security token from this instance-metadata URL
    #[arg(long)]
    pub token_url: Option<String>,
    /// How to unlock
    #[arg(long, value_enum)]
    pub backend: BootBackend,
    /// luks: the LUKS2 device or file
    #[arg(long, required_if_eq("backend", "luks"))]
    pub device: Option<PathBuf>,
    /// luks: the device-mapper name (default: cairn-VOLUME)
    #[arg(long)]
    pub name: Option<String>,
    /// luks: only check that the key opens a key slot (no device-mapper needed)
    #[arg(long)]
    pub verify_only: bool,
    /// qemu: the encrypted image (LUKS qcow2 or raw LUKS)
    #[arg(long, required_if_eq("backend", "qemu"))]
    pub image: Option<PathBuf>,
    /// keyfile/qemu: write the key to this file (mode 0600)
    #[arg(long, conflicts_with = "key_fd")]
    pub key_out: Option<PathBuf>,
    /// keyfile/qemu: write the key to this inherited file descriptor
    #[arg(long)]
    pub key_fd: Option<i32>,
    /// Attempts per request while the server is unreachable (backoff 0.2 s doubling to 5 s)
    #[arg(long, default_value_t = 6)]
    pub attempts: u32,
}

/// How `cairn agent boot` hands over the volume key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BootBackend {
    /// Write the bare key to --key-out or --key-fd
    Keyfile,
    /// Open a LUKS2 device with cryptsetup
    Luks,
    /// Write the key for qemu to open a LUKS image
    Qemu,
}

#[derive(Subcommand)]
pub enum AdminCmd {
    /// Hosts in the registry
    Hosts {
        #[command(flatten)]
        remote: AdminRemote,
        #[command(subcommand)]
        action: HostsAction,
    },
    /// Bearer tokens
    Tokens {
        #[command(flatten)]
        remote: AdminRemote,
        #[command(subcommand)]
        action: TokensAction,
    },
    /// Instances: place one on a host and get its security token
    Instances {
        #[command(flatten)]
        remote: AdminRemote,
        #[command(subcommand)]
        action: InstancesAction,
    },
    /// Encrypted volumes and their keys
    Volumes {
        #[command(flatten)]
        remote: AdminRemote,
        #[command(subcommand)]
        action: VolumesAction,
    },
}

#[derive(Subcommand)]
pub enum InstancesAction {
    /// Print the security token of an instance placed on HOST_ID with access to VOLUMEs
    Create {
        #[arg(long)]
        instance_id: String,
        #[arg(long)]
        host_id: String,
        /// A volume the instance may open (repeat for several)
        #[arg(long = "volume", required = true)]
        volumes: Vec<String>,
        #[arg(long)]
        image_digest: Option<String>,
        /// Write the token to this file (mode 0600) instead of stdout
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Void every security token issued for the instance until now: the key broker refuses
    /// them from the next request on (placing the instance again issues new ones)
    Revoke {
        instance_id: cairn_proto::InstanceId,
    },
}

#[derive(Subcommand)]
pub enum VolumesAction {
    /// Generate a volume key, register it, and with --format create the encrypted image
    Create {
        /// Volume id (default: vol-RANDOM)
        #[arg(long)]
        id: Option<String>,
        /// Create an encrypted image: luks (LUKS2 via cryptsetup) or qcow2 (LUKS qcow2 via
        /// qemu-img); without it the volume is a bare key (raw, for the keyfile backend)
        #[arg(
            long,
            requires = "out",
            value_parser = one_of::<VolumeFormat>(VolumeFormat::IMAGES.iter().map(|f| f.as_str()))
        )]
        format: Option<VolumeFormat>,
        /// Where to create the image
        #[arg(long)]
        out: Option<PathBuf>,
        /// Image size, e.g. 64M or 1G
        #[arg(long, default_value = "64M")]
        size: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum HostsAction {
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        host_id: String,
        #[arg(long)]
        json: bool,
    },
    /// pending/quarantined → active
    Approve { host_id: String },
    /// → revoked, for good
    Revoke { host_id: String },
    /// → quarantined: no more PATs until approved
    Quarantine { host_id: String },
    /// Open the maintenance window: the next attestation's hardware is accepted
    Rotate { host_id: String },
    /// quarantined for tamper → active, once the machine was inspected and its sensor reset
    /// (logged; a sensor still tripped quarantines it again at the next attestation)
    ClearTamper { host_id: String },
}

#[derive(Subcommand)]
pub enum TokensAction {
    Create {
        /// What the token may do
        #[arg(long, default_value = "join", value_parser = one_of::<TokenRole>(TokenRole::WORDS.iter().copied()))]
        role: TokenRole,
        /// Lifetime in seconds (join tokens default to 24 h; admin tokens do not expire)
        #[arg(long)]
        ttl: Option<u64>,
        #[arg(long)]
        json: bool,
    },
    /// Every token's id, role and times (never the token itself)
    List {
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id (from `list`, or `create --json`): refused from the next
    /// request on
    Revoke {
        token_id: cairn_proto::TokenId,
        #[arg(long)]
        json: bool,
    },
}

/// The server a benchmark measures.
#[derive(Args, Clone)]
pub struct BenchTarget {
    /// Use an external server (needs --admin-token); default: an in-process one on loopback
    #[arg(long)]
    server: Option<String>,
    #[arg(long, env = "CAIRN_ADMIN_TOKEN", hide_env_values = true, value_parser = secret)]
    admin_token: Option<String>,
    /// The external server's CA bundle, if it is not one the system trusts
    #[arg(long, env = "CAIRN_CA_CERT", requires = "server")]
    ca_cert: Option<PathBuf>,
    #[command(flatten)]
    key_store: KeyStoreArg,
    /// The in-process server speaks plain HTTP instead of TLS
    #[arg(long, conflicts_with = "server")]
    plaintext: bool,
}

impl From<BenchTarget> for cairn_bench::TargetSpec {
    fn from(t: BenchTarget) -> Self {
        cairn_bench::TargetSpec {
            url: t.server,
            admin_token: t.admin_token,
            ca_cert: t.ca_cert,
            key_store: t.key_store.spec,
            plaintext: t.plaintext,
        }
    }
}

#[derive(Subcommand)]
pub enum BenchCmd {
    /// challenge + attest over HTTP on loopback, beside the crypto alone
    Attest {
        /// Concurrent clients
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds to run
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[command(flatten)]
        target: BenchTarget,
        /// Attest with this hardware key instead (e.g. tpm:swtpm:host=…,port=…), one client:
        /// a TPM answers one command at a time
        #[arg(long)]
        hk: Option<HkSpec>,
    },
    /// The transparency log's appends on a store: entries/s and checkpoint latency at each
    /// batch size, and bytes per entry, beside the crypto an entry costs alone
    Log {
        /// Batch sizes to measure, comma separated
        #[arg(long, value_delimiter = ',', default_value = "1,16,256,1024")]
        batch: Vec<usize>,
        /// Seconds at each batch size
        #[arg(long, default_value_t = 5)]
        seconds: u64,
        /// A fresh database (default: a SQLite file in a temporary directory)
        #[arg(long)]
        database_url: Option<String>,
    },
    /// EWC seal and open of a large input, beside single-core AES-256-GCM and SHA-256
    Ewc {
        /// Input size, e.g. 1G
        #[arg(long, default_value = "1G")]
        size: String,
        /// Where the sealed file goes while it is opened again (default: a temporary dir)
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Volume key release over HTTP on loopback beside the crypto alone, then whole boots
    Release {
        /// Concurrent clients
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds to run
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Sequential whole boots (scan → unlocked keyfile) to time
        #[arg(long, default_value_t = 200)]
        boots: usize,
        #[command(flatten)]
        key_store: KeyStoreArg,
        /// The in-process server speaks plain HTTP instead of TLS
        #[arg(long)]
        plaintext: bool,
    },
    /// The `process` runtime's sandbox: its probe, and a native payload's start-up and exit in
    /// it, beside the same executable started directly
    Run {
        /// Sandboxed runs to time
        #[arg(long, default_value_t = 100)]
        runs: usize,
        /// The bubblewrap to use (default: `bwrap` on PATH)
        #[arg(long, env = "CAIRN_BWRAP")]
        bwrap: Option<PathBuf>,
        /// A delegated cgroup v2 directory, as for `cairn agent run --cgroup`
        #[arg(long, env = "CAIRN_CGROUP")]
        cgroup: Option<PathBuf>,
    },
}
