//! An attestation key's public area (`TPM2B_PUBLIC`), as DESIGN.md's `TPM2` hardware key
//! carries it: parsed, checked to be a key only the TPM can use to sign TPM-made statements,
//! and named as the TPM names it.

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};

use crate::TpmError;
use crate::wire::{Reader, alg};

/// TPMA_OBJECT bits an attestation key must have (Part 2, 8.3).
mod attr {
    pub const FIXED_TPM: u32 = 1 << 1;
    pub const FIXED_PARENT: u32 = 1 << 4;
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub const RESTRICTED: u32 = 1 << 16;
    pub const DECRYPT: u32 = 1 << 17;
    pub const SIGN: u32 = 1 << 18;
}

const TPM_ECC_NIST_P256: u16 = 0x0003;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AkKey {
    /// The SEC1 uncompressed point `04 ‖ x ‖ y`.
    EcP256(Vec<u8>),
    Rsa {
        modulus: Vec<u8>,
        exponent: u32,
    },
}

/// A parsed attestation key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AkPublic {
    pub key: AkKey,
    /// The TPM's name for the key: `nameAlg ‖ SHA-256(TPMT_PUBLIC)`. Credential activation
    /// binds to it.
    pub name: Vec<u8>,
}

impl AkPublic {
    /// Parses a `TPM2B_PUBLIC` and refuses anything but a restricted signing key created in,
    /// and bound to, its TPM: such a key signs only what the TPM itself produced (a quote),
    /// never an outside message dressed up as one.
    pub fn parse(tpm2b_public: &[u8]) -> Result<Self, TpmError> {
        let mut outer = Reader::new(tpm2b_public);
        let area = outer.sized()?;
        outer.finish()?;
        let mut r = Reader::new(area);
        let kind = r.u16()?;
        let name_alg = r.u16()?;
        if name_alg != alg::SHA256 {
            return Err(TpmError::Unsupported("name algorithm other than SHA-256"));
        }
        let attributes = r.u32()?;
        let required = attr::FIXED_TPM
            | attr::FIXED_PARENT
            | attr::SENSITIVE_DATA_ORIGIN
            | attr::RESTRICTED
            | attr::SIGN;
        if attributes & required != required || attributes & attr::DECRYPT != 0 {
            return Err(TpmError::NotAnAttestationKey);
        }
        let _auth_policy = r.sized()?;
        if r.u16()? != alg::NULL {
            return Err(TpmError::NotAnAttestationKey); // a symmetric algorithm: a storage key
        }
        let key = match kind {
            alg::ECC => {
                expect_scheme(&mut r, alg::ECDSA)?;
                if r.u16()? != TPM_ECC_NIST_P256 {
                    return Err(TpmError::Unsupported("ECC curve other than P-256"));
                }
                if r.u16()? != alg::NULL {
                    return Err(TpmError::Unsupported("ECC key with a KDF"));
                }
                let (x, y) = (r.sized()?, r.sized()?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(TpmError::Malformed("P-256 point"));
                }
                AkKey::EcP256([&[0x04], x, y].concat())
            }
            alg::RSA => {
                expect_scheme(&mut r, alg::RSASSA)?;
                let bits = r.u16()?;
                let exponent = match r.u32()? {
                    0 => 65537,
                    e => e,
                };
                let modulus = r.sized()?.to_vec();
                if bits < 2048 || modulus.len() * 8 != bits as usize {
                    return Err(TpmError::Unsupported("RSA key under 2048 bits"));
                }
                AkKey::Rsa { modulus, exponent }
            }
            _ => return Err(TpmError::Unsupported("key type other than ECC or RSA")),
        };
        r.finish()?;
        let mut name = name_alg.to_be_bytes().to_vec();
        name.extend_from_slice(digest(&SHA256, area).as_ref());
        Ok(AkPublic { key, name })
    }

    /// Verifies `signature` (a `TPMT_SIGNATURE`) over `message` (TPM-made bytes).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), TpmError> {
        let mut r = Reader::new(signature);
        let scheme = r.u16()?;
        if r.u16()? != alg::SHA256 {
            return Err(TpmError::Unsupported("signature hash other than SHA-256"));
        }
        let valid = match (&self.key, scheme) {
            (AkKey::EcP256(point), alg::ECDSA) => {
                let (sig_r, sig_s) = (r.sized()?, r.sized()?);
                r.finish()?;
                let raw = [fixed_32(sig_r)?, fixed_32(sig_s)?].concat();
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, &raw)
                    .is_ok()
            }
            (AkKey::Rsa { modulus, exponent }, alg::RSASSA | alg::RSAPSS) => {
                let sig = r.sized()?;
                r.finish()?;
                let params = match scheme {
                    alg::RSASSA => &signature::RSA_PKCS1_2048_8192_SHA256,
                    _ => &signature::RSA_PSS_2048_8192_SHA256,
                };
                let e = exponent.to_be_bytes();
                let components = RsaPublicKeyComponents {
                    n: modulus.as_slice(),
                    e: &e[e.iter().position(|b| *b != 0).unwrap_or(3)..],
                };
                components.verify(params, message, sig).is_ok()
            }
            _ => return Err(TpmError::Signature),
        };
        match valid {
            true => Ok(()),
            false => Err(TpmError::Signature),
        }
    }
}

/// The signing scheme of a key's parameters; an AK must name its scheme, with SHA-256.
fn expect_scheme(r: &mut Reader, scheme: u16) -> Result<(), TpmError> {
    if r.u16()? != scheme || r.u16()? != alg::SHA256 {
        return Err(TpmError::Unsupported(
            "AK scheme other than ECDSA or RSASSA with SHA-256",
        ));
    }
    Ok(())
}

/// ECDSA integers come minimal-length from some TPMs; the fixed encoding pads to 32 bytes.
fn fixed_32(int: &[u8]) -> Result<[u8; 32], TpmError> {
    let int = &int[int.iter().position(|b| *b != 0).unwrap_or(int.len())..];
    if int.len() > 32 {
        return Err(TpmError::Signature);
    }
    let mut out = [0u8; 32];
    out[32 - int.len()..].copy_from_slice(int);
    Ok(out)
}
