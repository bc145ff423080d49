//! Errors as RFC 9457 problem documents, each refusal with its own stable `type`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
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
///
/// The body is parsed by serde_json straight from the bytes: axum's `Json` tracks the path
/// of every member it deserializes, which cost every attestation a few percent of its CPU.
/// Only when parsing fails is `Json` run, for its message that names the offending member.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                "Send application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| reject(r.status(), r.body_text()))?;
        if let Ok(value) = serde_json::from_slice(&bytes) {
            return Ok(Body(value));
        }
        match Json::<T>::from_bytes(&bytes) {
            Ok(Json(value)) => Ok(Body(value)),
            Err(r) => Err(reject(r.status(), r.body_text())),
        }
    }
}

/// `application/json` or an `application/…+json` type, as axum's `Json` accepts.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let suffix = subtype
        .len()
        .checked_sub(5)
        .and_then(|at| subtype.get(at..));
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5 && suffix.is_some_and(|s| s.eq_ignore_ascii_case("+json")))
}

fn reject(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::new(status, "request-too-large", "The request body is too large");
    }
    ApiError::bad_request("malformed-request", "The request body is not valid").detail(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        let accepts = |v: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            is_json(&headers)
        };
        assert!(accepts("application/json"));
        assert!(accepts("Application/JSON; charset=utf-8"));
        assert!(accepts("application/problem+json"));
        assert!(!accepts("text/json"));
        assert!(!accepts("application/jsonx"));
        assert!(!accepts("application/+json"));
        assert!(!accepts("application"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
