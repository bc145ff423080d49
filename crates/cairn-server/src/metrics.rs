//! Prometheus metrics. Labels carry outcomes and refusal reasons, never identifiers or keys.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    pub outcome: String,
}

pub struct Metrics {
    registry: Registry,
    pub challenges: Counter,
    pub attestations: Family<Outcome, Counter>,
    pub enrollments: Family<Outcome, Counter>,
    pub key_releases: Family<Outcome, Counter>,
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
        Metrics {
            registry,
            challenges,
            attestations,
            enrollments,
            key_releases,
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

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String");
        out
    }
}
