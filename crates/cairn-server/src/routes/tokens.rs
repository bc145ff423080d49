//! `POST /v1/tokens`: admins mint admin and join tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_proto::Refusal;
use cairn_proto::api::{TokenRequest, TokenResponse, TokenRole};

use crate::auth::Admin;
use crate::problem::{ApiError, Body};
use crate::{AppState, clock, new_token, token_hash};

/// Join tokens expire after a day unless told otherwise; admin tokens do not.
const JOIN_TOKEN_DEFAULT_TTL: u64 = 24 * 3600;

pub async fn create(
    State(state): State<AppState>,
    _: Admin,
    Body(req): Body<TokenRequest>,
) -> Result<(StatusCode, Json<TokenResponse>), ApiError> {
    let now = clock::now();
    let ttl = match req.role {
        TokenRole::Join => Some(req.ttl_seconds.unwrap_or(JOIN_TOKEN_DEFAULT_TTL)),
        TokenRole::Admin | TokenRole::Customer => req.ttl_seconds,
    };
    let expires_at = ttl
        .map(|t| i64::try_from(t).ok().and_then(|t| now.checked_add(t)))
        .map(|at| at.ok_or(Refusal::InvalidTtl))
        .transpose()?;
    let token = new_token();
    state
        .store
        .insert_token(&token_hash(&token), req.role, expires_at, now)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token,
            role: req.role,
            expires_at: expires_at.map(clock::datetime),
        }),
    ))
}
