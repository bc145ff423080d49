//! The registry of hosts, their states and their fingerprint history.

use std::sync::Arc;

use cairn_proto::api::{FingerprintRecord, TokenRole};
use cairn_proto::lifecycle::{HostChange, KeyProof};
use cairn_proto::{Digest, HardwareKey, HostId, HostStatus, Report, b64};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

#[derive(Clone, Debug)]
pub struct HostRecord {
    pub host_id: HostId,
    pub name: String,
    pub hk: HardwareKey,
    pub status: HostStatus,
    pub report: Report,
    pub fingerprint: Digest,
    pub created_at: i64,
    pub updated_at: i64,
    /// The tripped sensors it was quarantined for, until an operator clears them.
    pub tamper: Vec<String>,
}

pub struct NewHost {
    pub name: String,
    pub hk: HardwareKey,
    pub report: Report,
    /// A TPM host's credential challenge: it stays `pending` until answered.
    pub activation: Option<Activation>,
}

/// The challenge a TPM host must answer before its enrollment takes effect.
#[derive(Clone, Debug)]
pub struct Activation {
    /// SHA-256 of the secret sealed to the host's EK (the secret itself is never stored).
    pub secret_digest: String,
    /// What answering grants without a join token: `Active` when the EK certificate chains
    /// to a CA trusted to auto-approve, else `Pending` (an operator approves).
    pub grants: HostStatus,
}

#[derive(Debug)]
pub enum Enrolled {
    Created(Arc<HostRecord>),
    /// The key was enrolled before: the existing record, unchanged.
    Existing(Arc<HostRecord>),
    /// A join token was given but is unknown, used or expired; nothing was written.
    JoinTokenRejected,
    /// As many hosts as allowed await approval already; nothing was written.
    PendingFull(i64),
}

impl Enrolled {
    pub fn host(&self) -> Option<&HostRecord> {
        match self {
            Enrolled::Created(host) | Enrolled::Existing(host) => Some(host),
            Enrolled::JoinTokenRejected | Enrolled::PendingFull(_) => None,
        }
    }
}

#[derive(Debug)]
pub enum Transition {
    Done(Arc<HostRecord>),
    NotFound,
    /// The host was no longer in the status the change was judged against: the one it is in.
    Conflict(HostStatus),
}

/// A host row with its registered report (stored once, in `reports`).
const HOST_SELECT: &str = "SELECT h.host_id, h.name, h.hk_alg, h.hk_public, h.status, r.report, h.fingerprint, \
     h.created_at, h.updated_at, h.tamper FROM hosts h JOIN reports r ON r.fingerprint = h.fingerprint";

