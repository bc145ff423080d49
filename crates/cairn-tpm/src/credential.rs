//! TPM2_MakeCredential in software (TPM 2.0 Part 1, 24: credential protection), so that a
//! server without a TPM can challenge an agent: a secret sealed to the TPM's endorsement key
//! and bound to the attestation key's name. Only the TPM holding that EK, and holding an
//! object of that name, recovers it with TPM2_ActivateCredential — which proves the AK is
//! resident in the same TPM as the EK whose certificate the server checked.
//!
//! For an RSA 2048 EK of the default template (SHA-256 name, AES-128-CFB symmetric):
//! `seed` = 32 random bytes, RSA-OAEP(SHA-256, label "IDENTITY\0") to the EK;
//! `symKey` = KDFa(seed, "STORAGE", AK name), `HMACkey` = KDFa(seed, "INTEGRITY");
//! `encIdentity` = AES-128-CFB(symKey, IV 0, TPM2B(credential));
//! `idObject` = TPM2B(HMAC(HMACkey, encIdentity ‖ AK name)) ‖ encIdentity.

use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use zeroize::Zeroizing;

use crate::TpmError;

/// The two parameters of TPM2_ActivateCredential, each without its TPM2B size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// TPM2B_ID_OBJECT contents.
    pub id_object: Vec<u8>,
    /// TPM2B_ENCRYPTED_SECRET contents.
    pub encrypted_secret: Vec<u8>,
}

/// Seals `secret` (at most 32 bytes) to `ek`, an RSA endorsement key, for the object named
/// `ak_name`.
pub fn make_credential(
    ek: &PublicEncryptingKey,
    ak_name: &[u8],
    secret: &[u8],
) -> Result<Credential, TpmError> {
    if secret.len() > 32 {
        return Err(TpmError::Unsupported(
            "credential longer than a SHA-256 digest",
        ));
    }
    let seed = Zeroizing::new(random::<32>()?);
    let oaep = OaepPublicEncryptingKey::new(ek.clone()).map_err(|_| TpmError::EkKey)?;
    let mut encrypted_secret = vec![0u8; oaep.ciphertext_size()];
    let len = oaep
        .encrypt(
            &OAEP_SHA256_MGF1SHA256,
            &seed[..],
            &mut encrypted_secret,
            Some(b"IDENTITY\0"),
        )
        .map_err(|_| TpmError::EkKey)?
        .len();
    encrypted_secret.truncate(len);

    let sym_key = Zeroizing::new(kdfa(&seed[..], b"STORAGE", ak_name, 16));
    let mut enc_identity = Zeroizing::new((secret.len() as u16).to_be_bytes().to_vec());
    enc_identity.extend_from_slice(secret);
    // A zero IV is what the TPM uses, and safe: the key is fresh from a random seed each time.
    let key = UnboundCipherKey::new(&AES_128, &sym_key).map_err(|_| TpmError::EkKey)?;
    EncryptingKey::cfb128(key)
        .and_then(|k| {
            k.less_safe_encrypt(&mut enc_identity, EncryptionContext::Iv128([0; 16].into()))
        })
        .map_err(|_| TpmError::EkKey)?;

    let hmac_key = Zeroizing::new(kdfa(&seed[..], b"INTEGRITY", &[], 32));
    let mut outer = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA256, &hmac_key));
    outer.update(&enc_identity);
    outer.update(ak_name);
    let integrity = outer.sign();
    let mut id_object = 32u16.to_be_bytes().to_vec();
    id_object.extend_from_slice(integrity.as_ref());
    id_object.extend_from_slice(&enc_identity);
    Ok(Credential {
        id_object,
        encrypted_secret,
    })
}

/// KDFa with HMAC-SHA256 (Part 1, 11.4.10.2: SP 800-108 counter mode), `len` bytes; the
/// label is NUL-terminated and there is no second context.
fn kdfa(key: &[u8], label: &[u8], context: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 1u32;
    while out.len() < len {
        let mut block = hmac::Context::with_key(&key);
        block.update(&counter.to_be_bytes());
        block.update(label);
        block.update(&[0]);
        block.update(context);
        block.update(&((len * 8) as u32).to_be_bytes());
        out.extend_from_slice(block.sign().as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

fn random<const N: usize>() -> Result<[u8; N], TpmError> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| TpmError::EkKey)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdfa_counts_blocks_and_binds_every_input() {
        let a = kdfa(b"seed", b"STORAGE", b"name", 16);
        assert_eq!(a.len(), 16);
        assert_eq!(kdfa(b"seed", b"STORAGE", b"name", 48)[..16].len(), 16);
        assert_ne!(a, kdfa(b"seed", b"INTEGRITY", b"name", 16));
        assert_ne!(a, kdfa(b"seed", b"STORAGE", b"other", 16));
        assert_ne!(a, kdfa(b"seed2", b"STORAGE", b"name", 16));
        // The length is an input: a 16-byte key is not a prefix of a 32-byte one.
        assert_ne!(a[..], kdfa(b"seed", b"STORAGE", b"name", 32)[..16]);
    }
}
