//! Flow 2: challenge → signed evidence → physical attestation token.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use cairn_proto::api::{AttestResponse, Challenge, HostStatus};
use cairn_proto::{Evidence, HkAlg, HostId, Nonce, Signature, Signed, b64, drift, random_bytes};
use cairn_store::{NonceState, Transition};
use cairn_token::Jwk;
use cairn_token::pat::{Confirmation, PAT_AUDIENCE, PAT_TYP, PatClaims, PatStatus};

use crate::metrics::Metrics;
use crate::pcr_reference::OnMismatch;
use crate::problem::{ApiError, Body};
use crate::{AppState, clock};

pub async fn challenge(State(state): State<AppState>) -> Result<Json<Challenge>, ApiError> {
    let nonce = Nonce::random();
    let expires_at = clock::now() + state.config.nonce_ttl.as_secs() as i64;
    state.store.insert_nonce(&nonce, expires_at).await?;
    state.metrics.challenges.inc();
    Ok(Json(Challenge {
        nonce,
        expires_at: clock::datetime(expires_at),
    }))
}

/// Consumes a challenge nonce, or says why it cannot be used.
pub async fn consume_nonce(state: &AppState, nonce: &Nonce) -> Result<(), ApiError> {
    match state.store.consume_nonce(nonce, clock::now()).await? {
        NonceState::Fresh => Ok(()),
        NonceState::Expired => Err(ApiError::forbidden(
            "nonce-expired",
            "The challenge nonce has expired",
        )),
        NonceState::Unknown => Err(ApiError::forbidden(
            "nonce-unknown",
            "The challenge nonce is unknown",
        )
        .detail("it was never issued by this service, or it was already used")),
    }
}

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
        Err(e) => e.slug,
    };
    Metrics::count(&state.metrics.attestations, label);
    outcome.map(|(pat, _)| Json(AttestResponse { pat }))
}

/// Every check of DESIGN.md flow 2 step 3, cheapest refusals first; the nonce is consumed
/// only after the signature verifies, so nobody without the key can burn a host's nonce.
async fn issue_pat(
    state: &AppState,
    signed: &Signed<Evidence>,
) -> Result<(String, PatStatus), ApiError> {
    let evidence = &signed.payload;
    evidence.report.validate().map_err(|e| {
        ApiError::bad_request("invalid-report", "The hardware report is not canonical")
            .detail(e.to_string())
    })?;
    let host =
        state.store.host(&evidence.host_id).await?.ok_or_else(|| {
            ApiError::forbidden("unknown-host", "No host with this id is enrolled")
        })?;
    refuse_unless_may_attest(host.status)?;
    signed.verify(&host.hk).map_err(|e| {
        ApiError::forbidden(
            "evidence-signature-invalid",
            "The evidence is not signed by the host's hardware key",
        )
        .detail(e.to_string())
    })?;
    consume_nonce(state, &evidence.nonce).await?;
    let pcr_drift = check_pcrs(state, &host.host_id, &signed.signature)?;

    let now = clock::now();
    let fingerprint = evidence.report.fingerprint();
    // Equal fingerprints mean equal canonical component lists: no per-component work.
    let drift = if fingerprint == host.fingerprint {
        drift::Drift::default()
    } else {
        drift::compare(&host.report, &evidence.report)
    };
    let (status, drifted) = if drift.is_empty() {
        (PatStatus::Affirming, vec![])
    } else if host.status == HostStatus::Maintenance {
        // The rotation window: this attestation's hardware becomes the registered one.
        if !state
            .store
            .accept_fingerprint(&host.host_id, &evidence.report, "rotated", now)
            .await?
        {
            return Err(status_changed());
        }
        tracing::info!(host = %host.host_id, changed = ?drift.changed, "fingerprint rotated");
        (PatStatus::Affirming, vec![])
    } else if drift.immutable {
        // A different board, CPU or TPM answering with this host's key: tamper.
        if let Transition::Done(_) = state
            .store
            .transition(
                &host.host_id,
                &[HostStatus::Active],
                HostStatus::Quarantined,
                now,
            )
            .await?
        {
            tracing::warn!(host = %host.host_id, changed = ?drift.changed, "host quarantined: immutable component changed");
        }
        return Err(ApiError::forbidden(
            "immutable-component-changed",
            "An immutable hardware component changed",
        )
        .detail(format!(
            "changed: {}; the host is quarantined",
            drift.changed.join(", ")
        )));
    } else if state.config.strict_drift {
        return Err(
            ApiError::forbidden("component-drift", "Hardware components changed")
                .detail(format!("changed: {}", drift.changed.join(", "))),
        );
    } else {
        (PatStatus::Warning, drift.changed)
    };

    let (status, drifted) = match pcr_drift.is_empty() {
        true => (status, drifted),
        false => (PatStatus::Warning, [drifted, pcr_drift].concat()),
    };
    let claims = PatClaims {
        iss: state.issuer.to_string(),
        sub: host.host_id.clone(),
        aud: PAT_AUDIENCE.into(),
        iat: now as u64,
        nbf: now as u64,
        exp: (now as u64) + state.config.pat_ttl.as_secs(),
        jti: b64::encode(random_bytes::<16>()),
        hwfp: fingerprint,
        cnf: Confirmation {
            jwk: Jwk::okp("X25519", &evidence.instance_key),
        },
        tkd: evidence.security_token_digest,
        status,
        drift: drifted,
    };
    let pat = cairn_token::jws::encode(state.pat_signer.as_ref(), PAT_TYP, &claims)
        .map_err(|e| ApiError::signing_unavailable(&e))?;
    Ok((pat, status))
}

