//! Hardware keys and the host ids derived from them.
//!
//! A host's id is its key: `"h_"` + the first 32 hex digits of SHA-256(public_key bytes), so
//! no one can enroll or attest under another host's id without that host's key.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use serde::{Deserialize, Deserializer, Serialize, de::Error};

use crate::{Digest, Signature};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HkAlg {
    EdDSA,
    ES256,
    TPM2,
}

impl HkAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            HkAlg::EdDSA => "EdDSA",
            HkAlg::ES256 => "ES256",
            HkAlg::TPM2 => "TPM2",
        }
    }
}

impl FromStr for HkAlg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "EdDSA" => Ok(HkAlg::EdDSA),
            "ES256" => Ok(HkAlg::ES256),
            "TPM2" => Ok(HkAlg::TPM2),
            other => Err(format!("unknown hardware key algorithm {other:?}")),
        }
    }
}

/// `{ "alg", "public_key": b64url }`. EdDSA: the raw 32-byte key; ES256: the SEC1
/// uncompressed point; TPM2: the TPM2B_PUBLIC of the attestation key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareKey {
    pub alg: HkAlg,
    #[serde(with = "crate::b64::bytes")]
    pub public_key: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("signature algorithm {found} does not match the hardware key's {expected}")]
    AlgMismatch {
        expected: &'static str,
        found: &'static str,
    },
    #[error("the signature does not verify with the hardware key")]
    Invalid,
    #[error("TPM2 hardware keys are not supported by this build")]
    Unsupported,
    #[error("malformed hardware key: {0}")]
    MalformedKey(&'static str),
}

impl HardwareKey {
    pub fn host_id(&self) -> HostId {
        let hex = Digest::sha256(&self.public_key).hex();
        HostId(format!("h_{}", &hex[..32]))
    }

    /// Checks the key is well formed for its algorithm, so a host cannot enroll a key that
    /// could never verify anything.
    pub fn validate(&self) -> Result<(), SignatureError> {
        match self.alg {
            HkAlg::EdDSA if self.public_key.len() != 32 => {
                Err(SignatureError::MalformedKey("an EdDSA key is 32 bytes"))
            }
            HkAlg::ES256 if self.public_key.len() != 65 || self.public_key[0] != 4 => Err(
                SignatureError::MalformedKey("an ES256 key is a 65-byte uncompressed SEC1 point"),
            ),
            HkAlg::TPM2 => Err(SignatureError::Unsupported),
            _ => Ok(()),
        }
    }

    /// Verifies `signature` over `message` (the JCS bytes of a signed payload).
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        if signature.alg != self.alg {
            return Err(SignatureError::AlgMismatch {
                expected: self.alg.as_str(),
                found: signature.alg.as_str(),
            });
        }
        let algorithm: &'static dyn aws_lc_rs::signature::VerificationAlgorithm = match self.alg {
            HkAlg::EdDSA => &ED25519,
            HkAlg::ES256 => &ECDSA_P256_SHA256_FIXED,
            HkAlg::TPM2 => return Err(SignatureError::Unsupported),
        };
        UnparsedPublicKey::new(algorithm, &self.public_key)
            .verify(message, &signature.value)
            .map_err(|_| SignatureError::Invalid)
    }
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct HostId(String);

impl HostId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HostId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let hex = s.strip_prefix("h_").ok_or("a host id starts with h_")?;
        if hex.len() != 32
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err("a host id is h_ followed by 32 lowercase hex digits".into());
        }
        Ok(HostId(s.to_string()))
    }
}

impl<'de> Deserialize<'de> for HostId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(D::Error::custom)
    }
}

impl fmt::Display for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HostId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn host_id_is_prefix_of_key_digest() {
        let hk = HardwareKey {
            alg: HkAlg::EdDSA,
            public_key: vec![0u8; 32],
        };
        let digest = Digest::sha256([0u8; 32]).hex();
        assert_eq!(hk.host_id().as_str(), format!("h_{}", &digest[..32]));
        assert!(hk.host_id().as_str().parse::<HostId>().is_ok());
    }

    #[test]
    fn ed25519_verify_and_alg_confusion() {
        let kp = Ed25519KeyPair::generate().unwrap();
        let hk = HardwareKey {
            alg: HkAlg::EdDSA,
            public_key: kp.public_key().as_ref().to_vec(),
        };
        let sig = Signature::plain(HkAlg::EdDSA, kp.sign(b"msg").as_ref().to_vec());
        assert_eq!(hk.verify(b"msg", &sig), Ok(()));
        assert_eq!(hk.verify(b"msh", &sig), Err(SignatureError::Invalid));
        let es = Signature::plain(HkAlg::ES256, sig.value.clone());
        assert!(matches!(
            hk.verify(b"msg", &es),
            Err(SignatureError::AlgMismatch { .. })
        ));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in ["x_00", "h_ABCDEF0123456789abcdef0123456789", "h_00"] {
            assert!(bad.parse::<HostId>().is_err(), "{bad}");
        }
    }
}
