//! Key-encryption keys: secrets the server keeps in its database (volume keys) are stored
//! only wrapped by a key that never leaves the key store.

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WrapError {
    #[error("wrapped secret is corrupt, or bound to another id")]
    Unwrap,
    #[error("wrapping failed")]
    Wrap,
}

/// An AEAD key that wraps secrets, with the secret's owner (a volume id) as associated data,
/// so a wrapped key copied onto another row does not unwrap.
pub trait KeyWrapper: Send + Sync {
    /// Names the key, stored beside each wrapped secret so that keys can be rotated.
    fn id(&self) -> &str;
    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, WrapError>;
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError>;
}

/// AES-256-GCM with a random 96-bit nonce per wrap: `nonce ‖ ciphertext ‖ tag`.
pub struct AesGcmKek {
    key: RandomizedNonceKey,
    id: String,
}

impl AesGcmKek {
    pub fn new(key: &[u8; 32]) -> Self {
        let mut tagged = Zeroizing::new(b"cairn/v1/kek-id\0".to_vec());
        tagged.extend_from_slice(key);
        let id = format!(
            "file:{}",
            &cairn_proto::Digest::sha256(&tagged[..]).hex()[..16]
        );
        AesGcmKek {
            key: RandomizedNonceKey::new(&AES_256_GCM, key).expect("AES-256 key length"),
            id,
        }
    }
}

impl KeyWrapper for AesGcmKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, WrapError> {
        let mut buffer = secret.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(aad), &mut buffer)
            .map_err(|_| WrapError::Wrap)?;
        let mut out = nonce.as_ref().to_vec();
        out.extend_from_slice(&buffer);
        // The plaintext copy is gone (sealed in place); nothing to zeroize.
        Ok(out)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        if wrapped.len() < NONCE_LEN {
            return Err(WrapError::Unwrap);
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| WrapError::Unwrap)?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .map_err(|_| WrapError::Unwrap)?
            .len();
        buffer.truncate(len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_only_with_the_same_key_and_owner() {
        let kek = AesGcmKek::new(&[1; 32]);
        let wrapped = kek.wrap(b"vol-1", &[9; 32]).unwrap();
        assert_eq!(wrapped.len(), 12 + 32 + 16);
        assert_eq!(&kek.unwrap(b"vol-1", &wrapped).unwrap()[..], &[9; 32]);
        assert_eq!(kek.unwrap(b"vol-2", &wrapped), Err(WrapError::Unwrap));
        assert_eq!(
            AesGcmKek::new(&[2; 32]).unwrap(b"vol-1", &wrapped),
            Err(WrapError::Unwrap)
        );
        let mut flipped = wrapped.clone();
        flipped[20] ^= 1;
        assert_eq!(kek.unwrap(b"vol-1", &flipped), Err(WrapError::Unwrap));
        assert_eq!(kek.unwrap(b"vol-1", &wrapped[..8]), Err(WrapError::Unwrap));
        // Two wraps of one secret differ (fresh nonces) and ids do not reveal the key.
        assert_ne!(kek.wrap(b"vol-1", &[9; 32]).unwrap(), wrapped);
        assert!(kek.id().starts_with("file:") && !kek.id().contains("0101"));
    }
}
