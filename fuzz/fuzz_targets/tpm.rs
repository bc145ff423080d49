//! TPM structures as the server receives them: TPM2B_PUBLIC of an AK (enrollment), then
//! TPMS_ATTEST and TPMT_SIGNATURE of a quote checked with it, and EK certificates. The input
//! is `len(public) ‖ public ‖ len(attest) ‖ attest ‖ signature`, lengths big-endian u16.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// A length-prefixed part and what follows it.
fn part(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    Some(rest.split_at((u16::from_be_bytes(*len) as usize).min(rest.len())))
}

fuzz_target!(|data: &[u8]| {
    // An EK certificate's key, and then what the TCG profile asks of it (read before the
    // chain is checked, so any bytes reach it).
    if let Ok(ek) = cairn_tpm::ek_certificate_key(data) {
        let _ = cairn_tpm::check_profile(data, &ek);
    }
    let Some((public, rest)) = part(data) else {
        return;
    };
    let Ok(ak) = cairn_tpm::AkPublic::parse(public) else {
        return;
    };
    let Some((attest, signature)) = part(rest) else {
        return;
    };
    let _ = ak.verify(attest, signature);
    let pcrs = cairn_tpm::PcrValues::from([(7, [0u8; 32])]);
    let quoted = cairn_tpm::verify_quote(&ak, attest, signature, &[1; 32], &pcrs);
    assert!(quoted.is_err(), "a fuzzed quote verified");
});
