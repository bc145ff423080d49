//! Webhook delivery: one task per `--webhook` follows the log from the webhook's place in it
//! (the store keeps it), posts each wanted entry signed as Standard Webhooks says, retries a
//! refused one with backoff until it is taken, and only then moves on. The log is the durable
//! outbox: an entry is there before its request was answered, so a receiver that is down, or
//! a server that restarts, loses nothing; it only waits.

use std::time::Duration;

use cairn_keystore::{KeyStore, KeyStoreError};
use cairn_log::webhook::{ATTEMPT_TIMEOUT, Message, Secret, Webhook, backoff};
use cairn_store::StoreError;

use crate::AppState;
use crate::clock;

/// Seconds a replica's lease on a webhook lasts unless renewed. The holder renews it every
/// [`RENEW`] while it lives, through its waits and attempts, so a replica that dies hands its
/// webhooks to a live one within about this long plus a [`POLL`] (and a server restarted on
/// its data directory takes its own back at once: see [`crate::log::Log::open`]). A renewal
/// late by more than this (a database that stalls), or replicas' clocks apart by more, may
/// have two deliver one event at once (a receiver drops the second by its `webhook-id`).
const LEASE: Duration = Duration::from_secs(6);

/// How often the holder renews its lease.
const RENEW: Duration = Duration::from_secs(1);

/// How often a caught-up webhook looks for entries that another replica appended.
const POLL: Duration = Duration::from_secs(2);

/// Entries read from the log at a time.
const PAGE: u32 = 256;

/// The secret `hook`'s deliveries are signed with, derived in the key store (every replica
/// with the same keys derives the same one).
pub fn secret(keys: &dyn KeyStore, hook: &Webhook) -> Result<Secret, KeyStoreError> {
    keys.erot_mac(&hook.secret_seed()).map(Secret::new)
}

/// Delivers `hook` until the task is dropped, as `owner` (this process's lease name).
pub async fn deliver_forever(state: AppState, hook: Webhook, owner: String) {
    let secret = match secret(state.keys.as_ref(), &hook) {
        Ok(secret) => secret,
        Err(e) => {
            tracing::error!(webhook = %hook.display(), error = %e, "no webhook secret: not delivering");
            return;
        }
    };
    let client = reqwest::Client::builder()
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tls_version_min(reqwest::tls::Version::TLS_1_2)
        .build()
        .expect("a client without custom certificates builds");
    let delivery = Delivery {
        state: &state,
        hook: &hook,
        secret: &secret,
        client: &client,
        owner: &owner,
    };
    let mut appended = state.log.appended();
    let deliver = async {
        loop {
            if let Err(e) = delivery.catch_up().await {
                tracing::warn!(webhook = %hook.display(), error = %e, "webhook delivery paused");
            }
            // This process's next entry wakes it at once; another replica's within POLL.
            if let Ok(Err(_)) = tokio::time::timeout(POLL, appended.changed()).await {
                // The log writer stopped (nothing more is appended here): poll.
                tokio::time::sleep(POLL).await;
            }
        }
    };
    // The lease is kept (or, when free, taken) beside the deliveries, through their waits
    // and attempts.
    let renew = async {
        loop {
            tokio::time::sleep(RENEW).await;
            if let Err(e) = delivery.lease().await {
                tracing::warn!(webhook = %hook.display(), error = %e, "webhook lease not renewed");
            }
        }
    };
    tokio::select! {
        () = deliver => {}
        () = renew => {}
    }
}

struct Delivery<'a> {
    state: &'a AppState,
    hook: &'a Webhook,
    secret: &'a Secret,
    client: &'a reqwest::Client,
    owner: &'a str,
}

impl Delivery<'_> {
    /// Takes the lease (or renews it): where the webhook is in the log, `None` if another
    /// replica delivers it.
    async fn lease(&self) -> Result<Option<u64>, StoreError> {
        let now = clock::now();
        self.state
            .store
            .lease_webhook(&self.hook.key(), self.owner, now, now.after(LEASE))
            .await
    }

    /// Records that the first `delivered` entries are done; `false` if the lease was lost.
    async fn advance(&self, delivered: u64) -> Result<bool, StoreError> {
        self.state
            .store
            .webhook_delivered(
                &self.hook.key(),
                self.owner,
                delivered,
                clock::now().after(LEASE),
            )
            .await
    }

    /// Delivers every entry after the webhook's place, in order, until none is left or the
    /// lease is another replica's.
    async fn catch_up(&self) -> Result<(), StoreError> {
        let origin = self.state.log.signer().key().origin();
        loop {
            let Some(place) = self.lease().await? else {
                return Ok(());
            };
            let entries = self
                .state
                .store
                .log_events(place.checked_sub(1), None, PAGE)
                .await?;
            let Some(last) = entries.last().map(|e| e.index) else {
                return Ok(());
            };
            for entry in &entries {
                let message = Message::for_entry(origin, entry.index, &entry.bytes)
                    .ok_or_else(|| StoreError::Corrupt(format!("log entry {}", entry.index)))?;
                if !self.hook.wants(&message.event_type) {
                    continue;
                }
                let taken = self.post_until_taken(entry.index, &message).await?;
                if !taken || !self.advance(entry.index + 1).await? {
                    return Ok(());
                }
            }
            // The entries it does not want are done too.
            if !self.advance(last + 1).await? {
                return Ok(());
            }
        }
    }

    /// Posts `message` (of entry `index`) until the receiver answers 2xx, waiting longer after
    /// each failure; `false` if another replica took the lease meanwhile (and may have
    /// delivered it).
    async fn post_until_taken(&self, index: u64, message: &Message) -> Result<bool, StoreError> {
        let metrics = &self.state.metrics;
        let mut failures = 0;
        loop {
            let timestamp = clock::now();
            let sent = self
                .client
                .post(self.hook.url())
                .header("content-type", "application/json")
                .header("webhook-id", &message.id)
                .header("webhook-timestamp", timestamp.to_string())
                .header(
                    "webhook-signature",
                    self.secret.sign(message, timestamp.secs()),
                )
                .body(message.body.clone())
                .send()
                .await;
            // The answer's body is never read: a receiver says yes or no with its status.
            let refused = match sent {
                Ok(answer) if answer.status().is_success() => {
                    metrics.webhook_deliveries.inc();
                    return Ok(true);
                }
                Ok(answer) => format!("answered {}", answer.status()),
                // Without the URL, which reqwest's errors quote.
                Err(e) => format!("unreachable: {}", e.without_url()),
            };
            metrics.webhook_failures.inc();
            failures += 1;
            let wait = backoff(failures);
            tracing::warn!(webhook = %self.hook.display(), id = %message.id, %refused,
                retry_in_s = wait.as_secs(), "webhook delivery failed");
            tokio::time::sleep(wait).await;
            match self.lease().await? {
                Some(place) if place <= index => {}
                _ => return Ok(false),
            }
        }
    }
}
