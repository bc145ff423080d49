//! The physical attestation token (DESIGN.md flow 2, step 4).

use cairn_proto::{Digest, HostId};
use serde::{Deserialize, Serialize};

use crate::Jwk;

pub const PAT_TYP: &str = "pat+jwt";
pub const PAT_AUDIENCE: &str = "cairn-kbs";

/// `affirming` or `warning`, as in EAR (draft-ietf-rats-ear).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PatStatus {
    Affirming,
    Warning,
}

/// RFC 7800 confirmation: the instance key released secrets are sealed to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jwk: Jwk,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatClaims {
    pub iss: String,
    pub sub: HostId,
    pub aud: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub jti: String,
    pub hwfp: Digest,
    pub cnf: Confirmation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tkd: Option<Digest>,
    pub status: PatStatus,
    pub drift: Vec<String>,
}
