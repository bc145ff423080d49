//! EK certificates: the TPM manufacturer's statement that an endorsement key lives in a
//! genuine TPM. Verified as an X.509 chain (rustls-webpki) up to a CA the operator trusts;
//! its public key is then the one the credential challenge is sealed to, so a host cannot
//! present a real certificate for someone else's TPM and answer with its own.

use pki_types::{CertificateDer, UnixTime};
use webpki::{EndEntityCert, ExtendedKeyUsageValidator, KeyPurposeIdIter};

use crate::{EkProfileError, EkPublic, TpmError};

/// Verifies `ek_cert` (DER) against `anchors` (DER CA certificates: roots, and intermediates
/// the operator chose to trust as well) at `now` (seconds since the epoch), and that it is an
/// EK certificate by the TCG profile ([`crate::check_profile`]: a trusted CA may issue other
/// certificates too); returns its endorsement key for [`crate::make_credential`].
pub fn verify_ek_certificate(
    ek_cert: &[u8],
    anchors: &[Vec<u8>],
    now: u64,
) -> Result<EkPublic, TpmError> {
    let untrusted = |e: webpki::Error| TpmError::EkCertificate(format!("{e:?}"));
    let der = CertificateDer::from(ek_cert);
    let cert = EndEntityCert::try_from(&der).map_err(untrusted)?;
    let ca_ders: Vec<CertificateDer> = anchors
        .iter()
        .map(|a| CertificateDer::from(&a[..]))
        .collect();
    let trust = ca_ders
        .iter()
        .map(|ca| webpki::anchor_from_trusted_cert(ca).map(|a| a.to_owned()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(untrusted)?;
    cert.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &trust,
        &ca_ders,
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(now)),
        AnyEkUsage,
        None,
        None,
    )
    .map_err(|e| match e {
        // The chain check refuses a CA as an end entity before it looks for the issuer.
        webpki::Error::CaUsedAsEndEntity => TpmError::EkProfile(EkProfileError::IsCa),
        other => untrusted(other),
    })?;
    // Who issued it first, then what it is: the profile reads only certificates that chain.
    let ek = EkPublic::from_spki(cert.subject_public_key_info().as_ref())?;
    crate::check_profile(ek_cert, &ek)?;
    Ok(ek)
}

/// The endorsement key of an EK certificate whose chain is not checked (no manufacturer CA is
/// configured): the credential challenge still proves the AK shares a TPM with this EK, and
/// an operator decides whether to trust it.
pub fn ek_certificate_key(ek_cert: &[u8]) -> Result<EkPublic, TpmError> {
    let der = CertificateDer::from(ek_cert);
    let cert =
        EndEntityCert::try_from(&der).map_err(|e| TpmError::EkCertificate(format!("{e:?}")))?;
    EkPublic::from_spki(cert.subject_public_key_info().as_ref())
}

/// The chain is checked here whatever the extended key usage; what an EK certificate's must
/// be is the profile's rule (`ek_profile`).
struct AnyEkUsage;

impl ExtendedKeyUsageValidator for AnyEkUsage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        for purpose in iter {
            purpose?;
        }
        Ok(())
    }
}
