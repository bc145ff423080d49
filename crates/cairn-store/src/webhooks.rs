//! Webhooks' places in the log (migration 0009). The log is every webhook's durable outbox:
//! a webhook's row keeps only how many entries are done, and a lease that lets one replica at
//! a time deliver it, so that deliveries go out once and in log order whichever replica is up.

use cairn_proto::UnixTime;
use sqlx::Row;

use crate::{Result, Store};

impl Store {
    /// Keeps a place in the log for `webhook` (its URL and filter, as configured); a new webhook starts at the log's
    /// current size (it gets what happens from its configuration on). Answers its place.
    pub async fn register_webhook(&self, webhook: &str) -> Result<u64> {
        // SQLite reads `ON CONFLICT` after a SELECT as an upsert only once a WHERE ends it.
        sqlx::query(
            "INSERT INTO webhook_cursors (webhook, delivered, lease_owner, lease_until) \
             SELECT $1, size, NULL, 0 FROM log_head WHERE id = 1 ON CONFLICT (webhook) DO NOTHING",
        )
        .bind(webhook)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT delivered FROM webhook_cursors WHERE webhook = $1")
            .bind(webhook)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("delivered")? as u64)
    }

    /// Takes or renews the lease on `webhook` for `owner` until `until`, unless another holds a lease that has not run out at `now`. Answers its
    /// place, or `None` if another replica delivers it.
    pub async fn lease_webhook(
        &self,
        webhook: &str,
        owner: &str,
        now: UnixTime,
        until: UnixTime,
    ) -> Result<Option<u64>> {
        let row = sqlx::query(
            "UPDATE webhook_cursors SET lease_owner = $2, lease_until = $3 \
             WHERE webhook = $1 AND (lease_owner = $2 OR lease_owner IS NULL OR lease_until < $4) \
             RETURNING delivered",
        )
        .bind(webhook)
        .bind(owner)
        .bind(until.secs())
        .bind(now.secs())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| Ok(row.try_get::<i64, _>("delivered")? as u64))
            .transpose()
    }

    /// Moves `webhook`'s place on to `delivered` entries, renewing `owner`'s lease until `until`;
    /// `false` (and nothing moved) if `owner` no longer holds the lease.
    pub async fn webhook_delivered(
        &self,
        webhook: &str,
        owner: &str,
        delivered: u64,
        until: UnixTime,
    ) -> Result<bool> {
        let moved = sqlx::query(
            "UPDATE webhook_cursors SET delivered = $3, lease_until = $4 \
             WHERE webhook = $1 AND lease_owner = $2 AND delivered <= $3",
        )
        .bind(webhook)
        .bind(owner)
        .bind(delivered as i64)
        .bind(until.secs())
        .execute(&self.pool)
        .await?;
        Ok(moved.rows_affected() == 1)
    }

    /// Gives up every lease `owner` holds (a server that stops), for another replica, or the
    /// same server restarted, to take at once.
    pub async fn release_webhooks(&self, owner: &str) -> Result<()> {
        sqlx::query(
            "UPDATE webhook_cursors SET lease_owner = NULL, lease_until = 0 WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
