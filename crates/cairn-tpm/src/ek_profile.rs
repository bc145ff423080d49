//! What makes a certificate an EK certificate (TCG "EK Credential Profile for TPM Family 2.0",
//! section 3.2): a chain to a trusted CA says who issued it, not what it is, and a CA that
//! issues EK certificates may issue other certificates too. So an EK certificate must also:
//!
//! - not be a CA (basic constraints, where present, say `cA: FALSE`);
//! - carry a key usage, with `keyEncipherment` for an RSA EK and `keyAgreement` for an ECC EK
//!   (the EK decrypts or agrees; it never signs);
//! - where it has an extended key usage, list the TCG EK certificate purpose `2.23.133.8.1`
//!   (the profile makes the extension optional, and vendors differ, so its absence is allowed;
//!   a TLS server certificate's `serverAuth` alone is not);
//! - name its TPM in the subject alternative name, a directory name holding the TPM
//!   manufacturer, model and version attributes (`2.23.133.2.1` to `.3`), which the profile
//!   requires of every EK certificate.

use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::EkPublic;

/// How a certificate that chains to a trusted CA falls short of an EK certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EkProfileError {
    #[error("the certificate is a CA certificate (basic constraints cA: TRUE)")]
    IsCa,
    #[error("its key usage does not allow {0} (an EK certificate's must)")]
    KeyUsage(&'static str),
    #[error("its extended key usage does not include the TCG EK certificate purpose 2.23.133.8.1")]
    Purpose,
    #[error(
        "its subject alternative name does not name a TPM (manufacturer, model and version, 2.23.133.2.1-3)"
    )]
    TpmIdentity,
    #[error("it cannot be read as an X.509 certificate: {0}")]
    Malformed(String),
}

/// The TPM an EK certificate names (its subject alternative name's directory name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TpmIdentity {
    pub manufacturer: String,
    pub model: String,
    pub version: String,
}

const TCG_EK_CERTIFICATE: &[u64] = &[2, 23, 133, 8, 1];
const TPM_MANUFACTURER: &[u64] = &[2, 23, 133, 2, 1];
const TPM_MODEL: &[u64] = &[2, 23, 133, 2, 2];
const TPM_VERSION: &[u64] = &[2, 23, 133, 2, 3];

fn is(oid: &Oid, arcs: &[u64]) -> bool {
    oid.iter()
        .is_some_and(|found| found.eq(arcs.iter().copied()))
}

/// Checks `der`, the certificate of `ek`, against the profile; answers the TPM it names.
pub fn check_profile(der: &[u8], ek: &EkPublic) -> Result<TpmIdentity, EkProfileError> {
    let malformed = |e: String| EkProfileError::Malformed(e);
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
    if let Some(bc) = cert
        .basic_constraints()
        .map_err(|e| malformed(e.to_string()))?
        && bc.value.ca
    {
        return Err(EkProfileError::IsCa);
    }
    let usage = cert.key_usage().map_err(|e| malformed(e.to_string()))?;
    let (allowed, needed) = match ek {
        EkPublic::Rsa2048(_) => (
            usage.is_some_and(|u| u.value.key_encipherment()),
            "keyEncipherment",
        ),
        EkPublic::EcP256(_) | EkPublic::EcP384(_) => (
            usage.is_some_and(|u| u.value.key_agreement()),
            "keyAgreement",
        ),
    };
    if !allowed {
        return Err(EkProfileError::KeyUsage(needed));
    }
    if let Some(eku) = cert
        .extended_key_usage()
        .map_err(|e| malformed(e.to_string()))?
        && !eku
            .value
            .other
            .iter()
            .any(|oid| is(oid, TCG_EK_CERTIFICATE))
    {
        return Err(EkProfileError::Purpose);
    }
    let san = cert
        .subject_alternative_name()
        .map_err(|e| malformed(e.to_string()))?
        .ok_or(EkProfileError::TpmIdentity)?;
    san.value
        .general_names
        .iter()
        .find_map(|name| match name {
            GeneralName::DirectoryName(dn) => {
                let attribute = |arcs: &[u64]| {
                    dn.iter_attributes()
                        .find(|a| is(a.attr_type(), arcs))
                        .and_then(|a| a.as_str().ok().map(String::from))
                };
                Some(TpmIdentity {
                    manufacturer: attribute(TPM_MANUFACTURER)?,
                    model: attribute(TPM_MODEL)?,
                    version: attribute(TPM_VERSION)?,
                })
            }
            _ => None,
        })
        .ok_or(EkProfileError::TpmIdentity)
}
