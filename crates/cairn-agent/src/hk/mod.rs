//! Hardware keys. `soft:PATH` is an Ed25519 key in a 0600 PEM file, for development and
//! for hosts without a TPM; a TPM backend (`tpm:TCTI`) implements the same trait.

#[cfg(feature = "tpm")]
pub mod tpm;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use cairn_pem::{PRIVATE_KEY, read_key, write_key};
use cairn_proto::secret::ActivationSecret;
use cairn_proto::{HardwareKey, HkAlg, Signature};

#[derive(Debug, thiserror::Error)]
pub enum HkError {
    #[error("hardware key spec {0:?} is not soft:PATH or tpm:TCTI[?pcrs=LIST]")]
    BadSpec(String),
    #[error(
        "this cairn was built without TPM support (build with --features tpm, which needs libtss2-dev)"
    )]
    TpmUnavailable,
    #[error(transparent)]
    Key(#[from] cairn_pem::PemError),
    #[error("{0}")]
    Invalid(String),
}

/// A key bound to this machine that signs evidence.
pub trait HardwareKeySigner: Send + Sync {
    fn public(&self) -> HardwareKey;
    /// Signs the canonical bytes of a payload.
    fn sign(&self, message: &[u8]) -> Result<Signature, HkError>;

    /// The TPM's EK certificate (DER), for enrollment; keys without an EK have none.
    fn ek_certificate(&self) -> Result<Option<Vec<u8>>, HkError> {
        Ok(None)
    }

    /// The TPM's endorsement key (TPM2B_PUBLIC), which belongs in the hardware report.
    fn endorsement_key(&self) -> Option<Vec<u8>> {
        None
    }

    /// Answers the server's credential challenge (TPM2_ActivateCredential).
    fn activate_credential(
        &self,
        _id_object: &[u8],
        _encrypted_secret: &[u8],
    ) -> Result<ActivationSecret, HkError> {
        Err(HkError::Invalid(
            "only a TPM hardware key can activate a credential".into(),
        ))
    }
}

/// Where the hardware key is (`--hk`): parsed once, opened where it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HkSpec {
    /// `soft:PATH`: an Ed25519 key in a PEM file.
    Soft(PathBuf),
    /// `tpm:TCTI[?pcrs=LIST]`: an attestation key in the TPM that TCTI reaches.
    Tpm(String),
}

impl FromStr for HkSpec {
    type Err = HkError;
    fn from_str(spec: &str) -> Result<Self, HkError> {
        match spec.split_once(':') {
            Some(("soft", path)) if !path.is_empty() => Ok(HkSpec::Soft(path.into())),
            Some(("tpm", tcti)) if !tcti.is_empty() => Ok(HkSpec::Tpm(tcti.into())),
            _ => Err(HkError::BadSpec(spec.into())),
        }
    }
}

impl HkSpec {
    /// Opens the key, creating a soft key on first use (enrollment).
    pub fn open_or_create(&self) -> Result<Box<dyn HardwareKeySigner>, HkError> {
        self.open_with(true)
    }

    /// Opens the existing key (attestation and boot: a key made now would belong to no
    /// enrolled host, so its absence is a configuration error).
    pub fn open(&self) -> Result<Box<dyn HardwareKeySigner>, HkError> {
        self.open_with(false)
    }

    fn open_with(&self, create: bool) -> Result<Box<dyn HardwareKeySigner>, HkError> {
        match self {
            HkSpec::Soft(path) => {
                if !create && !path.exists() {
                    return Err(HkError::Invalid(format!(
                        "{}: no such hardware key (enroll this host first)",
                        path.display()
                    )));
                }
                Ok(Box::new(SoftKey::load_or_create(path)?))
            }
            #[cfg(feature = "tpm")]
            HkSpec::Tpm(tcti) => Ok(Box::new(tpm::TpmKey::open(tcti, create)?)),
            #[cfg(not(feature = "tpm"))]
            HkSpec::Tpm(_) => {
                let _ = create;
                Err(HkError::TpmUnavailable)
            }
        }
    }
}

pub struct SoftKey {
    pair: Ed25519KeyPair,
}

impl SoftKey {
    /// Loads the key at `path`, creating it (mode 0600) on first use.
    pub fn load_or_create(path: &Path) -> Result<Self, HkError> {
        if !path.exists() {
            let der = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
                .map_err(|e| HkError::Invalid(format!("key generation failed: {e}")))?;
            write_key(path, PRIVATE_KEY, der.as_ref())?;
        }
        let der = read_key(path, PRIVATE_KEY)?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der).map_err(|e| {
            HkError::Invalid(format!("{}: not an Ed25519 key: {e}", path.display()))
        })?;
        Ok(SoftKey { pair })
    }

    /// A key that lives only in memory (benchmarks, tests).
    pub fn ephemeral() -> Self {
        SoftKey {
            pair: Ed25519KeyPair::generate().expect("Ed25519 key generation"),
        }
    }
}

impl HardwareKeySigner for SoftKey {
    fn public(&self) -> HardwareKey {
        HardwareKey {
            alg: HkAlg::EdDSA,
            public_key: self.pair.public_key().as_ref().to_vec(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Signature, HkError> {
        Ok(Signature::plain(
            HkAlg::EdDSA,
            self.pair.sign(message).as_ref().to_vec(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_key_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hk.pem");
        let spec: HkSpec = format!("soft:{}", path.display()).parse().unwrap();
        assert!(
            matches!(spec.open(), Err(HkError::Invalid(_))),
            "attest never mints a key"
        );
        let first = spec.open_or_create().unwrap().public();
        let again = spec.open().unwrap().public();
        assert_eq!(first, again);
        #[cfg(not(feature = "tpm"))]
        assert!(matches!(
            "tpm:device:/dev/tpmrm0".parse::<HkSpec>().unwrap().open(),
            Err(HkError::TpmUnavailable)
        ));
        assert!(matches!(
            "yubikey".parse::<HkSpec>(),
            Err(HkError::BadSpec(_))
        ));
    }
}
