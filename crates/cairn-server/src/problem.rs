//! Errors as RFC 9457 problem documents, each refusal with its own stable `type`.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_proto::Problem;
use cairn_proto::problem::TYPE_PREFIX;
use serde::de::DeserializeOwned;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub slug: &'static str,
    pub title: &'static str,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, slug: &'static str, title: &'static str) -> Self {
        ApiError {
            status,
            slug,
            title,
            detail: None,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn forbidden(slug: &'static str, title: &'static str) -> Self {
        Self::new(StatusCode::FORBIDDEN, slug, title)
    }

    pub fn bad_request(slug: &'static str, title: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, slug, title)
    }

    pub fn not_found(what: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", what)
    }

    /// A signing key failed (an HSM gone away): logged here, never echoed to the client.
    pub fn signing_unavailable(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "token signing failed");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "signing-unavailable",
            "The signing key is unavailable",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("{TYPE_PREFIX}{}", self.slug),
            title: self.title.into(),
            status: self.status.as_u16(),
            detail: self.detail,
        };
        let mut response = (self.status, Json(problem)).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

/// Storage failures are logged in full and reported without internals: a problem body must
/// never carry database text (or anything else it might echo).
impl From<cairn_store::StoreError> for ApiError {
    fn from(e: cairn_store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-unavailable",
            "The registry is unavailable",
        )
    }
}

/// `Json<T>` whose rejections are problem documents too.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(reject(rejection)),
        }
    }
}

fn reject(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "request-too-large", "The request body is too large");
    }
    if status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
        return ApiError::new(status, "unsupported-media-type", "Send application/json");
    }
    ApiError::bad_request("malformed-request", "The request body is not valid")
        .detail(rejection.body_text())
}
