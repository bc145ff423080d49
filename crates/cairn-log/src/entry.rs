//! One log entry: a security event, as a JSON object whose `type` names it, with the time it
//! happened and the ids and digests it concerns. An entry never holds key material, tokens or
//! anything secret: the log is public.
//!
//! The entry's bytes are what the tree hashes (RFC 6962 leaf hash of exactly these bytes), so
//! they are kept as written; readers parse them with [`Entry::parse`].

use cairn_proto::lifecycle::{HostChange, HostTransition};
use cairn_proto::{Digest, HostAction, HostId, HostStatus};
use serde::{Deserialize, Serialize};

/// The most bytes an entry may take: entry bundles prefix each entry with a 16-bit length.
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

cairn_proto::words!(
    "event type",
    /// What kind of event an entry records (its `type`), as webhooks filter on it.
    pub enum EventType {
        HostEnrolled = "host.enrolled",
        HostApproved = "host.approved",
        HostActivated = "host.activated",
        HostMaintenance = "host.maintenance",
        HostRotated = "host.rotated",
        HostQuarantined = "host.quarantined",
        HostRevoked = "host.revoked",
        HostDrift = "host.drift",
        HostTamper = "host.tamper",
        HostTamperCleared = "host.tamper_cleared",
        PatIssued = "pat.issued",
        InstanceCreated = "instance.created",
        InstanceRevoked = "instance.revoked",
        VolumeReleased = "volume.released",
        ErotGenerated = "erot.generated",
        ErotReleased = "erot.released",
        ErotDestroyed = "erot.destroyed",
        ErotExpired = "erot.expired",
        TokenCreated = "token.created",
        TokenRevoked = "token.revoked",
    }
);

/// A host's status changed (`by`: the admin token id, for an operator's action).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostChanged {
    pub host_id: HostId,
    pub from: HostStatus,
    pub to: HostStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The fingerprint the attestation presented (rotation, drift, tamper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<Digest>,
    /// The tripped tamper sensors (`chassis/ID:SENSOR`): tamper, and its clearing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensors: Vec<String>,
}

/// What happened. The `type` of each variant is its [`EventType`]'s word (a test holds the
/// two spellings equal).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "host.enrolled")]
    HostEnrolled {
        host_id: HostId,
        status: HostStatus,
        fingerprint: Digest,
    },
    #[serde(rename = "host.approved")]
    HostApproved(HostChanged),
    /// A TPM host answered its credential challenge.
    #[serde(rename = "host.activated")]
    HostActivated(HostChanged),
    /// An operator opened a maintenance window for a hardware change.
    #[serde(rename = "host.maintenance")]
    HostMaintenance(HostChanged),
    /// The maintenance window closed on an attestation with the new hardware.
    #[serde(rename = "host.rotated")]
    HostRotated(HostChanged),
    #[serde(rename = "host.quarantined")]
    HostQuarantined(HostChanged),
    #[serde(rename = "host.revoked")]
    HostRevoked(HostChanged),
    /// An attestation presented other immutable hardware: the host is quarantined.
    #[serde(rename = "host.drift")]
    HostDrift(HostChanged),
    /// An attestation presented a tripped tamper sensor: the host is quarantined for tamper.
    #[serde(rename = "host.tamper")]
    HostTamper(HostChanged),
    /// An operator ended a tamper quarantine after inspection.
    #[serde(rename = "host.tamper_cleared")]
    HostTamperCleared(HostChanged),
    #[serde(rename = "pat.issued")]
    PatIssued {
        host_id: HostId,
        jti: String,
        expires_at: i64,
    },
    #[serde(rename = "instance.created")]
    InstanceCreated {
        instance_id: String,
        host_id: HostId,
        volumes: Vec<String>,
        by: String,
    },
    #[serde(rename = "instance.revoked")]
    InstanceRevoked { instance_id: String, by: String },
    #[serde(rename = "volume.released")]
    VolumeReleased {
        volume_id: String,
        instance_id: String,
        host_id: HostId,
        pat_jti: String,
    },
    #[serde(rename = "erot.generated")]
    ErotGenerated {
        erot_id: String,
        host_id: HostId,
        workload_digest: Digest,
        /// SHA-256 of the ERoT's X25519 public key.
        erot_pub_digest: Digest,
        /// The token id of the customer that asked for it.
        customer: String,
        expires_at: i64,
    },
    #[serde(rename = "erot.released")]
    ErotReleased {
        erot_id: String,
        host_id: HostId,
        pat_jti: String,
    },
    #[serde(rename = "erot.destroyed")]
    ErotDestroyed {
        erot_id: String,
        host_id: HostId,
        exit_status: i32,
        output_digest: Digest,
    },
    #[serde(rename = "erot.expired")]
    ErotExpired { erot_id: String },
    #[serde(rename = "token.created")]
    TokenCreated {
        token_id: String,
        role: String,
        by: String,
    },
    #[serde(rename = "token.revoked")]
    TokenRevoked { token_id: String, by: String },
}

