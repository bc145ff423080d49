//! Verifying Cairn tokens with a standard JOSE library: signature by a JWKS key, `alg` pinned
//! to the key's type, `typ`, `aud`, `iss`, and validity with bounded skew.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;

use crate::pat::{PAT_TYP, PatClaims};
use crate::{Jwks, MAX_SKEW_SECS, TokenKind};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is malformed: {0}")]
    Malformed(String),
    #[error("token algorithm is not accepted: {0}")]
    Algorithm(String),
    #[error("token type {found:?} is not accepted here (expected {expected:?})")]
    Type {
        expected: Option<String>,
        found: Option<String>,
    },
    #[error("token is signed by an unknown key (kid {0:?})")]
    UnknownKey(Option<String>),
    #[error("token signature is invalid")]
    Signature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audience is not {0:?}")]
    Audience(String),
    #[error("token issuer is not the expected one")]
    Issuer,
    #[error("token issuer {0:?} is not trusted")]
    UntrustedIssuer(String),
    #[error("the keys of token issuer {0:?} could not be refreshed for too long")]
    StaleIssuer(String),
    #[error("token lacks required claim {0}")]
    MissingClaim(String),
    #[error("token header declares critical extensions (`crit`), which are not understood here")]
    Critical,
}

/// Verifies one kind of token (one `typ`, one audience, one issuer) against a set of keys.
pub struct Verifier {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    /// `None`: whatever the issuer puts there (external issuers), except a Cairn PAT's type.
    typ: Option<String>,
    audience: String,
    issuer: Option<String>,
    required: Vec<&'static str>,
}

impl Verifier {
    /// A receipt verifier for the keys in `jwks`; `issuer`, when given, is pinned too.
    pub fn for_receipts(jwks: &Jwks, issuer: Option<String>) -> Result<Self, TokenError> {
        Ok(Self::of::<crate::Receipt>(jwks, issuer)?.require("nbf"))
    }

    /// A PAT verifier for the keys in `jwks`; `issuer`, when given, is pinned too.
    pub fn for_pats(jwks: &Jwks, issuer: Option<String>) -> Result<Self, TokenError> {
        Ok(Self::of::<crate::Pat>(jwks, issuer)?.require("nbf"))
    }

    /// A verifier of the tokens of kind `K` that Cairn issues: its `typ` and audience.
    pub fn of<K: TokenKind>(jwks: &Jwks, issuer: Option<String>) -> Result<Self, TokenError> {
        Ok(Self::new(jwks, K::AUDIENCE, issuer)?.typ(K::TYP))
    }

