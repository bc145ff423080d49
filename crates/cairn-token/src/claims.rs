//! The kinds of token Cairn signs, and the one place their registered claims are made.
//!
//! Each kind of token names its header `typ`, its audience and the key that signs it, and a
//! [`TokenSigner`] signs only its own kind: a PAT cannot be signed with the receipt key or
//! carry a receipt's `typ`, whatever a handler does.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use std::fmt;

use cairn_proto::{UnixTime, b64, random_bytes};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::jws::{self, JwsSigner, SignError};

/// What a signing key is for; each purpose has its own key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyPurpose {
    /// Signs physical attestation tokens.
    Pat,
    /// Signs instance security tokens (the issuer role).
    SecurityToken,
    /// Signs ERoT receipts (the DERG).
    Receipt,
}

impl KeyPurpose {
    pub const ALL: [KeyPurpose; 3] = [
        KeyPurpose::Pat,
        KeyPurpose::SecurityToken,
        KeyPurpose::Receipt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            KeyPurpose::Pat => "pat-signing",
            KeyPurpose::SecurityToken => "security-token-signing",
            KeyPurpose::Receipt => "receipt-signing",
        }
    }
}

/// A kind of token Cairn signs: the claims of its own, beside the registered ones.
pub trait TokenKind: Serialize + DeserializeOwned {
    /// The JWS header `typ` (RFC 8725 explicit typing).
    const TYP: &'static str;
    /// The `aud` of tokens of this kind that Cairn issues.
    const AUDIENCE: &'static str;
    /// The key that signs them.
    const KEY: KeyPurpose;
    /// What `sub` names.
    type Subject: Clone + fmt::Debug + PartialEq + Eq + Serialize + DeserializeOwned;
}

/// The registered claims (RFC 7519, section 4.1) of a token Cairn issues, all of them set.
/// Only [`TokenSigner::issue`] fills them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered<S> {
    pub iss: String,
    pub sub: S,
    pub aud: String,
    pub iat: UnixTime,
    pub nbf: UnixTime,
    pub exp: UnixTime,
    /// Always set by [`TokenSigner::issue`]; read as empty where absent, since receipts
    /// signed before receipts carried one have none and must still verify.
    #[serde(default)]
    pub jti: String,
}

/// A token's claims: the registered ones and those of its kind, side by side in one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "K: Serialize", deserialize = "K: DeserializeOwned"))]
pub struct Claims<K: TokenKind> {
    #[serde(flatten)]
    pub registered: Registered<K::Subject>,
    #[serde(flatten)]
    pub body: K,
}

/// The time claims of a token issued `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub iat: UnixTime,
    pub nbf: UnixTime,
    pub exp: UnixTime,
}

impl Validity {
    /// Valid from `now` for `ttl`.
    pub fn for_ttl(now: UnixTime, ttl: Duration) -> Self {
        Self::until(now, now.after(ttl))
    }

    /// Valid from `now` until `expires_at`.
    pub fn until(now: UnixTime, expires_at: UnixTime) -> Self {
        Validity {
            iat: now,
            nbf: now,
            exp: expires_at,
        }
    }
}

/// A fresh `jti`: 128 random bits, base64url.
fn new_jti() -> String {
    b64::encode(random_bytes::<16>())
}

/// A token just signed, and what it says.
pub struct Issued<K: TokenKind> {
    pub token: String,
    pub claims: Claims<K>,
}

/// Signs tokens of one kind with that kind's key.
pub struct TokenSigner<K> {
    key: Arc<dyn JwsSigner>,
    kind: PhantomData<fn(&K)>,
}

impl<K: TokenKind> TokenSigner<K> {
    /// `key` must be the key store's key for `K::KEY`; the key store's `token_signer` is the
    /// way to get one.
    pub fn new(key: Arc<dyn JwsSigner>) -> Self {
        TokenSigner {
            key,
            kind: PhantomData,
        }
    }

    /// Signs a token of this kind by `issuer` about `sub`: its audience is the kind's, its
    /// `jti` fresh.
    pub fn issue(
        &self,
        issuer: &str,
        sub: K::Subject,
        validity: Validity,
        body: K,
    ) -> Result<Issued<K>, SignError> {
        let claims = Claims {
            registered: Registered {
                iss: issuer.into(),
                sub,
                aud: K::AUDIENCE.into(),
                iat: validity.iat,
                nbf: validity.nbf,
                exp: validity.exp,
                jti: new_jti(),
            },
            body,
        };
        let token = jws::encode(self.key.as_ref(), K::TYP, &claims)?;
        Ok(Issued { token, claims })
    }

    /// The public key alone, to build a verifier with.
    pub fn jwks(&self) -> crate::Jwks {
        crate::Jwks {
            keys: vec![self.key.public_jwk()],
        }
    }
}

impl<K> Clone for TokenSigner<K> {
    fn clone(&self) -> Self {
        TokenSigner {
            key: self.key.clone(),
            kind: PhantomData,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        let at = UnixTime::from_secs;
        assert_eq!(
            Validity::for_ttl(at(100), Duration::from_secs(300)),
            Validity {
                iat: at(100),
                nbf: at(100),
                exp: at(400)
            }
        );
        assert_eq!(Validity::until(at(100), at(50)).exp, at(50));
        assert_ne!(new_jti(), new_jti());
        assert_eq!(new_jti().len(), 22);
    }
}
