//! The HTTP surface, one module per resource.

mod attest;
mod erots;
mod hosts;
mod instances;
mod ops;
mod tokens;
mod volumes;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use cairn_proto::{HostId, Refusal};

use crate::problem::ApiError;
use crate::{AppState, Role};

/// The enrolled host `id` names: every route that acts for a host starts here.
pub(crate) async fn known_host(
    state: &AppState,
    id: &HostId,
) -> Result<std::sync::Arc<cairn_store::HostRecord>, ApiError> {
    state
        .store
        .host(id)
        .await?
        .ok_or_else(|| Refusal::UnknownHost.into())
}

pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/v1/tokens", post(tokens::create));
    if state.config.serves(Role::Attestation) {
        app = app
            .route("/v1/attest/challenge", post(attest::challenge))
            .route("/v1/attest", post(attest::attest))
            .route("/v1/hosts", post(hosts::enroll).get(hosts::list))
            .route("/v1/hosts/{host_id}", get(hosts::show))
            .route("/v1/hosts/{host_id}/activation", post(hosts::activate))
            .route("/v1/hosts/{host_id}/{action}", post(hosts::act));
    }
    if state.config.serves(Role::Issuer) {
        app = app.route("/v1/instances", post(instances::create));
    }
    if state.config.serves(Role::Derg) {
        app = app
            .route("/v1/erots", post(erots::create))
            .route("/v1/erots/{erot_id}/receipt", post(erots::receipt))
            .route("/v1/erots/{erot_id}/release", post(erots::release))
            .route("/v1/erots/{erot_id}/complete", post(erots::complete));
    }
    if state.config.serves(Role::KeyBroker) {
        app = app
            .route("/v1/volumes", post(volumes::create).get(volumes::list))
            .route("/v1/volumes/{volume_id}/key", post(volumes::release));
    }
    app.fallback(|| async { ApiError::not_found("No such resource") })
        .method_not_allowed_fallback(|| async { ApiError::from(Refusal::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .with_state(state)
}
