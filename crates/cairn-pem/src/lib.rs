//! The PEM files Cairn keeps and reads: secret keys (PKCS#8 private keys, raw symmetric keys)
//! in files only their owner can read, and bundles of trusted CA certificates. Every role
//! needs some of them (the agent its hardware key, the server its keys and CA bundles, every
//! client its `--ca-cert`), so they live below all of them, apart from any key store.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use zeroize::Zeroizing;

/// A PEM file that cannot be read or written, or is not what it must be; both name the file.
#[derive(Debug, thiserror::Error)]
pub enum PemError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not usable: {reason}")]
    Bad { path: String, reason: String },
}

/// PKCS#8 private keys.
pub const PRIVATE_KEY: &str = "PRIVATE KEY";
/// Raw symmetric keys.
pub const SECRET_KEY: &str = "CAIRN SECRET KEY";

fn io(path: &Path, source: std::io::Error) -> PemError {
    PemError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn bad(path: &Path, reason: impl Into<String>) -> PemError {
    PemError::Bad {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Writes `der` as a new PEM file with `label`, mode 0600; never overwrites an existing key.
pub fn write_key(path: &Path, label: &str, der: &[u8]) -> Result<(), PemError> {
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
pub fn read_key(path: &Path, label: &str) -> Result<Zeroizing<Vec<u8>>, PemError> {
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

/// The certificates of a PEM bundle (at least one), as DER.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(path, e.to_string()))?;
    match certs.is_empty() {
        true => Err(bad(path, "no PEM certificate in it")),
        false => Ok(certs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_back_only_as_its_owner_wrote_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.pem");
        write_key(&path, SECRET_KEY, &[7; 32]).unwrap();
        assert_eq!(&read_key(&path, SECRET_KEY).unwrap()[..], &[7; 32]);
        // Never written over, never read as another kind of key.
        assert!(matches!(
            write_key(&path, SECRET_KEY, &[8; 32]),
            Err(PemError::Io { .. })
        ));
        let other = read_key(&path, PRIVATE_KEY).unwrap_err().to_string();
        assert!(other.contains("PEM label"), "{other}");
        // Nor once others may read it.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let open = read_key(&path, SECRET_KEY).unwrap_err().to_string();
        assert!(open.contains("chmod 600"), "{open}");
    }

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        fs::write(&path, "no certificate here").unwrap();
        assert!(
            read_certificates(&path)
                .unwrap_err()
                .to_string()
                .contains("no PEM certificate")
        );
        assert!(read_certificates(Path::new("/nonexistent.pem")).is_err());
    }
}
