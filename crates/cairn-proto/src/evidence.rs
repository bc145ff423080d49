//! The two signed payloads an agent sends: enrollment and attestation evidence.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::statement::Payload;
use crate::{Digest, HardwareKey, HostId, Nonce, Report};

/// `POST /v1/hosts`: proof of possession of the hardware key over a server nonce.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Enrollment {
    pub nonce: Nonce,
    #[schema(schema_with = crate::schema::host_name)]
    pub name: String,
    pub report: Report,
    pub hk: HardwareKey,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join_token: Option<String>,
    /// DER EK certificate, base64url (TPM hosts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ek_cert: Option<String>,
}

impl Payload for Enrollment {
    const NAME: &'static str = "enrollment";
}

/// `POST /v1/attest`: the host's report bound to a fresh nonce and to the instance's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub host_id: HostId,
    pub nonce: Nonce,
    /// The boot client's X25519 public key: whatever is released for the PAT is sealed to it.
    #[serde(with = "crate::b64::array")]
    #[schema(schema_with = crate::schema::b64_32)]
    pub instance_key: [u8; 32],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_token_digest: Option<Digest>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub time: OffsetDateTime,
    pub report: Report,
}

impl Payload for Evidence {
    const NAME: &'static str = "evidence";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HkAlg, Signature, Signed};
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    fn evidence(hk: &HardwareKey) -> Evidence {
        Evidence {
            host_id: hk.host_id(),
            nonce: Nonce([7; 32]),
            instance_key: [9; 32],
            security_token_digest: None,
            time: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            report: Report::default(),
        }
    }

    /// Evidence signed by a fresh Ed25519 key, and that key.
    fn signed_evidence() -> (HardwareKey, Signed<Evidence>) {
        let kp = Ed25519KeyPair::generate().unwrap();
        let hk = HardwareKey {
            alg: HkAlg::EdDSA,
            public_key: kp.public_key().as_ref().to_vec(),
        };
        let signed = Signed::sign(evidence(&hk), |m| {
            Ok::<_, ()>(Signature::plain(HkAlg::EdDSA, kp.sign(m).as_ref().to_vec()))
        })
        .unwrap();
        (hk, signed)
    }

    #[test]
    fn signed_evidence_round_trips_and_verifies() {
        let (hk, signed) = signed_evidence();
        let text = serde_json::to_string(&signed).unwrap();
        assert!(text.contains(r#""time":"2027-01-15T08:00:00Z""#), "{text}");
        let back: Signed<Evidence> = serde_json::from_str(&text).unwrap();
        assert_eq!(back.verify(&hk), Ok(()));

        // Whitespace and key order do not matter; content does.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["evidence"]["nonce"] = serde_json::json!(crate::b64::encode([8u8; 32]));
        let tampered: Signed<Evidence> = serde_json::from_value(v).unwrap();
        assert!(tampered.verify(&hk).is_err());
    }

    #[test]
    fn repeated_members_are_rejected() {
        // Two readers of one document must not see two payloads: a name given twice, in the
        // payload or in the envelope, is refused rather than resolved.
        let (_, signed) = signed_evidence();
        let text = serde_json::to_string(&signed).unwrap();
        let other_nonce = format!(
            r#"{{"evidence":{{"nonce":"{}","#,
            crate::b64::encode([8u8; 32])
        );
        for bad in [
            text.replacen(r#"{"evidence":{"#, &other_nonce, 1),
            format!(
                r#"{},"signature":{}}}"#,
                &text[..text.len() - 1],
                serde_json::to_string(&signed.signature).unwrap()
            ),
        ] {
            let error = serde_json::from_str::<Signed<Evidence>>(&bad).unwrap_err();
            assert!(error.to_string().contains("duplicate"), "{error}");
        }
    }

    #[test]
    fn unknown_members_are_rejected() {
        let text = r#"{"evidence":{},"signature":{"alg":"EdDSA","value":""},"extra":1}"#;
        assert!(serde_json::from_str::<Signed<Evidence>>(text).is_err());
    }
}

/// `POST /v1/erots/{id}/complete`: the host reports a workload finished, signed with its
/// hardware key; the ERoT is then destroyed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Completion {
    #[schema(schema_with = crate::schema::erot_id)]
    pub erot_id: String,
    pub host_id: HostId,
    #[serde(deserialize_with = "crate::integer::exact")]
    #[schema(schema_with = crate::schema::int32)]
    pub exit_status: i32,
    /// SHA-256 of what the workload wrote to its standard output.
    pub output_digest: Digest,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(schema_with = crate::schema::date_time)]
    pub time: OffsetDateTime,
}

impl Payload for Completion {
    const NAME: &'static str = "completion";
}
