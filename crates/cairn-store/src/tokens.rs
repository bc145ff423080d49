//! Bearer tokens, kept only as their SHA-256.

use cairn_proto::api::TokenRole;

use crate::{Result, Store};

impl Store {
    pub async fn insert_token(
        &self,
        hash: &str,
        role: TokenRole,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (token_hash, role, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(hash)
        .bind(role.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The role of an unexpired bearer token (join tokens are not bearer credentials).
    pub async fn bearer_role(&self, hash: &str, now: i64) -> Result<Option<TokenRole>> {
        let role: Option<String> = sqlx::query_scalar(
            "SELECT role FROM tokens WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2)",
        )
        .bind(hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(role
            .and_then(|r| r.parse::<TokenRole>().ok())
            .filter(|role| role.is_bearer()))
    }
}
