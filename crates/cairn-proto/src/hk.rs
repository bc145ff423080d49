//! Hardware keys and the host ids derived from them.
//!
//! A host's id is its key: `"h_"` + the first 32 hex digits of SHA-256(public_key bytes), so
//! no one can enroll or attest under another host's id without that host's key.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ED25519, UnparsedPublicKey};
use serde::{Deserialize, Deserializer, Serialize, de::Error};

use crate::{Digest, Signature};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HardwareKey {
    pub alg: HkAlg,
    #[serde(with = "crate::b64::bytes")]
    #[schema(schema_with = crate::schema::b64_bytes)]
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
    /// A TPM quote that fails one of its checks (signature, qualifying data, PCRs).
    #[error("TPM quote: {0}")]
    Quote(cairn_tpm::TpmError),
    #[error("a TPM2 signature needs `attest` and `pcrs` ({0})")]
    MalformedQuote(String),
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
            HkAlg::TPM2 => cairn_tpm::AkPublic::parse(&self.public_key)
                .map(drop)
                .map_err(SignatureError::Quote),
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
            HkAlg::TPM2 => return self.verify_quote(message, signature),
        };
        UnparsedPublicKey::new(algorithm, &self.public_key)
            .verify(message, &signature.value)
            .map_err(|_| SignatureError::Invalid)
    }
}

impl HardwareKey {
    /// A TPM signs nothing from outside: it quotes its PCRs with the SHA-256 of the payload as
    /// qualifying data, and the quote is what the AK signs (DESIGN.md, signed statements).
    fn verify_quote(&self, message: &[u8], signature: &Signature) -> Result<(), SignatureError> {
        let ak = cairn_tpm::AkPublic::parse(&self.public_key).map_err(SignatureError::Quote)?;
        let attest = signature
            .attest
            .as_deref()
            .ok_or_else(|| SignatureError::MalformedQuote("no attest".into()))?;
        let pcrs = signature.pcr_values()?;
        cairn_tpm::verify_quote(
            &ak,
            attest,
            &signature.value,
            &Digest::sha256(message).0,
            &pcrs,
        )
        .map(drop)
        .map_err(SignatureError::Quote)
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

    /// A quote tpm2-tools made on swtpm (cairn-tpm's fixtures) whose qualifying data is the
    /// SHA-256 of `cairn fixture evidence`: a TPM2 signed statement over those bytes.
    #[test]
    fn tpm2_signatures_are_quotes_over_the_payload_digest() {
        let fixture = |name: &str| {
            std::fs::read(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../cairn-tpm/tests/fixtures")
                    .join(name),
            )
            .unwrap()
        };
        let pcrs = String::from_utf8(fixture("pcrs.txt"))
            .unwrap()
            .lines()
            .map(|l| {
                let (i, v) = l.split_once(' ').unwrap();
                (i.to_string(), v.to_string())
            })
            .collect();
        let hk = HardwareKey {
            alg: HkAlg::TPM2,
            public_key: fixture("ak-ecc.pub"),
        };
        assert_eq!(hk.validate(), Ok(()));
        let signature = Signature {
            alg: HkAlg::TPM2,
            value: fixture("quote-ecc.sig"),
            attest: Some(fixture("quote-ecc.attest")),
            pcrs: Some([("sha256".to_string(), pcrs)].into()),
        };
        assert_eq!(hk.verify(b"cairn fixture evidence", &signature), Ok(()));
        assert_eq!(
            hk.verify(b"other evidence", &signature),
            Err(SignatureError::Quote(cairn_tpm::TpmError::QualifyingData))
        );
        let mut sha1 = signature.clone();
        sha1.pcrs = Some([("sha1".to_string(), Default::default())].into());
        assert!(matches!(
            hk.verify(b"cairn fixture evidence", &sha1),
            Err(SignatureError::MalformedQuote(_))
        ));
        let plain = Signature::plain(HkAlg::TPM2, signature.value.clone());
        assert!(hk.verify(b"cairn fixture evidence", &plain).is_err());
        let not_an_ak = HardwareKey {
            alg: HkAlg::TPM2,
            public_key: vec![0; 12],
        };
        assert!(not_an_ak.validate().is_err());
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in ["x_00", "h_ABCDEF0123456789abcdef0123456789", "h_00"] {
            assert!(bad.parse::<HostId>().is_err(), "{bad}");
        }
    }
}
