//! Certificates a trusted CA may issue that are not EK certificates (TCG EK Credential
//! Profile): each is refused for its own reason, through the chain check the server makes.
//! swtpm's real EK certificates pass in `credential.rs` and in the server's TPM tests.

mod ek_certs;

use cairn_tpm::{EkProfileError, TpmError, verify_ek_certificate};
use ek_certs::{Ca, ca, issued};
use rcgen::{BasicConstraints, ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType};

fn verify(ca: &Ca, cert: &[u8]) -> Result<(), TpmError> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    verify_ek_certificate(cert, std::slice::from_ref(&ca.der), now).map(drop)
}

fn refused(ca: &Ca, cert: &[u8]) -> EkProfileError {
    match verify(ca, cert) {
        Err(TpmError::EkProfile(e)) => e,
        other => panic!("not refused by the profile: {other:?}"),
    }
}

#[test]
fn an_ek_certificate_as_the_profile_has_it_passes() {
    let ca = ca();
    verify(&ca, &issued(&ca, |_| {})).unwrap();
    // The profile makes the extended key usage optional: without one it passes too.
    verify(&ca, &issued(&ca, |p| p.extended_key_usages.clear())).unwrap();
    let identity = cairn_tpm::check_profile(
        &issued(&ca, |_| {}),
        &cairn_tpm::EkPublic::EcP256(vec![4; 65]),
    )
    .unwrap();
    assert_eq!(
        (identity.manufacturer.as_str(), identity.model.as_str()),
        ("id:00001014", "swtpm")
    );
    assert_eq!(identity.version, "id:20191023");
}

#[test]
fn a_tls_server_certificate_of_the_same_ca_is_not_an_ek_certificate() {
    let ca = ca();
    let tls = issued(&ca, |p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.custom_extensions.clear();
        p.subject_alt_names = vec![SanType::DnsName("host.example".try_into().unwrap())];
    });
    assert_eq!(refused(&ca, &tls), EkProfileError::KeyUsage("keyAgreement"));
}

#[test]
fn each_shortfall_is_refused_for_its_own_reason() {
    let ca = ca();
    let no_key_agreement = issued(&ca, |p| {
        p.key_usages = vec![KeyUsagePurpose::KeyEncipherment];
    });
    assert_eq!(
        refused(&ca, &no_key_agreement),
        EkProfileError::KeyUsage("keyAgreement")
    );
    let no_key_usage = issued(&ca, |p| p.key_usages.clear());
    assert_eq!(
        refused(&ca, &no_key_usage),
        EkProfileError::KeyUsage("keyAgreement")
    );
    let other_purpose = issued(&ca, |p| {
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    });
    assert_eq!(refused(&ca, &other_purpose), EkProfileError::Purpose);
    let a_ca = issued(&ca, |p| {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    });
    assert_eq!(refused(&ca, &a_ca), EkProfileError::IsCa);
    let no_tpm = issued(&ca, |p| {
        p.custom_extensions.clear();
        p.subject_alt_names = vec![SanType::DnsName("tpm.example".try_into().unwrap())];
    });
    assert_eq!(refused(&ca, &no_tpm), EkProfileError::TpmIdentity);
    let no_san = issued(&ca, |p| p.custom_extensions.clear());
    assert_eq!(refused(&ca, &no_san), EkProfileError::TpmIdentity);
}

#[test]
fn a_good_profile_does_not_stand_in_for_the_chain() {
    let (ca, other) = (ca(), ca());
    let cert = issued(&other, |_| {});
    assert!(matches!(
        verify(&ca, &cert),
        Err(TpmError::EkCertificate(_))
    ));
    // A certificate that does not chain is refused as untrusted, whatever else it is.
    let tls = issued(&other, |p| {
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.custom_extensions.clear();
    });
    assert!(matches!(verify(&ca, &tls), Err(TpmError::EkCertificate(_))));
}
