//! Flow 2: challenge → signed evidence → physical attestation token.

use axum::Json;
use axum::extract::State;
use cairn_log::{Event, HostChanged};
use cairn_proto::api::{AttestResponse, Challenge};
use cairn_proto::lifecycle::{self, HostChange, Verdict};
use cairn_proto::nonce::ChallengeError;
use cairn_proto::{Evidence, HkAlg, HostId, HostStatus, Nonce, Refusal, Signature, Signed, drift};
use cairn_store::Transition;
use cairn_token::Jwk;
use cairn_token::claims::{self, Claims, Validity};
use cairn_token::pat::{Confirmation, PatClaims, PatStatus};

use crate::metrics::Metrics;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body, WithDetail};
use crate::{AppState, clock};

/// A signed evidence, as `#[utoipa::path]` names its schema.
type SignedEvidence = Signed<Evidence>;

refusals!(ChallengeRefusals:;);

/// A fresh single-use nonce for an enrollment or an attestation. Nothing is stored: the
/// nonce carries its expiry under the deployment's MAC (`cairn_proto::nonce`).
#[utoipa::path(post, path = "/v1/attest/challenge", tag = "attestation", operation_id = "challenge",
    responses((status = 200, description = "A nonce, valid until `expires_at`", body = Challenge), ChallengeRefusals))]
pub async fn challenge(State(state): State<AppState>) -> Json<Challenge> {
    let expires_at = clock::now() + state.config.nonce_ttl.as_secs() as i64;
    state.metrics.challenges.inc();
    Json(Challenge {
        nonce: state.challenges.issue(expires_at),
        expires_at: clock::datetime(expires_at),
    })
}

/// Uses a challenge nonce up, or says why it cannot be used: not made here, expired, or
/// used already (on any replica).
pub async fn consume_nonce(state: &AppState, nonce: &Nonce) -> Result<(), ApiError> {
    let expires_at = check_nonce(state, nonce)?;
    first_use(state.store.use_nonce(nonce, expires_at).await?)
}

/// The expiry of a nonce this service made, unless it has passed.
fn check_nonce(state: &AppState, nonce: &Nonce) -> Result<i64, ApiError> {
    state
        .challenges
        .check(nonce, clock::now())
        .map_err(|e| match e {
            ChallengeError::Expired => ApiError::from(Refusal::NonceExpired),
            ChallengeError::Unknown => {
                Refusal::NonceUnknown.with("it was never issued by this service")
            }
        })
}

/// Logs the status change an attestation made to its host, with the fingerprint it presented
/// (and the tamper sensors it showed tripped).
async fn log_change(
    state: &AppState,
    evidence: &Evidence,
    (change, from, to): (HostChange, HostStatus, HostStatus),
    sensors: Vec<String>,
) -> Result<(), ApiError> {
    let details = HostChanged {
        host_id: evidence.host_id.clone(),
        from,
        to,
        by: None,
        fingerprint: Some(evidence.report.fingerprint()),
        sensors,
    };
    let event = Event::host_changed(change, details);
    state.log.record(event, None).map(drop)
}

fn first_use(first: bool) -> Result<(), ApiError> {
    match first {
        true => Ok(()),
        false => Err(Refusal::NonceUnknown.with("it was already used")),
    }
}

refusals!(AttestRefusals: BODY, STORE, ADMITTED, SIGNING, LOGGED;
    EvidenceSignatureInvalid, InvalidReport, NonceExpired, NonceUnknown, HostStatusChanged,
    ImmutableComponentChanged, ComponentDrift, PcrMismatch, TamperDetected);

/// Signed evidence for a challenge nonce, answered with a PAT.
#[utoipa::path(post, path = "/v1/attest", tag = "attestation", operation_id = "attest",
    request_body = SignedEvidence,
    responses((status = 200, description = "The physical attestation token", body = AttestResponse), AttestRefusals))]
pub async fn attest(
    State(state): State<AppState>,
    Body(signed): Body<Signed<Evidence>>,
) -> Result<Json<AttestResponse>, ApiError> {
    let outcome = issue_pat(&state, &signed).await;
    let label = match &outcome {
        Ok((_, status)) => match status {
            PatStatus::Affirming => "affirming",
            PatStatus::Warning => "warning",
        },
        Err(e) => e.refusal.slug(),
    };
    Metrics::count(&state.metrics.attestations, label);
    outcome.map(|(pat, _)| Json(AttestResponse { pat }))
}

