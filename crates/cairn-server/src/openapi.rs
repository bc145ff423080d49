//! The API's description: an OpenAPI 3.1 document generated from the routes themselves
//! (`utoipa-axum` registers each handler under the path its `#[utoipa::path]` names) and
//! from the wire types' schemas (`cairn_proto::schema`). Each operation lists every refusal
//! it can answer, grouped by status, each status's body naming its problem `type`s; so a
//! client (or schemathesis) can tell an undocumented answer from a documented one.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response as HttpResponse;
use serde_json::Value;

use cairn_proto::{ErotId, InstanceId, TokenId, VolumeId};
use cairn_proto::{HostAction, HostId, Problem, Refusal};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

/// What any request can be refused with, whatever its operation (see `routes::deadline`).
pub const EVERY: &[Refusal] = &[Refusal::RequestTimeout];
/// The problems a JSON request body can be refused with before its handler sees it.
pub const BODY: &[Refusal] = &[
    Refusal::MalformedRequest,
    Refusal::RequestTooLarge,
    Refusal::UnsupportedMediaType,
];
/// A call that needs a bearer token (`admin`, or `customer` where it says so).
pub const BEARER: &[Refusal] = &[Refusal::Unauthorized];
/// A call that reads or writes the registry.
pub const STORE: &[Refusal] = &[Refusal::StorageUnavailable];
/// A call that signs, wraps, unwraps or derives with a key-store key.
pub const SIGNING: &[Refusal] = &[Refusal::SigningUnavailable];
/// A call whose host must be enrolled and admitted (`active` or `maintenance`).
pub const ADMITTED: &[Refusal] = &[
    Refusal::UnknownHost,
    Refusal::HostPending,
    Refusal::HostQuarantined,
    Refusal::HostRevoked,
];
/// A call that records what it did in the transparency log (which refuses once the stored
/// log no longer matches its signed checkpoint).
pub const LOGGED: &[Refusal] = &[Refusal::LogInconsistent];
/// A call with a `{host_id}` in its path.
pub const HOST_PATH: &[Refusal] = &[Refusal::InvalidHostId];

/// Declares the responses of one operation's refusals, for its `#[utoipa::path]`:
/// `refusals!(AttestRefusals: BODY, STORE; InvalidReport, NonceUnknown)` makes the type
/// `AttestRefusals`, written in `responses(...)` beside the successful answers.
macro_rules! refusals {
    ($name:ident: $($group:ident),* ; $($refusal:ident),* $(,)?) => {
        pub struct $name;

        impl $name {
            pub const OWN: &'static [cairn_proto::Refusal] = &[$(cairn_proto::Refusal::$refusal),*];
        }

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::Response>,
            > {
                let groups: &[&[cairn_proto::Refusal]] =
                    &[$crate::openapi::EVERY, $($crate::openapi::$group,)* $name::OWN];
                $crate::openapi::problems(&groups.concat())
            }
        }
    };
}
pub(crate) use refusals;

/// One response per status among `refusals`, whose body is a problem document with one of
/// their `type`s.
pub fn problems(refusals: &[Refusal]) -> BTreeMap<String, RefOr<Response>> {
    let mut by_status: BTreeMap<u16, Vec<Refusal>> = BTreeMap::new();
    for &refusal in refusals {
        let same = by_status.entry(refusal.status()).or_default();
        if !same.contains(&refusal) {
            same.push(refusal);
        }
    }
    by_status
        .into_iter()
        .map(|(status, refusals)| {
            let description = refusals
                .iter()
                .map(|r| format!("`{}`: {}", r.slug(), r.title()))
                .collect::<Vec<_>>()
                .join("; ");
            let kinds = refusals.iter().map(|r| r.problem(None).kind);
            let schema = AllOfBuilder::new()
                .item(Ref::from_schema_name("Problem"))
                .item(
                    ObjectBuilder::new()
                        .property(
                            "type",
                            ObjectBuilder::new()
                                .schema_type(Type::String)
                                .enum_values(Some(kinds)),
                        )
                        .property(
                            "status",
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .enum_values(Some([status])),
                        ),
                );
            let response = ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// The refusals the operation `op` (its JSON) documents under `status`.
fn documented(op: &Value, status: &str) -> impl Iterator<Item = Refusal> {
    op["responses"][status]["content"]["application/problem+json"]["schema"]["allOf"][1]
        ["properties"]["type"]["enum"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| Refusal::from_type(t.as_str()?))
}

/// Every operation's documented refusals, keyed by method and path template, to check
/// each refusal the server answers against its operation's description.
#[derive(Clone)]
pub struct Documented(Arc<HashMap<(Method, String), HashSet<Refusal>>>);

impl Documented {
    pub fn of(doc: &Value) -> Self {
        let mut all = HashMap::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                let refusals = op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .flat_map(|(status, _)| documented(op, status))
                    .collect();
                all.insert((method, path.clone()), refusals);
            }
        }
        Documented(Arc::new(all))
    }

    fn lists(&self, method: &Method, path: &str, refusal: Refusal) -> bool {
        // HEAD is answered by the GET handler.
        let method = match *method {
            Method::HEAD => Method::GET,
            ref other => other.clone(),
        };
        // A catch-all segment (`{*path}`, axum's) is a parameter like any other to OpenAPI.
        self.0
            .get(&(method, path.replace("{*", "{")))
            .is_some_and(|listed| listed.contains(&refusal))
    }
}

/// A route layer of debug builds: a refusal its operation does not document is a bug in the
/// description (or in the handler), logged as an error and fatal to the request, so that
/// every test that drives a refusal also checks that the document lists it.
pub async fn check_refusals(
    State(documented): State<Documented>,
    request: Request,
    next: Next,
) -> HttpResponse {
    let method = request.method().clone();
    let path = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    if let (Some(&refusal), Some(path)) = (response.extensions().get::<Refusal>(), path)
        && !documented.lists(&method, path.as_str(), refusal)
    {
        tracing::error!(%method, path = path.as_str(), %refusal, "a refusal its operation does not document");
        panic!(
            "{method} {} answered {refusal}, which its OpenAPI operation does not list",
            path.as_str()
        );
    }
    response
}

/// What the routes do not say themselves: the title, the bearer schemes, the problem schema.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Cairn",
        description = "Physical attestation, instance identity, volume keys and ERoTs (DESIGN.md). \
            Every refusal is an RFC 9457 problem document whose `type` is stable \
            (docs/problems.md).",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    // The path parameters' schemas, which the routes name but do not register.
    components(schemas(Problem, HostId, HostAction, ErotId, InstanceId, TokenId, VolumeId)),
    modifiers(&BearerSchemes),
    tags(
        (name = "operations", description = "Health, metrics, published keys, this document"),
        (name = "attestation", description = "Flows 1 and 2: enrollment, challenges, PATs"),
        (name = "hosts", description = "The host registry (operators)"),
        (name = "tokens", description = "Admin, customer and join tokens"),
        (name = "issuer", description = "Flow 3, step 1: instances and their security tokens"),
        (name = "key-broker", description = "Flow 3, step 3: volumes and their keys"),
        (name = "erots", description = "Flow 4: ERoTs, receipts, release and completion"),
        (name = "log", description = "The transparency log: C2SP tlog-tiles, checkpoints and proofs"),
        (name = "events", description = "The log's events, for operators and customers"),
    )
)]
pub struct ApiDoc;

