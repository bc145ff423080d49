//! `cairn server init`: keys, database, and the first admin token.

use std::path::Path;

use cairn_keystore::KeyStoreSpec;
use cairn_proto::api::TokenRole;
use cairn_proto::{Digest, b64, random_bytes};
use cairn_store::Store;

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    KeyStore(#[from] cairn_keystore::KeyStoreError),
    #[error(transparent)]
    Store(#[from] cairn_store::StoreError),
}

/// A new bearer token: a recognizable prefix and 256 random bits.
pub fn new_token() -> String {
    format!("cairn_{}", b64::encode(random_bytes::<32>()))
}

/// Tokens are stored as SHA-256: they carry 256 bits of entropy, so a slow hash adds nothing.
pub fn token_hash(token: &str) -> String {
    Digest::sha256(token).hex()
}

/// Creates the server's keys (refusing to replace existing ones) and the database, and
/// returns the first admin token, which exists nowhere else afterwards.
pub async fn init(
    data_dir: &Path,
    database_url: &str,
    key_store: &KeyStoreSpec,
) -> Result<String, InitError> {
    key_store.init(data_dir)?;
    let store = Store::connect(database_url).await?;
    let token = new_token();
    store
        .insert_token(
            &token_hash(&token),
            TokenRole::Admin,
            None,
            crate::clock::now(),
        )
        .await?;
    store.close().await;
    Ok(token)
}
