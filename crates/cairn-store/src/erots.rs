//! ERoT records. Their life cycle is `cairn_proto::lifecycle`'s; here every change is a
//! conditional `UPDATE` on the status it read, so a key is released at most once and never
//! after destruction or expiry, on any replica.

use cairn_proto::lifecycle::{ErotEvent, ErotTransition};
use cairn_proto::{Digest, ErotId, ErotStatus, HostId, UnixTime, b64};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::log::{finish, outbox};
use crate::{NewEntry, Result, Store, StoreError};

#[derive(Clone, Debug)]
pub struct ErotRecord {
    pub erot_id: ErotId,
    /// Hash of the bearer token that created it.
    pub owner: String,
    pub host_id: HostId,
    pub hk_public: Vec<u8>,
    pub workload: serde_json::Value,
    pub workload_digest: Digest,
    pub nonce: Vec<u8>,
    pub erot_pub: [u8; 32],
    pub status: ErotStatus,
    pub expires_at: UnixTime,
    pub created_at: UnixTime,
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
        erot_id: text("erot_id")?
            .parse()
            .map_err(|e| corrupt("erot_id", e))?,
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
        expires_at: UnixTime::from_secs(row.try_get("expires_at")?),
        created_at: UnixTime::from_secs(row.try_get("created_at")?),
    })
}

impl Store {
    /// Stores a new ERoT, with its `erot.generated` entry in the same transaction.
    pub async fn insert_erot(&self, erot: &ErotRecord, entry: &NewEntry) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO erots (erot_id, owner, host_id, hk_public, workload, workload_digest, nonce, erot_pub, status, expires_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
        )
        .bind(erot.erot_id.as_str())
        .bind(&erot.owner)
        .bind(erot.host_id.as_str())
        .bind(b64::encode(&erot.hk_public))
        .bind(String::from_utf8(cairn_proto::jcs::canonical(&erot.workload)).expect("JCS is UTF-8"))
        .bind(erot.workload_digest.hex())
        .bind(b64::encode(&erot.nonce))
        .bind(b64::encode(erot.erot_pub))
        .bind(erot.status.as_str())
        .bind(erot.expires_at.secs())
        .bind(erot.created_at.secs())
        .execute(&mut *tx)
        .await?;
        finish(tx, Some(entry)).await
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

    /// Applies a change the life cycle allowed, with its log entry in the same transaction;
    /// false (and nothing written) when the ERoT was no longer in the status it was judged
    /// in (another request, on any replica, got there first). A release also needs the ERoT
    /// unexpired at `now`, in the same statement, so that no release slips past its expiry
    /// (invariant 5).
    pub async fn apply_erot(
        &self,
        transition: &ErotTransition,
        entry: &NewEntry,
        now: UnixTime,
    ) -> Result<bool> {
        let sql = match transition.event() {
            ErotEvent::Release => {
                "UPDATE erots SET status = $1, updated_at = $2 WHERE erot_id = $3 AND status = $4 AND expires_at >= $2"
            }
            ErotEvent::Complete | ErotEvent::Expire => {
                "UPDATE erots SET status = $1, updated_at = $2 WHERE erot_id = $3 AND status = $4"
            }
        };
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(sql)
            .bind(transition.to().as_str())
            .bind(now.secs())
            .bind(transition.erot_id())
            .bind(transition.from().as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        finish(tx, done.then_some(entry)).await?;
        Ok(done)
    }

    /// Marks every ERoT whose time is up `expired`, each with the entry `entry` makes of it
    /// in the same transaction; answers those it marked (on several replicas, each ERoT is
    /// answered by the one whose update won).
    pub async fn expire_erots(
        &self,
        now: UnixTime,
        entry: impl Fn(&ExpiredErot) -> NewEntry,
    ) -> Result<Vec<ExpiredErot>> {
        let mut expired = vec![];
        let mut tx = self.pool.begin().await?;
        for (from, to) in ErotStatus::changes(ErotEvent::Expire) {
            let rows = sqlx::query(
                "UPDATE erots SET status = $1, updated_at = $2 WHERE status = $3 AND expires_at < $2 RETURNING erot_id, owner",
            )
            .bind(to.as_str())
            .bind(now.secs())
            .bind(from.as_str())
            .fetch_all(&mut *tx)
            .await?;
            for row in rows {
                let erot = ExpiredErot {
                    erot_id: row.try_get("erot_id")?,
                    owner: row.try_get("owner")?,
                };
                outbox(&mut tx, &entry(&erot)).await?;
                expired.push(erot);
            }
        }
        tx.commit().await?;
        Ok(expired)
    }
}
