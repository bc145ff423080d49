//! Flow 2: challenge → signed evidence → physical attestation token.

use axum::extract::State;
use axum::{Extension, Json};
use cairn_proto::api::{AttestResponse, Challenge};
use cairn_proto::{Evidence, Signed};
use cairn_token::pat::PatStatus;

use crate::metrics::Succeeded;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body};
use crate::{AppState, attestation, clock};

/// A signed evidence, as `#[utoipa::path]` names its schema.
type SignedEvidence = Signed<Evidence>;

refusals!(ChallengeRefusals:;);

/// A fresh single-use nonce for an enrollment or an attestation. Nothing is stored: the
/// nonce carries its expiry under the deployment's MAC (`cairn_proto::nonce`).
#[utoipa::path(post, path = "/v1/attest/challenge", tag = "attestation", operation_id = "challenge",
    responses((status = 200, description = "A nonce, valid until `expires_at`", body = Challenge), ChallengeRefusals))]
pub async fn challenge(State(state): State<AppState>) -> Json<Challenge> {
    let expires_at = clock::now().after(state.config.nonce_ttl);
    state.metrics.challenges.inc();
    Json(Challenge {
        nonce: state.challenges.issue(expires_at.secs()),
        expires_at: expires_at.datetime(),
    })
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
) -> Result<(Extension<Succeeded>, Json<AttestResponse>), ApiError> {
    let attested = attestation::attest(&state, &signed).await?;
    let status = match attested.status {
        PatStatus::Affirming => "affirming",
        PatStatus::Warning => "warning",
    };
    Ok((
        Extension(Succeeded(status)),
        Json(AttestResponse { pat: attested.pat }),
    ))
}
