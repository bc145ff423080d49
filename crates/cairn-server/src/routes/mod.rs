//! The HTTP surface, one module per resource.

mod attest;
mod erots;
mod events;
mod gate;
mod hosts;
mod instances;
mod log;
mod ops;
mod tokens;
mod volumes;

use axum::extract::DefaultBodyLimit;
use axum::{Router, middleware};
use cairn_proto::{HostId, Refusal};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::{ApiDoc, Documented, check_refusals};
use crate::problem::{ApiError, WithDetail};
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

/// Every route this process serves (its `--roles`), and the OpenAPI document describing
/// exactly those, built from the same registrations.
pub fn api(config: &crate::ServerConfig) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let mut app = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(ops::jwks))
        .routes(routes!(tokens::create, tokens::list))
        .routes(routes!(tokens::revoke))
        .routes(routes!(log::checkpoint))
        .routes(routes!(log::key))
        .routes(routes!(log::inclusion))
        .routes(routes!(log::consistency))
        .routes(routes!(events::list));
    if config.serves(Role::Attestation) {
        app = app
            .routes(routes!(attest::challenge))
            .routes(routes!(attest::attest))
            .routes(routes!(hosts::enroll, hosts::list))
            .routes(routes!(hosts::show))
            .routes(routes!(hosts::activate))
            .routes(routes!(hosts::act));
    }
    if config.serves(Role::Issuer) {
        app = app
            .routes(routes!(instances::create))
            .routes(routes!(instances::revoke));
    }
    if config.serves(Role::Derg) {
        app = app
            .routes(routes!(erots::create))
            .routes(routes!(erots::receipt))
            .routes(routes!(erots::release))
            .routes(routes!(erots::complete));
    }
    if config.serves(Role::KeyBroker) {
        app = app
            .routes(routes!(volumes::create, volumes::list))
            .routes(routes!(volumes::release));
    }
    let (router, mut doc) = app.split_for_parts();
    // A tile's path is several segments, which only axum's catch-all matches; the document
    // names it as the one parameter it is.
    let router = router.route("/v1/log/tile/{*path}", axum::routing::get(log::tile));
    {
        use utoipa::Path;
        doc.paths.add_path_operation(
            log::__path_tile::path(),
            log::__path_tile::methods(),
            log::__path_tile::operation(),
        );
    }
    (router, doc)
}

/// The OpenAPI document of the routes `config` serves.
pub fn document(config: &crate::ServerConfig) -> serde_json::Value {
    serde_json::to_value(api(config).1).expect("the API document serializes")
}

pub fn router(state: AppState) -> Router {
    let (app, _) = api(&state.config);
    let app = app.route_layer(middleware::from_fn_with_state(
        state.clone(),
        crate::metrics::count,
    ));
    // Debug builds (every test, and scripts/api-fuzz.sh) check each refusal against its
    // operation's list; release builds skip the per-request layer, which cost attestation
    // a few percent.
    let app = match cfg!(debug_assertions) {
        true => app.route_layer(middleware::from_fn_with_state(
            Documented::of(&serde_json::from_slice(&state.openapi).expect("the document is JSON")),
            check_refusals,
        )),
        false => app,
    };
    let request_timeout = state.config.limits.request_timeout;
    app.fallback(|| async { ApiError::not_found("No such resource") })
        .method_not_allowed_fallback(|| async { ApiError::from(Refusal::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(middleware::from_fn_with_state(request_timeout, deadline))
        .with_state(state)
}

/// A request (its body read included) is answered within the request timeout, or refused:
/// a client trickling its body holds a connection no longer than that.
async fn deadline(
    axum::extract::State(limit): axum::extract::State<std::time::Duration>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => Refusal::RequestTimeout
            .with(format!("not done within {} s", limit.as_secs_f32()))
            .into_response(),
    }
}
