//! Bearer tokens, kept only as their SHA-256, listed and revoked by an id made from it.

use cairn_proto::UnixTime;
use cairn_proto::api::TokenRole;
use sqlx::Row;

use crate::log::finish;
use crate::{NewEntry, Result, Store, StoreError};

/// A token as the registry knows it: never the token, only what it may do and when.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    /// `t_` and the first 16 hex digits of the token's SHA-256: names it without giving it.
    pub id: String,
    pub role: TokenRole,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    /// When a join token was spent.
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The id of the token whose SHA-256 (hex) is `hash`.
pub fn token_id(hash: &str) -> String {
    format!("t_{}", &hash[..16])
}

/// The hash prefix an id names, if it is one (`t_` and 16 lowercase hex digits).
fn hash_prefix(id: &str) -> Option<&str> {
    id.strip_prefix("t_").filter(|hex| {
        hex.len() == 16 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn token_from_row(row: &sqlx::any::AnyRow) -> Result<TokenRecord> {
    let role: String = row.try_get("role")?;
    Ok(TokenRecord {
        id: token_id(&row.try_get::<String, _>("token_hash")?),
        role: role
            .parse()
            .map_err(|e: String| StoreError::Corrupt(format!("token role: {e}")))?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        used_at: row.try_get("used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "token_hash, role, created_at, expires_at, used_at, revoked_at";

impl Store {
    /// Stores a new token by its hash, with its `token.created` entry in the same transaction.
    pub async fn insert_token(
        &self,
        hash: &str,
        role: TokenRole,
        expires_at: Option<UnixTime>,
        now: UnixTime,
        entry: &NewEntry,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO tokens (token_hash, role, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(role.as_str())
        .bind(now.secs())
        .bind(expires_at.map(UnixTime::secs))
        .execute(&mut *tx)
        .await?;
        finish(tx, Some(entry)).await
    }

    /// The role of an unexpired, unrevoked bearer token (join tokens are not bearer
    /// credentials). Read from the database on every request, so a revocation holds on
    /// every replica from the next request on.
    pub async fn bearer_role(&self, hash: &str, now: UnixTime) -> Result<Option<TokenRole>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL \
             AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(hash)
        .bind(now.secs())
        .fetch_optional(&self.pool)
        .await?;
        Ok(role
            .and_then(|r| r.parse::<TokenRole>().ok())
            .filter(|role| role.is_bearer()))
    }

    /// Every token, oldest first.
    pub async fn tokens(&self) -> Result<Vec<TokenRecord>> {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at, token_hash"
        )))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(token_from_row)
        .collect()
    }

    /// Revokes the token `id` names (a second revocation keeps the first's time), with its
    /// `token.revoked` entry in the same transaction; `None` (and nothing written) when there
    /// is none.
    pub async fn revoke_token(
        &self,
        id: &str,
        now: UnixTime,
        entry: &NewEntry,
    ) -> Result<Option<TokenRecord>> {
        let Some(prefix) = hash_prefix(id) else {
            return Ok(None);
        };
        let pattern = format!("{prefix}%");
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE tokens SET revoked_at = COALESCE(revoked_at, $1) WHERE token_hash LIKE $2",
        )
        .bind(now.secs())
        .bind(&pattern)
        .execute(&mut *tx)
        .await?;
        let revoked = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TOKEN_COLUMNS} FROM tokens WHERE token_hash LIKE $1"
        )))
        .bind(&pattern)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(token_from_row)
        .transpose()?;
        finish(tx, revoked.as_ref().map(|_| entry)).await?;
        Ok(revoked)
    }
}
