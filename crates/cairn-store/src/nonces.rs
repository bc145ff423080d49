//! Used challenge nonces: a challenge carries its own expiry and MAC (see
//! `cairn_proto::nonce`), so the store keeps only those already used, until they expire,
//! and recording one is the atomic test that it was not used before.
//!
//! On PostgreSQL, the database replicas share, a used nonce is a row and recording it is an
//! `INSERT … ON CONFLICT DO NOTHING`. Attestations record theirs in batches: whatever uses
//! arrive while earlier batches are in flight go in one statement, which also reads each
//! one's host, so that an attestation costs a share of one round trip and one commit (round
//! trips, each waking both processes, were most of its cost). A SQLite database belongs to
//! one server process, so its used nonces live in that process instead (see `local`): the
//! server then makes its challenges with a key of its own, new at each start, so that a
//! challenge issued before a restart is unknown after it rather than usable again.

use std::collections::HashSet;
use std::sync::Arc;

use cairn_proto::{HostId, Nonce};
use sqlx::{AnyPool, Row};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::hosts::{HostState, state_from_row};
use crate::{Result, Store, StoreError};

/// Most nonce uses one statement carries.
const MAX_BATCH: usize = 64;
/// Batches in flight at once (each on its own pooled connection).
const WRITERS: usize = 4;

type Outcome = Result<Option<(HostState, bool)>>;

struct Use {
    nonce: Nonce,
    expires_at: i64,
    host_id: HostId,
    reply: oneshot::Sender<Outcome>,
}

/// The queue of nonce uses for PostgreSQL, drained by [`WRITERS`] tasks started with it.
pub(crate) struct Batches {
    uses: mpsc::Sender<Use>,
}

impl Batches {
    fn start(pool: AnyPool) -> Batches {
        // Bounded: past it, callers wait for room (the pool bounds the writers anyway).
        let (uses, queue) = mpsc::channel(MAX_BATCH * WRITERS);
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..WRITERS {
            tokio::spawn(write_batches(pool.clone(), queue.clone()));
        }
        Batches { uses }
    }

    async fn use_nonce(&self, nonce: &Nonce, expires_at: i64, host_id: &HostId) -> Outcome {
        let (reply, answer) = oneshot::channel();
        let gone = || StoreError::Unavailable("the nonce writers stopped".into());
        self.uses
            .send(Use {
                nonce: *nonce,
                expires_at,
                host_id: host_id.clone(),
                reply,
            })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// Takes whatever uses are queued (at least one, at most [`MAX_BATCH`]), writes them, answers
/// each; until every sender is gone.
async fn write_batches(pool: AnyPool, queue: Arc<Mutex<mpsc::Receiver<Use>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        if queue.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        match write(&pool, &batch).await {
            Ok(outcomes) => {
                for (used, outcome) in batch.drain(..).zip(outcomes) {
                    let _ = used.reply.send(Ok(outcome));
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                for used in batch.drain(..) {
                    let _ = used.reply.send(Err(StoreError::Batch(e.clone())));
                }
            }
        }
    }
}

/// One statement for the whole batch: the insert of every nonce, and each use's host as
/// committed before it. A nonce named twice in a batch is a first use only where it is
/// named first (the database sees one insert for both).
async fn write(pool: &AnyPool, batch: &[Use]) -> Result<Vec<Option<(HostState, bool)>>> {
    let rows = (0..batch.len())
        .map(|i| match i {
            0 => "($1::bigint, $2::text, $3::bigint, $4::text)".to_owned(),
            _ => format!(
                "(${}, ${}, ${}, ${})",
                4 * i + 1,
                4 * i + 2,
                4 * i + 3,
                4 * i + 4
            ),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "WITH a (i, nonce, expires_at, host_id) AS (VALUES {rows}), \
         used AS (INSERT INTO used_nonces (nonce, expires_at) SELECT nonce, expires_at FROM a \
         ON CONFLICT (nonce) DO NOTHING RETURNING nonce) \
         SELECT a.i, h.status, h.fingerprint, EXISTS (SELECT 1 FROM used WHERE used.nonce = a.nonce) AS first_use \
         FROM a LEFT JOIN hosts h ON h.host_id = a.host_id"
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (i, used) in batch.iter().enumerate() {
        query = query
            .bind(i as i64)
            .bind(used.nonce.to_b64())
            .bind(used.expires_at)
            .bind(used.host_id.as_str().to_owned());
    }
    let mut outcomes: Vec<Option<(HostState, bool)>> = (0..batch.len()).map(|_| None).collect();
    let mut seen = HashSet::with_capacity(batch.len());
    let firsts: Vec<bool> = batch.iter().map(|used| seen.insert(used.nonce.0)).collect();
    for row in query.fetch_all(pool).await? {
        let i = usize::try_from(row.try_get::<i64, _>("i")?).unwrap_or(usize::MAX);
        if row.try_get::<Option<String>, _>("status")?.is_none() {
            continue;
        }
        let state = state_from_row(&row)?;
        let first = row.try_get::<bool, _>("first_use")? && firsts.get(i) == Some(&true);
        if let Some(slot) = outcomes.get_mut(i) {
            *slot = Some((state, first));
        }
    }
    Ok(outcomes)
}

impl Store {
    /// Records `nonce` (valid until `expires_at`) as used. True for its first use: of any
    /// number of concurrent callers on any number of replicas, exactly one sees true.
    pub async fn use_nonce(&self, nonce: &Nonce, expires_at: i64) -> Result<bool> {
        if let Some(local) = &self.local {
            return Ok(local.use_nonce(nonce, expires_at));
        }
        let done = sqlx::query(
            "INSERT INTO used_nonces (nonce, expires_at) VALUES ($1, $2) ON CONFLICT (nonce) DO NOTHING",
        )
        .bind(nonce.to_b64())
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Uses `nonce` (valid until `expires_at`) for an attestation by `host_id` and reads the
    /// host's state as committed now; the bool is true for the nonce's first use (as in
    /// [`Store::use_nonce`]). `None` for an unknown host.
    pub async fn use_nonce_reading_host(
        &self,
        nonce: &Nonce,
        expires_at: i64,
        host_id: &HostId,
    ) -> Outcome {
        if self.local.is_none() {
            return self
                .batches
                .get_or_init(|| Batches::start(self.pool.clone()))
                .use_nonce(nonce, expires_at, host_id)
                .await;
        }
        let first = self.use_nonce(nonce, expires_at).await?;
        Ok(self.host(host_id).await?.map(|host| {
            let state = HostState {
                status: host.status,
                fingerprint: host.fingerprint,
            };
            (state, first)
        }))
    }

    /// Whether used nonces are kept in this process (SQLite), so that challenges must not
    /// outlive it.
    pub fn keeps_nonces_in_process(&self) -> bool {
        self.local.is_some()
    }

    /// Forgets used nonces that expired before `now` (they cannot be used again anyway);
    /// returns how many.
    pub async fn prune_nonces(&self, now: i64) -> Result<u64> {
        if let Some(local) = &self.local {
            return Ok(local.prune_nonces(now));
        }
        let done = sqlx::query("DELETE FROM used_nonces WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
