//! Request and response bodies of the HTTP API that are not signed statements.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Digest, HardwareKey, HostId, Nonce, Report};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Challenge {
    pub nonce: Nonce,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    Pending,
    Active,
    Maintenance,
    Quarantined,
    Revoked,
}

impl HostStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Maintenance => "maintenance",
            Self::Quarantined => "quarantined",
            Self::Revoked => "revoked",
        }
    }

    /// Only active hosts, and hosts in a maintenance window, may attest.
    pub fn may_attest(self) -> bool {
        matches!(self, Self::Active | Self::Maintenance)
    }
}

impl std::str::FromStr for HostStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.into()))
            .map_err(|_| format!("unknown host status {s:?}"))
    }
}

impl std::fmt::Display for HostStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub host_id: HostId,
    pub status: HostStatus,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AttestResponse {
    pub pat: String,
}

/// One recorded fingerprint of a host, oldest first in a host's history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FingerprintRecord {
    pub fingerprint: Digest,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HostView {
    pub host_id: HostId,
    pub name: String,
    pub status: HostStatus,
    pub hk: HardwareKey,
    pub fingerprint: Digest,
    pub report: Report,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<FingerprintRecord>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    /// Operates the server: hosts, tokens.
    Admin,
    /// Enrolls one host straight to `active`; single use.
    Join,
}

impl TokenRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Join => "join",
        }
    }
}

impl std::str::FromStr for TokenRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "admin" => Ok(Self::Admin),
            "join" => Ok(Self::Join),
            other => Err(format!("unknown token role {other:?} (admin, join)")),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenRequest {
    pub role: TokenRole,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub token: String,
    pub role: TokenRole,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub expires_at: Option<OffsetDateTime>,
}
