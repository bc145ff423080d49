//! Webhooks: the log's entries pushed to operators' endpoints, each delivery signed as the
//! Standard Webhooks specification says (<https://www.standardwebhooks.com>), so that any of
//! its libraries verifies them. This module is the pure part: what a `--webhook` says, which
//! events it wants, the message for one entry and its signature, and the retry schedule.

use std::str::FromStr;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::entry::EventType;

/// The webhook secret is derived in the key store (HMAC-SHA256 under its master derivation
/// secret, like an ERoT's key) from SHA-256 of this label and the webhook's URL: every replica
/// with the same keys (or HSM) signs with the same secret, and nothing is stored. An ERoT seed
/// hashes a server-chosen random nonce, so it cannot be made to meet this one; and what an
/// ERoT hands out is a key expanded from the MAC, never the MAC itself.
const SECRET_LABEL: &[u8] = b"cairn webhook secret v1\n";

/// How long one delivery attempt may take, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WebhookError {
    #[error("{0:?} is not a URL: {1}")]
    Url(String, String),
    #[error(
        "{0}: a webhook is https://, or http:// to a loopback address (events name hosts and \
         customers; they do not cross a network in the clear)"
    )]
    Plaintext(String),
    #[error("{0}: a webhook URL carries no user name or password (each delivery is signed)")]
    Credentials(String),
    #[error(
        "event filter {0:?}: each pattern is an event type ({types}), a prefix such as `host.*`, or `*`",
        types = EventType::WORDS.join(", ")
    )]
    Filter(String),
}

/// One `--webhook URL[#FILTER]`: where to deliver, and which events. The filter rides in the
/// URL's fragment, which HTTP never sends: `https://hooks.example/cairn#host.*,volume.released`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Webhook {
    url: url::Url,
    filter: Filter,
    /// The filter as given (the fragment), which names the webhook with its URL.
    patterns: Option<String>,
}

impl FromStr for Webhook {
    type Err = WebhookError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut url = url::Url::parse(s).map_err(|e| WebhookError::Url(s.into(), e.to_string()))?;
        let patterns = url.fragment().map(str::to_string);
        let filter = match &patterns {
            Some(patterns) => patterns.parse()?,
            None => Filter::default(),
        };
        url.set_fragment(None);
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        match (url.scheme(), loopback) {
            ("https", _) | ("http", true) => {}
            _ => return Err(WebhookError::Plaintext(url.to_string())),
        }
        if !url.username().is_empty() || url.password().is_some() {
            let mut shown = url.clone();
            let _ = shown.set_username("");
            let _ = shown.set_password(None);
            return Err(WebhookError::Credentials(shown.to_string()));
        }
        Ok(Webhook {
            url,
            filter,
            patterns,
        })
    }
}

impl Webhook {
    /// Where deliveries are posted (the URL without its filter): what its secret is derived
    /// from.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The webhook as given, filter included: what its place in the log is kept under, so
    /// that two filters on one URL (replicas configured apart, a filter changed) each get
    /// every event they want.
    pub fn key(&self) -> String {
        match &self.patterns {
            Some(patterns) => format!("{}#{patterns}", self.url),
            None => self.url.to_string(),
        }
    }

    /// The webhook as logs name it: its origin and a digest of the rest, since a path or a
    /// query may hold a receiver's credential (as chat services' hook URLs do).
    pub fn display(&self) -> String {
        let digest = cairn_proto::Digest::sha256(self.key()).hex();
        format!(
            "{}/… (webhook {})",
            self.url.origin().ascii_serialization(),
            &digest[..8]
        )
    }

    pub fn wants(&self, event_type: &str) -> bool {
        self.filter.matches(event_type)
    }

    /// What the key store MACs to make this webhook's secret.
    pub fn secret_seed(&self) -> [u8; 32] {
        let mut input = SECRET_LABEL.to_vec();
        input.extend_from_slice(self.url().as_bytes());
        cairn_proto::Digest::sha256(&input).0
    }
}

/// Which event types a webhook wants: every one (no patterns, or `*`), or those matching one
/// of its patterns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter(Vec<Pattern>);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Pattern {
    Any,
    Type(EventType),
    /// `host.*`: the types that start with `host.`.
    Prefix(String),
}

impl FromStr for Filter {
    type Err = WebhookError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || WebhookError::Filter(s.into());
        let patterns = s
            .split(',')
            .map(|pattern| match pattern {
                "*" => Ok(Pattern::Any),
                p if p.ends_with(".*") => {
                    let prefix = &p[..p.len() - 1];
                    EventType::WORDS
                        .iter()
                        .any(|word| word.starts_with(prefix))
                        .then(|| Pattern::Prefix(prefix.into()))
                        .ok_or_else(bad)
                }
                p => p.parse().map(Pattern::Type).map_err(|_| bad()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Filter(patterns))
    }
}

impl Filter {
    pub fn matches(&self, event_type: &str) -> bool {
        self.0.is_empty()
            || self.0.iter().any(|pattern| match pattern {
                Pattern::Any => true,
                Pattern::Type(t) => t.as_str() == event_type,
                Pattern::Prefix(prefix) => event_type.starts_with(prefix.as_str()),
            })
    }
}

/// A webhook's signing secret, shown to its operator as Standard Webhooks writes it.
pub struct Secret(Zeroizing<[u8; 32]>);

impl Secret {
    pub fn new(bytes: Zeroizing<[u8; 32]>) -> Secret {
        Secret(bytes)
    }

    /// `whsec_` and the secret in base64, what a receiver's library is configured with.
    pub fn to_whsec(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("whsec_{}", STANDARD.encode(&self.0[..])))
    }

