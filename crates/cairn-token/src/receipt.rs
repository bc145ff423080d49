//! ERoT receipts (DESIGN.md flow 4, step 3): the DERG's signed word that an EWC with digest
//! `ewc_digest` was sealed for the workload, host and ERoT named. The customer keeps it for
//! audit; the host's RHEM checks it before it asks for the ERoT key.

use cairn_proto::{Digest, ErotId, HostId};
use serde::{Deserialize, Serialize};

use crate::{Claims, Jwks, KeyPurpose, TokenError, TokenKind, Verifier};

pub const RECEIPT_TYP: &str = "erot-receipt+jwt";
pub const RECEIPT_AUDIENCE: &str = "cairn-rhem";

/// A receipt's own claims; `sub` is the ERoT, `exp` its expiry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub workload: serde_json::Value,
    pub workload_digest: Digest,
    pub host_id: HostId,
    /// The host's hardware key, base64url.
    pub hk_pub: String,
    /// The derivation nonce, base64url.
    pub nonce: String,
    /// The ERoT's X25519 public key, base64url.
    pub erot_pub: String,
    pub ewc_digest: Digest,
}

impl TokenKind for Receipt {
    const TYP: &'static str = RECEIPT_TYP;
    const AUDIENCE: &'static str = RECEIPT_AUDIENCE;
    const KEY: KeyPurpose = KeyPurpose::Receipt;
    type Subject = ErotId;
}

pub type ReceiptClaims = Claims<Receipt>;

/// Why a receipt does not stand.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error(transparent)]
    Rejected(#[from] TokenError),
    #[error("it is for another container (receipt {receipt}, file {file})")]
    OtherContainer { receipt: Digest, file: Digest },
}

/// The one check of a receipt, the RHEM's before a run and the auditor's after: signed by a
/// DERG key in `jwks`, valid now, and, when the container is at hand, naming its digest.
pub fn check(
    receipt: &str,
    jwks: &Jwks,
    ewc_digest: Option<&Digest>,
) -> Result<ReceiptClaims, ReceiptError> {
    let claims: ReceiptClaims = Verifier::for_receipts(jwks, None)?.verify(receipt.trim())?;
    match ewc_digest {
        Some(file) if *file != claims.body.ewc_digest => Err(ReceiptError::OtherContainer {
            receipt: claims.body.ewc_digest,
            file: *file,
        }),
        _ => Ok(claims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Ed25519Signer, JwsSigner, Validity, jws};
    use cairn_proto::UnixTime;
    use std::time::Duration;

    /// Receipts signed before receipts carried a `jti` still verify.
    #[test]
    fn a_receipt_without_a_jti_still_verifies() {
        let key = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).unwrap();
        let jwks = Jwks {
            keys: vec![key.public_jwk()],
        };
        let key = std::sync::Arc::new(key);
        let signer = crate::TokenSigner::<Receipt>::new(key.clone());
        let body = Receipt {
            workload: serde_json::json!({ "name": "w" }),
            workload_digest: Digest::sha256("w"),
            host_id: "h_0123456789abcdef0123456789abcdef".parse().unwrap(),
            hk_pub: "AA".into(),
            nonce: "AA".into(),
            erot_pub: "AA".into(),
            ewc_digest: Digest::sha256("ewc"),
        };
        let validity = Validity::for_ttl(UnixTime::now(), Duration::from_secs(60));
        let erot = "e_0123456789abcdef0123456789abcdef".parse().unwrap();
        let issued = signer.issue("https://cairn", erot, validity, body).unwrap();
        assert_eq!(check(&issued.token, &jwks, None).unwrap(), issued.claims);
        let mut old = serde_json::to_value(&issued.claims).unwrap();
        old.as_object_mut().unwrap().remove("jti");
        let token = jws::encode(key.as_ref(), RECEIPT_TYP, &old).unwrap();
        let claims = check(&token, &jwks, Some(&Digest::sha256("ewc"))).unwrap();
        assert_eq!(claims.registered.jti, "");
        assert!(matches!(
            check(&token, &jwks, Some(&Digest::sha256("other"))),
            Err(ReceiptError::OtherContainer { .. })
        ));
    }
}
