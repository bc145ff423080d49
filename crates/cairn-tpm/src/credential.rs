//! TPM2_MakeCredential in software (TPM 2.0 Part 1, 24: credential protection), so that a
//! server without a TPM can challenge an agent: a secret sealed to the TPM's endorsement key
//! and bound to the attestation key's name. Only the TPM holding that EK, and holding an
//! object of that name, recovers it with TPM2_ActivateCredential — which proves the AK is
//! resident in the same TPM as the EK whose certificate the server checked.
//!
//! With the EK's name hash H and symmetric cipher (from its TCG template, [`EkPublic`]):
//! a `seed` of H's size, either RSA-OAEP(H, label "IDENTITY\0")-sealed to an RSA EK, or for an
//! ECC EK derived by ECDH with an ephemeral key, `seed` = KDFe(H, Z, "IDENTITY", ephemeral.x,
//! EK.x), the ephemeral public point being the encrypted secret;
//! `symKey` = KDFa(H, seed, "STORAGE", AK name), `HMACkey` = KDFa(H, seed, "INTEGRITY");
//! `encIdentity` = AES-CFB(symKey, IV 0, TPM2B(credential));
//! `idObject` = TPM2B(HMAC-H(HMACkey, encIdentity ‖ AK name)) ‖ encIdentity.

use aws_lc_rs::agreement::{self, ECDH_P256, ECDH_P384, EphemeralPrivateKey, UnparsedPublicKey};
use aws_lc_rs::cipher::{
    AES_128, AES_256, Algorithm, EncryptingKey, EncryptionContext, UnboundCipherKey,
};
use aws_lc_rs::digest;
use aws_lc_rs::hmac;
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use zeroize::Zeroizing;

use crate::TpmError;

/// An endorsement key a credential can be sealed to, by TCG EK Credential Profile template.
#[derive(Clone, Debug)]
pub enum EkPublic {
    /// RSA 2048, template L-1: SHA-256, AES-128-CFB (certificate at NV 0x01c00002).
    Rsa2048(PublicEncryptingKey),
    /// NIST P-256, template L-2: SHA-256, AES-128-CFB (0x01c0000a). The SEC1 point.
    EcP256(Vec<u8>),
    /// NIST P-384, template H-3: SHA-384, AES-256-CFB (0x01c00016). The SEC1 point.
    EcP384(Vec<u8>),
}

/// DER prefixes of SubjectPublicKeyInfo for id-ecPublicKey on P-256 and P-384 with an
/// uncompressed point (the rest of the SPKI is the point).
const SPKI_P256: &[u8] = &[
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const SPKI_P384: &[u8] = &[
    0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
];

impl EkPublic {
    /// The EK of a certificate's SubjectPublicKeyInfo.
    pub fn from_spki(spki: &[u8]) -> Result<Self, TpmError> {
        let point = |prefix: &[u8], len: usize| {
            spki.strip_prefix(prefix)
                .filter(|p| p.len() == len && p[0] == 0x04)
                .map(<[u8]>::to_vec)
        };
        if let Some(p) = point(SPKI_P256, 65) {
            return Ok(EkPublic::EcP256(p));
        }
        if let Some(p) = point(SPKI_P384, 97) {
            return Ok(EkPublic::EcP384(p));
        }
        let rsa = PublicEncryptingKey::from_der(spki).map_err(|_| TpmError::EkKey)?;
        match rsa.key_size_bits() {
            2048 => Ok(EkPublic::Rsa2048(rsa)),
            _ => Err(TpmError::EkKey),
        }
    }

    /// The template's name hash (HMAC and KDFs) and symmetric cipher with its key length.
    fn algorithms(
        &self,
    ) -> (
        hmac::Algorithm,
        &'static digest::Algorithm,
        &'static Algorithm,
        usize,
    ) {
        match self {
            EkPublic::Rsa2048(_) | EkPublic::EcP256(_) => {
                (hmac::HMAC_SHA256, &digest::SHA256, &AES_128, 16)
            }
            EkPublic::EcP384(_) => (hmac::HMAC_SHA384, &digest::SHA384, &AES_256, 32),
        }
    }

    /// A fresh seed and its encryption to this EK (TPM2B_ENCRYPTED_SECRET contents).
    fn seal_seed(&self) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), TpmError> {
        let (_, hash, _, _) = self.algorithms();
        match self {
            EkPublic::Rsa2048(key) => {
                let seed = Zeroizing::new(random(hash.output_len())?);
                let oaep =
                    OaepPublicEncryptingKey::new(key.clone()).map_err(|_| TpmError::EkKey)?;
                let mut sealed = vec![0u8; oaep.ciphertext_size()];
                let len = oaep
                    .encrypt(
                        &OAEP_SHA256_MGF1SHA256,
                        &seed,
                        &mut sealed,
                        Some(b"IDENTITY\0"),
                    )
                    .map_err(|_| TpmError::EkKey)?
                    .len();
                sealed.truncate(len);
                Ok((seed, sealed))
            }
            EkPublic::EcP256(point) | EkPublic::EcP384(point) => {
                let curve = match self {
                    EkPublic::EcP256(_) => &ECDH_P256,
                    _ => &ECDH_P384,
                };
                let ephemeral =
                    EphemeralPrivateKey::generate(curve, &aws_lc_rs::rand::SystemRandom::new())
                        .map_err(|_| TpmError::EkKey)?;
                let public = ephemeral
                    .compute_public_key()
                    .map_err(|_| TpmError::EkKey)?;
                let public = public.as_ref();
                let size = (public.len() - 1) / 2;
                let (x_e, y_e) = public[1..].split_at(size);
                let ek_x = &point[1..1 + size];
                let seed = agreement::agree_ephemeral(
                    ephemeral,
                    UnparsedPublicKey::new(curve, point),
                    TpmError::EkKey,
                    |z| Ok(Zeroizing::new(kdfe(hash, z, b"IDENTITY", x_e, ek_x))),
                )?;
                // TPMS_ECC_POINT: TPM2B x, TPM2B y.
                let mut sealed = Vec::with_capacity(4 + 2 * size);
                for coordinate in [x_e, y_e] {
                    sealed.extend_from_slice(&(size as u16).to_be_bytes());
                    sealed.extend_from_slice(coordinate);
                }
                Ok((seed, sealed))
            }
        }
    }
}

