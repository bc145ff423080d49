//! The server's configuration files: `--pcr-reference` and `--trusted-issuers`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = cairn_server::PcrReference::parse(text);
    let _ = cairn_server::IssuerConfig::parse_file(text);
});
