//! Used challenge nonces: a challenge carries its own expiry and MAC (see
//! `cairn_proto::nonce`), so the store keeps only those already used, until they expire,
//! and recording one is the atomic test that it was not used before.
//!
//! On PostgreSQL, the database replicas share, a used nonce is a row and recording it is one
//! `INSERT … ON CONFLICT DO NOTHING`. A SQLite database belongs to one server process, so
//! its used nonces live in that process instead (see `local`): the server then makes its
//! challenges with a key of its own, new at each start, so that a challenge issued before a
//! restart is unknown after it rather than usable again.

use cairn_proto::Nonce;

use crate::{Result, Store};

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
