//! JWK sets as external issuers serve them: parsed, turned into verifiers, thumbprinted.
#![no_main]

use cairn_token::{Jwks, TrustedIssuers, Verifier};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(jwks) = serde_json::from_slice::<Jwks>(data) else {
        return;
    };
    for jwk in &jwks.keys {
        let _ = jwk.thumbprint();
        let _ = jwk.x25519_public();
    }
    let _ = Verifier::new(&jwks, "cairn-kbs", None);
    let _ = TrustedIssuers::default().trust("https://issuer", "cairn-kbs", None, &jwks);
});
