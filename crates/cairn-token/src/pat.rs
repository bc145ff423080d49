//! The physical attestation token (DESIGN.md flow 2, step 4).

use cairn_proto::{Digest, HostId};
use serde::{Deserialize, Serialize};

use crate::{Claims, Jwk, KeyPurpose, TokenKind};

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

/// A PAT's own claims; `sub` is the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pat {
    pub hwfp: Digest,
    pub cnf: Confirmation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tkd: Option<Digest>,
    pub status: PatStatus,
    pub drift: Vec<String>,
}

impl TokenKind for Pat {
    const TYP: &'static str = PAT_TYP;
    const AUDIENCE: &'static str = PAT_AUDIENCE;
    const KEY: KeyPurpose = KeyPurpose::Pat;
    type Subject = HostId;
}

pub type PatClaims = Claims<Pat>;
