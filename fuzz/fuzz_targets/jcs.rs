//! RFC 8785 canonicalization of arbitrary text: never panics, and is idempotent (the
//! canonical form of a canonical form is itself), which is what signatures rely on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(canonical) = cairn_proto::jcs::canonical_text(text) else {
        return;
    };
    let again = std::str::from_utf8(&canonical).expect("JCS output is UTF-8");
    assert_eq!(
        cairn_proto::jcs::canonical_text(again).expect("JCS output parses"),
        canonical
    );
});
