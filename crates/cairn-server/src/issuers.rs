//! External issuers of security tokens (`--trusted-issuers FILE`): a cloud's instance identity
//! signer, a Kubernetes cluster, another control plane. Each is pinned to its own issuer
//! string, audience and keys; keys come from a JWKS file or URL, and URL keys are refreshed
//! so that an issuer's key rotation needs no restart.
//!
//! ```json
//! { "issuers": [
//!     { "issuer": "https://cp.example", "audience": "cairn-kbs", "jwks_url": "https://cp.example/jwks.json" },
//!     { "issuer": "https://k8s.example", "audience": "cairn", "jwks_file": "/etc/cairn/k8s-jwks.json", "typ": "JWT" },
//!     { "issuer": "https://cp.internal", "jwks_url": "https://cp.internal/jwks", "ca_cert": "/etc/cairn/cp-ca.pem" }
//! ] }
//! ```
//!
//! A key set is what the key broker trusts, so fetching one is guarded: `https` only (plain
//! `http` only to loopback), no redirects, at most [`MAX_JWKS`] bytes within [`FETCH_TIMEOUT`].
//! Each issuer is refreshed on its own; one whose keys could not be refreshed for longer
//! than the allowed staleness is refused (`security-token-issuer-stale`) until they are,
//! because a key it removed in the meantime would otherwise stay trusted.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cairn_token::{Jwks, TrustedIssuers};
use reqwest::Url;
use serde::Deserialize;

use crate::AppState;

/// The largest key set read from an issuer.
pub const MAX_JWKS: usize = 1024 * 1024;
/// How long fetching one may take, connection included.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon a failed refresh is tried again (unless the refresh period is shorter).
const RETRY_EVERY: Duration = Duration::from_secs(30);

/// How URL key sets are kept fresh.
#[derive(Clone, Copy, Debug)]
pub struct Refresh {
    /// How often keys published at a URL are fetched again.
    pub every: Duration,
    /// How long an issuer's keys stay trusted once refreshes fail.
    pub max_staleness: Duration,
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            every: Duration::from_secs(300),
            max_staleness: Duration::from_secs(3600),
        }
    }
}

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
    /// A PEM bundle of the CAs to trust for `jwks_url` instead of the system's roots.
    #[serde(default)]
    pub ca_cert: Option<PathBuf>,
}

fn default_audience() -> String {
    <cairn_token::SecurityToken as cairn_token::TokenKind>::AUDIENCE.into()
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
            let fail = |why: &str| Err(IssuerError(format!("issuer {:?}: {why}", issuer.issuer)));
            if issuer.jwks_file.is_some() == issuer.jwks_url.is_some() {
                return fail("needs exactly one of jwks_file and jwks_url");
            }
            if issuer.ca_cert.is_some() && issuer.jwks_url.is_none() {
                return fail("ca_cert is for a jwks_url");
            }
            if let Some(url) = &issuer.jwks_url {
                check_url(url)
                    .map_err(|why| IssuerError(format!("issuer {:?}: {why}", issuer.issuer)))?;
            }
            if file
                .issuers
                .iter()
                .filter(|i| i.issuer == issuer.issuer)
                .count()
                > 1
            {
                return fail("listed twice (one issuer has one key set and one audience)");
            }
        }
        Ok(file.issuers)
    }
}

/// A key set comes over `https`, or plain `http` from this machine only.
fn check_url(url: &str) -> Result<Url, String> {
    let parsed = Url::parse(url).map_err(|e| format!("jwks_url {url:?}: {e}"))?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if cairn_proto::transport::is_loopback(&parsed) => Ok(parsed),
        _ => Err(format!(
            "jwks_url {url:?} must be https (plain http only to loopback)"
        )),
    }
}

impl Refresh {
    /// Keys are fetched at least once within the staleness allowed to them.
    pub fn check(&self) -> Result<(), IssuerError> {
        match self.every <= self.max_staleness {
            true => Ok(()),
            false => Err(IssuerError(format!(
                "the refresh period ({} s) is longer than the staleness allowed ({} s)",
                self.every.as_secs(),
                self.max_staleness.as_secs()
            ))),
        }
    }
}

