//! Invariant 7: tokens with `alg: none`, an unknown `kid`, a wrong `aud`/`typ`, or outside
//! their validity are rejected. Each test forges a token a real attacker could build.

use aws_lc_rs::hmac;
use cairn_proto::{Digest, UnixTime, b64};
use cairn_token::jws::encode;
use cairn_token::pat::{Confirmation, PAT_AUDIENCE, PAT_TYP};
use cairn_token::{
    Ed25519Signer, Jwk, Jwks, JwsSigner, Pat, PatClaims, PatStatus, Registered, TokenError,
    Verifier,
};

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn at(secs: u64) -> UnixTime {
    UnixTime::from_secs(secs as i64)
}

fn claims(iat: u64, exp: u64) -> PatClaims {
    PatClaims {
        registered: Registered {
            iss: "https://cairn.test".into(),
            sub: "h_0123456789abcdef0123456789abcdef".parse().unwrap(),
            aud: PAT_AUDIENCE.into(),
            iat: at(iat),
            nbf: at(iat),
            exp: at(exp),
            jti: "j1".into(),
        },
        body: Pat {
            hwfp: Digest::sha256(b"hw"),
            cnf: Confirmation {
                jwk: Jwk::okp("X25519", &[5; 32]),
            },
            tkd: None,
            status: PatStatus::Affirming,
            drift: vec![],
        },
    }
}

fn deployment() -> (Ed25519Signer, Verifier) {
    let signer = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).unwrap();
    let jwks = Jwks {
        keys: vec![signer.public_jwk()],
    };
    let verifier = Verifier::for_pats(&jwks, Some("https://cairn.test".into())).unwrap();
    (signer, verifier)
}

/// Builds `header.claims.signature` from arbitrary JSON, for forgeries `encode` won't make.
fn raw_token(
    header: serde_json::Value,
    claims: &impl serde::Serialize,
    sign: impl Fn(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!(
        "{}.{}",
        b64::encode(serde_json::to_vec(&header).unwrap()),
        b64::encode(serde_json::to_vec(claims).unwrap())
    );
    let sig = sign(input.as_bytes());
    format!("{input}.{}", b64::encode(sig))
}

#[test]
fn a_valid_pat_verifies() {
    let (signer, verifier) = deployment();
    let token = encode(&signer, PAT_TYP, &claims(now(), now() + 300)).unwrap();
    assert_eq!(verifier.verify_pat(&token).unwrap().registered.jti, "j1");
}

#[test]
fn alg_none_is_rejected() {
    let (signer, verifier) = deployment();
    let header = serde_json::json!({ "alg": "none", "kid": signer.kid(), "typ": PAT_TYP });
    let token = raw_token(header, &claims(now(), now() + 300), |_| vec![]);
    assert!(verifier.verify_pat(&token).is_err());
    // Also with the signature part missing entirely.
    let stripped = token.rsplit_once('.').unwrap().0.to_string() + ".";
    assert!(verifier.verify_pat(&stripped).is_err());
}

#[test]
fn hmac_with_the_public_key_as_secret_is_rejected() {
    let (signer, verifier) = deployment();
    let header = serde_json::json!({ "alg": "HS256", "kid": signer.kid(), "typ": PAT_TYP });
    let public = signer.public_key().to_vec();
    for secret in [public.clone(), signer.public_jwk().x.into_bytes()] {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &secret);
        let token = raw_token(header.clone(), &claims(now(), now() + 300), |m| {
            hmac::sign(&key, m).as_ref().to_vec()
        });
        assert!(matches!(
            verifier.verify_pat(&token),
            Err(TokenError::Algorithm(_))
        ));
    }
}

#[test]
fn unknown_kid_and_another_deployment_are_rejected() {
    let (_, verifier) = deployment();
    let (other, _) = deployment();
    let token = encode(&other, PAT_TYP, &claims(now(), now() + 300)).unwrap();
    assert!(matches!(
        verifier.verify_pat(&token),
        Err(TokenError::UnknownKey(_))
    ));

    // Another deployment's key under this deployment's kid: the signature fails.
    let (ours, verifier) = deployment();
    let header = serde_json::json!({ "alg": "EdDSA", "kid": ours.kid(), "typ": PAT_TYP });
    let token = raw_token(header, &claims(now(), now() + 300), |m| {
        other.sign(m).unwrap()
    });
    assert_eq!(verifier.verify_pat(&token), Err(TokenError::Signature));
}