    /// `webhook-signature`: `v1,` and base64 of HMAC-SHA256 over `id.timestamp.body`.
    pub fn sign(&self, message: &Message, timestamp: i64) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0[..]);
        let mut context = hmac::Context::with_key(&key);
        context.update(message.id.as_bytes());
        context.update(format!(".{timestamp}.").as_bytes());
        context.update(&message.body);
        format!("v1,{}", STANDARD.encode(context.sign().as_ref()))
    }
}

/// What is delivered for one log entry. Its `id` (the `webhook-id` header) is the same for
/// every attempt and every replica, so a receiver drops a delivery it has already had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub event_type: String,
    pub body: Vec<u8>,
}

impl Message {
    /// The message of entry `index` of the log of `origin`: Standard Webhooks' envelope
    /// `{type, timestamp, data}`, `data` being `{log, index, entry}` with the entry as logged.
    /// `None` for bytes that are not a log entry.
    pub fn for_entry(origin: &str, index: u64, entry: &[u8]) -> Option<Message> {
        let entry: serde_json::Value = serde_json::from_slice(entry).ok()?;
        let event_type = entry.get("type")?.as_str()?.to_string();
        let time = entry.get("time")?.as_i64()?;
        let timestamp = time::OffsetDateTime::from_unix_timestamp(time)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()?;
        let body = serde_json::json!({
            "type": event_type,
            "timestamp": timestamp,
            "data": { "log": origin, "index": index, "entry": entry },
        });
        // "cairn.log/<16 hex>": the id keeps the log's hex, so two logs' ids never meet.
        let log = origin.rsplit('/').next().unwrap_or(origin);
        Some(Message {
            id: format!("log_{log}_{index}"),
            event_type,
            body: serde_json::to_vec(&body).expect("JSON serializes"),
        })
    }
}

/// The wait before attempt `failures + 1` after `failures` failed ones: 1 s, doubling, at most
/// [`MAX_BACKOFF`].
pub fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(6)).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_takes_its_filter_from_the_fragment_and_refuses_what_would_leak() {
        let hook: Webhook = "https://hooks.example/cairn?k=1#host.*,volume.released"
            .parse()
            .unwrap();
        assert_eq!(hook.url(), "https://hooks.example/cairn?k=1");
        assert_eq!(
            hook.key(),
            "https://hooks.example/cairn?k=1#host.*,volume.released"
        );
        assert!(
            hook.display()
                .starts_with("https://hooks.example/… (webhook ")
        );
        assert!(!hook.display().contains("k=1") && !hook.display().contains("cairn"));
        assert!(hook.wants("host.quarantined") && hook.wants("volume.released"));
        assert!(!hook.wants("pat.issued") && !hook.wants("hostile.x"));
        let every: Webhook = "http://127.0.0.1:9000/h".parse().unwrap();
        assert!(every.wants("pat.issued"));
        assert!(
            "http://localhost/h#*"
                .parse::<Webhook>()
                .unwrap()
                .wants("erot.expired")
        );
        for refused in [
            "http://hooks.example/cairn",
            "ftp://127.0.0.1/x",
            "https://user:pw@hooks.example/",
            "https://hooks.example/#host",
            "https://hooks.example/#nothing.*",
            "https://hooks.example/#host.enrolled,",
            "not a url",
        ] {
            assert!(refused.parse::<Webhook>().is_err(), "{refused}");
        }
        // The secret is bound to the URL, not to the filter.
        let filtered: Webhook = "http://127.0.0.1:9000/h#pat.issued".parse().unwrap();
        assert_eq!(filtered.secret_seed(), every.secret_seed());
        assert_ne!(hook.secret_seed(), every.secret_seed());
        // ... but it names the webhook's place in the log.
        assert_ne!(filtered.key(), every.key());
        // A refused URL's credentials are not repeated back.
        let refused = "https://user:pw@hooks.example/"
            .parse::<Webhook>()
            .unwrap_err();
        assert!(!refused.to_string().contains("pw"), "{refused}");
    }

    #[test]
    fn the_signature_is_the_standard_webhooks_one() {
        // The expected values were made by the Python `standardwebhooks` library (1.3.0):
        // `Webhook(whsec).sign("msg_1", 1700000000, '{"a":1}')`.
        let secret = Secret::new(Zeroizing::new([7; 32]));
        assert_eq!(
            secret.to_whsec().as_str(),
            "whsec_BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
        );
        let message = Message {
            id: "msg_1".into(),
            event_type: "host.enrolled".into(),
            body: br#"{"a":1}"#.to_vec(),
        };
        assert_eq!(
            secret.sign(&message, 1_700_000_000),
            "v1,LInk7lWC3DLGgRP3k/Xpm933fgj/SEGrik4mpkLgnKE="
        );
    }

    #[test]
    fn a_message_wraps_the_entry_as_logged_under_a_stable_id() {
        let entry = br#"{"host_id":"h_1","time":1796314162,"type":"host.revoked"}"#;
        let message = Message::for_entry("cairn.log/0123456789abcdef", 41, entry).unwrap();
        assert_eq!(message.id, "log_0123456789abcdef_41");
        assert_eq!(message.event_type, "host.revoked");
        let body: serde_json::Value = serde_json::from_slice(&message.body).unwrap();
        assert_eq!(body["type"], "host.revoked");
        assert_eq!(body["timestamp"], "2026-12-03T16:09:22Z");
        assert_eq!(body["data"]["index"], 41);
        assert_eq!(body["data"]["log"], "cairn.log/0123456789abcdef");
        assert_eq!(
            body["data"]["entry"],
            serde_json::from_slice::<serde_json::Value>(entry).unwrap()
        );
        assert!(Message::for_entry("cairn.log/x", 0, b"not json").is_none());
    }

    #[test]
    fn backoff_doubles_to_a_minute() {
        let waits: Vec<u64> = (1..=9).map(|n| backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }
}
