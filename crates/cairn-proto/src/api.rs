//! Request and response bodies of the HTTP API that are not signed statements.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::secret::{ActivationSecret, VolumeKey};
use crate::{Digest, HardwareKey, HostId, HostStatus, Nonce, Report};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Challenge {
    pub nonce: Nonce,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub host_id: HostId,
    pub status: HostStatus,
    /// For a TPM host: the challenge to answer at `POST /v1/hosts/{id}/activation` before
    /// the enrollment takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialChallenge>,
}

/// TPM2_MakeCredential's output: a secret sealed to the host's EK, bound to its AK's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialChallenge {
    /// TPM2B_ID_OBJECT contents, base64url.
    #[serde(with = "crate::b64::bytes")]
    pub id_object: Vec<u8>,
    /// TPM2B_ENCRYPTED_SECRET contents, base64url.
    #[serde(with = "crate::b64::bytes")]
    pub encrypted_secret: Vec<u8>,
}

/// `POST /v1/hosts/{id}/activation`: the secret TPM2_ActivateCredential recovered.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {
    pub secret: ActivationSecret,
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

crate::words!(
    "token role",
    pub enum TokenRole {
        /// Operates the server: hosts, tokens.
        Admin = "admin",
        /// Enrolls one host straight to `active`; single use.
        Join = "join",
        /// Derives ERoTs and gets receipts for them; owns what it creates.
        Customer = "customer",
    }
);

impl TokenRole {
    /// Whether the token authenticates requests (a join token only enrolls one host).
    pub fn is_bearer(self) -> bool {
        matches!(self, Self::Admin | Self::Customer)
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

/// Checks an instance or volume id: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, so that
/// it is safe in a URL path, a file name, a device-mapper name and a log line.
pub fn check_id(kind: &str, id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{kind} id {id:?} must be 1-128 characters of A-Z a-z 0-9 . _ : -"
        ))
    }
}

/// `POST /v1/instances`: the control plane places an instance on a host.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceRequest {
    pub instance_id: String,
    pub host_id: HostId,
    pub volume_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InstanceResponse {
    pub security_token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/volumes`: registers a volume and its 256-bit key, which the server stores
/// only envelope-encrypted and releases only sealed to an attested instance.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeRequest {
    pub volume_id: String,
    pub format: VolumeFormat,
    pub key: VolumeKey,
}

crate::words!(
    "volume format",
    /// How a volume's key is used.
    pub enum VolumeFormat {
        /// A LUKS2 device (cryptsetup).
        Luks = "luks",
        /// A LUKS-encrypted qcow2 image (qemu).
        Qcow2 = "qcow2",
        /// A bare key (the `keyfile` boot backend).
        Raw = "raw",
    }
);

impl VolumeFormat {
    /// The formats that are an image, which `cairn admin volumes create --format` makes.
    pub const IMAGES: &'static [VolumeFormat] = &[VolumeFormat::Luks, VolumeFormat::Qcow2];
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VolumeView {
    pub volume_id: String,
    pub format: VolumeFormat,
    pub kek_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `POST /v1/volumes/{volume_id}/key`; answered with a [`crate::Sealed`] key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRequest {
    pub security_token: String,
    pub pat: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_safe_in_paths_and_logs() {
        for ok in ["vol-1", "i.0123:a_b", &"x".repeat(128)] {
            assert!(check_id("volume", ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "../x", "a b", "é", &"x".repeat(129), "a\nb"] {
            assert!(check_id("volume", bad).is_err(), "{bad:?}");
        }
    }
}

/// `POST /v1/erots`: a customer asks for a workload's ERoT on a host.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErotRequest {
    pub host_id: HostId,
    /// The workload description (`name`, `code_digest`, `memory_mb`, `args`, …): a JSON
    /// object, digested as JCS.
    pub workload: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ErotResponse {
    pub erot_id: String,
    #[serde(with = "crate::b64::array")]
    pub erot_pub: [u8; 32],
    #[serde(with = "crate::b64::bytes")]
    pub nonce: Vec<u8>,
    pub workload_digest: Digest,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptRequest {
    pub ewc_digest: Digest,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReceiptResponse {
    pub receipt: String,
}

/// `POST /v1/erots/{id}/release`; answered with the ERoT private key, [`crate::Sealed`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ReleaseRequest {
    pub pat: String,
    pub receipt: String,
}
