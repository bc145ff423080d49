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
