//! Prometheus metrics. Labels carry outcomes and refusal reasons, never identifiers or keys.

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use cairn_proto::Refusal;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: String,
}

/// An answer's route (method and path template) and outcome.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Answered {
    pub route: String,
    pub outcome: String,
}

/// What a successful answer did, where a flow counts more than `ok`: set on the response by
/// its handler, read by [`count`] as it reads a refusal.
#[derive(Clone, Copy, Debug)]
pub struct Succeeded(pub &'static str);

pub struct Metrics {
    registry: Registry,
    pub challenges: Counter,
    pub attestations: Family<Outcome, Counter>,
    pub enrollments: Family<Outcome, Counter>,
    pub key_releases: Family<Outcome, Counter>,
    pub erot_releases: Family<Outcome, Counter>,
    pub requests: Family<Answered, Counter>,
    pub log_entries: Counter,
    pub log_size: Gauge,
    pub log_queued: Gauge,
    pub log_inconsistent: Counter,
    pub webhook_deliveries: Counter,
    pub webhook_failures: Counter,
    connections_open: Gauge,
    connections_closed_by_server: Family<Outcome, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("cairn");
        let challenges = Counter::default();
        let attestations = Family::<Outcome, Counter>::default();
        let enrollments = Family::<Outcome, Counter>::default();
        registry.register("challenges", "Challenges issued", challenges.clone());
        registry.register(
            "attestations",
            "Attestations by outcome (PAT status or refusal type)",
            attestations.clone(),
        );
        let key_releases = Family::<Outcome, Counter>::default();
        registry.register("enrollments", "Enrollments by outcome", enrollments.clone());
        registry.register(
            "key_releases",
            "Volume key releases by outcome (released or refusal type)",
            key_releases.clone(),
        );
        let erot_releases = Family::<Outcome, Counter>::default();
        registry.register(
            "erot_releases",
            "ERoT key releases by outcome (released or refusal type)",
            erot_releases.clone(),
        );
        let requests = Family::<Answered, Counter>::default();
        registry.register(
            "requests",
            "Answers by route and outcome (ok, what a flow did, or refusal type)",
            requests.clone(),
        );
        let log_entries = Counter::default();
        registry.register(
            "log_entries",
            "Entries this process appended to the transparency log",
            log_entries.clone(),
        );
        let log_size = Gauge::default();
        registry.register(
            "log_size",
            "The transparency log's size at its last checkpoint seen here",
            log_size.clone(),
        );
        let log_queued = Gauge::default();
        registry.register(
            "log_queued",
            "Events acknowledged here and not yet sequenced into the log (in its durable queue)",
            log_queued.clone(),
        );
        let log_inconsistent = Counter::default();
        registry.register(
            "log_inconsistent",
            "Times the stored log did not match its signed checkpoint (invariant 9): alert on any",
            log_inconsistent.clone(),
        );
        let webhook_deliveries = Counter::default();
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries a receiver took (2xx)",
            webhook_deliveries.clone(),
        );
        let webhook_failures = Counter::default();
        registry.register(
            "webhook_failures",
            "Webhook delivery attempts that failed (refused, unreachable, timed out): each is retried",
            webhook_failures.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "Client connections open",
            connections_open.clone(),
        );
        let connections_closed_by_server = Family::<Outcome, Counter>::default();
        registry.register(
            "connections_closed_by_server",
            "Connections the server closed before a request: failed or slow TLS handshakes, slow request heads",
            connections_closed_by_server.clone(),
        );
        Metrics {
            registry,
            connections_open,
            connections_closed_by_server,
            challenges,
            attestations,
            enrollments,
            key_releases,
            erot_releases,
            requests,
            log_entries,
            log_size,
            log_queued,
            log_inconsistent,
            webhook_deliveries,
            webhook_failures,
        }
    }
}

impl Metrics {
    pub fn count(family: &Family<Outcome, Counter>, outcome: &str) {
        family
            .get_or_create(&Outcome {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Counts an answer of `route` (`METHOD /path/{template}`): every route's, and a flow's in
    /// its own family too.
    fn answered(&self, route: &str, outcome: &str) {
        let answered = Answered {
            route: route.to_string(),
            outcome: outcome.to_string(),
        };
        self.requests.get_or_create(&answered).inc();
        let flow = match route {
            "POST /v1/attest" => &self.attestations,
            "POST /v1/hosts" => &self.enrollments,
            "POST /v1/volumes/{volume_id}/key" => &self.key_releases,
            "POST /v1/erots/{erot_id}/release" => &self.erot_releases,
            _ => return,
        };
        Self::count(flow, outcome);
    }

    /// Counts the connection open until the guard is dropped.
    pub fn connection_opened(&self) -> impl Drop + use<> {
        struct Open(Gauge);
        impl Drop for Open {
            fn drop(&mut self) {
                self.0.dec();
            }
        }
        self.connections_open.inc();
        Open(self.connections_open.clone())
    }

    pub fn closed_by_server(&self, why: &str) {
        Self::count(&self.connections_closed_by_server, why);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}

/// The one place answers are counted (a layer on every route): by the refusal `ApiError` left
/// on the response, or what its handler said it did, or `ok`.
pub async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = match request.extensions().get::<MatchedPath>() {
        Some(path) => format!("{} {}", request.method(), path.as_str()),
        None => return next.run(request).await,
    };
    let response = next.run(request).await;
    let extensions = response.extensions();
    let outcome = match (extensions.get::<Refusal>(), extensions.get::<Succeeded>()) {
        (Some(refusal), _) => refusal.slug(),
        (None, Some(Succeeded(did))) => did,
        (None, None) => "ok",
    };
    state.metrics.answered(&route, outcome);
    response
}
