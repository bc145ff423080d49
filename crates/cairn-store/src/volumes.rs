//! Volumes (their wrapped keys) and the instances placed on hosts.

use cairn_proto::api::VolumeFormat;
use cairn_proto::{HostId, UnixTime, b64};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::log::finish;
use crate::{NewEntry, Result, Store, StoreError};

#[derive(Clone, Debug)]
pub struct VolumeRecord {
    pub volume_id: String,
    pub format: VolumeFormat,
    /// The key wrapped by the key store's KEK `kek_id`; never the key itself.
    pub wrapped_key: Vec<u8>,
    pub kek_id: String,
    pub created_at: i64,
}

#[derive(Clone, Debug)]
pub struct InstanceRecord {
    pub instance_id: String,
    pub host_id: HostId,
    pub volume_ids: Vec<String>,
    pub image_digest: Option<String>,
}

/// An instance where it is placed now, and which of its security tokens still count.
#[derive(Clone, Debug)]
pub struct Placement {
    pub instance: InstanceRecord,
    pub revoked_at: Option<i64>,
    /// Tokens issued (`iat`) before this are void: the instance was revoked or moved since.
    pub tokens_after: i64,
}

impl Placement {
    /// Whether a security token for this instance, naming `host` and issued at `iat`, still
    /// counts: the instance is not revoked, is on that host, and has not moved since.
    pub fn honours(&self, host: &HostId, iat: UnixTime) -> bool {
        self.revoked_at.is_none()
            && self.instance.host_id == *host
            && iat.secs() >= self.tokens_after
    }
}

fn volume_from_row(row: &AnyRow) -> Result<VolumeRecord> {
    Ok(VolumeRecord {
        volume_id: row.try_get("volume_id")?,
        format: row
            .try_get::<String, _>("format")?
            .parse()
            .map_err(|e| StoreError::Corrupt(format!("format: {e}")))?,
        wrapped_key: b64::decode(&row.try_get::<String, _>("wrapped_key")?)
            .map_err(|e| StoreError::Corrupt(format!("wrapped_key: {e}")))?,
        kek_id: row.try_get("kek_id")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Registers a volume; `false` when the id is taken (nothing is overwritten: a volume's
    /// key never changes under it).
    pub async fn insert_volume(&self, volume: &VolumeRecord) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO volumes (volume_id, format, wrapped_key, kek_id, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (volume_id) DO NOTHING",
        )
        .bind(&volume.volume_id)
        .bind(volume.format.as_str())
        .bind(b64::encode(&volume.wrapped_key))
        .bind(&volume.kek_id)
        .bind(volume.created_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn volume(&self, volume_id: &str) -> Result<Option<VolumeRecord>> {
        sqlx::query(
            "SELECT volume_id, format, wrapped_key, kek_id, created_at FROM volumes WHERE volume_id = $1",
        )
        .bind(volume_id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(volume_from_row)
        .transpose()
    }

    pub async fn volumes(&self) -> Result<Vec<VolumeRecord>> {
        sqlx::query(
            "SELECT volume_id, format, wrapped_key, kek_id, created_at FROM volumes ORDER BY created_at, volume_id",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(volume_from_row)
        .collect()
    }

    /// Records where the control plane placed an instance; placing it again (a migration, a
    /// reboot) replaces the record and lifts a revocation. A move to another host voids the
    /// tokens issued before it; tokens voided by a revocation stay void.
    /// Its `instance.created` entry goes in the same transaction.
    pub async fn upsert_instance(
        &self,
        instance: &InstanceRecord,
        now: UnixTime,
        entry: &NewEntry,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO instances (instance_id, host_id, volume_ids, image_digest, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
             ON CONFLICT (instance_id) DO UPDATE SET host_id = excluded.host_id, volume_ids = excluded.volume_ids, image_digest = excluded.image_digest, updated_at = excluded.updated_at, \
             revoked_at = NULL, \
             tokens_after = CASE WHEN instances.host_id <> excluded.host_id AND instances.tokens_after < excluded.updated_at THEN excluded.updated_at ELSE instances.tokens_after END",
        )
        .bind(&instance.instance_id)
        .bind(instance.host_id.as_str())
        .bind(serde_json::to_string(&instance.volume_ids).expect("JSON"))
        .bind(instance.image_digest.as_deref())
        .bind(now.secs())
        .execute(&mut *tx)
        .await?;
        finish(tx, Some(entry)).await
    }

    /// Voids every security token issued for the instance until now (and in this second),
    /// with its `instance.revoked` entry in the same transaction; false (and nothing written)
    /// when there is no such instance.
    pub async fn revoke_instance(
        &self,
        instance_id: &str,
        now: UnixTime,
        entry: &NewEntry,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE instances SET revoked_at = $1, tokens_after = $2 WHERE instance_id = $3",
        )
        .bind(now.secs())
        .bind(now.secs() + 1)
        .bind(instance_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        finish(tx, done.then_some(entry)).await?;
        Ok(done)
    }

    pub async fn instance(&self, instance_id: &str) -> Result<Option<Placement>> {
        let Some(row) = sqlx::query(
            "SELECT instance_id, host_id, volume_ids, image_digest, revoked_at, tokens_after FROM instances WHERE instance_id = $1",
        )
        .bind(instance_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let corrupt = |what: &str, e: String| StoreError::Corrupt(format!("{what}: {e}"));
        let instance = InstanceRecord {
            instance_id: row.try_get("instance_id")?,
            host_id: row
                .try_get::<String, _>("host_id")?
                .parse()
                .map_err(|e| corrupt("host_id", e))?,
            volume_ids: serde_json::from_str(&row.try_get::<String, _>("volume_ids")?)
                .map_err(|e| corrupt("volume_ids", e.to_string()))?,
            image_digest: row.try_get("image_digest")?,
        };
        Ok(Some(Placement {
            instance,
            revoked_at: row.try_get("revoked_at")?,
            tokens_after: row.try_get("tokens_after")?,
        }))
    }
}
