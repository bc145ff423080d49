//! Bearer tokens: admin tokens for the admin API, customer (or admin) tokens for ERoTs.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use cairn_proto::Refusal;
use cairn_proto::api::TokenRole;

use crate::problem::{ApiError, WithDetail};
use crate::{AppState, clock, token_hash};

/// The hash and role of the request's `Authorization: Bearer` token, when it is an unexpired
/// admin or customer token.
async fn authenticate(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(String, TokenRole)>, ApiError> {
    let Some(hash) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| token_hash(token.trim()))
    else {
        return Ok(None);
    };
    let role = state.store.bearer_role(&hash, clock::now()).await?;
    Ok(role.map(|role| (hash, role)))
}

fn unauthorized(needed: &'static str) -> ApiError {
    Refusal::Unauthorized.with(needed)
}

/// Present in a handler's arguments: the request carried a valid admin token.
pub struct Admin {
    /// The token's hash.
    pub hash: String,
}

impl Admin {
    /// The token's public id, as the log names who acted.
    pub fn id(&self) -> String {
        cairn_store::token_id(&self.hash)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Some((hash, TokenRole::Admin)) => Ok(Admin { hash }),
            _ => Err(unauthorized("this call needs an admin token")),
        }
    }
}

/// Present in a handler's arguments: the request carried an admin or customer token.
pub struct Bearer {
    /// The token's hash: what ERoTs record as their owner.
    pub hash: String,
    pub role: TokenRole,
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await? {
            Some((hash, role)) => Ok(Bearer { hash, role }),
            None => Err(unauthorized("this call needs a customer or admin token")),
        }
    }
}
