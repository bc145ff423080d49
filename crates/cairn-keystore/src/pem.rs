//! Secret keys (PKCS#8 private keys, raw symmetric keys) in PEM files that only their owner
//! can read.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::KeyStoreError;

/// PKCS#8 private keys.
pub const PRIVATE_KEY: &str = "PRIVATE KEY";
/// Raw symmetric keys.
pub const SECRET_KEY: &str = "CAIRN SECRET KEY";

fn io(path: &Path, source: std::io::Error) -> KeyStoreError {
    KeyStoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> KeyStoreError {
    KeyStoreError::BadKey {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Writes `der` as a new PEM file with `label`, mode 0600; never overwrites an existing key.
pub fn write_key(path: &Path, label: &str, der: &[u8]) -> Result<(), KeyStoreError> {
    let pem = Zeroizing::new(
        pem_rfc7468::encode_string(label, pem_rfc7468::LineEnding::LF, der)
            .map_err(|e| bad(path, e.to_string()))?,
    );
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    file.write_all(pem.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| io(path, e))
}

/// Reads a PEM key with `label`, refusing files that group or others can read.
pub fn read_key(path: &Path, label: &str) -> Result<Zeroizing<Vec<u8>>, KeyStoreError> {
    let mode = fs::metadata(path)
        .map_err(|e| io(path, e))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(bad(
            path,
            format!("mode {:o} lets others read it; chmod 600 it", mode & 0o777),
        ));
    }
    let text = Zeroizing::new(fs::read_to_string(path).map_err(|e| io(path, e))?);
    let (found, der) =
        pem_rfc7468::decode_vec(text.as_bytes()).map_err(|e| bad(path, e.to_string()))?;
    let der = Zeroizing::new(der);
    if found != label {
        return Err(bad(
            path,
            format!("PEM label is {found:?}, expected {label:?}"),
        ));
    }
    Ok(der)
}
