//! RFC 9457 problem details: every refusal names its reason with a stable `type`.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The prefix of every problem `type` Cairn emits.
pub const TYPE_PREFIX: &str = "urn:cairn:problem:";

impl Problem {
    /// The short name after the prefix, e.g. `nonce-replayed`.
    pub fn slug(&self) -> &str {
        self.kind.strip_prefix(TYPE_PREFIX).unwrap_or(&self.kind)
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.title, self.slug())?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

/// Declares [`Refusal`]: each variant once, with its HTTP status, its slug and its title.
macro_rules! refusals {
    ($($(#[doc = $doc:literal])* $variant:ident = ($status:literal, $slug:literal, $title:literal),)*) => {
        /// Every reason the server refuses a request. The slug is the stable part of the
        /// problem `type` (`urn:cairn:problem:<slug>`); `docs/problems.md` lists them all.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Refusal {
            $($(#[doc = $doc])* $variant,)*
        }

        impl Refusal {
            pub const ALL: &[Refusal] = &[$(Refusal::$variant,)*];

            pub fn slug(self) -> &'static str {
                match self { $(Refusal::$variant => $slug,)* }
            }

            /// The HTTP status it is answered with.
            pub fn status(self) -> u16 {
                match self { $(Refusal::$variant => $status,)* }
            }

            pub fn title(self) -> &'static str {
                match self { $(Refusal::$variant => $title,)* }
            }
        }
    };
}

refusals! {
    // Requests that do not parse or do not make sense.
    MalformedRequest = (400, "malformed-request", "The request body is not valid"),
    InvalidReport = (400, "invalid-report", "The hardware report is not canonical"),
    InvalidName = (400, "invalid-name", "A host name is 1 to 253 characters, none a control character, no space at either end"),
    InvalidHostId = (400, "invalid-host-id", "Malformed host id"),
    UnsupportedHardwareKey = (400, "unsupported-hardware-key", "The hardware key cannot be used"),
    EkCertRequired = (400, "ek-cert-required", "A TPM host enrolls with its EK certificate (base64url DER)"),
    InvalidWorkload = (400, "invalid-workload", "The workload description must be a JSON object"),
    InvalidVolume = (400, "invalid-volume", "The volume is not valid"),
    InvalidInstance = (400, "invalid-instance", "The instance is not valid"),
    InvalidTtl = (400, "invalid-ttl", "ttl_seconds is more than ten years"),
    // Credentials.
    Unauthorized = (401, "unauthorized", "A valid bearer token is required"),
    JoinTokenInvalid = (403, "join-token-invalid", "The join token is unknown, used or expired"),
    // Proofs of possession and freshness.
    EnrollmentSignatureInvalid = (403, "enrollment-signature-invalid", "The enrollment is not signed by its hardware key"),
    EkCertUntrusted = (403, "ek-cert-untrusted", "The EK certificate does not chain to a trusted TPM manufacturer"),
    EkCertIsCa = (403, "ek-cert-is-ca", "The EK certificate is a CA certificate"),
    EkCertKeyUsage = (403, "ek-cert-key-usage", "The EK certificate's key usage is not an endorsement key's"),
    EkCertPurpose = (403, "ek-cert-purpose", "The EK certificate's extended key usage lacks the TCG EK certificate purpose"),
    EkCertNoTpm = (403, "ek-cert-no-tpm", "The EK certificate does not name a TPM manufacturer, model and version"),
    ActivationFailed = (403, "activation-failed", "No open credential challenge for this host matches the secret"),
    NonceExpired = (403, "nonce-expired", "The challenge nonce has expired"),
    NonceUnknown = (403, "nonce-unknown", "The challenge nonce is unknown"),
    EvidenceSignatureInvalid = (403, "evidence-signature-invalid", "The evidence is not signed by the host's hardware key"),
    CompletionSignatureInvalid = (403, "completion-signature-invalid", "The completion is not signed by the host's hardware key"),
    // The host and what its evidence shows.
    UnknownHost = (403, "unknown-host", "No host with this id is enrolled"),
    HostPending = (403, "host-pending", "The host awaits operator approval"),
    HostQuarantined = (403, "host-quarantined", "The host is quarantined"),
    HostRevoked = (403, "host-revoked", "The host is revoked"),
    ImmutableComponentChanged = (403, "immutable-component-changed", "An immutable hardware component changed"),
    ComponentDrift = (403, "component-drift", "Hardware components changed"),
    PcrMismatch = (403, "pcr-mismatch", "A quoted PCR is not one of its reference values"),
    TamperDetected = (403, "tamper-detected", "A tamper sensor of the host was tripped"),
    // Tokens presented to the key broker and the ERoT generator.
    PatExpired = (403, "pat-expired", "The PAT has expired"),
    PatNotYetValid = (403, "pat-not-yet-valid", "The PAT is not valid yet"),
    PatInvalid = (403, "pat-invalid", "The PAT is not valid"),
    SecurityTokenExpired = (403, "security-token-expired", "The security token has expired"),
    SecurityTokenNotYetValid = (403, "security-token-not-yet-valid", "The security token is not valid yet"),
    SecurityTokenUntrustedIssuer = (403, "security-token-untrusted-issuer", "The security token's issuer is not trusted"),
    SecurityTokenInvalid = (403, "security-token-invalid", "The security token is not valid"),
    SecurityTokenRevoked = (403, "security-token-revoked", "The security token's instance was revoked or moved since it was issued"),
    HostMismatch = (403, "host-mismatch", "The PAT and the security token name different hosts"),
    TokenBindingMismatch = (403, "token-binding-mismatch", "The PAT is not bound to this security token"),
    VolumeNotAuthorized = (403, "volume-not-authorized", "The security token does not grant this volume"),
    CnfKeyInvalid = (403, "cnf-key-invalid", "The PAT's cnf key is not a valid X25519 key"),
    ReceiptInvalid = (403, "receipt-invalid", "The receipt is not valid for this ERoT"),
    ErotHostMismatch = (403, "erot-host-mismatch", "The ERoT belongs to another host"),
    CompletionInvalid = (403, "completion-invalid", "The completion names another ERoT or host"),
    // Resources and their states.
    NotFound = (404, "not-found", "No such resource"),
    ProofOutOfRange = (404, "proof-out-of-range", "The log holds no such proof (sizes and index beyond the tree)"),
    MethodNotAllowed = (405, "method-not-allowed", "Method not allowed here"),
    RequestTimeout = (408, "request-timeout", "The request was not received and answered in time"),
    InvalidTransition = (409, "invalid-transition", "The host's status does not allow this"),
    ActivationPending = (409, "activation-pending", "The TPM host has not yet proven its attestation key is in its TPM"),
    TamperUncleared = (409, "tamper-uncleared", "The host was quarantined for tamper: clear it after inspection first"),
    HostStatusChanged = (409, "host-status-changed", "The host's status changed during attestation"),
    VolumeExists = (409, "volume-exists", "A volume with this id exists (its key is never replaced)"),
    ErotGone = (410, "erot-gone", "The ERoT is no longer active"),
    ErotExpired = (410, "erot-expired", "The ERoT has expired"),
    RequestTooLarge = (413, "request-too-large", "The request body is too large"),
    UnsupportedMediaType = (415, "unsupported-media-type", "Send application/json"),
    // The server's own parts.
    SigningUnavailable = (503, "signing-unavailable", "The signing key is unavailable"),
    StorageUnavailable = (503, "storage-unavailable", "The registry is unavailable"),
    LogInconsistent = (503, "log-inconsistent", "The transparency log no longer matches its signed checkpoint; nothing more is signed until an operator looks"),
    PendingHostsFull = (503, "pending-hosts-full", "Too many hosts await approval"),
    SecurityTokenIssuerStale = (503, "security-token-issuer-stale", "The keys of the security token's issuer could not be refreshed lately"),
}

impl Refusal {
    /// The refusal a problem `type` names, if it is one of Cairn's.
    pub fn from_type(kind: &str) -> Option<Refusal> {
        let slug = kind.strip_prefix(TYPE_PREFIX)?;
        Self::ALL.iter().copied().find(|r| r.slug() == slug)
    }

    /// The problem document for this refusal.
    pub fn problem(self, detail: Option<String>) -> Problem {
        Problem {
            kind: format!("{TYPE_PREFIX}{}", self.slug()),
            title: self.title().into(),
            status: self.status(),
            detail,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.slug())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for &refusal in Refusal::ALL {
            assert!(seen.insert(refusal.slug()), "{refusal} twice");
            let problem = refusal.problem(None);
            assert_eq!(Refusal::from_type(&problem.kind), Some(refusal));
            assert_eq!(problem.slug(), refusal.slug());
            assert!((400..600).contains(&refusal.status()));
        }
        assert_eq!(Refusal::from_type("urn:cairn:problem:no-such"), None);
    }

    /// docs/problems.md lists every refusal, each with its status, and nothing else.
    #[test]
    fn the_problems_document_lists_every_refusal() {
        let doc = include_str!("../../../docs/problems.md");
        let listed: Vec<(&str, u16)> = doc
            .lines()
            .filter_map(|line| {
                let mut cells = line.strip_prefix("| `")?.split('|');
                let slug = cells.next()?.trim().strip_suffix('`')?;
                let status = cells.next()?.trim().parse().ok()?;
                Some((slug, status))
            })
            .collect();
        let expected: Vec<(&str, u16)> = Refusal::ALL
            .iter()
            .map(|r| (r.slug(), r.status()))
            .collect();
        assert_eq!(listed, expected);
    }
}
