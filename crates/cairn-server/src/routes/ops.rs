//! Operations: health, readiness, metrics, published keys, API description.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use cairn_token::Jwks;

use crate::AppState;
use crate::problem::ApiError;

pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    state.store.ping().await?;
    Ok("ready\n")
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

pub async fn jwks(State(state): State<AppState>) -> Json<Jwks> {
    Json(state.keys.jwks())
}

pub async fn openapi() -> impl IntoResponse {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        include_str!("../../openapi.json"),
    )
}