struct BearerSchemes;

impl Modify for BearerSchemes {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        for (name, description) in [
            (
                "admin",
                "An admin token (`cairn admin tokens create --role admin`)",
            ),
            (
                "customer",
                "A customer token (`cairn admin tokens create --role customer`); an admin token also serves",
            ),
        ] {
            let scheme = HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(description))
                .build();
            components.add_security_scheme(name, SecurityScheme::Http(scheme));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn document() -> Value {
        let config =
            crate::ServerConfig::new("/nonexistent".into(), "127.0.0.1:0".parse().unwrap());
        crate::routes::document(&config)
    }

    fn operations(doc: &Value) -> Vec<(String, &Value)> {
        let mut all = vec![];
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                all.push((format!("{} {path}", method.to_uppercase()), op));
            }
        }
        all
    }

    fn documented(op: &Value, status: u16) -> BTreeSet<String> {
        super::documented(op, &status.to_string())
            .map(|r| r.slug().to_string())
            .collect()
    }

    /// What the extractors refuse is documented wherever they run: a JSON body's refusals on
    /// every operation with a body, `unauthorized` on every operation with a bearer scheme.
    #[test]
    fn every_operation_documents_what_its_extractors_refuse() {
        let doc = document();
        for (name, op) in operations(&doc) {
            assert!(op["operationId"].is_string(), "{name} has no operationId");
            if op.get("requestBody").is_some() {
                for refusal in BODY {
                    assert!(
                        documented(op, refusal.status()).contains(refusal.slug()),
                        "{name} does not document {refusal}"
                    );
                }
            }
            if op.get("security").is_some() {
                assert!(documented(op, 401).contains("unauthorized"), "{name}");
            }
        }
    }

    /// Each refusal is answered by some operation (or by the router itself), so none is
    /// left out of the document.
    #[test]
    fn every_refusal_is_documented_somewhere() {
        let doc = document();
        let mut seen: BTreeSet<String> =
            ["not-found", "method-not-allowed"].map(String::from).into();
        for (_, op) in operations(&doc) {
            for status in op["responses"].as_object().unwrap().keys() {
                seen.extend(documented(op, status.parse().unwrap()));
            }
        }
        let all: BTreeSet<String> = Refusal::ALL.iter().map(|r| r.slug().to_string()).collect();
        assert_eq!(
            all.difference(&seen).collect::<Vec<_>>(),
            Vec::<&String>::new()
        );
    }

    /// The check behind every answer: an operation's own refusals pass, others' do not.
    #[test]
    fn the_refusal_check_knows_each_operation() {
        let documented = Documented::of(&document());
        let attest = (Method::POST, "/v1/attest");
        assert!(documented.lists(&attest.0, attest.1, Refusal::EvidenceSignatureInvalid));
        assert!(documented.lists(&attest.0, attest.1, Refusal::MalformedRequest));
        assert!(!documented.lists(&attest.0, attest.1, Refusal::VolumeExists));
        assert!(!documented.lists(&Method::GET, attest.1, Refusal::MalformedRequest));
        assert!(documented.lists(&Method::HEAD, "/v1/hosts", Refusal::Unauthorized));
        assert!(!documented.lists(&Method::POST, "/v1/nothing", Refusal::NotFound));
    }

    /// A process serving some roles describes only their routes.
    #[test]
    fn the_document_follows_the_roles() {
        let mut config =
            crate::ServerConfig::new("/nonexistent".into(), "127.0.0.1:0".parse().unwrap());
        config.roles = vec![crate::Role::KeyBroker];
        let (_, api) = crate::routes::api(&config);
        let paths: Vec<&String> = api.paths.paths.keys().collect();
        assert!(paths.iter().any(|p| *p == "/v1/volumes/{volume_id}/key"));
        assert!(
            !paths
                .iter()
                .any(|p| p.starts_with("/v1/attest") || p.starts_with("/v1/erots"))
        );
    }
}
