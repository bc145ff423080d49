//! Flow 1: enrollment, and the admin API over the host registry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_proto::api::{
    ActivationRequest, CredentialChallenge, EnrollResponse, HostStatus, HostView,
};
use cairn_proto::{Digest, Enrollment, HkAlg, HostId, Signed};
use cairn_store::{Activation, Enrolled, HostRecord, NewHost, Transition};

use super::attest::consume_nonce;
use crate::auth::Admin;
use crate::metrics::Metrics;
use crate::problem::{ApiError, Body};
use crate::{AppState, clock, token_hash};

pub async fn enroll(
    State(state): State<AppState>,
    Body(signed): Body<Signed<Enrollment>>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let outcome = register(&state, signed).await;
    let label = match &outcome {
        Ok((StatusCode::CREATED, _)) => "created",
        Ok(_) => "existing",
        Err(e) => e.slug,
    };
    Metrics::count(&state.metrics.enrollments, label);
    outcome
}

async fn register(
    state: &AppState,
    signed: Signed<Enrollment>,
) -> Result<(StatusCode, Json<EnrollResponse>), ApiError> {
    let enrollment = &signed.payload;
    enrollment.report.validate().map_err(|e| {
        ApiError::bad_request("invalid-report", "The hardware report is not canonical")
            .detail(e.to_string())
    })?;
    if enrollment.name.trim().is_empty() || enrollment.name.len() > 253 {
        return Err(ApiError::bad_request(
            "invalid-name",
            "A host name is 1 to 253 characters",
        ));
    }
    enrollment.hk.validate().map_err(|e| {
        ApiError::bad_request(
            "unsupported-hardware-key",
            "The hardware key cannot be used",
        )
        .detail(e.to_string())
    })?;
    // Proof of possession: the enrollment is signed by the key it registers.
    signed.verify(&enrollment.hk).map_err(|e| {
        ApiError::forbidden(
            "enrollment-signature-invalid",
            "The enrollment is not signed by its hardware key",
        )
        .detail(e.to_string())
    })?;
    let challenge = match enrollment.hk.alg {
        HkAlg::TPM2 => Some(tpm_challenge(state, enrollment)?),
        _ => None,
    };
    consume_nonce(state, &enrollment.nonce).await?;

    let join_hash = enrollment.join_token.as_deref().map(token_hash);
    let new = NewHost {
        name: enrollment.name.clone(),
        hk: enrollment.hk.clone(),
        report: enrollment.report.clone(),
        activation: challenge.as_ref().map(|(activation, _)| activation.clone()),
    };
    let enrolled = state
        .store
        .enroll_host(new, join_hash.as_deref(), clock::now())
        .await?;
    let code = match &enrolled {
        Enrolled::Created(host) => {
            tracing::info!(host = %host.host_id, status = %host.status, "host enrolled");
            StatusCode::CREATED
        }
        Enrolled::Existing(_) => StatusCode::OK,
        Enrolled::JoinTokenRejected => {
            return Err(ApiError::forbidden(
                "join-token-invalid",
                "The join token is unknown, used or expired",
            ));
        }
    };
    let host = enrolled.host().expect("created or existing");
    // The challenge goes out only while one is open (a host that answered already has none).
    let credential = match challenge {
        Some((_, credential)) if state.store.activation_pending(&host.host_id).await? => {
            Some(credential)
        }
        _ => None,
    };
    Ok((
        code,
        Json(EnrollResponse {
            host_id: host.host_id.clone(),
            status: host.status,
            credential,
        }),
    ))
}

