//! The TPM 2.0 structures Cairn's attestation service verifies, in pure Rust over
//! aws-lc-rs: an attestation key's public area, quotes and their signatures, PCR digests and
//! reference values; and MakeCredential, to prove an AK sits in the TPM of an EK. The agent makes them with a real TPM (through tss-esapi); the server only
//! reads bytes, so it links no TPM library.

mod credential;
mod ek_cert;
mod ek_profile;
mod public;
mod quote;
mod wire;

pub use credential::{Credential, EkPublic, make_credential};
pub use ek_cert::{ek_certificate_key, verify_ek_certificate};
pub use ek_profile::{EkProfileError, TpmIdentity, check_profile};
pub use public::{AkKey, AkPublic};
pub use quote::{PcrValues, Quote, check_reference, verify_quote};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TpmError {
    #[error("malformed TPM structure: {0}")]
    Malformed(&'static str),
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    #[error("the key is not an attestation key (a restricted, TPM-bound signing key)")]
    NotAnAttestationKey,
    #[error("the quote's signature does not verify with the attestation key")]
    Signature,
    #[error("the signed structure is not a TPM-generated quote")]
    NotAQuote,
    #[error("the quote's qualifying data is not the digest of this evidence")]
    QualifyingData,
    #[error("the quote selects other PCRs than the values sent")]
    PcrSelection,
    #[error("the PCR values sent do not match the quote's PCR digest")]
    PcrDigest,
    #[error(
        "the endorsement key is not one of the supported EK types (RSA 2048, ECC P-256 or P-384)"
    )]
    EkKey,
    #[error("the EK certificate does not chain to a trusted TPM manufacturer CA: {0}")]
    EkCertificate(String),
    #[error("the certificate is not an EK certificate: {0}")]
    EkProfile(#[from] EkProfileError),
}
