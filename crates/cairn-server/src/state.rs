//! What every request handler shares.

use std::sync::Arc;

use cairn_keystore::KeyStore;
use cairn_store::Store;
use cairn_token::{Pat, Receipt, SecurityToken, TokenSigner, TrustedIssuers, Verifier};

use crate::ServerConfig;
use crate::metrics::Metrics;

/// Cloned into every request (axum's `State`), so one reference count to bump.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub config: Arc<ServerConfig>,
    pub store: Store,
    pub keys: Arc<dyn KeyStore>,
    pub pat_signer: TokenSigner<Pat>,
    pub security_token_signer: TokenSigner<SecurityToken>,
    /// Checks PATs this deployment issued (the key broker's side of flow 3).
    pub pat_verifier: Arc<Verifier>,
    pub receipt_signer: TokenSigner<Receipt>,
    pub receipt_verifier: Arc<Verifier>,
    /// Cairn's own issuer and the configured external ones; URL-backed issuers' keys are
    /// refreshed in the background, hence the lock.
    pub issuers: Arc<std::sync::RwLock<Arc<TrustedIssuers>>>,
    pub metrics: Arc<Metrics>,
    /// The resolved `iss` of issued tokens.
    pub issuer: Arc<str>,
    /// DER certificates of the TPM manufacturer CAs in `--ek-ca`.
    pub ek_anchors: Arc<[Vec<u8>]>,
    /// The PCR values TPM hosts' quotes may show (`--pcr-reference`).
    pub pcr_reference: Option<Arc<crate::pcr_reference::PcrReference>>,
    /// The OpenAPI document of the routes this process serves, rendered once.
    pub openapi: axum::body::Bytes,
    /// Makes and checks challenge nonces.
    pub challenges: Arc<cairn_proto::nonce::ChallengeKey>,
    /// The transparency log every security event is recorded in.
    pub log: Arc<crate::log::Log>,
}

impl AppState {
    /// `external` are the trusted external issuers, already loaded; `ek_anchors` the DER
    /// certificates of `--ek-ca`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: ServerConfig,
        keys: Arc<dyn KeyStore>,
        store: Store,
        log: crate::log::Log,
        metrics: Arc<Metrics>,
        external: TrustedIssuers,
        ek_anchors: Vec<Vec<u8>>,
        pcr_reference: Option<crate::pcr_reference::PcrReference>,
        challenges: cairn_proto::nonce::ChallengeKey,
    ) -> Self {
        let issuer = config.issuer.clone().unwrap_or_default();
        let pat_signer = keys.token_signer::<Pat>();
        let security_token_signer = keys.token_signer::<SecurityToken>();
        let receipt_signer = keys.token_signer::<Receipt>();
        let pat_verifier = Verifier::for_pats(&pat_signer.jwks(), Some(issuer.clone()))
            .expect("our own PAT key is a valid JWK");
        let receipt_verifier = Verifier::for_receipts(&receipt_signer.jwks(), Some(issuer.clone()))
            .expect("our own receipt key is a valid JWK");
        let state = AppState(Arc::new(Shared {
            receipt_signer,
            receipt_verifier: Arc::new(receipt_verifier),
            issuer: issuer.into(),
            pat_signer,
            security_token_signer,
            pat_verifier: Arc::new(pat_verifier),
            issuers: Arc::default(),
            openapi: crate::routes::document(&config).to_string().into(),
            config: Arc::new(config),
            store,
            keys,
            metrics,
            log: Arc::new(log),
            ek_anchors: ek_anchors.into(),
            pcr_reference: pcr_reference.map(Arc::new),
            challenges: Arc::new(challenges),
        }));
        state.install_issuers(external);
        state
    }

    /// Makes `external` (plus Cairn's own issuer, always trusted) the trusted issuers.
    fn install_issuers(&self, mut external: TrustedIssuers) {
        external
            .trust_cairn(&self.issuer, &self.security_token_signer.jwks())
            .expect("our own issuer key is a valid JWK");
        *self.issuers.write().expect("issuer lock") = Arc::new(external);
    }

    /// Changes the trusted issuers with `change`, which sees (and may fail on) a copy.
    pub fn update_issuers<E>(
        &self,
        change: impl FnOnce(&mut TrustedIssuers) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut issuers = self.issuers.write().expect("issuer lock");
        let mut updated = TrustedIssuers::clone(&issuers);
        change(&mut updated)?;
        *issuers = Arc::new(updated);
        Ok(())
    }

    /// Refuses `issuer`'s tokens until its keys are installed again.
    pub fn mark_issuer_stale(&self, issuer: &str) {
        let Ok(()) = self.update_issuers::<std::convert::Infallible>(|trusted| {
            trusted.mark_stale(issuer);
            Ok(())
        });
    }

    /// The trusted issuers as of now (a cheap clone of an `Arc`).
    pub fn trusted_issuers(&self) -> Arc<TrustedIssuers> {
        self.issuers.read().expect("issuer lock").clone()
    }
}
