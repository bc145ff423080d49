//! Quotes made by tpm2-tools against swtpm (`tests/fixtures/make.sh`), verified by the pure
//! verifier; and every way a forged or mismatched quote must fail.

use std::collections::BTreeMap;
use std::path::Path;

use cairn_tpm::{AkPublic, PcrValues, TpmError, check_reference, verify_quote};

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn qualifying() -> Vec<u8> {
    hex::decode(fixture("qualifying.hex")).unwrap()
}

fn pcrs() -> PcrValues {
    String::from_utf8(fixture("pcrs.txt"))
        .unwrap()
        .lines()
        .map(|line| {
            let (index, value) = line.split_once(' ').unwrap();
            (
                index.parse().unwrap(),
                hex::decode(value).unwrap().try_into().unwrap(),
            )
        })
        .collect()
}

struct Case {
    ak: AkPublic,
    attest: Vec<u8>,
    signature: Vec<u8>,
}

fn case(kind: &str) -> Case {
    Case {
        ak: AkPublic::parse(&fixture(&format!("ak-{kind}.pub"))).unwrap(),
        attest: fixture(&format!("quote-{kind}.attest")),
        signature: fixture(&format!("quote-{kind}.sig")),
    }
}

#[test]
fn quotes_from_a_real_tpm_stack_verify_and_keys_have_the_tpms_names() {
    for kind in ["ecc", "rsa"] {
        let c = case(kind);
        assert_eq!(c.ak.name, fixture(&format!("ak-{kind}.name")), "{kind}");
        let quote = verify_quote(&c.ak, &c.attest, &c.signature, &qualifying(), &pcrs())
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert!(quote.clock > 0);
    }
}

#[test]
fn a_quote_for_other_evidence_or_by_another_key_fails() {
    let (ecc, rsa) = (case("ecc"), case("rsa"));
    let mut other = qualifying();
    other[0] ^= 1;
    assert_eq!(
        verify_quote(&ecc.ak, &ecc.attest, &ecc.signature, &other, &pcrs()),
        Err(TpmError::QualifyingData)
    );
    // Signed by another AK (of another type, and of the same type with another key).
    assert_eq!(
        verify_quote(&rsa.ak, &ecc.attest, &ecc.signature, &qualifying(), &pcrs()),
        Err(TpmError::Signature)
    );
    assert_eq!(
        verify_quote(&ecc.ak, &rsa.attest, &rsa.signature, &qualifying(), &pcrs()),
        Err(TpmError::Signature)
    );
    let mut other_ak = fixture("ak-ecc.pub");
    let last = other_ak.len() - 1;
    other_ak[last] ^= 1; // a different point: not on the curve, or another key
    if let Ok(other) = AkPublic::parse(&other_ak) {
        assert_eq!(
            verify_quote(&other, &ecc.attest, &ecc.signature, &qualifying(), &pcrs()),
            Err(TpmError::Signature)
        );
    }
    // Any edited byte of the signed structure breaks the signature.
    for i in 0..ecc.attest.len() {
        let mut edited = ecc.attest.clone();
        edited[i] ^= 0x01;
        assert!(verify_quote(&ecc.ak, &edited, &ecc.signature, &qualifying(), &pcrs()).is_err());
    }
}

#[test]
fn pcr_values_must_be_the_quoted_ones() {
    let c = case("ecc");
    let mut changed = pcrs();
    changed.get_mut(&7).unwrap()[31] ^= 1;
    assert_eq!(
        verify_quote(&c.ak, &c.attest, &c.signature, &qualifying(), &changed),
        Err(TpmError::PcrDigest)
    );
    let mut fewer = pcrs();
    fewer.remove(&2);
    assert_eq!(
        verify_quote(&c.ak, &c.attest, &c.signature, &qualifying(), &fewer),
        Err(TpmError::PcrSelection)
    );
    let mut more = pcrs();
    more.insert(8, [0; 32]);
    assert_eq!(
        verify_quote(&c.ak, &c.attest, &c.signature, &qualifying(), &more),
        Err(TpmError::PcrSelection)
    );
}

#[test]
fn reference_values_allow_only_listed_pcr_values() {
    let values = pcrs();
    let good = BTreeMap::from([(7, vec![[1; 32], values[&7]]), (0, vec![[0; 32]])]);
    assert_eq!(check_reference(&values, &good), Vec::<u32>::new());
    let bad = BTreeMap::from([(7, vec![[1; 32]]), (0, vec![[1; 32]]), (1, vec![[0; 32]])]);
    assert_eq!(check_reference(&values, &bad), vec![0, 7]);
    let unquoted = BTreeMap::from([(9, vec![[0; 32]])]);
    assert_eq!(check_reference(&values, &unquoted), vec![9]);
}

#[test]
fn only_restricted_tpm_bound_signing_keys_are_attestation_keys() {
    let public = fixture("ak-ecc.pub");
    // TPMA_OBJECT is at offset 2 (size) + 2 (type) + 2 (nameAlg); bit 16 is `restricted`.
    let mut unrestricted = public.clone();
    unrestricted[7] &= !0x01;
    assert_eq!(
        AkPublic::parse(&unrestricted),
        Err(TpmError::NotAnAttestationKey)
    );
    let mut movable = public.clone();
    movable[9] &= !0x02; // fixedTPM
    assert_eq!(
        AkPublic::parse(&movable),
        Err(TpmError::NotAnAttestationKey)
    );
    let mut decrypting = public.clone();
    decrypting[7] |= 0x02; // decrypt
    assert_eq!(
        AkPublic::parse(&decrypting),
        Err(TpmError::NotAnAttestationKey)
    );
}

#[test]
fn truncated_or_padded_structures_are_refused_without_panicking() {
    let c = case("rsa");
    let public = fixture("ak-rsa.pub");
    for n in 0..public.len() {
        assert!(AkPublic::parse(&public[..n]).is_err());
    }
    assert!(AkPublic::parse(&[&public[..], &[0]].concat()).is_err());
    for n in 0..c.attest.len() {
        assert!(verify_quote(&c.ak, &c.attest[..n], &c.signature, &qualifying(), &pcrs()).is_err());
    }
    for n in 0..c.signature.len() {
        assert!(verify_quote(&c.ak, &c.attest, &c.signature[..n], &qualifying(), &pcrs()).is_err());
    }
}
