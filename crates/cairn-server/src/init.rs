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

/// What `init` made that its caller is told once.
pub struct Initialized {
    /// The first admin token, which exists nowhere else afterwards.
    pub admin_token: String,
    /// The transparency log's verifier key, for auditors (also at `GET /v1/log/key`).
    pub log_key: String,
}

/// Creates the server's keys (refusing to replace existing ones), the database with its
/// empty log, and the first admin token (whose creation is the log's first entry).
pub async fn init(
    data_dir: &Path,
    database_url: &str,
    key_store: &KeyStoreSpec,
) -> Result<Initialized, InitError> {
    let keys = key_store.init(data_dir)?;
    let store = Store::connect(database_url).await?;
    let signer = crate::log::signer(&keys);
    store.open_log(&signer).await?;
    let token = new_token();
    let hash = token_hash(&token);
    let created = cairn_log::Event::TokenCreated {
        token_id: cairn_store::token_id(&hash),
        role: TokenRole::Admin.to_string(),
        by: "cairn server init".into(),
    };
    let entry = crate::log::new_entry(created, None);
    store
        .insert_token(&hash, TokenRole::Admin, None, crate::clock::now(), &entry)
        .await?;
    // Into the tree at once, from the outbox the token's transaction wrote it in.
    store.sequence_log(&[], &signer, None, 1).await?;
    store.close().await;
    Ok(Initialized {
        admin_token: token,
        log_key: signer.key().verifier_key().to_string(),
    })
}
