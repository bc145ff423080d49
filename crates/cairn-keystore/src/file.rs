//! The `file` key store: one PEM file per key in `<data dir>/keys`.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cairn_token::{Ed25519Signer, JwsSigner};

use crate::kek::AesGcmKek;
use crate::{KeyPurpose, KeyStore, KeyStoreError, KeyWrapper};
use cairn_pem::{PRIVATE_KEY, SECRET_KEY, read_key, write_key};

const VOLUME_KEK_FILE: &str = "volume-kek.aes256.pem";
const EROT_MASTER_FILE: &str = "erot-master.hmac-sha256.pem";
const LOG_KEY_FILE: &str = "log-signing.ed25519.pem";

pub struct FileKeyStore {
    signers: HashMap<KeyPurpose, Arc<dyn JwsSigner>>,
    log_signer: Arc<dyn JwsSigner>,
    volume_kek: Arc<dyn KeyWrapper>,
    erot_master: aws_lc_rs::hmac::Key,
}

impl FileKeyStore {
    /// Creates the keys in a new directory `dir` (mode 0700), then opens the store.
    pub fn create(dir: &Path) -> Result<Self, KeyStoreError> {
        if dir.exists() {
            return Err(KeyStoreError::AlreadyInitialized(dir.display().to_string()));
        }
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| KeyStoreError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        for path in KeyPurpose::ALL
            .map(|purpose| key_path(dir, purpose))
            .into_iter()
            .chain([dir.join(LOG_KEY_FILE)])
        {
            write_key(&path, PRIVATE_KEY, &Ed25519Signer::generate_pkcs8())?;
        }
        for file in [VOLUME_KEK_FILE, EROT_MASTER_FILE] {
            let secret = zeroize::Zeroizing::new(cairn_proto::random_bytes::<32>());
            write_key(&dir.join(file), SECRET_KEY, &secret[..])?;
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
            signers.insert(purpose, Arc::new(read_signer(&path)?));
        }
        // A store made before the transparency log gets its key at the first start after.
        let log_key = dir.join(LOG_KEY_FILE);
        if !log_key.exists() {
            write_key(&log_key, PRIVATE_KEY, &Ed25519Signer::generate_pkcs8())?;
            tracing::info!(path = %log_key.display(), "created the transparency log's key");
        }
        let kek = read_secret(dir, VOLUME_KEK_FILE)?;
        let master = read_secret(dir, EROT_MASTER_FILE)?;
        Ok(FileKeyStore {
            signers,
            log_signer: Arc::new(read_signer(&log_key)?),
            volume_kek: Arc::new(AesGcmKek::new(&kek)),
            erot_master: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &master[..]),
        })
    }
}

fn read_signer(path: &Path) -> Result<Ed25519Signer, KeyStoreError> {
    let der = read_key(path, PRIVATE_KEY)?;
    Ed25519Signer::from_pkcs8(&der).map_err(|e| KeyStoreError::BadKey {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// A 256-bit secret key file of the store.
fn read_secret(dir: &Path, file: &str) -> Result<zeroize::Zeroizing<[u8; 32]>, KeyStoreError> {
    let path = dir.join(file);
    if !path.exists() {
        return Err(KeyStoreError::NotInitialized(dir.display().to_string()));
    }
    let raw = read_key(&path, SECRET_KEY)?;
    let key: [u8; 32] = raw[..].try_into().map_err(|_| KeyStoreError::BadKey {
        path: path.display().to_string(),
        reason: "not a 256-bit key".into(),
    })?;
    Ok(zeroize::Zeroizing::new(key))
}

fn key_path(dir: &Path, purpose: KeyPurpose) -> PathBuf {
    dir.join(format!("{}.ed25519.pem", purpose.name()))
}

impl KeyStore for FileKeyStore {
    fn signer(&self, purpose: KeyPurpose) -> Arc<dyn JwsSigner> {
        self.signers[&purpose].clone()
    }

    fn log_signer(&self) -> Arc<dyn JwsSigner> {
        self.log_signer.clone()
    }

    fn volume_kek(&self) -> Arc<dyn KeyWrapper> {
        self.volume_kek.clone()
    }

    fn erot_mac(&self, seed: &[u8; 32]) -> Result<zeroize::Zeroizing<[u8; 32]>, KeyStoreError> {
        let tag = aws_lc_rs::hmac::sign(&self.erot_master, seed);
        Ok(zeroize::Zeroizing::new(
            tag.as_ref().try_into().expect("HMAC-SHA256 is 32 bytes"),
        ))
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
        let first = FileKeyStore::create(&keys).unwrap();
        let path = key_path(&keys, KeyPurpose::Pat);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
            0o700
        );
        assert!(matches!(
            FileKeyStore::create(&keys),
            Err(KeyStoreError::AlreadyInitialized(_))
        ));
        let again = FileKeyStore::open(&keys).unwrap();
        assert_eq!(first.log_signer().kid(), again.log_signer().kid());
        assert_eq!(first.log_signer().alg(), "EdDSA");
        // A store made before the log gets a log key when next opened, and keeps it.
        fs::remove_file(keys.join(LOG_KEY_FILE)).unwrap();
        let upgraded = FileKeyStore::open(&keys).unwrap();
        assert_ne!(upgraded.log_signer().kid(), first.log_signer().kid());
        let reopened = FileKeyStore::open(&keys).unwrap();
        assert_eq!(reopened.log_signer().kid(), upgraded.log_signer().kid());
        assert_eq!(
            first.signer(KeyPurpose::Pat).kid(),
            again.signer(KeyPurpose::Pat).kid()
        );
        let jwks = again.jwks();
        assert_eq!(jwks.keys.len(), KeyPurpose::ALL.len());
        assert_eq!(first.volume_kek().id(), again.volume_kek().id());
        let wrapped = first.volume_kek().wrap(b"v", b"secret").unwrap();
        assert_eq!(
            &again.volume_kek().unwrap(b"v", &wrapped).unwrap()[..],
            b"secret"
        );
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
        let keys = dir.path().join("keys");
        FileKeyStore::create(&keys).unwrap();
        let path = key_path(&keys, KeyPurpose::Pat);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = FileKeyStore::open(&keys).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
