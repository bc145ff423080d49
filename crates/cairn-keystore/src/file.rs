//! The `file` key store: one PEM file per key in `<data dir>/keys`.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_token::{Ed25519Signer, JwsSigner};

use crate::pem::{read_private_key, write_private_key};
use crate::{KeyPurpose, KeyStore, KeyStoreError};

pub struct FileKeyStore {
    signers: HashMap<KeyPurpose, Arc<dyn JwsSigner>>,
}

impl FileKeyStore {
    /// Creates whatever keys are missing under `dir` (mode 0700), then opens the store.
    pub fn init(dir: &Path) -> Result<Self, KeyStoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| KeyStoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        for purpose in KeyPurpose::ALL {
            let path = key_path(dir, purpose);
            if !path.exists() {
                write_private_key(&path, &Ed25519Signer::generate_pkcs8())?;
            }
        }
        Self::open(dir)
    }

    pub fn open(dir: &Path) -> Result<Self, KeyStoreError> {
        let mut signers: HashMap<KeyPurpose, Arc<dyn JwsSigner>> = HashMap::new();
        for purpose in KeyPurpose::ALL {
            let path = key_path(dir, purpose);
            if !path.exists() {
                return Err(KeyStoreError::NotInitialized(dir.display().to_string()));
            }
            let der = read_private_key(&path)?;
            let signer = Ed25519Signer::from_pkcs8(&der).map_err(|e| KeyStoreError::BadKey {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            signers.insert(purpose, Arc::new(signer));
        }
        Ok(FileKeyStore { signers })
    }
}

fn key_path(dir: &Path, purpose: KeyPurpose) -> PathBuf {
    dir.join(format!("{}.ed25519.pem", purpose.name()))
}

impl KeyStore for FileKeyStore {
    fn signer(&self, purpose: KeyPurpose) -> Arc<dyn JwsSigner> {
        self.signers[&purpose].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_creates_private_keys_and_reopens_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let first = FileKeyStore::init(&keys).unwrap();
        let path = key_path(&keys, KeyPurpose::Pat);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let again = FileKeyStore::init(&keys).unwrap();
        assert_eq!(
            first.signer(KeyPurpose::Pat).kid(),
            again.signer(KeyPurpose::Pat).kid()
        );
        let jwks = again.jwks();
        assert_eq!(jwks.keys.len(), 1);
        assert_eq!(
            jwks.keys[0].kid.as_deref(),
            Some(first.signer(KeyPurpose::Pat).kid())
        );
    }

    #[test]
    fn refuses_a_world_readable_key_and_an_empty_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            FileKeyStore::open(dir.path()),
            Err(KeyStoreError::NotInitialized(_))
        ));
        FileKeyStore::init(dir.path()).unwrap();
        let path = key_path(dir.path(), KeyPurpose::Pat);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = FileKeyStore::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
