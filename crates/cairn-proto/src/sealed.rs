//! Secrets released to an instance: RFC 9180 HPKE, base mode, DHKEM(X25519, HKDF-SHA256),
//! HKDF-SHA256, AES-256-GCM, sealed to the PAT's `cnf` key (DESIGN.md flow 3, step 3). The
//! suite is rustls' RFC 9180 implementation on aws-lc-rs: tested against the RFC's vectors,
//! and twice as fast as the pure-Rust crates (PERF-LIMITS.md).

use rustls::crypto::aws_lc_rs::hpke::DH_KEM_X25519_HKDF_SHA256_AES_256 as SUITE;
use rustls::crypto::hpke::{EncapsulatedSecret, Hpke, HpkePrivateKey, HpkePublicKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// `info` of a sealed boot-volume key; its `aad` is the volume id.
pub const VOLUME_KEY_INFO: &[u8] = b"cairn/v1/volume-key";

/// `{ "enc": b64url, "ct": b64url }`: the encapsulated key and the AEAD ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Sealed {
    #[serde(with = "crate::b64::bytes")]
    #[schema(schema_with = crate::schema::b64_bytes)]
    pub enc: Vec<u8>,
    #[serde(with = "crate::b64::bytes")]
    #[schema(schema_with = crate::schema::b64_bytes)]
    pub ct: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the recipient key is not a valid X25519 public key")]
    BadRecipient,
    #[error("the sealed secret does not open with this key, info and aad")]
    Open,
}

/// Seals `plaintext` to the X25519 public key `recipient`.
pub fn seal(
    recipient: &[u8],
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<Sealed, SealError> {
    if recipient.len() != 32 {
        return Err(SealError::BadRecipient);
    }
    let (enc, ct) = SUITE
        .seal(info, aad, plaintext, &HpkePublicKey(recipient.to_vec()))
        .map_err(|_| SealError::BadRecipient)?;
    Ok(Sealed { enc: enc.0, ct })
}

/// A one-use X25519 key pair a secret is sealed to (the boot client's per-boot key). The
/// private half is zeroized on drop and never leaves the process.
pub struct RecipientKey {
    public: [u8; 32],
    private: HpkePrivateKey,
}

/// Shows the public half only.
impl std::fmt::Debug for RecipientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "RecipientKey(public {}, private redacted)",
            crate::b64::encode(self.public)
        )
    }
}

impl RecipientKey {
    pub fn generate() -> Self {
        let (public, private) = SUITE.generate_key_pair().expect("X25519 key generation");
        RecipientKey {
            public: public
                .0
                .try_into()
                .expect("X25519 public keys are 32 bytes"),
            private,
        }
    }

    /// The key pair of a known private key (an ERoT's, re-derived or released).
    pub fn from_private(private: Zeroizing<[u8; 32]>) -> Self {
        use aws_lc_rs::agreement::{PrivateKey, X25519};
        let key = PrivateKey::from_private_key(&X25519, &private[..])
            .expect("any 32 bytes are an X25519 private key");
        let public = key.compute_public_key().expect("X25519 public key");
        RecipientKey {
            public: public
                .as_ref()
                .try_into()
                .expect("X25519 public keys are 32 bytes"),
            private: HpkePrivateKey::from(private.to_vec()),
        }
    }

    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The private key, for releasing it sealed to someone else.
    pub fn private(&self) -> &[u8] {
        self.private.secret_bytes()
    }

    pub fn open(
        &self,
        sealed: &Sealed,
        info: &[u8],
        aad: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        SUITE
            .open(
                &EncapsulatedSecret(sealed.enc.clone()),
                info,
                aad,
                &sealed.ct,
                &self.private,
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_recipient_key_info_and_aad() {
        let key = RecipientKey::generate();
        let sealed = seal(&key.public(), VOLUME_KEY_INFO, b"vol-1", &[7; 32]).unwrap();
        assert_eq!(sealed.enc.len(), 32);
        assert_eq!(sealed.ct.len(), 32 + 16);
        assert_eq!(
            &key.open(&sealed, VOLUME_KEY_INFO, b"vol-1").unwrap()[..],
            &[7; 32]
        );
        assert_eq!(
            key.open(&sealed, VOLUME_KEY_INFO, b"vol-2"),
            Err(SealError::Open)
        );
        assert_eq!(
            key.open(&sealed, b"cairn/v1/erot-key", b"vol-1"),
            Err(SealError::Open)
        );
        assert_eq!(
            RecipientKey::generate().open(&sealed, VOLUME_KEY_INFO, b"vol-1"),
            Err(SealError::Open)
        );
        let mut flipped = sealed.clone();
        flipped.ct[0] ^= 1;
        assert_eq!(
            key.open(&flipped, VOLUME_KEY_INFO, b"vol-1"),
            Err(SealError::Open)
        );
    }

    #[test]
    fn refuses_a_recipient_of_the_wrong_size() {
        assert_eq!(
            seal(&[1; 31], VOLUME_KEY_INFO, b"", b"x"),
            Err(SealError::BadRecipient)
        );
    }
}