    /// A verifier of tokens for `audience` signed by a key in `jwks` (keys without a `kid`, or
    /// of types no issuer signs with, are skipped). `exp`, `iat`, `aud`, `iss` and `sub` are
    /// required; `nbf` is checked when present.
    pub fn new(
        jwks: &Jwks,
        audience: impl Into<String>,
        issuer: Option<String>,
    ) -> Result<Self, TokenError> {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.kid.clone() else { continue };
            let entry = match (jwk.kty.as_str(), jwk.crv.as_str()) {
                ("OKP", "Ed25519") => (Algorithm::EdDSA, DecodingKey::from_ed_components(&jwk.x)),
                ("EC", "P-256") => match &jwk.y {
                    Some(y) => (Algorithm::ES256, DecodingKey::from_ec_components(&jwk.x, y)),
                    None => continue,
                },
                ("RSA", _) => match (&jwk.n, &jwk.e) {
                    (Some(n), Some(e)) => {
                        let alg = match jwk.alg.as_deref() {
                            Some("PS256") => Algorithm::PS256,
                            Some("RS384") => Algorithm::RS384,
                            Some("RS512") => Algorithm::RS512,
                            _ => Algorithm::RS256,
                        };
                        (alg, DecodingKey::from_rsa_components(n, e))
                    }
                    _ => continue,
                },
                _ => continue,
            };
            let key = entry
                .1
                .map_err(|e| TokenError::Malformed(format!("JWKS key {kid}: {e}")))?;
            keys.insert(kid, (entry.0, key));
        }
        Ok(Verifier {
            keys,
            typ: None,
            audience: audience.into(),
            issuer,
            required: vec!["exp", "iat", "aud", "iss", "sub"],
        })
    }

    /// Requires the header's `typ` to be exactly `typ` (RFC 8725 explicit typing).
    pub fn typ(mut self, typ: impl Into<String>) -> Self {
        self.typ = Some(typ.into());
        self
    }

    /// Requires one more registered claim.
    pub fn require(mut self, claim: &'static str) -> Self {
        self.required.push(claim);
        self
    }

    pub fn verify_pat(&self, token: &str) -> Result<PatClaims, TokenError> {
        self.verify(token)
    }

    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        // decode_header refuses `alg: none` and unknown algorithms outright.
        refuse_critical(token)?;
        let header = jsonwebtoken::decode_header(token).map_err(map_error)?;
        let typ_ok = match &self.typ {
            Some(typ) => header.typ.as_deref() == Some(typ.as_str()),
            None => header.typ.as_deref() != Some(PAT_TYP),
        };
        if !typ_ok {
            return Err(TokenError::Type {
                expected: self.typ.clone(),
                found: header.typ,
            });
        }
        let (alg, key) = header
            .kid
            .as_ref()
            .and_then(|kid| self.keys.get(kid))
            .ok_or_else(|| TokenError::UnknownKey(header.kid.clone()))?;
        // The key decides the algorithm, never the token: this is what stops an HMAC token
        // "signed" with the public key, or an ES256/EdDSA swap.
        if header.alg != *alg {
            return Err(TokenError::Algorithm(format!(
                "{:?} for a {:?} key",
                header.alg, alg
            )));
        }
        let mut validation = Validation::new(*alg);
        validation.leeway = MAX_SKEW_SECS;
        validation.validate_nbf = true;
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&self.required);
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
        }
        let data = jsonwebtoken::decode::<serde_json::Value>(token, key, &validation).map_err(
            |e| match e.kind() {
                ErrorKind::InvalidAudience => TokenError::Audience(self.audience.clone()),
                other => map_kind(other),
            },
        )?;
        // iat may not lie in the future either.
        let now = jsonwebtoken::get_current_timestamp();
        match data.claims.get("iat").and_then(|v| v.as_u64()) {
            Some(iat) if iat > now + MAX_SKEW_SECS => return Err(TokenError::NotYetValid),
            Some(_) => {}
            None => return Err(TokenError::MissingClaim("iat".into())),
        }
        serde_json::from_value(data.claims).map_err(|e| TokenError::Malformed(e.to_string()))
    }
}

/// RFC 7515, section 4.1.11: a recipient must refuse a JWS whose `crit` names an extension
/// it does not understand. Cairn understands none, so any `crit` is refused (jsonwebtoken's
/// header type drops the member, so the header is read again here).
fn refuse_critical(token: &str) -> Result<(), TokenError> {
    /// Only `crit` is read; every other member is skipped unparsed.
    #[derive(serde::Deserialize)]
    struct Crit {
        crit: Option<serde::de::IgnoredAny>,
    }
    let segment = token.split('.').next().unwrap_or_default();
    let header: Crit = cairn_proto::b64::decode(segment)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| TokenError::Malformed("the header is not a JSON object".into()))?;
    match header.crit {
        Some(_) => Err(TokenError::Critical),
        None => Ok(()),
    }
}

fn map_error(e: jsonwebtoken::errors::Error) -> TokenError {
    map_kind(e.kind())
}

fn map_kind(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::MissingRequiredClaim(c) => TokenError::MissingClaim(c.clone()),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            TokenError::Algorithm(format!("{kind:?}"))
        }
        other => TokenError::Malformed(format!("{other:?}")),
    }
}
