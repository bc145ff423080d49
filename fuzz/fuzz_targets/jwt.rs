//! Compact JWS tokens as the key broker and the RHEM receive them: PATs, security tokens and
//! receipts, checked against real keys; no fuzzed token verifies. Then the input as claims,
//! signed with the verifiers' own key, so that every check past the signature is reached: what
//! verifies is for Cairn's audience and issuer and within its validity.
#![no_main]

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use cairn_token::{
    Ed25519Signer, Jwks, JwsSigner, MAX_SKEW_SECS, PatClaims, ReceiptClaims, SecurityTokenClaims,
    TrustedIssuers, Verifier, jws,
};
use libfuzzer_sys::fuzz_target;

const ISSUER: &str = "https://cairn";

struct Keys {
    key: Ed25519Signer,
    pats: Verifier,
    receipts: Verifier,
    issuers: TrustedIssuers,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let key = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).expect("a key");
    let jwks = Jwks {
        keys: vec![key.public_jwk()],
    };
    let mut issuers = TrustedIssuers::default();
    issuers.trust_cairn(ISSUER, &jwks).expect("issuer");
    Keys {
        pats: Verifier::for_pats(&jwks, Some(ISSUER.into())).expect("verifier"),
        receipts: Verifier::for_receipts(&jwks, None).expect("verifier"),
        issuers,
        key,
    }
});

fuzz_target!(|data: &[u8]| {
    let k = &*KEYS;
    if let Ok(token) = std::str::from_utf8(data) {
        assert!(k.pats.verify::<PatClaims>(token).is_err());
        assert!(k.receipts.verify::<ReceiptClaims>(token).is_err());
        assert!(k.issuers.verify(token).is_err());
    }
    let Ok(claims) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let skew = MAX_SKEW_SECS as i64;
    let pat = jws::encode(&k.key, cairn_token::pat::PAT_TYP, &claims).expect("signs");
    if let Ok(pat) = k.pats.verify::<PatClaims>(&pat) {
        let r = &pat.registered;
        assert_eq!((r.aud.as_str(), r.iss.as_str()), ("cairn-kbs", ISSUER));
        assert!(r.exp.secs().saturating_add(skew) >= now && r.nbf.secs() <= now + skew);
    }
    let st = jws::encode(&k.key, cairn_token::SECURITY_TOKEN_TYP, &claims).expect("signs");
    if let Ok(st) = k.issuers.verify(&st) {
        assert_eq!(st.iss, ISSUER);
        assert!(st.exp.secs().saturating_add(skew) >= now);
    }
    let _ = k.receipts.verify::<SecurityTokenClaims>(&st);
});
