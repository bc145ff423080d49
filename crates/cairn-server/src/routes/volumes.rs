//! The key broker (flow 3, step 3): volumes are registered with their key, which is kept
//! wrapped by the key store's KEK, and released only sealed to an attested instance's `cnf`
//! key, when its PAT and its security token both verify and agree.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use cairn_log::Event;
use cairn_proto::VolumeId;
use cairn_proto::api::{KeyRequest, VolumeRequest, VolumeView, check_id};
use cairn_proto::sealed::{self, VOLUME_KEY_INFO};
use cairn_proto::{Refusal, Sealed};
use cairn_store::VolumeRecord;
use cairn_token::binding;

use super::gate;
use crate::auth::Admin;
use crate::metrics::Succeeded;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body, Id, WithDetail};
use crate::{AppState, clock};

fn view(v: &VolumeRecord) -> VolumeView {
    VolumeView {
        volume_id: v.volume_id.clone(),
        format: v.format,
        kek_id: v.kek_id.clone(),
        created_at: clock::datetime(v.created_at),
    }
}

refusals!(CreateVolumeRefusals: BODY, BEARER, STORE, SIGNING; InvalidVolume, VolumeExists);

/// Registers a volume and its key (kept only wrapped by the key store's KEK).
#[utoipa::path(post, path = "/v1/volumes", tag = "key-broker", operation_id = "createVolume",
    security(("admin" = [])),
    request_body = VolumeRequest,
    responses(
        (status = 201, description = "Registered", body = VolumeView, links(
            ("key" = (operation_id = "releaseVolumeKey", parameters(("volume_id" = "$response.body#/volume_id")))),
        )),
        CreateVolumeRefusals,
    ))]
pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    Body(req): Body<VolumeRequest>,
) -> Result<(StatusCode, Json<VolumeView>), ApiError> {
    let invalid = |e: String| Refusal::InvalidVolume.with(e);
    check_id("volume", &req.volume_id).map_err(invalid)?;
    let kek = state.keys.volume_kek();
    let wrapped_key = kek
        .wrap(req.volume_id.as_bytes(), req.key.expose())
        .map_err(|e| ApiError::signing_unavailable(&e))?;
    let record = VolumeRecord {
        volume_id: req.volume_id,
        format: req.format,
        wrapped_key,
        kek_id: kek.id().into(),
        created_at: clock::now().secs(),
    };
    if !state.store.insert_volume(&record).await? {
        return Err(Refusal::VolumeExists.into());
    }
    tracing::info!(volume = %record.volume_id, kek = %record.kek_id, "volume registered");
    Ok((StatusCode::CREATED, Json(view(&record))))
}

refusals!(ListVolumesRefusals: BEARER, STORE;);

#[utoipa::path(get, path = "/v1/volumes", tag = "key-broker", operation_id = "listVolumes",
    security(("admin" = [])),
    responses((status = 200, description = "Every volume (never a key)", body = Vec<VolumeView>), ListVolumesRefusals))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<VolumeView>>, ApiError> {
    Ok(Json(
        state.store.volumes().await?.iter().map(view).collect(),
    ))
}

refusals!(ReleaseKeyRefusals: BODY, STORE, ADMITTED, SIGNING, LOGGED;
    PatExpired, PatNotYetValid, PatInvalid, SecurityTokenExpired, SecurityTokenNotYetValid,
    SecurityTokenUntrustedIssuer, SecurityTokenIssuerStale, SecurityTokenInvalid, SecurityTokenRevoked, HostMismatch, TokenBindingMismatch,
    VolumeNotAuthorized, CnfKeyInvalid, NotFound);

/// Releases a volume's key to an instance whose PAT and security token verify and agree.
#[utoipa::path(post, path = "/v1/volumes/{volume_id}/key", tag = "key-broker", operation_id = "releaseVolumeKey",
    params(("volume_id" = VolumeId, Path, description = "The volume")),
    request_body = KeyRequest,
    responses((status = 200, description = "The volume key, sealed to the PAT's `cnf` key", body = Sealed), ReleaseKeyRefusals))]
pub async fn release(
    State(state): State<AppState>,
    volume_id: Result<Id<VolumeId>, ApiError>,
    Body(req): Body<KeyRequest>,
) -> Result<(Extension<Succeeded>, Json<Sealed>), ApiError> {
    let sealed = release_key(&state, volume_id, &req).await?;
    Ok((Extension(Succeeded("released")), Json(sealed)))
}

/// Every check of DESIGN.md flow 3, step 3, tokens first: nothing about a volume (not even
/// whether it exists) is said to a caller without two valid, agreeing tokens.
async fn release_key(
    state: &AppState,
    volume_id: Result<Id<VolumeId>, ApiError>,
    req: &KeyRequest,
) -> Result<Sealed, ApiError> {
    let pat = gate::pat(state, &req.pat)?;
    let token = state
        .trusted_issuers()
        .verify(&req.security_token)
        .map_err(|e| gate::token_refusal(gate::Token::Security, e))?;
    let Id(volume_id) = volume_id?;
    let volume_id = volume_id.as_str();
    binding::check(&pat, &token, &req.security_token, volume_id).map_err(|e| {
        let refusal = match e {
            binding::Disagreement::Host { .. } => Refusal::HostMismatch,
            binding::Disagreement::Unbound | binding::Disagreement::OtherToken => {
                Refusal::TokenBindingMismatch
            }
            binding::Disagreement::Volume(_) => Refusal::VolumeNotAuthorized,
        };
        refusal.with(e.to_string())
    })?;
    let recipient = gate::recipient(&pat)?;
    // A token Cairn issued counts while its instance is where the token says, unrevoked
    // (external issuers withdraw their own tokens).
    if token.iss == *state.issuer {
        let placement = state.store.instance(&token.sub).await?;
        if !placement.is_some_and(|p| p.honours(&token.body.host_id, token.iat)) {
            return Err(Refusal::SecurityTokenRevoked
                .with("the instance was revoked or placed elsewhere since this token was issued"));
        }
    }
    gate::admitted(state, &pat.registered.sub).await?;
    let volume = state
        .store
        .volume(volume_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No volume with this id"))?;
    let kek = state.keys.volume_kek();
    if volume.kek_id != kek.id() {
        tracing::error!(volume = %volume_id, kek = %volume.kek_id, "volume key is wrapped by a key this key store does not hold");
        return Err(ApiError::signing_unavailable(&"unknown KEK"));
    }
    let key = kek
        .unwrap(volume_id.as_bytes(), &volume.wrapped_key)
        .map_err(|e| ApiError::signing_unavailable(&e))?;
    let sealed = sealed::seal(&recipient, VOLUME_KEY_INFO, volume_id.as_bytes(), &key)
        .map_err(|_| Refusal::CnfKeyInvalid)?;
    tracing::info!(volume = %volume_id, host = %pat.registered.sub, instance = %token.sub, "volume key released");
    let released = Event::VolumeReleased {
        volume_id: volume_id.to_string(),
        instance_id: token.sub.clone(),
        host_id: pat.registered.sub.clone(),
        pat_jti: pat.registered.jti.clone(),
    };
    state.log.record(released, None)?;
    Ok(sealed)
}
