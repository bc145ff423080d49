//! The Cairn server. One process can run every role: the attestation service (enrollment,
//! challenges, PATs), the issuer (instance security tokens) and the key broker (volume keys),
//! with the admin API. Handlers live one file per resource in
//! `routes/`; they speak HTTP and call the store, the key store and the pure policy in
//! `cairn-proto`.

mod attestation;
mod auth;
mod clock;
mod config;
mod connections;
mod init;
mod issuers;
mod log;
mod metrics;
pub mod openapi;
mod pcr_reference;
mod problem;
mod routes;
mod state;
pub mod tls;
mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use cairn_store::Store;
use tokio::net::TcpListener;

pub use config::{Role, ServerConfig};
pub use connections::Limits;
pub use init::{InitError, Initialized, init, new_token, token_hash};
pub use issuers::{IssuerConfig, IssuerError, Refresh};
pub use pcr_reference::PcrReference;
pub use state::AppState;
pub use webhooks::secret as webhook_secret;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    KeyStore(#[from] cairn_keystore::KeyStoreError),
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
    #[error(transparent)]
    Issuers(#[from] issuers::IssuerError),
    #[error("--ek-ca {0}")]
    EkCa(String),
    #[error(transparent)]
    PcrReference(#[from] pcr_reference::PcrReferenceError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    LogQueue(#[from] log::QueueError),
    #[error("--webhook {0} is given twice")]
    WebhookTwice(String),
    #[error(
        "refusing to serve plaintext on {0}, which is not a loopback address: give --tls-cert and \
         --tls-key (or run `cairn server init --tls`), or --insecure-plaintext behind a \
         TLS-terminating proxy"
    )]
    PlaintextNotLoopback(SocketAddr),
}

/// The certificates of every `--ek-ca` PEM bundle, as DER.
fn read_ek_anchors(paths: &[std::path::PathBuf]) -> Result<Vec<Vec<u8>>, ServeError> {
    let mut anchors = vec![];
    for path in paths {
        let certs =
            cairn_pem::read_certificates(path).map_err(|e| ServeError::EkCa(e.to_string()))?;
        anchors.extend(certs.into_iter().map(|der| der.to_vec()));
    }
    Ok(anchors)
}

/// What the challenge key is derived from in the key store, hashed like an ERoT seed. An
/// ERoT seed hashes at least 64 bytes (a hardware key, a digest, a nonce) and this label is
/// shorter, so only a SHA-256 collision could make the two meet.
const CHALLENGE_KEY_LABEL: &[u8] = b"cairn challenge key v1";

/// The key challenges are made with. Replicas share PostgreSQL and one key, derived in the
/// key store from its master secret, so every replica with the same keys (or HSM) makes and
/// accepts the same challenges. A process that keeps used nonces in memory (SQLite) makes a
/// key of its own at each start instead: its challenges die with it, so none can be used
/// again after a restart has forgotten that it was used.
fn challenge_key(
    store: &Store,
    keys: &dyn cairn_keystore::KeyStore,
) -> Result<cairn_proto::nonce::ChallengeKey, ServeError> {
    use cairn_proto::nonce::ChallengeKey;
    if store.keeps_nonces_in_process() {
        return Ok(ChallengeKey::new(&zeroize::Zeroizing::new(
            cairn_proto::random_bytes(),
        )));
    }
    let seed = cairn_proto::Digest::sha256(CHALLENGE_KEY_LABEL);
    let secret = keys.erot_mac(&seed.0)?;
    Ok(ChallengeKey::new(&secret))
}

fn scheme(tls: bool) -> &'static str {
    match tls {
        true => "https",
        false => "http",
    }
}

/// A server bound to its port, ready to serve.
pub struct Server {
    listener: TcpListener,
    certificates: Option<Arc<tls::Certificates>>,
    state: AppState,
    issuers: Vec<issuers::IssuerConfig>,
}

