//! Errors as RFC 9457 problem documents, each refusal with its own stable `type`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cairn_proto::Refusal;
use serde::de::DeserializeOwned;

/// A refusal as the server answers it: the [`Refusal`] and, for people, a detail.
#[derive(Debug)]
pub struct ApiError {
    pub refusal: Refusal,
    pub detail: Option<String>,
}

impl ApiError {
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// A resource that does not exist; `what` says which kind.
    pub fn not_found(what: &str) -> Self {
        ApiError::from(Refusal::NotFound).detail(what)
    }

    /// A signing key failed (an HSM gone away): logged here, never echoed to the client.
    pub fn signing_unavailable(e: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %e, "key store operation failed");
        Refusal::SigningUnavailable.into()
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError {
            refusal,
            detail: None,
        }
    }
}

/// `refusal.with(detail)`: a refusal with its detail, in one expression.
pub trait WithDetail {
    fn with(self, detail: impl Into<String>) -> ApiError;
}

impl WithDetail for Refusal {
    fn with(self, detail: impl Into<String>) -> ApiError {
        ApiError::from(self).detail(detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.refusal.status())
            .expect("every refusal has a valid HTTP status");
        let mut response = (status, Json(self.refusal.problem(self.detail))).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // For the check that every refusal is one its operation documents (crate::openapi).
        response.extensions_mut().insert(self.refusal);
        response
    }
}

/// Storage failures are logged in full and reported without internals: a problem body must
/// never carry database text (or anything else it might echo).
impl From<cairn_store::StoreError> for ApiError {
    fn from(e: cairn_store::StoreError) -> Self {
        tracing::error!(error = %e, "storage failure");
        match e.root() {
            cairn_store::StoreError::LogInconsistent(_) => Refusal::LogInconsistent.into(),
            _ => Refusal::StorageUnavailable.into(),
        }
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
            return Err(Refusal::UnsupportedMediaType.into());
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

/// `Query<T>` whose rejections are problem documents too.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|r| Refusal::MalformedRequest.with(r.body_text()))
    }
}

/// A resource id from the request's path (or two, as `(A, B)`), parsed as its type: one of
/// the wrong form is refused as its kind says. A route that must say nothing before other
/// checks (a release: its tokens first) takes `Result<Id<T>, ApiError>` and refuses later.
pub struct Id<T>(pub T);

/// An id a path carries: how it parses, and how one of the wrong form is refused.
pub trait PathId: std::str::FromStr<Err = String> + Send {
    fn refused(why: String) -> ApiError;
}

impl<S: Send + Sync, T: PathId> axum::extract::FromRequestParts<S> for Id<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|e| T::refused(e.body_text()))?;
        raw.parse().map(Id).map_err(T::refused)
    }
}

impl<S: Send + Sync, A: PathId, B: PathId> axum::extract::FromRequestParts<S> for Id<(A, B)> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let axum::extract::Path((a, b)) =
            axum::extract::Path::<(String, String)>::from_request_parts(parts, state)
                .await
                .map_err(|e| A::refused(e.body_text()))?;
        Ok(Id((
            a.parse().map_err(A::refused)?,
            b.parse().map_err(B::refused)?,
        )))
    }
}

impl PathId for cairn_proto::HostId {
    fn refused(why: String) -> ApiError {
        Refusal::InvalidHostId.with(why)
    }
}

impl PathId for cairn_proto::HostAction {
    fn refused(why: String) -> ApiError {
        ApiError::not_found("No such host action").detail(why)
    }
}

/// Ids of the wrong form name nothing that exists: refused as an unknown one is (an ERoT's
/// owner and a stranger are told the same).
macro_rules! not_found_if_malformed {
    ($($id:ty: $what:literal),* $(,)?) => {$(
        impl PathId for $id {
            fn refused(_: String) -> ApiError {
                ApiError::not_found($what)
            }
        }
    )*};
}

not_found_if_malformed!(
    cairn_proto::ErotId: "No ERoT with this id",
    cairn_proto::TokenId: "No token with this id",
    cairn_proto::InstanceId: "No instance with this id",
    cairn_proto::VolumeId: "No volume with this id",
);

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
        return Refusal::RequestTooLarge.into();
    }
    Refusal::MalformedRequest.with(text)
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
