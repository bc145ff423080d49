//! The issuer role (flow 3, step 1): the control plane places an instance on a host and gets
//! the instance's security token.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_log::Event;
use cairn_proto::InstanceId;
use cairn_proto::Refusal;
use cairn_proto::api::{InstanceRequest, InstanceResponse, check_id};
use cairn_store::InstanceRecord;
use cairn_token::{Claims, SecurityToken, Validity};

use crate::auth::Admin;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body, Id, WithDetail};
use crate::{AppState, clock};

refusals!(CreateInstanceRefusals: BODY, BEARER, STORE, SIGNING, LOGGED; InvalidInstance, UnknownHost, NotFound);

/// Places an instance on a host with its volumes; answered with its security token.
#[utoipa::path(post, path = "/v1/instances", tag = "issuer", operation_id = "createInstance",
    security(("admin" = [])),
    request_body = InstanceRequest,
    responses((status = 201, description = "The instance's security token", body = InstanceResponse), CreateInstanceRefusals))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Body(req): Body<InstanceRequest>,
) -> Result<(StatusCode, Json<InstanceResponse>), ApiError> {
    let invalid = |e: String| Refusal::InvalidInstance.with(e);
    let instance_id: InstanceId = req.instance_id.parse().map_err(invalid)?;
    if req.volume_ids.is_empty() {
        return Err(invalid("volume_ids is empty".into()));
    }
    for id in &req.volume_ids {
        check_id("volume", id).map_err(invalid)?;
    }
    // A placement on a host or with a volume Cairn does not know is a control-plane bug;
    // saying so now beats a refusal at boot.
    super::known_host(&state, &req.host_id).await?;
    for id in &req.volume_ids {
        if state.store.volume(id).await?.is_none() {
            return Err(ApiError::not_found("No volume with this id").detail(id.clone()));
        }
    }
    let now = clock::now();
    let record = InstanceRecord {
        instance_id: req.instance_id.clone(),
        host_id: req.host_id.clone(),
        volume_ids: req.volume_ids.clone(),
        image_digest: req.image_digest.clone(),
    };
    // Signed before anything is stored: a key store that fails changes nothing.
    let body = SecurityToken {
        host_id: req.host_id,
        volume_ids: req.volume_ids,
        image_digest: req.image_digest,
    };
    let validity = Validity::for_ttl(now, state.config.security_token_ttl);
    let issued = state
        .security_token_signer
        .issue(&state.issuer, instance_id, validity, body)
        .map_err(|e| ApiError::signing_unavailable(&e))?;
    let Claims { registered, body } = issued.claims;
    let created = Event::InstanceCreated {
        instance_id: registered.sub.to_string(),
        host_id: body.host_id,
        volumes: body.volume_ids,
        by: admin.id(),
    };
    let entry = state.log.prepare(created, None)?;
    state.store.upsert_instance(&record, now, &entry).await?;
    Ok((
        StatusCode::CREATED,
        Json(InstanceResponse {
            security_token: issued.token,
            expires_at: registered.exp.datetime(),
        }),
    ))
}

refusals!(RevokeInstanceRefusals: BEARER, STORE, LOGGED; NotFound);

/// Revokes an instance: the key broker refuses every security token issued for it until
/// now, from the next request on, on every replica. Placing it again issues tokens that
/// count; the revoked ones never count again.
#[utoipa::path(post, path = "/v1/instances/{instance_id}/revoke", tag = "issuer", operation_id = "revokeInstance",
    security(("admin" = [])),
    params(("instance_id" = InstanceId, Path, description = "The instance")),
    responses((status = 204, description = "Revoked"), RevokeInstanceRefusals))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Id(id): Id<InstanceId>,
) -> Result<StatusCode, ApiError> {
    let revoked = Event::InstanceRevoked {
        instance_id: id.to_string(),
        by: admin.id(),
    };
    let entry = state.log.prepare(revoked, None)?;
    match state
        .store
        .revoke_instance(id.as_str(), clock::now(), &entry)
        .await?
    {
        true => {
            tracing::info!(instance = %id, "instance revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        false => Err(ApiError::not_found("No instance with this id")),
    }
}
