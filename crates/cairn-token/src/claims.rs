//! The kinds of token Cairn signs, and the one place their common claims are made.
//!
//! Each kind of claims names its header `typ`, its audience and the key that signs it, and a
//! [`TokenSigner`] signs only its own kind: a PAT cannot be signed with the receipt key or
//! carry a receipt's `typ`, whatever a handler does.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use cairn_proto::{b64, random_bytes};
use serde::Serialize;

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

/// A kind of token Cairn signs.
pub trait Claims: Serialize {
    /// The JWS header `typ` (RFC 8725 explicit typing).
    const TYP: &'static str;
    /// The `aud` of tokens of this kind that Cairn issues.
    const AUDIENCE: &'static str;
    /// The key that signs them.
    const KEY: KeyPurpose;
}

/// The time claims of a token issued `now` (seconds since the epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
}

impl Validity {
    /// Valid from `now` for `ttl`.
    pub fn for_ttl(now: i64, ttl: Duration) -> Self {
        Self::until(now, now.saturating_add_unsigned(ttl.as_secs()))
    }

    /// Valid from `now` until `expires_at`.
    pub fn until(now: i64, expires_at: i64) -> Self {
        let now = now.max(0) as u64;
        Validity {
            iat: now,
            nbf: now,
            exp: expires_at.max(0) as u64,
        }
    }
}

/// A fresh `jti`: 128 random bits, base64url.
pub fn new_jti() -> String {
    b64::encode(random_bytes::<16>())
}

/// Signs tokens of one kind with that kind's key.
pub struct TokenSigner<C> {
    key: Arc<dyn JwsSigner>,
    kind: PhantomData<fn(&C)>,
}

impl<C: Claims> TokenSigner<C> {
    /// `key` must be the key store's key for `C::KEY`; the key store's `token_signer` is the
    /// way to get one.
    pub fn new(key: Arc<dyn JwsSigner>) -> Self {
        TokenSigner {
            key,
            kind: PhantomData,
        }
    }

    pub fn sign(&self, claims: &C) -> Result<String, SignError> {
        jws::encode(self.key.as_ref(), C::TYP, claims)
    }

    /// The public key alone, to build a verifier with.
    pub fn jwks(&self) -> crate::Jwks {
        crate::Jwks {
            keys: vec![self.key.public_jwk()],
        }
    }
}

impl<C> Clone for TokenSigner<C> {
    fn clone(&self) -> Self {
        TokenSigner {
            key: self.key.clone(),
            kind: PhantomData,
        }
    }
}

impl Claims for crate::PatClaims {
    const TYP: &'static str = crate::pat::PAT_TYP;
    const AUDIENCE: &'static str = crate::pat::PAT_AUDIENCE;
    const KEY: KeyPurpose = KeyPurpose::Pat;
}

/// Cairn's own security tokens are for the key broker, which PATs are for too.
impl Claims for crate::SecurityTokenClaims {
    const TYP: &'static str = crate::security::SECURITY_TOKEN_TYP;
    const AUDIENCE: &'static str = crate::pat::PAT_AUDIENCE;
    const KEY: KeyPurpose = KeyPurpose::SecurityToken;
}

impl Claims for crate::ReceiptClaims {
    const TYP: &'static str = crate::receipt::RECEIPT_TYP;
    const AUDIENCE: &'static str = crate::receipt::RECEIPT_AUDIENCE;
    const KEY: KeyPurpose = KeyPurpose::Receipt;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity() {
        assert_eq!(
            Validity::for_ttl(100, Duration::from_secs(300)),
            Validity {
                iat: 100,
                nbf: 100,
                exp: 400
            }
        );
        assert_eq!(Validity::until(100, 50).exp, 50);
        assert_ne!(new_jti(), new_jti());
        assert_eq!(new_jti().len(), 22);
    }
}
