//! The registry of hosts, their states and their fingerprint history.

use std::sync::Arc;

use cairn_proto::api::{FingerprintRecord, TokenRole};
use cairn_proto::lifecycle::{Admission, EkTrust, HostTransition, TamperMark};
use cairn_proto::{Digest, HardwareKey, HostId, HostStatus, Report, UnixTime, b64};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::log::finish;
use crate::{NewEntry, Result, Store, StoreError};

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
    pub challenge: Option<Challenge>,
}

/// The challenge a TPM host must answer before its enrollment takes effect.
#[derive(Clone, Debug)]
pub struct Challenge {
    /// SHA-256 of the secret sealed to the host's EK (the secret itself is never stored).
    pub secret_digest: String,
    /// How far its EK certificate is trusted.
    pub ek: EkTrust,
}

impl NewHost {
    /// What the life cycle gives it, with a join token or without.
    pub fn admission(&self, join_token: bool) -> Admission {
        Admission::new(join_token, self.challenge.as_ref().map(|c| c.ek))
    }
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
    /// Registers a host in the status its admission ([`NewHost::admission`]) gives it, consuming the join token
    /// `join_token_hash` names (unused, unexpired) in the same transaction, and writing
    /// `entry` (its `host.enrolled` event) with it. Without a join token, a new host is
    /// refused when `max_pending` hosts already await approval (counted in the transaction
    /// that adds it: on SQLite exactly, on PostgreSQL give or take the enrollments committing
    /// at that instant). A refused enrollment, or one whose key was enrolled already, writes
    /// nothing.
    pub async fn enroll_host(
        &self,
        new: NewHost,
        join_token_hash: Option<&str>,
        max_pending: u64,
        now: UnixTime,
        entry: &NewEntry,
    ) -> Result<Enrolled> {
        let host_id = new.hk.host_id();
        let fingerprint = new.report.fingerprint();
        let admission = new.admission(join_token_hash.is_some());
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO hosts (host_id, name, hk_alg, hk_public, status, fingerprint, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7) ON CONFLICT (host_id) DO NOTHING",
        )
        .bind(host_id.as_str())
        .bind(&new.name)
        .bind(new.hk.alg.as_str())
        .bind(b64::encode(&new.hk.public_key))
        .bind(admission.status().as_str())
        .bind(fingerprint.hex())
        .bind(now.secs())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            tx.rollback().await?;
            let existing = self
                .host(&host_id)
                .await?
                .ok_or_else(|| corrupt("host", "vanished during enrollment"))?;
            if let Some(challenge) = &new.challenge {
                // Enrolling again before answering (the agent restarted): a new challenge
                // replaces the old one; an answered one stays answered.
                sqlx::query(
                    "UPDATE host_activations SET secret_digest = $1, created_at = $2 WHERE host_id = $3",
                )
                .bind(&challenge.secret_digest)
                .bind(now.secs())
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
        if let Some(hash) = join_token_hash {
            let used = sqlx::query(
                "UPDATE tokens SET used_at = $1 WHERE token_hash = $2 AND role = $3 AND used_at IS NULL \
                 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $1)",
            )
            .bind(now.secs())
            .bind(hash)
            .bind(TokenRole::Join.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if used != 1 {
                tx.rollback().await?;
                return Ok(Enrolled::JoinTokenRejected);
            }
        }
        if let (Some(challenge), Some(grants)) = (&new.challenge, admission.on_activation()) {
            sqlx::query(
                "INSERT INTO host_activations (host_id, secret_digest, grants, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(host_id.as_str())
            .bind(&challenge.secret_digest)
            .bind(grants.as_str())
            .bind(now.secs())
            .execute(&mut *tx)
            .await?;
        }
        insert_history(&mut tx, &host_id, &new.report, "enrolled", now).await?;
        finish(tx, Some(entry)).await?;
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
    /// challenge is spent and the host gets what it grants ([`HostTransition::on_activation`]),
    /// with the entry `entry` makes of the change applied (`None`: it grants no change) in the
    /// same transaction. `None` for a wrong answer (or no challenge), which changes nothing.
    pub async fn activate_host(
        &self,
        host_id: &HostId,
        secret_digest: &str,
        now: UnixTime,
        entry: impl FnOnce(Option<&HostTransition>) -> NewEntry,
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
        let mut applied = None;
        if let Some(transition) = HostTransition::on_activation(host_id, grants)
            && update_status(&mut tx, &transition, now).await?
        {
            applied = Some(transition);
        }
        finish(tx, Some(&entry(applied.as_ref()))).await?;
        self.evict(host_id);
        self.host(host_id).await
    }

    /// Applies a change the life cycle allowed, with its log entry in the same transaction:
    /// only to a host still in the status (and with the tamper mark, or none) it was judged
    /// in, so a concurrent change on any replica is never overwritten. A lost race reports
    /// the status that won, and writes nothing.
    pub async fn apply_host(
        &self,
        transition: &HostTransition,
        entry: &NewEntry,
        now: UnixTime,
    ) -> Result<Transition> {
        let host_id = transition.host_id();
        let mut tx = self.pool.begin().await?;
        let applied = update_status(&mut tx, transition, now).await?;
        finish(tx, applied.then_some(entry)).await?;
        self.evict(host_id);
        match self.host(host_id).await? {
            Some(host) if applied => Ok(Transition::Done(host)),
            Some(host) => Ok(Transition::Conflict(host.status)),
            None => Ok(Transition::NotFound),
        }
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

/// Moves a host as `transition` says, if it is still as the transition was judged; answers
/// whether it was. A maintenance window's new hardware becomes the registered one, and the
/// old fingerprint stays in the history.
async fn update_status(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    transition: &HostTransition,
    now: UnixTime,
) -> Result<bool> {
    // What else the update sets, each value bound after the four every update binds.
    let mut sets = String::new();
    let mut values = vec![];
    let marked = match transition.mark() {
        TamperMark::Unmarked => "tamper IS NULL",
        TamperMark::Set(sensors) => {
            values.push(serde_json::to_string(sensors).expect("strings serialize"));
            sets.push_str(&format!(", tamper = ${}", 4 + values.len()));
            "tamper IS NULL"
        }
        TamperMark::Clear => {
            sets.push_str(", tamper = NULL");
            "tamper IS NOT NULL"
        }
    };
    if let Some(report) = transition.accepted() {
        values.push(report.fingerprint().hex());
        sets.push_str(&format!(", fingerprint = ${}", 4 + values.len()));
    }
    let sql = format!(
        "UPDATE hosts SET status = $1, updated_at = $2{sets} \
         WHERE host_id = $3 AND status = $4 AND {marked}"
    );
    let host_id = transition.host_id();
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(transition.to().as_str())
        .bind(now.secs())
        .bind(host_id.as_str())
        .bind(transition.from().as_str());
    for value in values {
        query = query.bind(value);
    }
    let changed = query.execute(&mut **tx).await?.rows_affected() == 1;
    if changed && let Some(report) = transition.accepted() {
        insert_history(tx, host_id, report, "rotated", now).await?;
    }
    Ok(changed)
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
    now: UnixTime,
) -> Result<()> {
    insert_report(tx, report).await?;
    sqlx::query("INSERT INTO host_fingerprints (host_id, fingerprint, reason, recorded_at) VALUES ($1, $2, $3, $4)")
        .bind(host_id.as_str())
        .bind(report.fingerprint().hex())
        .bind(reason)
        .bind(now.secs())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
