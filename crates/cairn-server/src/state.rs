//! What every request handler shares.

use std::sync::Arc;

use cairn_keystore::{KeyPurpose, KeyStore};
use cairn_store::Store;
use cairn_token::JwsSigner;

use crate::ServerConfig;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<ServerConfig>,
    pub store: Store,
    pub keys: Arc<dyn KeyStore>,
    pub pat_signer: Arc<dyn JwsSigner>,
    pub metrics: Arc<Metrics>,
    /// The resolved `iss` of issued tokens.
    pub issuer: Arc<str>,
}

impl AppState {
    pub fn new(config: ServerConfig, keys: Arc<dyn KeyStore>, store: Store) -> Self {
        AppState {
            issuer: config.issuer.clone().unwrap_or_default().into(),
            pat_signer: keys.signer(KeyPurpose::Pat),
            config: Arc::new(config),
            store,
            keys,
            metrics: Arc::new(Metrics::default()),
        }
    }
}
