//! The volume-key KEK inside the HSM: AES-256-GCM through CKM_AES_GCM, in the same layout as
//! the file backend's (`nonce ‖ ciphertext ‖ tag`, the owner id as associated data).

use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::ObjectHandle;
use zeroize::Zeroizing;

use super::hsm::Hsm;
use crate::{KeyWrapper, WrapError};

const NONCE_LEN: usize = 12;
const TAG_BITS: u64 = 128;

pub(crate) struct HsmKek {
    hsm: Arc<Hsm>,
    key: ObjectHandle,
    id: String,
}

impl HsmKek {
    /// `key_id` is the key's CKA_ID, which names it in `kek_id` without revealing anything.
    pub(crate) fn new(hsm: Arc<Hsm>, key: ObjectHandle, key_id: &[u8]) -> Self {
        HsmKek {
            hsm,
            key,
            id: format!("pkcs11:{}", hex::encode(key_id)),
        }
    }
}

impl KeyWrapper for HsmKek {
    fn id(&self) -> &str {
        &self.id
    }

    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Vec<u8>, WrapError> {
        let mut nonce = cairn_proto::random_bytes::<NONCE_LEN>();
        let sealed = self
            .hsm
            .run(|s| {
                let params = GcmParams::new(&mut nonce, aad, TAG_BITS.into())?;
                s.encrypt(&Mechanism::AesGcm(params), self.key, secret)
            })
            .map_err(|e| {
                tracing::error!(hsm = %self.hsm.name, error = %e, "wrapping a secret failed");
                WrapError::Wrap
            })?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, WrapError> {
        if wrapped.len() < NONCE_LEN {
            return Err(WrapError::Unwrap);
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let mut nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at NONCE_LEN");
        self.hsm
            .run(|s| {
                let params = GcmParams::new(&mut nonce, aad, TAG_BITS.into())?;
                s.decrypt(&Mechanism::AesGcm(params), self.key, sealed)
            })
            .map(Zeroizing::new)
            .map_err(|_| WrapError::Unwrap)
    }
}
