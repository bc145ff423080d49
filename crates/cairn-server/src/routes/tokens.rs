//! Bearer and join tokens: admins mint them (`POST /v1/tokens`), list them and revoke them.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use cairn_log::Event;
use cairn_proto::Refusal;
use cairn_proto::api::{TokenRequest, TokenResponse, TokenRole, TokenView};
use cairn_proto::{TokenId, UnixTime};
use cairn_store::TokenRecord;

use crate::auth::Admin;
use crate::openapi::refusals;
use crate::problem::{ApiError, Body, Id, WithDetail};
use crate::{AppState, clock, new_token, token_hash};

/// Join tokens expire after a day unless told otherwise; admin tokens do not.
const JOIN_TOKEN_DEFAULT_TTL: u64 = 24 * 3600;

refusals!(CreateTokenRefusals: BODY, BEARER, STORE, LOGGED; InvalidTtl);

/// Mints an admin, customer or join token (shown once, stored only as a hash).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", operation_id = "createToken",
    security(("admin" = [])),
    request_body = TokenRequest,
    responses((status = 201, description = "The token", body = TokenResponse), CreateTokenRefusals))]
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
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
    let expires_at = ttl.map(|t| now.after(Duration::from_secs(t)));
    let token = new_token();
    let id = cairn_store::token_id(&token_hash(&token));
    let created = Event::TokenCreated {
        token_id: id.clone(),
        role: req.role.to_string(),
        by: admin.id(),
    };
    let entry = state.log.prepare(created, None)?;
    state
        .store
        .insert_token(&token_hash(&token), req.role, expires_at, now, &entry)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            id,
            token,
            role: req.role,
            expires_at: expires_at.map(UnixTime::datetime),
        }),
    ))
}

fn view(record: &TokenRecord) -> TokenView {
    TokenView {
        id: record.id.clone(),
        role: record.role,
        created_at: clock::datetime(record.created_at),
        expires_at: record.expires_at.map(clock::datetime),
        used_at: record.used_at.map(clock::datetime),
        revoked_at: record.revoked_at.map(clock::datetime),
    }
}

refusals!(ListTokensRefusals: BEARER, STORE;);

/// Every token: its id, role and times, never the token itself.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", operation_id = "listTokens",
    security(("admin" = [])),
    responses((status = 200, description = "The tokens, oldest first", body = Vec<TokenView>), ListTokensRefusals))]
pub async fn list(
    State(state): State<AppState>,
    _: Admin,
) -> Result<Json<Vec<TokenView>>, ApiError> {
    Ok(Json(state.store.tokens().await?.iter().map(view).collect()))
}

refusals!(RevokeTokenRefusals: BEARER, STORE, LOGGED; NotFound);

/// Revokes a token: it is refused from the next request on, on every replica (an admin
/// token may revoke itself).
#[utoipa::path(post, path = "/v1/tokens/{token_id}/revoke", tag = "tokens", operation_id = "revokeToken",
    security(("admin" = [])),
    params(("token_id" = TokenId, Path, description = "The token's id")),
    responses((status = 200, description = "The revoked token", body = TokenView), RevokeTokenRefusals))]
pub async fn revoke(
    State(state): State<AppState>,
    admin: Admin,
    Id(id): Id<TokenId>,
) -> Result<Json<TokenView>, ApiError> {
    let event = Event::TokenRevoked {
        token_id: id.to_string(),
        by: admin.id(),
    };
    let entry = state.log.prepare(event, None)?;
    let revoked = state
        .store
        .revoke_token(id.as_str(), clock::now(), &entry)
        .await?
        .ok_or_else(|| ApiError::not_found("No token with this id"))?;
    tracing::info!(token = %revoked.id, role = %revoked.role, "token revoked");
    Ok(Json(view(&revoked)))
}