/// What attestation needs of a host beside its key, as committed now.
#[derive(Clone, Debug)]
pub struct HostState {
    pub status: HostStatus,
    /// The registered hardware's fingerprint.
    pub fingerprint: Digest,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn host_from_row(row: &AnyRow) -> Result<HostRecord> {
    let text = |name: &str| row.try_get::<String, _>(name);
    let state = state_from_row(row)?;
    Ok(HostRecord {
        host_id: text("host_id")?
            .parse()
            .map_err(|e| corrupt("host_id", e))?,
        name: text("name")?,
        hk: key_from_row(row)?,
        status: state.status,
        report: report_from_row(row)?,
        fingerprint: state.fingerprint,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        tamper: match row.try_get::<Option<String>, _>("tamper")? {
            Some(json) => serde_json::from_str(&json).map_err(|e| corrupt("tamper", e))?,
            None => vec![],
        },
    })
}

fn key_from_row(row: &AnyRow) -> Result<HardwareKey> {
    let text = |name: &str| row.try_get::<String, _>(name);
    Ok(HardwareKey {
        alg: text("hk_alg")?.parse().map_err(|e| corrupt("hk_alg", e))?,
        public_key: b64::decode(&text("hk_public")?).map_err(|e| corrupt("hk_public", e))?,
    })
}

pub(crate) fn state_from_row(row: &AnyRow) -> Result<HostState> {
    let text = |name: &str| row.try_get::<String, _>(name);
    Ok(HostState {
        status: text("status")?.parse().map_err(|e| corrupt("status", e))?,
        fingerprint: text("fingerprint")?
            .parse()
            .map_err(|e| corrupt("fingerprint", e))?,
    })
}

fn report_from_row(row: &AnyRow) -> Result<Report> {
    serde_json::from_str(&row.try_get::<String, _>("report")?).map_err(|e| corrupt("report", e))
}

fn report_json(report: &Report) -> String {
    String::from_utf8(cairn_proto::jcs::canonical(report)).expect("JCS is UTF-8")
}

impl Store {
    /// Registers a host in the status the life cycle gives a new enrollment: `active` when
    /// `join_token_hash` names an unused, unexpired join token (consumed in the same
    /// transaction) and no credential activation is owed, else `pending`. Without a join
    /// token, a new host is refused when `max_pending` hosts already await approval (counted
    /// in the transaction that adds it: on SQLite exactly, on PostgreSQL give or take the
    /// enrollments committing at that instant).
    pub async fn enroll_host(
        &self,
        new: NewHost,
        join_token_hash: Option<&str>,
        max_pending: u64,
        now: i64,
    ) -> Result<Enrolled> {
        let host_id = new.hk.host_id();
        let fingerprint = new.report.fingerprint();
        let proof = match new.activation {
            Some(_) => KeyProof::Owed,
            None => KeyProof::Proven,
        };
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO hosts (host_id, name, hk_alg, hk_public, status, fingerprint, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (host_id) DO NOTHING",
        )
        .bind(host_id.as_str())
        .bind(&new.name)
        .bind(new.hk.alg.as_str())
        .bind(b64::encode(&new.hk.public_key))
        .bind(HostStatus::enrolled(false, proof).as_str())
        .bind(fingerprint.hex())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            let existing = self
                .host(&host_id)
                .await?
                .ok_or_else(|| corrupt("host", "vanished during enrollment"))?;
            if let Some(activation) = &new.activation {
                // Enrolling again before answering (the agent restarted): a new challenge
                // replaces the old one; an answered one stays answered.
                sqlx::query(
                    "UPDATE host_activations SET secret_digest = $1, created_at = $2 WHERE host_id = $3",
                )
                .bind(&activation.secret_digest)
                .bind(now)
                .bind(host_id.as_str())
                .execute(&self.pool)
                .await?;
            }
            return Ok(Enrolled::Existing(existing));
        }
        if join_token_hash.is_none() {
            let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosts WHERE status = $1")
                .bind(HostStatus::Pending.as_str())
                .fetch_one(&mut *tx)
                .await?;
            if u64::try_from(pending).map_or(true, |n| n > max_pending) {
                tx.rollback().await?;
                return Ok(Enrolled::PendingFull(pending - 1));
            }
        }
        let mut grants = new.activation.as_ref().map(|a| a.grants);
        if let Some(hash) = join_token_hash {
            let used = sqlx::query(
                "UPDATE tokens SET used_at = $1 WHERE token_hash = $2 AND role = $3 AND used_at IS NULL \
                 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)",
            )
            .bind(now)
            .bind(hash)
            .bind(TokenRole::Join.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if used != 1 {
                tx.rollback().await?;
                return Ok(Enrolled::JoinTokenRejected);
            }
            match &mut grants {
                // A TPM host gets what the token grants only once it has answered its
                // challenge.
                Some(grants) => *grants = HostStatus::enrolled(true, KeyProof::Proven),
                None => {
                    sqlx::query("UPDATE hosts SET status = $1 WHERE host_id = $2")
                        .bind(HostStatus::enrolled(true, proof).as_str())
                        .bind(host_id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        if let (Some(activation), Some(grants)) = (&new.activation, grants) {
            sqlx::query(
                "INSERT INTO host_activations (host_id, secret_digest, grants, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(host_id.as_str())
            .bind(&activation.secret_digest)
            .bind(grants.as_str())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        insert_history(&mut tx, &host_id, &new.report, "enrolled", now).await?;
        tx.commit().await?;
        self.evict(&host_id);
        let created = self
            .host(&host_id)
            .await?
            .ok_or_else(|| corrupt("host", "missing after enrollment"))?;
        Ok(Enrolled::Created(created))
    }

    /// A host as committed now (served from memory when this process owns the database,
    /// shared rather than copied: every attestation reads one).
    pub async fn host(&self, host_id: &HostId) -> Result<Option<Arc<HostRecord>>> {
        let generation = match self.local.as_ref().map(|local| local.cached(host_id)) {
            Some(Ok(record)) => return Ok(Some(record)),
            Some(Err(generation)) => Some(generation),
            None => None,
        };
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{HOST_SELECT} WHERE h.host_id = $1"
        )))
        .bind(host_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let record = row.as_ref().map(host_from_row).transpose()?.map(Arc::new);
        if let (Some(local), Some(record), Some(generation)) = (&self.local, &record, generation) {
            local.remember(record, generation);
        }
        Ok(record)
    }

    /// The hardware key enrolled under `host_id`, from memory after its first read: the id
    /// is the key's digest, so the key never changes (see `hardware_keys`).
    pub async fn hardware_key(&self, host_id: &HostId) -> Result<Option<Arc<HardwareKey>>> {
        if let Some(key) = self.keys.get(host_id) {
            return Ok(Some(key));
        }
        let row = sqlx::query("SELECT hk_alg, hk_public, status FROM hosts WHERE host_id = $1")
            .bind(host_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let key = Arc::new(key_from_row(&row)?);
        if key.host_id() != *host_id {
            return Err(corrupt("hk_public", format!("not the key of {host_id}")));
        }
        // As in the host cache: anyone can enroll a pending host, so none is remembered.
        if row.try_get::<String, _>("status")? != HostStatus::Pending.as_str() {
            self.keys.remember(host_id, &key);
        }
        Ok(Some(key))
    }

    /// The report a host registered under `fingerprint` (its [`HostState`]'s), for comparing
    /// its evidence with: from memory when this process owns the database.
    pub async fn registered_report(
        &self,
        host_id: &HostId,
        fingerprint: &Digest,
    ) -> Result<Report> {
        if self.local.is_some()
            && let Some(host) = self.host(host_id).await?
            && host.fingerprint == *fingerprint
        {
            return Ok(host.report.clone());
        }
        let row = sqlx::query("SELECT report FROM reports WHERE fingerprint = $1")
            .bind(fingerprint.hex())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| corrupt("reports", format!("no report {fingerprint}")))?;
        report_from_row(&row)
    }

    fn evict(&self, host_id: &HostId) {
        if let Some(local) = &self.local {
            local.evict(host_id);
        }
    }

    pub async fn hosts(&self) -> Result<Vec<HostRecord>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{HOST_SELECT} ORDER BY h.created_at, h.host_id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(host_from_row).collect()
    }

    /// Whether a TPM host has yet to answer its credential challenge.
    pub async fn activation_pending(&self, host_id: &HostId) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 FROM host_activations WHERE host_id = $1")
                .bind(host_id.as_str())
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// A TPM host answers its challenge: when `secret_digest` is the one asked for, the
    /// challenge is spent and the host gets what it grants. `None` for a wrong answer (or no
    /// challenge), which changes nothing.
    pub async fn activate_host(
        &self,
        host_id: &HostId,
        secret_digest: &str,
        now: i64,
    ) -> Result<Option<Arc<HostRecord>>> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT grants FROM host_activations WHERE host_id = $1 AND secret_digest = $2",
        )
        .bind(host_id.as_str())
        .bind(secret_digest)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(None);
        };
        let grants: HostStatus = row
            .try_get::<String, _>("grants")?
            .parse()
            .map_err(|e| corrupt("grants", e))?;
        sqlx::query("DELETE FROM host_activations WHERE host_id = $1")
            .bind(host_id.as_str())
            .execute(&mut *tx)
            .await?;
        let from = HostStatus::Pending;
        if let Ok(to) = from.apply(HostChange::Activated)
            && grants == to
        {
            sqlx::query(
                "UPDATE hosts SET status = $1, updated_at = $2 WHERE host_id = $3 AND status = $4",
            )
            .bind(to.as_str())
            .bind(now)
            .bind(host_id.as_str())
            .bind(from.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.evict(host_id);
        self.host(host_id).await
    }

    /// Moves a host without a tamper mark from `from` to `to`, as the life cycle judged. The
    /// update is conditional on both, so a concurrent change on any replica is never
    /// overwritten: a lost race reports the status that won.
    pub async fn transition(
        &self,
        host_id: &HostId,
        from: HostStatus,
        to: HostStatus,
        now: i64,
    ) -> Result<Transition> {
        let sql = "UPDATE hosts SET status = $1, updated_at = $2 \
                   WHERE host_id = $3 AND status = $4 AND tamper IS NULL";
        self.update_status(host_id, (from, to), None, sql, now)
            .await
    }

    /// Quarantines a host for tamper from `from` (as [`Self::transition`] does), marking it
    /// with the `sensors` found tripped until an operator clears them.
    pub async fn quarantine_for_tamper(
        &self,
        host_id: &HostId,
        from: HostStatus,
        sensors: &[String],
        now: i64,
    ) -> Result<Transition> {
        let sql = "UPDATE hosts SET status = $1, updated_at = $2, tamper = $5 \
                   WHERE host_id = $3 AND status = $4 AND tamper IS NULL";
        let mark = serde_json::to_string(sensors).expect("strings serialize");
        let change = (from, HostStatus::Quarantined);
        self.update_status(host_id, change, Some(mark), sql, now)
            .await
    }

    /// Moves a host quarantined for tamper to `to` (`clear-tamper`, `revoke`), its mark gone.
    pub async fn leave_tamper_quarantine(
        &self,
        host_id: &HostId,
        to: HostStatus,
        now: i64,
    ) -> Result<Transition> {
        let sql = "UPDATE hosts SET status = $1, updated_at = $2, tamper = NULL \
                   WHERE host_id = $3 AND status = $4 AND tamper IS NOT NULL";
        let change = (HostStatus::Quarantined, to);
        self.update_status(host_id, change, None, sql, now).await
    }

    async fn update_status(
        &self,
        host_id: &HostId,
        (from, to): (HostStatus, HostStatus),
        tamper: Option<String>,
        sql: &'static str,
        now: i64,
    ) -> Result<Transition> {
        let mut query = sqlx::query(sql)
            .bind(to.as_str())
            .bind(now)
            .bind(host_id.as_str())
            .bind(from.as_str());
        if let Some(mark) = tamper {
            query = query.bind(mark);
        }
        let changed = query.execute(&self.pool).await?.rows_affected();
        self.evict(host_id);
        match self.host(host_id).await? {
            Some(host) if changed == 1 => Ok(Transition::Done(host)),
            Some(host) => Ok(Transition::Conflict(host.status)),
            None => Ok(Transition::NotFound),
        }
    }

    /// Accepts `report` as the host's registered hardware while moving it from `from` to `to`
    /// (closing a maintenance window); the old fingerprint stays in the history. Only a host
    /// still in `from` is changed; returns whether it was.
    pub async fn accept_fingerprint(
        &self,
        host_id: &HostId,
        report: &Report,
        (from, to): (HostStatus, HostStatus),
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        let fingerprint = report.fingerprint();
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE hosts SET fingerprint = $1, status = $2, updated_at = $3 \
             WHERE host_id = $4 AND status = $5",
        )
        .bind(fingerprint.hex())
        .bind(to.as_str())
        .bind(now)
        .bind(host_id.as_str())
        .bind(from.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 1 {
            insert_history(&mut tx, host_id, report, reason, now).await?;
        }
        tx.commit().await?;
        self.evict(host_id);
        Ok(changed == 1)
    }

    pub async fn history(&self, host_id: &HostId) -> Result<Vec<FingerprintRecord>> {
        let rows = sqlx::query(
            "SELECT fingerprint, reason, recorded_at FROM host_fingerprints WHERE host_id = $1 ORDER BY recorded_at, fingerprint",
        )
        .bind(host_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let at: i64 = row.try_get("recorded_at")?;
                Ok(FingerprintRecord {
                    fingerprint: row
                        .try_get::<String, _>("fingerprint")?
                        .parse()
                        .map_err(|e| corrupt("fingerprint", e))?,
                    reason: row.try_get("reason")?,
                    recorded_at: time::OffsetDateTime::from_unix_timestamp(at)
                        .map_err(|e| corrupt("recorded_at", e))?,
                })
            })
            .collect()
    }
}

/// Stores `report` unless it is stored already (a fingerprint names one report).
async fn insert_report(tx: &mut sqlx::Transaction<'_, sqlx::Any>, report: &Report) -> Result<()> {
    sqlx::query(
        "INSERT INTO reports (fingerprint, report) VALUES ($1, $2) ON CONFLICT (fingerprint) DO NOTHING",
    )
    .bind(report.fingerprint().hex())
    .bind(report_json(report))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records `report` in the host's history (stored once, however many entries name it).
async fn insert_history(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    host_id: &HostId,
    report: &Report,
    reason: &str,
    now: i64,
) -> Result<()> {
    insert_report(tx, report).await?;
    sqlx::query("INSERT INTO host_fingerprints (host_id, fingerprint, reason, recorded_at) VALUES ($1, $2, $3, $4)")
        .bind(host_id.as_str())
        .bind(report.fingerprint().hex())
        .bind(reason)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