/// Loads every issuer's keys. Fails on the first unreadable key set: a key broker that
/// silently dropped an issuer would refuse that issuer's instances for a confusing reason.
pub async fn load(configs: &[IssuerConfig]) -> Result<TrustedIssuers, IssuerError> {
    let mut trusted = TrustedIssuers::default();
    for config in configs {
        let jwks = fetch_jwks(config).await?;
        trust(&mut trusted, config, &jwks)?;
    }
    Ok(trusted)
}

fn trust(
    trusted: &mut TrustedIssuers,
    config: &IssuerConfig,
    jwks: &Jwks,
) -> Result<(), IssuerError> {
    trusted
        .trust(
            &config.issuer,
            &config.audience,
            config.typ.as_deref(),
            jwks,
        )
        .map_err(|e| IssuerError(format!("issuer {:?}: {e}", config.issuer)))
}

async fn fetch_jwks(config: &IssuerConfig) -> Result<Jwks, IssuerError> {
    let context = |e: String| IssuerError(format!("keys of issuer {:?}: {e}", config.issuer));
    let bytes = match (&config.jwks_file, &config.jwks_url) {
        (Some(path), _) => {
            std::fs::read(path).map_err(|e| context(format!("{}: {e}", path.display())))?
        }
        (None, Some(url)) => fetch(url, config.ca_cert.as_deref())
            .await
            .map_err(context)?,
        (None, None) => return Err(context("no jwks_file or jwks_url".into())),
    };
    serde_json::from_slice(&bytes).map_err(|e| context(format!("not a JWKS: {e}")))
}

/// GETs `url`: no redirect followed, at most [`MAX_JWKS`] bytes, within [`FETCH_TIMEOUT`].
async fn fetch(url: &str, ca_cert: Option<&Path>) -> Result<Vec<u8>, String> {
    let url = check_url(url)?;
    // No proxy either: plain http to loopback must not leave the machine through one.
    let mut client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_version_min(reqwest::tls::Version::TLS_1_2);
    if let Some(path) = ca_cert {
        let certs = cairn_pem::read_certificates(path)
            .map_err(|e| e.to_string())?
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        client = client.tls_certs_only(certs);
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let mut response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| cairn_proto::error_chain(&e))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(format!(
            "{url}: HTTP {} (redirects are not followed)",
            response.status()
        ));
    }
    let too_large = || format!("{url}: more than {MAX_JWKS} bytes");
    if response
        .content_length()
        .is_some_and(|n| n > MAX_JWKS as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| cairn_proto::error_chain(&e))?
    {
        if body.len() + chunk.len() > MAX_JWKS {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Keeps one URL issuer's keys fresh: fetched every `refresh.every` (sooner again after a
/// failure); trusted no more once they could not be refreshed for `refresh.max_staleness`.
pub async fn refresh_forever(state: AppState, config: IssuerConfig, refresh: Refresh) {
    let mut refreshed = Instant::now();
    let mut stale = false;
    let mut wait = refresh.every;
    loop {
        tokio::time::sleep(wait).await;
        let fetched = fetch_jwks(&config).await;
        let outcome =
            fetched.and_then(|jwks| state.update_issuers(|trusted| trust(trusted, &config, &jwks)));
        match outcome {
            Ok(()) => {
                if stale {
                    tracing::info!(issuer = %config.issuer, "issuer keys refreshed; trusted again");
                }
                (refreshed, stale, wait) = (Instant::now(), false, refresh.every);
            }
            Err(e) => {
                wait = refresh.every.min(RETRY_EVERY);
                if refreshed.elapsed() < refresh.max_staleness {
                    tracing::warn!(error = %e, "refreshing issuer keys failed; keeping the previous keys");
                } else if !stale {
                    tracing::error!(error = %e, issuer = %config.issuer, "issuer keys too stale; refusing its tokens until they are refreshed");
                    state.mark_issuer_stale(&config.issuer);
                    stale = true;
                }
            }
        }
    }
}
