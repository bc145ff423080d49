//! `POST /v1/tokens`: admins mint admin and join tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_proto::Refusal;
use cairn_proto::api::{TokenRequest, TokenResponse, TokenRole};

use crate::auth::Admin;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body, WithDetail};
use crate::{AppState, clock, new_token, token_hash};

/// Join tokens expire after a day unless told otherwise; admin tokens do not.
const JOIN_TOKEN_DEFAULT_TTL: u64 = 24 * 3600;

refusals!(CreateTokenRefusals: BODY, BEARER, STORE; InvalidTtl);

/// Mints an admin, customer or join token (shown once, stored only as a hash).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", operation_id = "createToken",
    security(("admin" = [])),
    request_body = TokenRequest,
    responses((status = 201, description = "The token", body = TokenResponse), CreateTokenRefusals))]
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
    if ttl.is_some_and(|t| t > TokenRequest::MAX_TTL_SECONDS) {
        return Err(
            Refusal::InvalidTtl.with(format!("at most {} seconds", TokenRequest::MAX_TTL_SECONDS))
        );
    }
    let expires_at = ttl.map(|t| now + t as i64);
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
