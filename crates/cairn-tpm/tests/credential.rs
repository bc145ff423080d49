//! Software MakeCredential against a real TPM stack: swtpm activates what we made for its EK
//! and AK, and refuses a credential made for another AK or answered by another TPM. Skips,
//! saying why, without swtpm and tpm2-tools (`.ci/run` installs them).

mod swtpm;

use cairn_tpm::{EkPublic, TpmError, make_credential, verify_ek_certificate};
use swtpm::{Swtpm, ca_certificates, now};

#[test]
fn the_tpm_of_the_ek_activates_a_credential_for_its_ak_and_no_other_does() {
    let Some(a) = Swtpm::start() else { return };
    let (ek, ak) = a.keys();
    let ek = EkPublic::from_spki(&ek).unwrap();
    assert!(matches!(ek, EkPublic::Rsa2048(_)));
    let secret = [0x5a; 32];
    let credential = make_credential(&ek, &ak.name, &secret).unwrap();
    assert_eq!(a.activate(&credential), Some(secret.to_vec()));

    // Bound to another name: the TPM's integrity check refuses it.
    let mut other_name = ak.name.clone();
    other_name[5] ^= 1;
    let for_other_ak = make_credential(&ek, &other_name, &secret).unwrap();
    assert_eq!(a.activate(&for_other_ak), None);

    // Answered by another TPM (its own EK and an AK of the very name asked for cannot exist,
    // so it uses its own AK): it cannot recover the seed sealed to the first EK.
    let Some(b) = Swtpm::start() else { return };
    let (_, b_ak) = b.keys();
    let to_a_for_b = make_credential(&ek, &b_ak.name, &secret).unwrap();
    assert_eq!(b.activate(&to_a_for_b), None);
}

#[test]
fn an_ek_certificate_chains_to_its_manufacturer_and_its_key_is_the_tpms() {
    let (ca, other_ca) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let Some(tpm) = Swtpm::start_manufactured(Some(ca.path())) else {
        return;
    };
    tpm.ok(&["tpm2_nvread", "0x01c00002", "-o", "ek.der"]);
    let ek_cert = std::fs::read(tpm.path("ek.der")).unwrap();
    let ek = verify_ek_certificate(&ek_cert, &ca_certificates(ca.path()), now()).unwrap();
    // The certified key is the TPM's EK: a credential sealed to it activates.
    let (_, ak) = tpm.keys();
    let credential = make_credential(&ek, &ak.name, b"from the certificate").unwrap();
    assert_eq!(
        tpm.activate(&credential),
        Some(b"from the certificate".to_vec())
    );

    // Another manufacturer's CA does not vouch for it; nor does an empty trust list, nor a
    // certificate past its validity (swtpm's run to 9999, so check one from before its time).
    let _other = Swtpm::start_manufactured(Some(other_ca.path())).unwrap();
    for anchors in [ca_certificates(other_ca.path()), vec![]] {
        assert!(matches!(
            verify_ek_certificate(&ek_cert, &anchors, now()),
            Err(TpmError::EkCertificate(_))
        ));
    }
    assert!(verify_ek_certificate(&ek_cert, &ca_certificates(ca.path()), 1_000_000).is_err());
    let mut forged = ek_cert.clone();
    let n = forged.len() - 10;
    forged[n] ^= 1;
    assert!(verify_ek_certificate(&forged, &ca_certificates(ca.path()), now()).is_err());
}

/// The NIST P-256 EK (template L-2, tpm2-tools' `ecc256`): the seed is shared by ECDH and
/// KDFe instead of RSA-OAEP, and swtpm activates it. (swtpm certifies only its P-384 EK,
/// which `crates/cairn/tests/tpm.rs` enrolls with.)
#[test]
fn an_ecc_p256_ek_activates_a_credential_sealed_by_ecdh() {
    let Some(tpm) = Swtpm::start() else { return };
    let (ek, ak) = tpm.keys_with("ecc256");
    let ek = EkPublic::from_spki(&ek).unwrap();
    assert!(matches!(ek, EkPublic::EcP256(_)));
    let credential = make_credential(&ek, &ak.name, b"shared by ECDH").unwrap();
    assert_eq!(tpm.activate(&credential), Some(b"shared by ECDH".to_vec()));
    let mut other_name = ak.name.clone();
    other_name[3] ^= 1;
    let for_other = make_credential(&ek, &other_name, b"x").unwrap();
    assert_eq!(tpm.activate(&for_other), None);
}

#[test]
fn only_rsa_2048_and_nist_p256_or_p384_keys_are_eks() {
    // An Ed25519 SubjectPublicKeyInfo, a P-256 one cut short, and no DER at all.
    let ed25519 = [
        &[
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ][..],
        &[7; 32],
    ]
    .concat();
    let mut p256 = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    ];
    p256.extend_from_slice(&[1; 40]);
    for spki in [&ed25519[..], &p256, &[0, 0]] {
        assert!(matches!(EkPublic::from_spki(spki), Err(TpmError::EkKey)));
    }
}
