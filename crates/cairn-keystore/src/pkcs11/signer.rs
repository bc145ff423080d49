//! JWS signing keys inside the HSM: Ed25519 through CKM_EDDSA, or P-256 through CKM_ECDSA on
//! a SHA-256 digest (PKCS#11 returns `r ‖ s`, which is exactly the JWS ES256 signature).

use std::sync::Arc;

use cairn_proto::b64;
use cairn_token::{Jwk, JwsSigner, SignError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, ObjectHandle};

use super::hsm::Hsm;
use crate::KeyStoreError;
use crate::spec::SigningAlg;

/// DER of the curve OIDs, as CKA_EC_PARAMS: id-Ed25519 (1.3.101.112) and prime256v1.
pub(crate) const ED25519_PARAMS: &[u8] = &[0x06, 0x03, 0x2b, 0x65, 0x70];
pub(crate) const P256_PARAMS: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

pub(crate) struct HsmSigner {
    hsm: Arc<Hsm>,
    key: ObjectHandle,
    alg: SigningAlg,
    jwk: Jwk,
}

impl HsmSigner {
    /// `private` signs; `public` is its public half, whose CKA_EC_POINT becomes the JWK.
    pub(crate) fn new(
        hsm: Arc<Hsm>,
        private: ObjectHandle,
        public: ObjectHandle,
        alg: SigningAlg,
    ) -> Result<Self, KeyStoreError> {
        let Attribute::EcPoint(point) = hsm.attribute(public, AttributeType::EcPoint)? else {
            return Err(KeyStoreError::Hsm(format!("{}: no EC point", hsm.name)));
        };
        let jwk = public_jwk(alg, &point).ok_or_else(|| {
            KeyStoreError::Hsm(format!(
                "{}: a signing key is not {alg:?} (its public point does not parse)",
                hsm.name
            ))
        })?;
        Ok(HsmSigner {
            hsm,
            key: private,
            alg,
            jwk,
        })
    }
}

/// The JWK of a CKA_EC_POINT: a DER OCTET STRING around the raw key (some modules return
/// the raw key alone).
fn public_jwk(alg: SigningAlg, point: &[u8]) -> Option<Jwk> {
    let raw_len = match alg {
        SigningAlg::EdDSA => 32,
        SigningAlg::ES256 => 65,
    };
    let raw = match point {
        [0x04, len, rest @ ..] if *len as usize == raw_len && rest.len() == raw_len => rest,
        raw if raw.len() == raw_len => raw,
        _ => return None,
    };
    let mut jwk = match alg {
        SigningAlg::EdDSA => Jwk::okp("Ed25519", raw),
        SigningAlg::ES256 => {
            let (x, y) = raw.strip_prefix(&[0x04])?.split_at(32);
            Jwk {
                kty: "EC".into(),
                y: Some(b64::encode(y)),
                ..Jwk::okp("P-256", x)
            }
        }
    };
    jwk.kid = Some(jwk.thumbprint());
    jwk.alg = Some(jws_alg(alg).into());
    jwk.use_ = Some("sig".into());
    Some(jwk)
}

fn jws_alg(alg: SigningAlg) -> &'static str {
    match alg {
        SigningAlg::EdDSA => "EdDSA",
        SigningAlg::ES256 => "ES256",
    }
}

impl JwsSigner for HsmSigner {
    fn alg(&self) -> &'static str {
        jws_alg(self.alg)
    }

    fn kid(&self) -> &str {
        self.jwk.kid.as_deref().expect("set in public_jwk")
    }

    fn public_jwk(&self) -> Jwk {
        self.jwk.clone()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        let result = match self.alg {
            SigningAlg::EdDSA => self.hsm.run(|s| {
                let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                s.sign(&mechanism, self.key, message)
            }),
            SigningAlg::ES256 => {
                let digest = cairn_proto::Digest::sha256(message);
                self.hsm
                    .run(|s| s.sign(&Mechanism::Ecdsa, self.key, &digest.0))
            }
        };
        result.map_err(|e| SignError(format!("{}: {e}", self.hsm.name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_points_parse_with_or_without_der_wrapping() {
        let ed = [7u8; 32];
        let mut wrapped = vec![0x04, 32];
        wrapped.extend_from_slice(&ed);
        for point in [&ed[..], &wrapped[..]] {
            let jwk = public_jwk(SigningAlg::EdDSA, point).unwrap();
            assert_eq!(jwk.x, b64::encode(ed));
            assert_eq!(jwk.kid, Some(Jwk::okp("Ed25519", &ed).thumbprint()));
        }
        let mut p256 = vec![0x04];
        p256.extend_from_slice(&[1; 32]);
        p256.extend_from_slice(&[2; 32]);
        let mut wrapped = vec![0x04, 65];
        wrapped.extend_from_slice(&p256);
        let jwk = public_jwk(SigningAlg::ES256, &wrapped).unwrap();
        assert_eq!((jwk.kty.as_str(), jwk.crv.as_str()), ("EC", "P-256"));
        assert_eq!(jwk.y, Some(b64::encode([2; 32])));
        assert_eq!(jwk.alg.as_deref(), Some("ES256"));
        assert!(public_jwk(SigningAlg::ES256, &ed).is_none());
        assert!(public_jwk(SigningAlg::EdDSA, &p256).is_none());
    }
}
