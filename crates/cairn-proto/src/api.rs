//! Request and response bodies of the HTTP API that are not signed statements.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::secret::{ActivationSecret, VolumeKey};
use crate::{Digest, HardwareKey, HostId, HostStatus, Nonce, Report};

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Challenge {
    pub nonce: Nonce,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EnrollResponse {
    pub host_id: HostId,
    pub status: HostStatus,
    /// For a TPM host: the challenge to answer at `POST /v1/hosts/{id}/activation` before
    /// the enrollment takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialChallenge>,
}

/// TPM2_MakeCredential's output: a secret sealed to the host's EK, bound to its AK's name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialChallenge {
    /// TPM2B_ID_OBJECT contents, base64url.
    #[serde(with = "crate::b64::bytes")]
    #[schema(schema_with = crate::schema::b64_bytes)]
    pub id_object: Vec<u8>,
    /// TPM2B_ENCRYPTED_SECRET contents, base64url.
    #[serde(with = "crate::b64::bytes")]
    #[schema(schema_with = crate::schema::b64_bytes)]
    pub encrypted_secret: Vec<u8>,
}

/// `POST /v1/hosts/{id}/activation`: the secret TPM2_ActivateCredential recovered.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {
    pub secret: ActivationSecret,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttestResponse {
    pub pat: String,
}

/// One recorded fingerprint of a host, oldest first in a host's history.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FingerprintRecord {
    pub fingerprint: Digest,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub recorded_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct HostView {
    pub host_id: HostId,
    pub name: String,
    pub status: HostStatus,
    pub hk: HardwareKey,
    pub fingerprint: Digest,
    pub report: Report,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub updated_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<FingerprintRecord>,
    /// The tripped tamper sensors the host was quarantined for (`chassis/ID:SENSOR`), until
    /// an operator clears them; absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tamper: Vec<String>,
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

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    pub role: TokenRole,
    /// At most [`TokenRequest::MAX_TTL_SECONDS`]; a join token without one lasts a day, an
    /// admin or customer token without one does not expire.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::optional"
    )]
    #[schema(minimum = 0, maximum = 315_360_000)]
    pub ttl_seconds: Option<u64>,
}

impl TokenRequest {
    /// Ten years: the longest life a token can be given.
    pub const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    pub token: String,
    /// What lists and revokes the token (`GET /v1/tokens`, `POST /v1/tokens/{id}/revoke`).
    #[schema(schema_with = crate::schema::token_id)]
    pub id: String,
    pub role: TokenRole,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(schema_with = crate::schema::date_time)]
    pub expires_at: Option<OffsetDateTime>,
}

/// A token as `GET /v1/tokens` lists it: what it may do and when, never the token.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    #[schema(schema_with = crate::schema::token_id)]
    pub id: String,
    pub role: TokenRole,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: OffsetDateTime,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(schema_with = crate::schema::date_time)]
    pub expires_at: Option<OffsetDateTime>,
    /// When a join token was spent.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(schema_with = crate::schema::date_time)]
    pub used_at: Option<OffsetDateTime>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    #[schema(schema_with = crate::schema::date_time)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What [`check_host_name`] accepts, as a JSON Schema pattern (with 1 to 253 characters).
pub const HOST_NAME_PATTERN: &str =
    r"^[^\x00-\x20\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\x9f])?$";

/// Checks a host's name: 1 to 253 characters, none of them a control character (so that it
/// prints safely), with no space at either end.
pub fn check_host_name(name: &str) -> Result<(), String> {
    let ok = (1..=253).contains(&name.chars().count())
        && !name.chars().any(char::is_control)
        && !name.starts_with(' ')
        && !name.ends_with(' ');
    match ok {
        true => Ok(()),
        false => Err(format!(
            "host name {name:?} must be 1 to 253 characters, no control characters, no space at either end"
        )),
    }
}

