//! What a server process is told at start.

use std::path::PathBuf;
use std::time::Duration;

use cairn_keystore::KeyStoreSpec;
use cairn_store::Store;

use crate::connections::Limits;
use crate::tls::TlsFiles;

cairn_proto::words!(
    "role",
    /// The roles of DESIGN.md a process serves (`--roles`).
    pub enum Role {
        /// Enrollment, challenges, PATs, and the host registry.
        Attestation = "attestation",
        /// Signs instance security tokens for the control plane.
        Issuer = "issuer",
        /// Volume keys: registration and release.
        KeyBroker = "kbs",
        /// ERoTs: derivation, receipts, release and destruction.
        Derg = "derg",
    }
);

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; `None` means `<data dir>/cairn.db`.
    pub database_url: Option<String>,
    /// Where the server's keys are: `<data dir>/keys`, or an HSM.
    pub key_store: KeyStoreSpec,
    pub listen: String,
    /// The certificate to serve TLS with; `None` means the one `server init --tls` made in
    /// the data directory, if it did.
    pub tls: Option<TlsFiles>,
    /// Serve plaintext, also on a non-loopback address (behind a TLS-terminating proxy).
    pub insecure_plaintext: bool,
    /// Timeouts and the connection cap.
    pub limits: Limits,
    /// The `iss` of every token this server signs: its public URL. `None` means
    /// `https://<bound address>` (`http://` without TLS), resolved when the listener is bound.
    pub issuer: Option<String>,
    pub roles: Vec<Role>,
    /// Refuse replaceable-component drift instead of answering `status: warning`.
    pub strict_drift: bool,
    pub nonce_ttl: Duration,
    pub pat_ttl: Duration,
    pub security_token_ttl: Duration,
    /// Lifetime of an ERoT unless the request asks for less.
    pub erot_ttl: Duration,
    /// A JSON file naming external issuers whose security tokens the key broker accepts.
    pub trusted_issuers: Option<PathBuf>,
    /// How the keys of issuers published at a URL are kept fresh.
    pub issuer_refresh: crate::issuers::Refresh,
    /// PEM bundles of TPM manufacturer CAs: a TPM host's EK certificate must chain to one.
    /// None configured: EK certificates are not checked, and TPM hosts wait for approval.
    pub ek_ca: Vec<PathBuf>,
    /// A TPM host whose EK certificate chains to `ek_ca` becomes active once it proves its AK
    /// is in that TPM, without an operator.
    pub ek_auto_approve: bool,
    /// The PCR values TPM hosts' quotes may show (see `pcr_reference.rs`).
    pub pcr_reference: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// Hosts that may await approval at once: enrollments without a join token past it are
    /// refused, so that nobody can fill the registry without a credential.
    pub max_pending_hosts: u64,
    /// Where events are pushed (`--webhook`), each with its filter.
    pub webhooks: Vec<cairn_log::webhook::Webhook>,
    /// Log entries that may wait to be sequenced into the tree; past it, requests that would
    /// log are refused (503 `storage-unavailable`) before they change anything.
    pub max_log_queue: usize,
}

impl ServerConfig {
    pub fn new(data_dir: PathBuf, listen: String) -> Self {
        ServerConfig {
            issuer: None,
            data_dir,
            database_url: None,
            key_store: KeyStoreSpec::File,
            listen,
            tls: None,
            insecure_plaintext: false,
            limits: Limits::default(),
            roles: Role::ALL.to_vec(),
            strict_drift: false,
            nonce_ttl: Duration::from_secs(60),
            pat_ttl: Duration::from_secs(300),
            security_token_ttl: Duration::from_secs(3600),
            erot_ttl: Duration::from_secs(3600),
            trusted_issuers: None,
            issuer_refresh: Default::default(),
            ek_ca: vec![],
            ek_auto_approve: false,
            pcr_reference: None,
            body_limit: 256 * 1024,
            max_pending_hosts: 1000,
            webhooks: vec![],
            max_log_queue: crate::log::MAX_QUEUED,
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| Self::default_database_url(&self.data_dir))
    }

    /// The embedded default: a SQLite file in the data directory.
    pub fn default_database_url(data_dir: &std::path::Path) -> String {
        Store::sqlite_url(&data_dir.join("cairn.db"))
    }

    /// The certificate and key this server presents, if it serves TLS.
    pub fn tls_files(&self) -> Option<TlsFiles> {
        match self.insecure_plaintext {
            true => None,
            false => self
                .tls
                .clone()
                .or_else(|| TlsFiles::made_in(&self.data_dir)),
        }
    }

    pub fn serves(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}