#[test]
fn wrong_audience_is_rejected() {
    let (signer, verifier) = deployment();
    let mut c = claims(now(), now() + 300);
    c.registered.aud = "someone-else".into();
    let token = encode(&signer, PAT_TYP, &c).unwrap();
    assert_eq!(
        verifier.verify_pat(&token),
        Err(TokenError::Audience(PAT_AUDIENCE.into()))
    );
}

#[test]
fn wrong_or_missing_typ_is_rejected() {
    let (signer, verifier) = deployment();
    let token = encode(&signer, "JWT", &claims(now(), now() + 300)).unwrap();
    assert!(matches!(
        verifier.verify_pat(&token),
        Err(TokenError::Type { .. })
    ));
    let header = serde_json::json!({ "alg": "EdDSA", "kid": signer.kid() });
    let token = raw_token(header, &claims(now(), now() + 300), |m| {
        signer.sign(m).unwrap()
    });
    assert!(matches!(
        verifier.verify_pat(&token),
        Err(TokenError::Type { found: None, .. })
    ));
}

#[test]
fn expired_and_not_yet_valid_are_rejected_beyond_the_skew() {
    let (signer, verifier) = deployment();
    let expired = encode(&signer, PAT_TYP, &claims(now() - 1000, now() - 61)).unwrap();
    assert_eq!(verifier.verify_pat(&expired), Err(TokenError::Expired));

    let mut future = claims(now() + 120, now() + 600);
    future.registered.nbf = at(now() + 120);
    let token = encode(&signer, PAT_TYP, &future).unwrap();
    assert_eq!(verifier.verify_pat(&token), Err(TokenError::NotYetValid));

    // Within the 60 s skew both ways is accepted.
    let mut near = claims(now() + 30, now() + 300);
    near.registered.nbf = at(now() + 30);
    assert!(
        verifier
            .verify_pat(&encode(&signer, PAT_TYP, &near).unwrap())
            .is_ok()
    );
}

#[test]
fn wrong_issuer_and_tampered_claims_are_rejected() {
    let (signer, verifier) = deployment();
    let mut c = claims(now(), now() + 300);
    c.registered.iss = "https://evil.test".into();
    assert_eq!(
        verifier.verify_pat(&encode(&signer, PAT_TYP, &c).unwrap()),
        Err(TokenError::Issuer)
    );

    let token = encode(&signer, PAT_TYP, &claims(now(), now() + 300)).unwrap();
    let mut parts: Vec<String> = token.split('.').map(String::from).collect();
    let mut forged = claims(now(), now() + 300);
    forged.registered.sub = "h_ffffffffffffffffffffffffffffffff".parse().unwrap();
    parts[1] = b64::encode(serde_json::to_vec(&forged).unwrap());
    assert_eq!(
        verifier.verify_pat(&parts.join(".")),
        Err(TokenError::Signature)
    );
}

/// RFC 7515 4.1.11: an extension marked critical that the verifier does not understand (any,
/// here) refuses the token, however good its signature; so does an empty or malformed `crit`.
#[test]
fn critical_header_extensions_are_refused() {
    let (signer, verifier) = deployment();
    for crit in [
        serde_json::json!(["cairn-ext"]),
        serde_json::json!([]),
        serde_json::json!("exp"),
    ] {
        let header = serde_json::json!({
            "alg": "EdDSA", "kid": signer.kid(), "typ": PAT_TYP, "crit": crit, "cairn-ext": 1,
        });
        let token = raw_token(header, &claims(now(), now() + 300), |m| {
            signer.sign(m).unwrap()
        });
        assert!(
            matches!(verifier.verify_pat(&token), Err(TokenError::Critical)),
            "{crit}"
        );
    }
}
