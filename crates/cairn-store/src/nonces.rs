//! Challenge nonces: issued once, consumed at most once, on any replica.
//!
//! On PostgreSQL, the database that replicas share, a nonce is a row and consuming it is one
//! `DELETE … RETURNING`. A SQLite database belongs to one server process, so its nonces live in
//! that process instead (see `local`): they last a minute and are worthless after a restart
//! (an agent asks again), and keeping them out of the file spares every attestation two writes.

use cairn_proto::Nonce;

use crate::{Result, Store};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceState {
    /// Issued here, unused and unexpired: it is now consumed.
    Fresh,
    /// Issued here but expired (it is now gone too).
    Expired,
    /// Never issued by this deployment, or already used.
    Unknown,
}

impl Store {
    pub async fn insert_nonce(&self, nonce: &Nonce, expires_at: i64) -> Result<()> {
        if let Some(local) = &self.local {
            local.nonces(|book| book.insert(nonce.0, expires_at));
            return Ok(());
        }
        sqlx::query("INSERT INTO nonces (nonce, expires_at) VALUES ($1, $2)")
            .bind(nonce.to_b64())
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Consumes `nonce` atomically: of any number of concurrent callers on any number of
    /// replicas, exactly one deletes the row and sees it.
    pub async fn consume_nonce(&self, nonce: &Nonce, now: i64) -> Result<NonceState> {
        let expires_at: Option<i64> = match &self.local {
            Some(local) => local.nonces(|book| book.remove(&nonce.0)),
            None => {
                sqlx::query_scalar("DELETE FROM nonces WHERE nonce = $1 RETURNING expires_at")
                    .bind(nonce.to_b64())
                    .fetch_optional(&self.pool)
                    .await?
            }
        };
        Ok(match expires_at {
            Some(at) if at >= now => NonceState::Fresh,
            Some(_) => NonceState::Expired,
            None => NonceState::Unknown,
        })
    }

    /// Deletes nonces that expired before `now`; returns how many.
    pub async fn prune_nonces(&self, now: i64) -> Result<u64> {
        if let Some(local) = &self.local {
            return Ok(local.nonces(|book| {
                let before = book.len();
                book.retain(|_, expires_at| *expires_at >= now);
                (before - book.len()) as u64
            }));
        }
        let done = sqlx::query("DELETE FROM nonces WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