/// A TPM host's quoted PCRs against `--pcr-reference`: the PCRs off their lists, as `pcr:N`
/// drift entries when mismatches only warn; a refusal when they refuse.
fn check_pcrs(
    state: &AppState,
    host: &HostId,
    signature: &Signature,
) -> Result<Vec<String>, ApiError> {
    let (Some(reference), HkAlg::TPM2) = (&state.pcr_reference, signature.alg) else {
        return Ok(vec![]);
    };
    // The signature verified, so the values are well formed and are the quoted ones.
    let values = signature.pcr_values().map_err(|e| {
        ApiError::bad_request("invalid-pcrs", "Malformed PCR values").detail(e.to_string())
    })?;
    let off = cairn_tpm::check_reference(&values, &reference.for_host(host));
    if off.is_empty() {
        return Ok(vec![]);
    }
    let names: Vec<String> = off.iter().map(|i| format!("pcr:{i}")).collect();
    match reference.on_mismatch {
        OnMismatch::Warn => Ok(names),
        OnMismatch::Refuse => Err(ApiError::forbidden(
            "pcr-mismatch",
            "A quoted PCR is not one of its reference values",
        )
        .detail(format!("off the reference list: {}", names.join(", ")))),
    }
}

fn status_changed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "host-status-changed",
        "The host's status changed during attestation",
    )
}

pub fn refuse_unless_may_attest(status: HostStatus) -> Result<(), ApiError> {
    match status {
        s if s.may_attest() => Ok(()),
        HostStatus::Pending => Err(ApiError::forbidden(
            "host-pending",
            "The host awaits operator approval",
        )),
        HostStatus::Quarantined => Err(ApiError::forbidden(
            "host-quarantined",
            "The host is quarantined",
        )),
        _ => Err(ApiError::forbidden("host-revoked", "The host is revoked")),
    }
}

/// Once a minute: expired challenges nobody consumed are deleted, and ERoTs past their
/// expiry are marked expired (release checks expiry itself; this keeps the state true).
pub async fn prune_nonces_forever(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        if let Err(e) = state.store.prune_nonces(clock::now()).await {
            tracing::warn!(error = %e, "pruning expired nonces failed");
        }
        if let Err(e) = state.store.expire_erots(clock::now()).await {
            tracing::warn!(error = %e, "expiring ERoTs failed");
        }
    }
}
