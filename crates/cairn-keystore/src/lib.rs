//! Server key custody. Keys live behind [`KeyStore`]; the `file` backend (the embedded
//! default) keeps them in a directory, mode 0600, created by `cairn server init`; the
//! `pkcs11` backend keeps them inside an HSM, where they are used and never read out.
//! [`KeyStoreSpec`] (`--key-store`) picks one.

mod file;
pub mod kek;
pub mod pkcs11;
mod spec;

use std::sync::Arc;

use cairn_token::{Jwks, JwsSigner, TokenKind, TokenSigner};

/// What a signing key is for (defined with the kinds of token, which name their key).
pub use cairn_token::KeyPurpose;

pub use file::FileKeyStore;
pub use kek::{KeyWrapper, WrapError};
pub use pkcs11::Pkcs11KeyStore;
pub use spec::{KeyStoreSpec, Pkcs11Config, SigningAlg};

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("key store at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key {path} is not usable: {reason}")]
    BadKey { path: String, reason: String },
    /// A key file that cannot be read or written, or is not what it must be (it names the
    /// file).
    #[error(transparent)]
    Pem(#[from] cairn_pem::PemError),
    #[error("key store at {0} is not initialized (run `cairn server init`)")]
    NotInitialized(String),
    #[error("{0} is already initialized; refusing to mint new keys over its keys")]
    AlreadyInitialized(String),
    #[error("{0}")]
    Hsm(String),
}

pub trait KeyStore: Send + Sync {
    /// The signing key for `purpose`, shared by every request.
    fn signer(&self, purpose: KeyPurpose) -> Arc<dyn JwsSigner>;

    /// The transparency log's checkpoint key. Always Ed25519, whatever the JWS keys are: a
    /// C2SP signed note has no other standard algorithm.
    fn log_signer(&self) -> Arc<dyn JwsSigner>;

    /// The key that wraps volume keys at rest.
    fn volume_kek(&self) -> Arc<dyn KeyWrapper>;

    /// HMAC-SHA256 of an ERoT seed under the master derivation secret, which never leaves
    /// the key store (an HSM computes it inside with `pkcs11`).
    fn erot_mac(&self, seed: &[u8; 32]) -> Result<zeroize::Zeroizing<[u8; 32]>, KeyStoreError>;

    /// Every public signing key, as served at `/.well-known/jwks.json`.
    fn jwks(&self) -> Jwks {
        Jwks {
            keys: KeyPurpose::ALL
                .iter()
                .map(|p| self.signer(*p).public_jwk())
                .collect(),
        }
    }
}

impl dyn KeyStore {
    /// The signer of tokens of kind `K`, with the key that kind names.
    pub fn token_signer<K: TokenKind>(&self) -> TokenSigner<K> {
        TokenSigner::new(self.signer(K::KEY))
    }
}
