//! ERoT receipts (DESIGN.md flow 4, step 3): the DERG's signed word that an EWC with digest
//! `ewc_digest` was sealed for the workload, host and ERoT named. The customer keeps it for
//! audit; the host's RHEM checks it before it asks for the ERoT key.

use cairn_proto::{Digest, HostId};
use serde::{Deserialize, Serialize};

pub const RECEIPT_TYP: &str = "erot-receipt+jwt";
pub const RECEIPT_AUDIENCE: &str = "cairn-rhem";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptClaims {
    pub iss: String,
    /// The ERoT id.
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub nbf: u64,
    /// The ERoT's expiry.
    pub exp: u64,
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