/// Every check of DESIGN.md flow 2 step 3. The evidence is read only once its signature
/// verifies, and the nonce is used up only then: nobody without the key can burn a host's
/// nonce or make the server remember anything. The host's state is read as its nonce is
/// used, in one database round trip (its key needs none after the first).
async fn issue_pat(
    state: &AppState,
    signed: &Signed<Evidence>,
) -> Result<(String, PatStatus), ApiError> {
    let evidence = &signed.payload;
    let host_id = &evidence.host_id;
    let hk = state
        .store
        .hardware_key(host_id)
        .await?
        .ok_or(Refusal::UnknownHost)?;
    signed
        .verify(&hk)
        .map_err(|e| Refusal::EvidenceSignatureInvalid.with(e.to_string()))?;
    evidence
        .report
        .validate()
        .map_err(|e| Refusal::InvalidReport.with(e.to_string()))?;
    let expires_at = check_nonce(state, &evidence.nonce)?;
    let (host, first) = state
        .store
        .use_nonce_reading_host(&evidence.nonce, expires_at, host_id)
        .await?
        .ok_or(Refusal::UnknownHost)?;
    // Only the host itself learns its status.
    host.status.admit()?;
    first_use(first)?;
    let pcrs_off = pcrs_off(state, host_id, &signed.signature)?;
    let fingerprint = evidence.report.fingerprint();
    // Equal fingerprints mean equal canonical component lists: no per-component work (and a
    // registered report never holds a tripped sensor: those are refused before they are).
    let (drift, missing) = match fingerprint == host.fingerprint {
        true => (drift::Drift::default(), vec![]),
        false => {
            let registered = state
                .store
                .registered_report(host_id, &host.fingerprint)
                .await?;
            let missing = evidence.report.missing_sensors(&registered);
            (drift::compare(&registered, &evidence.report), missing)
        }
    };
    let sensors = lifecycle::Sensors {
        tripped: evidence.report.tripped_sensors(),
        missing,
    };
    let policy = lifecycle::Policy {
        strict_drift: state.config.strict_drift,
        on_pcr_mismatch: state
            .pcr_reference
            .as_ref()
            .map(|r| r.on_mismatch)
            .unwrap_or_default(),
    };

    let now = clock::now();
    let verdict = lifecycle::judge(host.status, sensors, drift, &pcrs_off, policy);
    let (status, drifted) = match verdict {
        Verdict::Affirm => (PatStatus::Affirming, vec![]),
        Verdict::Warn(drifted) => (PatStatus::Warning, drifted),
        Verdict::Rotate { warn } => {
            // The rotation window: this attestation's hardware becomes the registered one.
            let to = host
                .status
                .apply(HostChange::Rotated)
                .map_err(|conflict| Refusal::HostStatusChanged.with(conflict.to_string()))?;
            if !state
                .store
                .accept_fingerprint(host_id, &evidence.report, (host.status, to), "rotated", now)
                .await?
            {
                return Err(Refusal::HostStatusChanged.into());
            }
            tracing::info!(host = %host_id, "fingerprint rotated");
            let change = (HostChange::Rotated, host.status, to);
            log_change(state, evidence, change, vec![]).await?;
            match warn.is_empty() {
                true => (PatStatus::Affirming, warn),
                false => (PatStatus::Warning, warn),
            }
        }
        Verdict::Quarantine(changed) => {
            if let Ok(to) = host.status.apply(HostChange::ImmutableDrift)
                && let Transition::Done(_) = state
                    .store
                    .transition(host_id, host.status, to, now)
                    .await?
            {
                tracing::warn!(host = %host_id, ?changed, "host quarantined: immutable component changed");
                let change = (HostChange::ImmutableDrift, host.status, to);
                log_change(state, evidence, change, vec![]).await?;
            }
            return Err(Refusal::ImmutableComponentChanged.with(format!(
                "changed: {}; the host is quarantined",
                changed.join(", ")
            )));
        }
        Verdict::Tamper(sensors) => {
            if let Ok(to) = host.status.apply(HostChange::Tamper)
                && let Transition::Done(_) = state
                    .store
                    .quarantine_for_tamper(host_id, host.status, &sensors, now)
                    .await?
            {
                tracing::warn!(host = %host_id, ?sensors, "host quarantined: tamper sensor tripped");
                let change = (HostChange::Tamper, host.status, to);
                log_change(state, evidence, change, sensors.clone()).await?;
            }
            return Err(Refusal::TamperDetected.with(format!(
                "tripped or gone silent: {}; the host is quarantined until an operator clears it",
                sensors.join(", ")
            )));
        }
        Verdict::Refuse(refusal, named) => {
            let detail = match refusal {
                Refusal::PcrMismatch => format!("off the reference list: {}", named.join(", ")),
                _ if named.is_empty() => return Err(refusal.into()),
                _ => format!("changed: {}", named.join(", ")),
            };
            return Err(refusal.with(detail));
        }
    };

    let Validity { iat, nbf, exp } = Validity::for_ttl(now, state.config.pat_ttl);
    let claims = PatClaims {
        iss: state.issuer.to_string(),
        sub: host_id.clone(),
        aud: PatClaims::AUDIENCE.into(),
        iat,
        nbf,
        exp,
        jti: claims::new_jti(),
        hwfp: fingerprint,
        cnf: Confirmation {
            jwk: Jwk::okp("X25519", &evidence.instance_key),
        },
        tkd: evidence.security_token_digest,
        status,
        drift: drifted,
    };
    let pat = state
        .pat_signer
        .sign(&claims)
        .map_err(|e| ApiError::signing_unavailable(&e))?;
    let issued = Event::PatIssued {
        host_id: claims.sub,
        jti: claims.jti,
        expires_at: exp as i64,
    };
    state.log.record(issued, None)?;
    Ok((pat, status))
}

/// A TPM host's quoted PCRs that are off their `--pcr-reference` lists (none without one).
fn pcrs_off(state: &AppState, host: &HostId, signature: &Signature) -> Result<Vec<u32>, ApiError> {
    let (Some(reference), HkAlg::TPM2) = (&state.pcr_reference, signature.alg) else {
        return Ok(vec![]);
    };
    // The quote verified over these values, so they parse (and are the quoted ones).
    let values = signature
        .pcr_values()
        .map_err(|e| Refusal::EvidenceSignatureInvalid.with(e.to_string()))?;
    Ok(cairn_tpm::check_reference(
        &values,
        &reference.for_host(host),
    ))
}