/// The two parameters of TPM2_ActivateCredential, each without its TPM2B size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// TPM2B_ID_OBJECT contents.
    pub id_object: Vec<u8>,
    /// TPM2B_ENCRYPTED_SECRET contents.
    pub encrypted_secret: Vec<u8>,
}

/// Seals `secret` (at most 32 bytes) to `ek` for the object named `ak_name`.
pub fn make_credential(
    ek: &EkPublic,
    ak_name: &[u8],
    secret: &[u8],
) -> Result<Credential, TpmError> {
    if secret.len() > 32 {
        return Err(TpmError::Unsupported(
            "credential longer than a SHA-256 digest",
        ));
    }
    let (mac, hash, cipher, key_len) = ek.algorithms();
    let (seed, encrypted_secret) = ek.seal_seed()?;
    let sym_key = Zeroizing::new(kdfa(mac, &seed, b"STORAGE", ak_name, key_len));
    let mut enc_identity = Zeroizing::new((secret.len() as u16).to_be_bytes().to_vec());
    enc_identity.extend_from_slice(secret);
    // A zero IV is what the TPM uses, and safe: the key is fresh from a random seed each time.
    let key = UnboundCipherKey::new(cipher, &sym_key).map_err(|_| TpmError::EkKey)?;
    EncryptingKey::cfb128(key)
        .and_then(|k| {
            k.less_safe_encrypt(&mut enc_identity, EncryptionContext::Iv128([0; 16].into()))
        })
        .map_err(|_| TpmError::EkKey)?;

    let hmac_key = Zeroizing::new(kdfa(mac, &seed, b"INTEGRITY", &[], hash.output_len()));
    let mut outer = hmac::Context::with_key(&hmac::Key::new(mac, &hmac_key));
    outer.update(&enc_identity);
    outer.update(ak_name);
    let integrity = outer.sign();
    let mut id_object = (integrity.as_ref().len() as u16).to_be_bytes().to_vec();
    id_object.extend_from_slice(integrity.as_ref());
    id_object.extend_from_slice(&enc_identity);
    Ok(Credential {
        id_object,
        encrypted_secret,
    })
}

/// KDFa (Part 1, 11.4.10.2: SP 800-108 counter mode with HMAC), `len` bytes; the label is
/// NUL-terminated and there is no second context.
fn kdfa(mac: hmac::Algorithm, key: &[u8], label: &[u8], context: &[u8], len: usize) -> Vec<u8> {
    let key = hmac::Key::new(mac, key);
    let mut out = Vec::with_capacity(len + 64);
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

/// KDFe (Part 1, 11.4.10.3: the SP 800-56A concatenation KDF): the seed of an ECC secret
/// share, as long as the hash's output; the label is NUL-terminated.
fn kdfe(hash: &'static digest::Algorithm, z: &[u8], label: &[u8], u: &[u8], v: &[u8]) -> Vec<u8> {
    let mut block = digest::Context::new(hash);
    block.update(&1u32.to_be_bytes());
    block.update(z);
    block.update(label);
    block.update(&[0]);
    block.update(u);
    block.update(v);
    block.finish().as_ref().to_vec()
}

fn random(len: usize) -> Result<Vec<u8>, TpmError> {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| TpmError::EkKey)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kdfa_counts_blocks_and_binds_every_input() {
        let k = |seed: &[u8], label: &[u8], name: &[u8], len| {
            kdfa(hmac::HMAC_SHA256, seed, label, name, len)
        };
        let a = k(b"seed", b"STORAGE", b"name", 16);
        assert_eq!(a.len(), 16);
        assert_eq!(k(b"seed", b"STORAGE", b"name", 48).len(), 48);
        assert_ne!(a, k(b"seed", b"INTEGRITY", b"name", 16));
        assert_ne!(a, k(b"seed", b"STORAGE", b"other", 16));
        assert_ne!(a, k(b"seed2", b"STORAGE", b"name", 16));
        // The length is an input: a 16-byte key is not a prefix of a 32-byte one.
        assert_ne!(a[..], k(b"seed", b"STORAGE", b"name", 32)[..16]);
        assert_eq!(
            kdfa(hmac::HMAC_SHA384, b"s", b"INTEGRITY", &[], 48).len(),
            48
        );
    }
}
