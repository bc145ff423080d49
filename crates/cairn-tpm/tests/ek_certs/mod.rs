//! Certificates a CA issues, EK certificates as the TCG profile has them and others, for the
//! tests that attack the EK certificate check (here and in the server's TPM tests).
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

/// DER: a tag, its length and its content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match content.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend([0x81, n as u8]),
        n => out.extend([0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(content);
    out
}

/// The subject alternative name of an EK certificate: a directory name holding the TPM's
/// manufacturer, model and version (2.23.133.2.1 to .3), as swtpm writes it.
fn tpm_san() -> CustomExtension {
    let attribute = |last: u8, value: &str| {
        let oid = tlv(0x06, &[0x67, 0x81, 0x05, 0x02, last]);
        let value = tlv(0x0c, value.as_bytes());
        tlv(0x31, &tlv(0x30, &[oid, value].concat()))
    };
    let name = tlv(
        0x30,
        &[
            attribute(1, "id:00001014"),
            attribute(2, "swtpm"),
            attribute(3, "id:20191023"),
        ]
        .concat(),
    );
    let names = tlv(0x30, &tlv(0xa4, &name));
    let mut san = CustomExtension::from_oid_content(&[2, 5, 29, 17], names);
    san.set_criticality(true);
    san
}

const TCG_EK_CERTIFICATE: &[u64] = &[2, 23, 133, 8, 1];

/// A CA that issues EK certificates, and may issue others.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub der: Vec<u8>,
    /// Its certificate, PEM, as an operator gives it to `--ek-ca`.
    pub pem: String,
}

pub fn ca() -> Ca {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "TPM manufacturer CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let cert = params.self_signed(&key).unwrap();
    Ca {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// An EK certificate for a P-256 EK as the profile has it; `change` makes it something else.
pub fn issued(ca: &Ca, change: impl FnOnce(&mut CertificateParams)) -> Vec<u8> {
    let ek = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.key_usages = vec![KeyUsagePurpose::KeyAgreement];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::Other(TCG_EK_CERTIFICATE.into())];
    params.custom_extensions = vec![tpm_san()];
    params.use_authority_key_identifier_extension = true;
    change(&mut params);
    params.signed_by(&ek, &ca.issuer).unwrap().der().to_vec()
}