/// A TPM host's EK certificate checked against the manufacturer CAs, and a credential
/// challenge sealed to that EK for the AK being enrolled: only the TPM holding both can
/// answer it (DESIGN.md flow 1, step 3).
fn tpm_challenge(
    state: &AppState,
    enrollment: &Enrollment,
) -> Result<(Activation, CredentialChallenge), ApiError> {
    let ek_cert = enrollment
        .ek_cert
        .as_deref()
        .and_then(|c| cairn_proto::b64::decode(c).ok())
        .ok_or_else(|| {
            ApiError::bad_request(
                "ek-cert-required",
                "A TPM host enrolls with its EK certificate (base64url DER)",
            )
        })?;
    let untrusted = |e: cairn_tpm::TpmError| {
        ApiError::forbidden(
            "ek-cert-untrusted",
            "The EK certificate does not chain to a trusted TPM manufacturer",
        )
        .detail(e.to_string())
    };
    let (ek, chains) = match state.ek_anchors.is_empty() {
        true => (
            cairn_tpm::ek_certificate_key(&ek_cert).map_err(untrusted)?,
            false,
        ),
        false => (
            cairn_tpm::verify_ek_certificate(&ek_cert, &state.ek_anchors, clock::now() as u64)
                .map_err(untrusted)?,
            true,
        ),
    };
    let ak = cairn_tpm::AkPublic::parse(&enrollment.hk.public_key).map_err(|e| {
        ApiError::bad_request(
            "unsupported-hardware-key",
            "The hardware key cannot be used",
        )
        .detail(e.to_string())
    })?;
    let secret = zeroize::Zeroizing::new(cairn_proto::random_bytes::<32>());
    let made = cairn_tpm::make_credential(&ek, &ak.name, &secret[..]).map_err(untrusted)?;
    let grants = match chains && state.config.ek_auto_approve {
        true => HostStatus::Active,
        false => HostStatus::Pending,
    };
    Ok((
        Activation {
            secret_digest: Digest::sha256(&secret[..]).hex(),
            grants,
        },
        CredentialChallenge {
            id_object: made.id_object,
            encrypted_secret: made.encrypted_secret,
        },
    ))
}

/// `POST /v1/hosts/{id}/activation`: the TPM host shows the secret only its TPM could
/// recover. The secret is single-use; a wrong one changes nothing.
pub async fn activate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ActivationRequest>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let id = parse_id(&id)?;
    let digest = Digest::sha256(&req.secret.0[..]).hex();
    match state
        .store
        .activate_host(&id, &digest, clock::now())
        .await?
    {
        Some(host) => {
            tracing::info!(host = %host.host_id, status = %host.status, "TPM credential activated");
            Ok(Json(EnrollResponse {
                host_id: host.host_id.clone(),
                status: host.status,
                credential: None,
            }))
        }
        None => Err(ApiError::forbidden(
            "activation-failed",
            "No open credential challenge for this host matches the secret",
        )),
    }
}

fn view(host: &HostRecord) -> HostView {
    HostView {
        host_id: host.host_id.clone(),
        name: host.name.clone(),
        status: host.status,
        hk: host.hk.clone(),
        fingerprint: host.fingerprint,
        report: host.report.clone(),
        created_at: clock::datetime(host.created_at),
        updated_at: clock::datetime(host.updated_at),
        history: vec![],
    }
}

fn parse_id(raw: &str) -> Result<HostId, ApiError> {
    raw.parse().map_err(|e: String| {
        ApiError::bad_request("invalid-host-id", "Malformed host id").detail(e)
    })
}

pub async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<HostView>>, ApiError> {
    Ok(Json(state.store.hosts().await?.iter().map(view).collect()))
}

pub async fn show(
    State(state): State<AppState>,
    _: Admin,
    Path(id): Path<String>,
) -> Result<Json<HostView>, ApiError> {
    let id = parse_id(&id)?;
    let host = state
        .store
        .host(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such host"))?;
    let history = state.store.history(&id).await?;
    Ok(Json(HostView {
        history,
        ..view(&host)
    }))
}

/// `approve`, `revoke`, `quarantine` and `rotate`, each a transition between host states.
pub async fn act(
    State(state): State<AppState>,
    _: Admin,
    Path((id, action)): Path<(String, String)>,
) -> Result<Json<HostView>, ApiError> {
    use HostStatus::*;
    let (from, to): (&[HostStatus], HostStatus) = match action.as_str() {
        "approve" => (&[Pending, Quarantined], Active),
        "revoke" => (&[Pending, Active, Maintenance, Quarantined], Revoked),
        "quarantine" => (&[Pending, Active, Maintenance], Quarantined),
        // Opens the maintenance window: the next attestation's fingerprint is accepted.
        "rotate" => (&[Active, Quarantined], Maintenance),
        _ => return Err(ApiError::not_found("No such host action")),
    };
    let id = parse_id(&id)?;
    match state.store.transition(&id, from, to, clock::now()).await? {
        Transition::Done(host) => {
            tracing::info!(host = %host.host_id, %action, status = %host.status, "host status changed");
            Ok(Json(view(&host)))
        }
        Transition::NotFound => Err(ApiError::not_found("No such host")),
        Transition::AwaitingActivation => Err(ApiError::new(
            StatusCode::CONFLICT,
            "activation-pending",
            "The TPM host has not yet proven its attestation key is in its TPM",
        )),
        Transition::Conflict(current) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid-transition",
            "The host's status does not allow this",
        )
        .detail(format!("cannot {action} a {current} host"))),
    }
}