impl Server {
    /// Opens the keys and the database and binds `config.listen`.
    pub async fn bind(mut config: ServerConfig) -> Result<Self, ServeError> {
        let keys = config.key_store.open(&config.data_dir)?;
        let store = Store::connect(&config.database_url()).await?;
        config.issuer_refresh.check()?;
        let issuer_configs = match &config.trusted_issuers {
            Some(path) => issuers::read_config(path)?,
            None => vec![],
        };
        let external = issuers::load(&issuer_configs).await?;
        let ek_anchors = read_ek_anchors(&config.ek_ca)?;
        let pcr_reference = match &config.pcr_reference {
            Some(path) => Some(pcr_reference::PcrReference::read(path)?),
            None => None,
        };
        let certificates = config
            .tls_files()
            .map(tls::Certificates::load)
            .transpose()?;
        let listen_failed = |source| ServeError::Listen {
            addr: config.listen.clone(),
            source,
        };
        let listener = TcpListener::bind(&config.listen)
            .await
            .map_err(listen_failed)?;
        let addr = listener.local_addr().map_err(listen_failed)?;
        if certificates.is_none() && !addr.ip().is_loopback() && !config.insecure_plaintext {
            return Err(ServeError::PlaintextNotLoopback(addr));
        }
        let scheme = match certificates {
            Some(_) => "https",
            None => "http",
        };
        config
            .issuer
            .get_or_insert_with(|| format!("{scheme}://{addr}"));
        let challenges = challenge_key(&store, keys.as_ref())?;
        let metrics = Arc::new(metrics::Metrics::default());
        let (log, checkpoint) = log::Log::open(
            store.clone(),
            &keys,
            metrics.clone(),
            &config.data_dir,
            config.max_log_queue,
        )
        .await?;
        tracing::info!(size = checkpoint.size, root = %checkpoint.root, "transparency log checked against its checkpoint");
        for (i, hook) in config.webhooks.iter().enumerate() {
            if config.webhooks[..i].iter().any(|h| h.url() == hook.url()) {
                return Err(ServeError::WebhookTwice(hook.display()));
            }
            let place = store.register_webhook(&hook.key()).await?;
            tracing::info!(webhook = %hook.display(), from_entry = place, "delivering events");
        }
        let state = AppState::new(
            config,
            keys,
            store,
            log,
            metrics,
            external,
            ek_anchors,
            pcr_reference,
            challenges,
        );
        Ok(Server {
            listener,
            certificates,
            state,
            issuers: issuer_configs,
        })
    }

    /// The certificate it serves TLS with, to reload on SIGHUP.
    pub fn certificates(&self) -> Option<Arc<tls::Certificates>> {
        self.certificates.clone()
    }

    /// Where clients reach it: `https://ADDR`, or `http://ADDR` without TLS.
    pub fn url(&self) -> String {
        let scheme = scheme(self.certificates.is_some());
        format!("{scheme}://{}", self.local_addr())
    }

    /// Its routes, to serve some other way (in-process tests, say) than [`Server::serve`].
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// The key store the server signs with (one per process: an HSM's context is shared).
    pub fn keys(&self) -> Arc<dyn cairn_keystore::KeyStore> {
        self.state.keys.clone()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let state = self.state.clone();
        let mut background = vec![tokio::spawn(
            self.state
                .store
                .clone()
                .expire_forever(log::Log::expired_entry, move || state.log.expired()),
        )];
        for issuer in self.issuers.into_iter().filter(|i| i.jwks_url.is_some()) {
            background.push(tokio::spawn(issuers::refresh_forever(
                self.state.clone(),
                issuer,
                self.state.config.issuer_refresh,
            )));
        }
        // This process's name on the webhooks' leases (its log queue's), given up when it
        // stops, and by the next start on its data directory if it dies.
        let owner = self.state.log.id().to_string();
        for hook in &self.state.config.webhooks {
            background.push(tokio::spawn(webhooks::deliver_forever(
                self.state.clone(),
                hook.clone(),
                owner.clone(),
            )));
        }
        let store = self.state.store.clone();
        let log = self.state.log.clone();
        let limits = self.state.config.limits.clone();
        let metrics = self.state.metrics.clone();
        let tls = self
            .certificates
            .map(|certs| tokio_rustls::TlsAcceptor::from(Arc::new(certs.server_config())));
        let app = routes::router(self.state);
        connections::serve(self.listener, tls, app, &limits, metrics, shutdown).await;
        background.iter().for_each(|task| task.abort());
        // Stopped for good before the leases are given up, so none is taken again after.
        for task in background {
            let _ = task.await;
        }
        log.close().await;
        if let Err(e) = store.release_webhooks(&owner).await {
            tracing::warn!(error = %e, "webhook leases not given up: they run out in seconds");
        }
    }
}
