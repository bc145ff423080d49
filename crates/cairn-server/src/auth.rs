//! Bearer tokens: admin tokens for the admin API, customer (or admin) tokens for ERoTs.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};

use crate::problem::ApiError;
use crate::{AppState, clock, token_hash};

/// The stored form of the request's `Authorization: Bearer` token, if it has one.
fn bearer_hash(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|token| token_hash(token.trim()))
}

/// Present in a handler's arguments: the request carried a valid admin token.
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A valid admin bearer token is required",
            )
        };
        let hash = bearer_hash(parts).ok_or_else(unauthorized)?;
        if state.store.admin_token_valid(&hash, clock::now()).await? {
            Ok(Admin)
        } else {
            Err(unauthorized())
        }
    }
}

/// Present in a handler's arguments: the request carried an admin or customer token.
pub struct Bearer {
    /// The token's hash: what ERoTs record as their owner.
    pub hash: String,
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "A valid customer or admin bearer token is required",
            )
        };
        let hash = bearer_hash(parts).ok_or_else(unauthorized)?;
        match state.store.bearer_role(&hash, clock::now()).await? {
            Some(_) => Ok(Bearer { hash }),
            None => Err(unauthorized()),
        }
    }
}