impl Event {
    /// The event of a host's status change, named by what changed it.
    /// The event of a host's `transition` (`by`: the admin token id of an operator's action;
    /// `fingerprint`: what an attestation presented; `sensors`: the tamper sensors it showed
    /// tripped, or that a clear-tamper cleared).
    pub fn host_transition(
        transition: &HostTransition,
        by: Option<String>,
        fingerprint: Option<Digest>,
        sensors: Vec<String>,
    ) -> Event {
        let details = HostChanged {
            host_id: transition.host_id().clone(),
            from: transition.from(),
            to: transition.to(),
            by,
            fingerprint,
            sensors,
        };
        Event::host_changed(transition.change(), details)
    }

    pub fn host_changed(change: HostChange, details: HostChanged) -> Event {
        match change {
            HostChange::Operator(HostAction::Approve) => Event::HostApproved(details),
            HostChange::Operator(HostAction::Revoke) => Event::HostRevoked(details),
            HostChange::Operator(HostAction::Quarantine) => Event::HostQuarantined(details),
            HostChange::Operator(HostAction::Rotate) => Event::HostMaintenance(details),
            HostChange::Operator(HostAction::ClearTamper) => Event::HostTamperCleared(details),
            HostChange::Activated => Event::HostActivated(details),
            HostChange::Rotated => Event::HostRotated(details),
            HostChange::ImmutableDrift => Event::HostDrift(details),
            HostChange::Tamper => Event::HostTamper(details),
        }
    }

    pub fn event_type(&self) -> EventType {
        use EventType as T;
        match self {
            Event::HostEnrolled { .. } => T::HostEnrolled,
            Event::HostApproved(_) => T::HostApproved,
            Event::HostActivated(_) => T::HostActivated,
            Event::HostMaintenance(_) => T::HostMaintenance,
            Event::HostRotated(_) => T::HostRotated,
            Event::HostQuarantined(_) => T::HostQuarantined,
            Event::HostRevoked(_) => T::HostRevoked,
            Event::HostDrift(_) => T::HostDrift,
            Event::HostTamper(_) => T::HostTamper,
            Event::HostTamperCleared(_) => T::HostTamperCleared,
            Event::PatIssued { .. } => T::PatIssued,
            Event::InstanceCreated { .. } => T::InstanceCreated,
            Event::InstanceRevoked { .. } => T::InstanceRevoked,
            Event::VolumeReleased { .. } => T::VolumeReleased,
            Event::ErotGenerated { .. } => T::ErotGenerated,
            Event::ErotReleased { .. } => T::ErotReleased,
            Event::ErotDestroyed { .. } => T::ErotDestroyed,
            Event::ErotExpired { .. } => T::ErotExpired,
            Event::TokenCreated { .. } => T::TokenCreated,
            Event::TokenRevoked { .. } => T::TokenRevoked,
        }
    }

    /// The id the event is about, by which entries are found (an ERoT's generation event for
    /// its receipt's proof, say).
    pub fn subject(&self) -> &str {
        match self {
            Event::HostEnrolled { host_id, .. } | Event::PatIssued { host_id, .. } => {
                host_id.as_str()
            }
            Event::HostApproved(c)
            | Event::HostActivated(c)
            | Event::HostMaintenance(c)
            | Event::HostRotated(c)
            | Event::HostQuarantined(c)
            | Event::HostRevoked(c)
            | Event::HostDrift(c)
            | Event::HostTamper(c)
            | Event::HostTamperCleared(c) => c.host_id.as_str(),
            Event::InstanceCreated { instance_id, .. }
            | Event::InstanceRevoked { instance_id, .. } => instance_id,
            Event::VolumeReleased { volume_id, .. } => volume_id,
            Event::ErotGenerated { erot_id, .. }
            | Event::ErotReleased { erot_id, .. }
            | Event::ErotDestroyed { erot_id, .. }
            | Event::ErotExpired { erot_id } => erot_id,
            Event::TokenCreated { token_id, .. } | Event::TokenRevoked { token_id, .. } => token_id,
        }
    }
}