/// What [`check_id`] accepts, as a JSON Schema pattern.
pub const ID_PATTERN: &str = "^[A-Za-z0-9._:-]{1,128}$";

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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InstanceRequest {
    #[schema(schema_with = crate::schema::resource_id)]
    pub instance_id: String,
    pub host_id: HostId,
    #[schema(schema_with = crate::schema::resource_ids)]
    pub volume_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InstanceResponse {
    pub security_token: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub expires_at: OffsetDateTime,
}

/// `POST /v1/volumes`: registers a volume and its 256-bit key, which the server stores
/// only envelope-encrypted and releases only sealed to an attested instance.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeRequest {
    #[schema(schema_with = crate::schema::resource_id)]
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

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VolumeView {
    pub volume_id: String,
    pub format: VolumeFormat,
    pub kek_id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub created_at: OffsetDateTime,
}

/// `POST /v1/volumes/{volume_id}/key`; answered with a [`crate::Sealed`] key.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyRequest {
    pub security_token: String,
    pub pat: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The schema patterns accept exactly what the checks accept.
    #[test]
    fn patterns_agree_with_the_checks() {
        let id = regex::Regex::new(ID_PATTERN).unwrap();
        let name = regex::Regex::new(HOST_NAME_PATTERN).unwrap();
        let long = "x".repeat(300);
        let samples = [
            "",
            "a",
            " ",
            "a b",
            " a",
            "a ",
            "web-1.example",
            "é",
            "名前",
            "a\tb",
            "\u{9b}x",
            "x\u{7f}",
            "\u{a0}",
            "a\nb",
            "vol-1",
            "i.0123:a_b",
            "a/b",
            "../x",
            &long[..128],
            &long[..129],
            &long[..253],
            &long[..254],
        ];
        for sample in samples {
            assert_eq!(
                id.is_match(sample),
                check_id("volume", sample).is_ok(),
                "{sample:?}"
            );
            let fits = sample.chars().count() <= 253;
            assert_eq!(
                name.is_match(sample) && fits,
                check_host_name(sample).is_ok(),
                "{sample:?}"
            );
        }
    }

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
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErotRequest {
    pub host_id: HostId,
    /// The workload description (`name`, `code_digest`, `memory_mb`, `args`, …): a JSON
    /// object, digested as JCS.
    #[schema(value_type = Object)]
    pub workload: serde_json::Value,
    /// Shortened to the server's `--erot-ttl` when longer.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::integer::optional"
    )]
    #[schema(minimum = 0, maximum = 18_446_744_073_709_551_615_u64)]
    pub ttl_seconds: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErotResponse {
    #[schema(schema_with = crate::schema::erot_id)]
    pub erot_id: crate::ErotId,
    #[serde(with = "crate::b64::array")]
    #[schema(schema_with = crate::schema::b64_32)]
    pub erot_pub: [u8; 32],
    #[serde(with = "crate::b64::bytes")]
    #[schema(schema_with = crate::schema::b64_bytes)]
    pub nonce: Vec<u8>,
    pub workload_digest: Digest,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub expires_at: OffsetDateTime,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptRequest {
    pub ewc_digest: Digest,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReceiptResponse {
    pub receipt: String,
    /// A C2SP `tlog-proof@v1` that the ERoT's generation is in the transparency log, the
    /// logged entry in its `extra` line (absent for an ERoT made before the log existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlog_proof: Option<String>,
}

/// `POST /v1/erots/{id}/release`; answered with the ERoT private key, [`crate::Sealed`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ReleaseRequest {
    pub pat: String,
    pub receipt: String,
}

/// A Merkle proof from `GET /v1/log/proof/inclusion` or `/v1/log/proof/consistency`
/// (RFC 9162 §2.1.3 and §2.1.4), its hashes in standard base64.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct LogProof {
    /// The entry's index (inclusion proofs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// The older tree's size (consistency proofs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    /// The size of the tree the proof leads to.
    pub tree_size: u64,
    pub hashes: Vec<String>,
    /// The latest signed checkpoint, when the proof leads to its tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// One logged event of `GET /v1/events`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Its index in the transparency log.
    pub index: u64,
    /// The log entry itself: `type`, `time` and the ids and digests it concerns.
    #[schema(value_type = Object)]
    pub entry: serde_json::Value,
}

/// A page of `GET /v1/events`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<EventView>,
    /// What to pass as `after` for the next page (the last index here, or `after` itself
    /// when nothing is new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<u64>,
}
