//! The instance security token (DESIGN.md flow 3, step 1): the control plane's word that an
//! instance runs on a given host and may open given volumes. Cairn's issuer role signs them;
//! tokens of external issuers (a cloud's instance identity, a cluster's workload tokens) are
//! accepted when the issuer is configured as trusted.

use std::collections::HashMap;
use std::sync::Arc;

use cairn_proto::{HostId, InstanceId, UnixTime, b64};
use serde::{Deserialize, Serialize};

use crate::{Jwks, KeyPurpose, TokenError, TokenKind, Verifier};

/// The `typ` of security tokens Cairn's own issuer signs.
pub const SECURITY_TOKEN_TYP: &str = "st+jwt";

/// `aud` may be one string or a list (RFC 7519 §4.1.3); external issuers use both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// A security token as any trusted issuer writes it: `aud` one string or several, `nbf` and
/// `jti` optional, `sub` the issuer's name for the instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityTokenClaims {
    pub iss: String,
    /// The instance id.
    pub sub: String,
    pub aud: Audience,
    pub iat: UnixTime,
    pub exp: UnixTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<UnixTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    #[serde(flatten)]
    pub body: SecurityToken,
}

/// A security token's own claims: where the control plane placed the instance, and what it
/// may open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityToken {
    /// The host the control plane placed the instance on.
    pub host_id: HostId,
    /// The volumes the instance may open.
    pub volume_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

/// Cairn's own security tokens are for the key broker, which PATs are for too.
impl TokenKind for SecurityToken {
    const TYP: &'static str = SECURITY_TOKEN_TYP;
    const AUDIENCE: &'static str = crate::pat::PAT_AUDIENCE;
    const KEY: KeyPurpose = KeyPurpose::SecurityToken;
    type Subject = InstanceId;
}

/// The issuers whose security tokens the key broker accepts, each pinned to its own keys
/// and audience: a token is checked only against the keys of the issuer it names.
#[derive(Clone, Default)]
pub struct TrustedIssuers {
    by_issuer: HashMap<String, IssuerKeys>,
}

#[derive(Clone)]
enum IssuerKeys {
    Current(Arc<Verifier>),
    /// Keys that could not be refreshed for too long: a removed key may be among them.
    Stale,
}

impl TrustedIssuers {
    /// Trusts Cairn's own issuer: `st+jwt` tokens for `cairn-kbs` signed by a key in `jwks`.
    pub fn trust_cairn(&mut self, issuer: &str, jwks: &Jwks) -> Result<(), TokenError> {
        let verifier = Verifier::of::<SecurityToken>(jwks, Some(issuer.into()))?;
        self.install(issuer, verifier);
        Ok(())
    }

    /// Trusts an external issuer for tokens with `audience`, signed by a key in `jwks`, with
    /// header `typ` pinned when given. Replaces whatever keys the issuer had.
    pub fn trust(
        &mut self,
        issuer: &str,
        audience: &str,
        typ: Option<&str>,
        jwks: &Jwks,
    ) -> Result<(), TokenError> {
        let mut verifier = Verifier::new(jwks, audience, Some(issuer.into()))?;
        if let Some(typ) = typ {
            verifier = verifier.typ(typ);
        }
        self.install(issuer, verifier);
        Ok(())
    }

    fn install(&mut self, issuer: &str, verifier: Verifier) {
        self.by_issuer
            .insert(issuer.into(), IssuerKeys::Current(Arc::new(verifier)));
    }

    /// Stops trusting `issuer`'s keys until they are replaced by [`TrustedIssuers::trust`]:
    /// its tokens are refused as [`TokenError::StaleIssuer`].
    pub fn mark_stale(&mut self, issuer: &str) {
        if let Some(keys) = self.by_issuer.get_mut(issuer) {
            *keys = IssuerKeys::Stale;
        }
    }

    /// Verifies a security token with the verifier of the issuer it names.
    pub fn verify(&self, token: &str) -> Result<SecurityTokenClaims, TokenError> {
        let issuer = unverified_issuer(token)?;
        match self.by_issuer.get(&issuer) {
            Some(IssuerKeys::Current(verifier)) => verifier.verify(token),
            Some(IssuerKeys::Stale) => Err(TokenError::StaleIssuer(issuer)),
            None => Err(TokenError::UntrustedIssuer(issuer)),
        }
    }
}

/// The `iss` a token claims, read before verification only to pick the keys to verify with.
fn unverified_issuer(token: &str) -> Result<String, TokenError> {
    let malformed = || TokenError::Malformed("not a compact JWS with an iss claim".into());
    let payload = token.split('.').nth(1).ok_or_else(malformed)?;
    let bytes = b64::decode(payload).map_err(|_| malformed())?;
    #[derive(Deserialize)]
    struct Iss {
        iss: String,
    }
    serde_json::from_slice::<Iss>(&bytes)
        .map(|c| c.iss)
        .map_err(|_| malformed())
}
