//! Flow 1: enrollment, and the admin API over the host registry.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_proto::api::{EnrollResponse, HostStatus, HostView};
use cairn_proto::{Enrollment, HostId, Signed};
use cairn_store::{Enrolled, HostRecord, NewHost, Transition};

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
    consume_nonce(state, &enrollment.nonce).await?;

    let join_hash = enrollment.join_token.as_deref().map(token_hash);
    let new = NewHost {
        name: enrollment.name.clone(),
        hk: enrollment.hk.clone(),
        report: enrollment.report.clone(),
        activation: None,
    };
    match state
        .store
        .enroll_host(new, join_hash.as_deref(), clock::now())
        .await?
    {
        Enrolled::Created(host) => {
            tracing::info!(host = %host.host_id, status = %host.status, "host enrolled");
            Ok((
                StatusCode::CREATED,
                Json(EnrollResponse {
                    host_id: host.host_id,
                    status: host.status,
                }),
            ))
        }
        Enrolled::Existing(host) => Ok((
            StatusCode::OK,
            Json(EnrollResponse {
                host_id: host.host_id,
                status: host.status,
            }),
        )),
        Enrolled::JoinTokenRejected => Err(ApiError::forbidden(
            "join-token-invalid",
            "The join token is unknown, used or expired",
        )),
    }
}

fn view(host: HostRecord) -> HostView {
    HostView {
        host_id: host.host_id,
        name: host.name,
        status: host.status,
        hk: host.hk,
        fingerprint: host.fingerprint,
        report: host.report,
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
    Ok(Json(
        state.store.hosts().await?.into_iter().map(view).collect(),
    ))
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
        ..view(host)
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
            Ok(Json(view(host)))
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
