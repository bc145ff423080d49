//! The key broker (flow 3, step 3): volumes are registered with their key, which is kept
//! wrapped by the key store's KEK, and released only sealed to an attested instance's `cnf`
//! key, when its PAT and its security token both verify and agree.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use cairn_proto::Sealed;
use cairn_proto::api::{KeyRequest, VolumeRequest, VolumeView, check_id};
use cairn_proto::sealed::{self, VOLUME_KEY_INFO};
use cairn_store::VolumeRecord;
use cairn_token::{TokenError, binding};

use super::attest::refuse_unless_may_attest;
use crate::auth::Admin;
use crate::metrics::Metrics;
use crate::problem::{ApiError, Body};
use crate::{AppState, clock};

/// Volume keys are 256-bit: what LUKS2 and qcow2 (AES-256-XTS halves aside) are given.
const VOLUME_KEY_LEN: usize = 32;
const FORMATS: [&str; 3] = ["luks", "qcow2", "raw"];

fn view(v: &VolumeRecord) -> VolumeView {
    VolumeView {
        volume_id: v.volume_id.clone(),
        format: v.format.clone(),
        kek_id: v.kek_id.clone(),
        created_at: clock::datetime(v.created_at),
    }
}

pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    Body(req): Body<VolumeRequest>,
) -> Result<(StatusCode, Json<VolumeView>), ApiError> {
    let invalid =
        |e: String| ApiError::bad_request("invalid-volume", "The volume is not valid").detail(e);
    check_id("volume", &req.volume_id).map_err(invalid)?;
    if !FORMATS.contains(&req.format.as_str()) {
        return Err(invalid(format!(
            "format must be one of {}",
            FORMATS.join(", ")
        )));
    }
    if req.key.0.len() != VOLUME_KEY_LEN {
        return Err(invalid(format!("the key must be {VOLUME_KEY_LEN} bytes")));
    }
    let kek = state.keys.volume_kek();
    let wrapped_key = kek
        .wrap(req.volume_id.as_bytes(), &req.key.0)
        .map_err(|e| ApiError::signing_unavailable(&e))?;
    let record = VolumeRecord {
        volume_id: req.volume_id,
        format: req.format,
        wrapped_key,
        kek_id: kek.id().into(),
        created_at: clock::now(),
    };
    if !state.store.insert_volume(&record).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "volume-exists",
            "A volume with this id exists (its key is never replaced)",
        ));
    }
    tracing::info!(volume = %record.volume_id, kek = %record.kek_id, "volume registered");
    Ok((StatusCode::CREATED, Json(view(&record))))
}

pub async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<VolumeView>>, ApiError> {
    Ok(Json(
        state.store.volumes().await?.iter().map(view).collect(),
    ))
}

pub async fn release(
    State(state): State<AppState>,
    Path(volume_id): Path<String>,
    Body(req): Body<KeyRequest>,
) -> Result<Json<Sealed>, ApiError> {
    let outcome = release_key(&state, &volume_id, &req).await;
    Metrics::count(
        &state.metrics.key_releases,
        outcome.as_ref().map_or_else(|e| e.slug, |_| "released"),
    );
    outcome.map(Json)
}

/// Every check of DESIGN.md flow 3, step 3, tokens first: nothing about a volume (not even
/// whether it exists) is said to a caller without two valid, agreeing tokens.
async fn release_key(
    state: &AppState,
    volume_id: &str,
    req: &KeyRequest,
) -> Result<Sealed, ApiError> {
    let pat = state
        .pat_verifier
        .verify_pat(&req.pat)
        .map_err(|e| token_refusal(Token::Pat, e))?;
    let token = state
        .trusted_issuers()
        .verify(&req.security_token)
        .map_err(|e| token_refusal(Token::Security, e))?;
    binding::check(&pat, &token, &req.security_token, volume_id).map_err(|e| {
        let (slug, title) = match e {
            binding::Disagreement::Host { .. } => (
                "host-mismatch",
                "The PAT and the security token name different hosts",
            ),
            binding::Disagreement::Unbound | binding::Disagreement::OtherToken => (
                "token-binding-mismatch",
                "The PAT is not bound to this security token",
            ),
            binding::Disagreement::Volume(_) => (
                "volume-not-authorized",
                "The security token does not grant this volume",
            ),
        };
        ApiError::forbidden(slug, title).detail(e.to_string())
    })?;
    let recipient = pat.cnf.jwk.x25519_public().ok_or_else(|| {
        ApiError::forbidden("cnf-key-invalid", "The PAT's cnf key is not an X25519 key")
    })?;
    // The host must still be active now, not merely when it attested (invariant 4).
    let host =
        state.store.host(&pat.sub).await?.ok_or_else(|| {
            ApiError::forbidden("unknown-host", "No host with this id is enrolled")
        })?;
    refuse_unless_may_attest(host.status)?;
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
    let sealed =
        sealed::seal(&recipient, VOLUME_KEY_INFO, volume_id.as_bytes(), &key).map_err(|_| {
            ApiError::forbidden(
                "cnf-key-invalid",
                "The PAT's cnf key is not a valid X25519 key",
            )
        })?;
    tracing::info!(volume = %volume_id, host = %pat.sub, instance = %token.sub, "volume key released");
    Ok(sealed)
}

#[derive(Clone, Copy)]
pub(crate) enum Token {
    Pat,
    Security,
}

/// A refusal type per token and failure kind, e.g. `pat-expired`,
/// `security-token-untrusted-issuer`.
pub(crate) fn token_refusal(which: Token, e: TokenError) -> ApiError {
    use Token::{Pat, Security};
    let (slug, title) = match (which, &e) {
        (Pat, TokenError::Expired) => ("pat-expired", "The PAT has expired"),
        (Pat, TokenError::NotYetValid) => ("pat-not-yet-valid", "The PAT is not valid yet"),
        (Pat, _) => ("pat-invalid", "The PAT is not valid"),
        (Security, TokenError::Expired) => {
            ("security-token-expired", "The security token has expired")
        }
        (Security, TokenError::NotYetValid) => (
            "security-token-not-yet-valid",
            "The security token is not valid yet",
        ),
        (Security, TokenError::UntrustedIssuer(_)) => (
            "security-token-untrusted-issuer",
            "The security token's issuer is not trusted",
        ),
        (Security, _) => ("security-token-invalid", "The security token is not valid"),
    };
    ApiError::forbidden(slug, title).detail(e.to_string())
}
