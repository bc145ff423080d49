//! The store's own upkeep: what has expired is retired without anyone asking, so that the
//! state read back is true and nothing piles up.

use std::time::Duration;

use crate::{ExpiredErot, NewEntry, Store};

/// How often expired nonces are deleted and expired ERoTs marked so. Reads never depend on
/// this: consuming a nonce and releasing an ERoT check expiry themselves.
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);

/// Seconds a used nonce is remembered past its expiry.
const USED_NONCE_SLACK: i64 = 300;

impl Store {
    /// Runs until the task is dropped: every [`EXPIRY_INTERVAL`], deletes expired challenge
    /// nonces and marks expired ERoTs `expired`, each with the log entry `entry` makes of it
    /// (in the same transaction), then calls `logged` (which has the log take them in). On
    /// several replicas each does this; the updates are idempotent.
    pub async fn expire_forever(self, entry: impl Fn(&ExpiredErot) -> NewEntry, logged: impl Fn()) {
        let mut tick = tokio::time::interval(EXPIRY_INTERVAL);
        loop {
            tick.tick().await;
            let now = cairn_proto::UnixTime::now();
            // A used nonce is forgotten well after it expires: a request that checked the
            // nonce's expiry just in time may still be on its way to recording the use (a
            // pool wait, a replica's clock a little behind), and forgetting first would let
            // it count as a first use.
            if let Err(e) = self.prune_nonces(now.secs() - USED_NONCE_SLACK).await {
                tracing::warn!(error = %e, "pruning expired nonces failed");
            }
            match self.expire_erots(now, &entry).await {
                Ok(erots) if !erots.is_empty() => logged(),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "expiring ERoTs failed"),
            }
        }
    }
}