/// An event and when it happened (seconds since the Unix epoch, by the server's clock).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub time: i64,
    #[serde(flatten)]
    pub event: Event,
}

#[derive(Debug, thiserror::Error)]
#[error("not a Cairn log entry: {0}")]
pub struct BadEntry(String);

impl Entry {
    /// The entry's bytes, as logged: compact JSON with its members sorted (for these ASCII
    /// names, RFC 8785's order), so one entry has one spelling.
    pub fn to_bytes(&self) -> Vec<u8> {
        let value = serde_json::to_value(self).expect("entries serialize");
        let bytes = serde_json::to_vec(&value).expect("JSON serializes");
        debug_assert!(bytes.len() <= MAX_ENTRY_BYTES);
        bytes
    }

    pub fn parse(bytes: &[u8]) -> Result<Entry, BadEntry> {
        serde_json::from_slice(bytes).map_err(|e| BadEntry(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostId {
        format!("h_{}", "a".repeat(32)).parse().unwrap()
    }

    fn every_event() -> Vec<Event> {
        let change = HostChanged {
            host_id: host(),
            from: HostStatus::Active,
            to: HostStatus::Quarantined,
            by: Some("t_0123456789abcdef".into()),
            fingerprint: Some(Digest::sha256(b"report")),
            sensors: vec![],
        };
        let tamper = HostChanged {
            sensors: vec!["chassis/chassis:hwmon.it87.intrusion0".into()],
            ..change.clone()
        };
        vec![
            Event::HostEnrolled {
                host_id: host(),
                status: HostStatus::Pending,
                fingerprint: Digest::sha256(b"r"),
            },
            Event::HostApproved(change.clone()),
            Event::HostActivated(change.clone()),
            Event::HostMaintenance(change.clone()),
            Event::HostRotated(change.clone()),
            Event::HostQuarantined(change.clone()),
            Event::HostRevoked(change.clone()),
            Event::HostDrift(change),
            Event::HostTamper(tamper.clone()),
            Event::HostTamperCleared(tamper),
            Event::PatIssued {
                host_id: host(),
                jti: "j".into(),
                expires_at: 9,
            },
            Event::InstanceCreated {
                instance_id: "i".into(),
                host_id: host(),
                volumes: vec!["v".into()],
                by: "t".into(),
            },
            Event::InstanceRevoked {
                instance_id: "i".into(),
                by: "t".into(),
            },
            Event::VolumeReleased {
                volume_id: "v".into(),
                instance_id: "i".into(),
                host_id: host(),
                pat_jti: "j".into(),
            },
            Event::ErotGenerated {
                erot_id: "e".into(),
                host_id: host(),
                workload_digest: Digest::sha256(b"w"),
                erot_pub_digest: Digest::sha256(b"p"),
                customer: "t".into(),
                expires_at: 5,
            },
            Event::ErotReleased {
                erot_id: "e".into(),
                host_id: host(),
                pat_jti: "j".into(),
            },
            Event::ErotDestroyed {
                erot_id: "e".into(),
                host_id: host(),
                exit_status: 0,
                output_digest: Digest::sha256(b"o"),
            },
            Event::ErotExpired {
                erot_id: "e".into(),
            },
            Event::TokenCreated {
                token_id: "t".into(),
                role: "admin".into(),
                by: "t".into(),
            },
            Event::TokenRevoked {
                token_id: "t".into(),
                by: "t".into(),
            },
        ]
    }

    #[test]
    fn every_type_is_spelled_once_and_round_trips() {
        let events = every_event();
        assert_eq!(events.len(), EventType::ALL.len());
        for (event, expected) in events.into_iter().zip(EventType::ALL) {
            assert_eq!(event.event_type(), *expected);
            let entry = Entry { time: 7, event };
            let bytes = entry.to_bytes();
            let text = std::str::from_utf8(&bytes).unwrap();
            assert!(text.contains(&format!("\"type\":\"{expected}\"")), "{text}");
            assert!(text.contains("\"time\":7"), "{text}");
            assert_eq!(Entry::parse(&bytes).unwrap(), entry);
        }
    }

    #[test]
    fn refuses_what_is_not_an_entry() {
        for bad in [
            &b"{}"[..],
            b"{\"type\":\"host.eaten\",\"time\":1}",
            b"{\"type\":\"erot.expired\"}",
            b"[]",
        ] {
            assert!(Entry::parse(bad).is_err());
        }
    }
}
