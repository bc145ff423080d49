//! ERoT records. Their life cycle is `cairn_proto::lifecycle`'s; here every change is a
//! conditional `UPDATE` on the status it read, so a key is released at most once and never
//! after destruction or expiry, on any replica.

use cairn_proto::lifecycle::ErotEvent;
use cairn_proto::{Digest, ErotStatus, HostId, b64};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

#[derive(Clone, Debug)]
pub struct ErotRecord {
    pub erot_id: String,
    /// Hash of the bearer token that created it.
    pub owner: String,
    pub host_id: HostId,
    pub hk_public: Vec<u8>,
    pub workload: serde_json::Value,
    pub workload_digest: Digest,
    pub nonce: Vec<u8>,
    pub erot_pub: [u8; 32],
    pub status: ErotStatus,
    pub expires_at: i64,
    pub created_at: i64,
}

/// An ERoT the expiry sweep retired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpiredErot {
    pub erot_id: String,
    pub owner: String,
}

fn erot_from_row(row: &AnyRow) -> Result<ErotRecord> {
    let corrupt = |what: &str, e: String| StoreError::Corrupt(format!("{what}: {e}"));
    let text = |name: &str| row.try_get::<String, _>(name);
    Ok(ErotRecord {
        erot_id: text("erot_id")?,
        owner: text("owner")?,
        host_id: text("host_id")?
            .parse()
            .map_err(|e| corrupt("host_id", e))?,
        hk_public: b64::decode(&text("hk_public")?)
            .map_err(|e| corrupt("hk_public", e.to_string()))?,
        workload: serde_json::from_str(&text("workload")?)
            .map_err(|e| corrupt("workload", e.to_string()))?,
        workload_digest: text("workload_digest")?
            .parse()
            .map_err(|e| corrupt("workload_digest", e))?,
        nonce: b64::decode(&text("nonce")?).map_err(|e| corrupt("nonce", e.to_string()))?,
        erot_pub: b64::decode_array(&text("erot_pub")?).map_err(|e| corrupt("erot_pub", e))?,
        status: text("status")?.parse().map_err(|e| corrupt("status", e))?,
        expires_at: row.try_get("expires_at")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    pub async fn insert_erot(&self, erot: &ErotRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO erots (erot_id, owner, host_id, hk_public, workload, workload_digest, nonce, erot_pub, status, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(&erot.erot_id)
        .bind(&erot.owner)
        .bind(erot.host_id.as_str())
        .bind(b64::encode(&erot.hk_public))
        .bind(String::from_utf8(cairn_proto::jcs::canonical(&erot.workload)).expect("JCS is UTF-8"))
        .bind(erot.workload_digest.hex())
        .bind(b64::encode(&erot.nonce))
        .bind(b64::encode(erot.erot_pub))
        .bind(erot.status.as_str())
        .bind(erot.expires_at)
        .bind(erot.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn erot(&self, erot_id: &str) -> Result<Option<ErotRecord>> {
        sqlx::query("SELECT * FROM erots WHERE erot_id = $1")
            .bind(erot_id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(erot_from_row)
            .transpose()
    }

    /// Moves an ERoT from `from` to `to`; false when its status was not `from` (another
    /// request, on any replica, got there first).
    pub async fn erot_transition(
        &self,
        erot_id: &str,
        from: ErotStatus,
        to: ErotStatus,
        now: i64,
    ) -> Result<bool> {
        self.move_erot(
            "UPDATE erots SET status = $1, updated_at = $2 WHERE erot_id = $3 AND status = $4",
            (erot_id, from, to, now),
        )
        .await
    }

    /// Releases an ERoT's key: moves it from `from` to `to` only if it is still unexpired at
    /// `now`, in the same statement, so that no release slips past its expiry (invariant 5).
    pub async fn release_erot(
        &self,
        erot_id: &str,
        from: ErotStatus,
        to: ErotStatus,
        now: i64,
    ) -> Result<bool> {
        self.move_erot(
            "UPDATE erots SET status = $1, updated_at = $2 WHERE erot_id = $3 AND status = $4 AND expires_at >= $2",
            (erot_id, from, to, now),
        )
        .await
    }

    async fn move_erot(
        &self,
        update: &'static str,
        (erot_id, from, to, now): (&str, ErotStatus, ErotStatus, i64),
    ) -> Result<bool> {
        let done = sqlx::query(update)
            .bind(to.as_str())
            .bind(now)
            .bind(erot_id)
            .bind(from.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Marks every ERoT past its expiry that can expire `expired`; returns how many.
    /// Marks every ERoT whose time is up `expired`; answers those it marked (on several
    /// replicas, each ERoT is answered by the one whose update won).
    pub async fn expire_erots(&self, now: i64) -> Result<Vec<ExpiredErot>> {
        let mut expired = vec![];
        for (from, to) in ErotStatus::changes(ErotEvent::Expire) {
            let rows = sqlx::query(
                "UPDATE erots SET status = $1, updated_at = $2 WHERE status = $3 AND expires_at < $2 RETURNING erot_id, owner",
            )
            .bind(to.as_str())
            .bind(now)
            .bind(from.as_str())
            .fetch_all(&self.pool)
            .await?;
            for row in rows {
                expired.push(ExpiredErot {
                    erot_id: row.try_get("erot_id")?,
                    owner: row.try_get("owner")?,
                });
            }
        }
        Ok(expired)
    }
}
