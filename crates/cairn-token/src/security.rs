//! The instance security token (DESIGN.md flow 3, step 1): the control plane's word that an
//! instance runs on a given host and may open given volumes. Cairn's issuer role signs them;
//! tokens of external issuers (a cloud's instance identity, a cluster's workload tokens) are
//! accepted when the issuer is configured as trusted.

use std::collections::HashMap;

use cairn_proto::{HostId, b64};
use serde::{Deserialize, Serialize};

use crate::{Jwks, TokenError, Verifier};

/// The `typ` of security tokens Cairn's own issuer signs.
pub const SECURITY_TOKEN_TYP: &str = "st+jwt";

/// `aud` may be one string or a list (RFC 7519 §4.1.3); external issuers use both.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityTokenClaims {
    pub iss: String,
    /// The instance id.
    pub sub: String,
    pub aud: Audience,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The host the control plane placed the instance on.
    pub host_id: HostId,
    /// The volumes the instance may open.
    pub volume_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

/// The issuers whose security tokens the key broker accepts, each pinned to its own keys
/// and audience: a token is checked only against the keys of the issuer it names.
#[derive(Default)]
pub struct TrustedIssuers {
    by_issuer: HashMap<String, Verifier>,
}

impl TrustedIssuers {
    /// Trusts Cairn's own issuer: `st+jwt` tokens for `cairn-kbs` signed by a key in `jwks`.
    pub fn trust_cairn(&mut self, issuer: &str, jwks: &Jwks) -> Result<(), TokenError> {
        let verifier = Verifier::of::<SecurityTokenClaims>(jwks, Some(issuer.into()))?;
        self.by_issuer.insert(issuer.into(), verifier);
        Ok(())
    }

    /// Trusts an external issuer for tokens with `audience`, signed by a key in `jwks`, with
    /// header `typ` pinned when given.
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
        self.by_issuer.insert(issuer.into(), verifier);
        Ok(())
    }

    /// Verifies a security token with the verifier of the issuer it names.
    pub fn verify(&self, token: &str) -> Result<SecurityTokenClaims, TokenError> {
        let issuer = unverified_issuer(token)?;
        let verifier = self
            .by_issuer
            .get(&issuer)
            .ok_or(TokenError::UntrustedIssuer(issuer))?;
        verifier.verify(token)
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
