//! External issuers of security tokens (`--trusted-issuers FILE`): a cloud's instance identity
//! signer, a Kubernetes cluster, another control plane. Each is pinned to its own issuer
//! string, audience and keys; keys come from a JWKS file or URL, and URL keys are refreshed
//! so that an issuer's key rotation needs no restart.
//!
//! ```json
//! { "issuers": [
//!     { "issuer": "https://cp.example", "audience": "cairn-kbs", "jwks_url": "https://cp.example/jwks.json" },
//!     { "issuer": "https://k8s.example", "audience": "cairn", "jwks_file": "/etc/cairn/k8s-jwks.json", "typ": "JWT" }
//! ] }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_token::{Jwks, TrustedIssuers};
use serde::Deserialize;

use crate::AppState;

/// How often keys published at a URL are fetched again.
pub const REFRESH_EVERY: Duration = Duration::from_secs(300);

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerConfig {
    pub issuer: String,
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Pins the JWS header `typ` when set.
    #[serde(default)]
    pub typ: Option<String>,
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    #[serde(default)]
    pub jwks_url: Option<String>,
}

fn default_audience() -> String {
    <cairn_token::SecurityTokenClaims as cairn_token::Claims>::AUDIENCE.into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuersFile {
    issuers: Vec<IssuerConfig>,
}

#[derive(Debug, thiserror::Error)]
#[error("trusted issuers: {0}")]
pub struct IssuerError(String);

/// Reads and checks the issuers file.
pub fn read_config(path: &Path) -> Result<Vec<IssuerConfig>, IssuerError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| IssuerError(format!("{}: {e}", path.display())))?;
    IssuerConfig::parse_file(&text).map_err(|e| IssuerError(format!("{}: {}", path.display(), e.0)))
}

impl IssuerConfig {
    /// The issuers of a `--trusted-issuers` file's text, checked.
    pub fn parse_file(text: &str) -> Result<Vec<IssuerConfig>, IssuerError> {
        let file: IssuersFile =
            serde_json::from_str(text).map_err(|e| IssuerError(e.to_string()))?;
        for issuer in &file.issuers {
            if issuer.jwks_file.is_some() == issuer.jwks_url.is_some() {
                return Err(IssuerError(format!(
                    "issuer {:?} needs exactly one of jwks_file and jwks_url",
                    issuer.issuer
                )));
            }
        }
        Ok(file.issuers)
    }
}

/// Loads every issuer's keys. Fails on the first unreadable key set: a key broker that
/// silently dropped an issuer would refuse that issuer's instances for a confusing reason.
pub async fn load(configs: &[IssuerConfig]) -> Result<TrustedIssuers, IssuerError> {
    let mut trusted = TrustedIssuers::default();
    for config in configs {
        let jwks = fetch_jwks(config).await?;
        trusted
            .trust(
                &config.issuer,
                &config.audience,
                config.typ.as_deref(),
                &jwks,
            )
            .map_err(|e| IssuerError(format!("issuer {:?}: {e}", config.issuer)))?;
    }
    Ok(trusted)
}

async fn fetch_jwks(config: &IssuerConfig) -> Result<Jwks, IssuerError> {
    let context = |e: String| IssuerError(format!("keys of issuer {:?}: {e}", config.issuer));
    let bytes = match (&config.jwks_file, &config.jwks_url) {
        (Some(path), _) => {
            std::fs::read(path).map_err(|e| context(format!("{}: {e}", path.display())))?
        }
        (None, Some(url)) => {
            let response = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .map_err(|e| context(e.to_string()))?
                .get(url)
                .send()
                .await
                .and_then(|r| r.error_for_status())
                .map_err(|e| context(e.to_string()))?;
            response
                .bytes()
                .await
                .map_err(|e| context(e.to_string()))?
                .to_vec()
        }
        (None, None) => return Err(context("no jwks_file or jwks_url".into())),
    };
    serde_json::from_slice(&bytes).map_err(|e| context(format!("not a JWKS: {e}")))
}

/// Re-reads every issuer's keys periodically; on failure the previous keys stay in force.
pub async fn refresh_forever(state: AppState, configs: Vec<IssuerConfig>) {
    let mut tick = tokio::time::interval(REFRESH_EVERY);
    tick.tick().await;
    loop {
        tick.tick().await;
        match load(&configs).await {
            Ok(trusted) => state.install_issuers(trusted),
            Err(e) => {
                tracing::warn!(error = %e, "refreshing issuer keys failed; keeping the previous keys")
            }
        }
    }
}
