//! Signed statements as the server receives them (enrollment, evidence, completion): parsed,
//! their reports validated and fingerprinted, and their signatures checked against a hardware
//! key of every algorithm, TPM2 quotes included. Nothing may panic; nothing verifies.
#![no_main]

use cairn_proto::{Completion, Enrollment, Evidence, HardwareKey, HkAlg, Signed};
use libfuzzer_sys::fuzz_target;

fn keys() -> [HardwareKey; 3] {
    [
        HardwareKey {
            alg: HkAlg::EdDSA,
            public_key: vec![7; 32],
        },
        HardwareKey {
            alg: HkAlg::ES256,
            public_key: [&[4u8][..], &[9; 64]].concat(),
        },
        HardwareKey {
            alg: HkAlg::TPM2,
            public_key: vec![0, 2, 0, 1],
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = serde_json::from_slice::<Signed<Enrollment>>(data) {
        let _ = signed.payload.report.validate();
        let _ = signed.payload.report.fingerprint();
        let _ = signed.payload.hk.validate();
        let _ = signed.verify(&signed.payload.hk);
    }
    if let Ok(signed) = serde_json::from_slice::<Signed<Evidence>>(data) {
        let _ = signed.payload.report.validate();
        let _ = signed.signature.pcr_values();
        for key in keys() {
            assert!(signed.verify(&key).is_err(), "a fuzzed statement verified");
        }
    }
    if let Ok(signed) = serde_json::from_slice::<Signed<Completion>>(data) {
        for key in keys() {
            assert!(signed.verify(&key).is_err(), "a fuzzed statement verified");
        }
    }
});
