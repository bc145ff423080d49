//! Compact JWS signing. Signing keys are parsed once and kept: re-parsing a PKCS#8 key per
//! token costs a third of the signing rate (PERF-LIMITS.md).

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use cairn_proto::b64;
use serde::Serialize;

use crate::Jwk;

#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);

/// A key that signs JWS: the file key store holds one in memory, an HSM holds it inside.
pub trait JwsSigner: Send + Sync {
    /// The JWS `alg`, e.g. `EdDSA`.
    fn alg(&self) -> &'static str;
    /// The RFC 7638 thumbprint of the public key.
    fn kid(&self) -> &str;
    /// The public key as published in the JWKS (with `kid`, `alg` and `use`).
    fn public_jwk(&self) -> Jwk;
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// Signs `claims` as a compact JWS with header `{ alg, kid, typ }`.
pub fn encode<C: Serialize>(
    signer: &dyn JwsSigner,
    typ: &str,
    claims: &C,
) -> Result<String, SignError> {
    let header = serde_json::json!({ "alg": signer.alg(), "kid": signer.kid(), "typ": typ });
    let mut token = b64::encode(serde_json::to_vec(&header).expect("header JSON"));
    token.push('.');
    token.push_str(&b64::encode(
        serde_json::to_vec(claims).map_err(|e| SignError(e.to_string()))?,
    ));
    let signature = signer.sign(token.as_bytes())?;
    token.push('.');
    token.push_str(&b64::encode(signature));
    Ok(token)
}

/// An Ed25519 key held in memory (aws-lc-rs zeroizes it on drop).
pub struct Ed25519Signer {
    key: Ed25519KeyPair,
    kid: String,
}

impl Ed25519Signer {
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, SignError> {
        let key = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| SignError(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let kid = Jwk::okp("Ed25519", key.public_key().as_ref()).thumbprint();
        Ok(Ed25519Signer { key, kid })
    }

    /// A new key as PKCS#8 v2 DER, to be stored by a key store.
    pub fn generate_pkcs8() -> zeroize::Zeroizing<Vec<u8>> {
        let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .expect("Ed25519 key generation");
        zeroize::Zeroizing::new(doc.as_ref().to_vec())
    }

    pub fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }
}

impl JwsSigner for Ed25519Signer {
    fn alg(&self) -> &'static str {
        "EdDSA"
    }

    fn kid(&self) -> &str {
        &self.kid
    }

    fn public_jwk(&self) -> Jwk {
        Jwk {
            kid: Some(self.kid.clone()),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
            ..Jwk::okp("Ed25519", self.public_key())
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        Ok(self.key.sign(message).as_ref().to_vec())
    }
}
