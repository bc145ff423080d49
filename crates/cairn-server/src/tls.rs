//! TLS: the certificate the server presents (read from PEM files, swapped whole on reload)
//! and the private CA that `server init --tls` makes for a fleet without a PKI of its own.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use zeroize::Zeroizing;

/// The private CA's certificate (the bundle clients trust), in `DATA_DIR/tls/`.
pub const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "server.pem";
const KEY_FILE: &str = "server.key";

/// How long the made CA and certificate are valid. The CA's key is not kept, so the pair is
/// made once and replaced as a whole (see docs/operations.md).
const VALIDITY: time::Duration = time::Duration::days(10 * 365);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{cert} and {key}: {reason}")]
    Pair {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("{0}: exists (a private CA is made once; remove the directory to make another)")]
    Exists(PathBuf),
    #[error("cannot make the private CA: {0}")]
    Generate(#[from] rcgen::Error),
}

/// A certificate chain and its private key, as PEM files.
#[derive(Clone, Debug, PartialEq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// What `server init --tls` writes in `data_dir`.
    pub fn of_data_dir(data_dir: &Path) -> TlsFiles {
        let dir = data_dir.join("tls");
        TlsFiles {
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
        }
    }

    fn exist(&self) -> bool {
        self.cert.exists() || self.key.exists()
    }

    /// The data directory's pair when `server init --tls` made one.
    pub fn made_in(data_dir: &Path) -> Option<TlsFiles> {
        Some(Self::of_data_dir(data_dir)).filter(TlsFiles::exist)
    }

    fn read(&self) -> Result<CertifiedKey, TlsError> {
        let file = |path: &Path| {
            let path = path.to_path_buf();
            move |e: rustls::pki_types::pem::Error| TlsError::File {
                path,
                reason: e.to_string(),
            }
        };
        let chain = CertificateDer::pem_file_iter(&self.cert)
            .map_err(file(&self.cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(file(&self.cert))?;
        if chain.is_empty() {
            return Err(TlsError::File {
                path: self.cert.clone(),
                reason: "no PEM certificate in it".into(),
            });
        }
        let key = PrivateKeyDer::from_pem_file(&self.key).map_err(file(&self.key))?;
        CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Pair {
            cert: self.cert.clone(),
            key: self.key.clone(),
            reason: e.to_string(),
        })
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::aws_lc_rs::default_provider()
}

/// The certificate the server presents: read at start, and again on [`Certificates::reload`]
/// (SIGHUP), which keeps the one in use when the files on disk do not make a valid pair.
#[derive(Debug)]
pub struct Certificates {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    pub fn load(files: TlsFiles) -> Result<Arc<Certificates>, TlsError> {
        let current = RwLock::new(Arc::new(files.read()?));
        Ok(Arc::new(Certificates { files, current }))
    }

    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(self.files.read()?);
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// What a TLS handshake with this server negotiates: TLS 1.3 or 1.2, HTTP/1.1.
    pub(crate) fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(provider()))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the default provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

/// Makes a private CA and a server certificate for `names` (DNS names or IP addresses) in
/// `DATA_DIR/tls/`: `ca.pem` for clients, `server.pem` and `server.key` for `server run`.
/// The CA's private key exists only in this function: nobody can issue another certificate
/// under it. Returns the CA file's path.
pub fn make_private_ca(data_dir: &Path, names: &[String]) -> Result<PathBuf, TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let dir = data_dir.join("tls");
    if dir.exists() {
        return Err(TlsError::Exists(dir));
    }
    // New files only; the key is its owner's alone whatever the umask.
    let write = |name: &str, text: &str, mode: u32| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
            .and_then(|mut file| file.write_all(text.as_bytes()))
            .map_err(|e| TlsError::File {
                path,
                reason: e.to_string(),
            })
    };
    let now = time::OffsetDateTime::now_utc();
    let validity = |params: &mut CertificateParams| {
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + VALIDITY;
    };

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name
        .push(DnType::CommonName, "Cairn private CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca);
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut server = CertificateParams::new(names.to_vec())?;
    server
        .distinguished_name
        .push(DnType::CommonName, "Cairn server");
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.use_authority_key_identifier_extension = true;
    validity(&mut server);
    let cert = server.signed_by(&key, &issuer)?;

    std::fs::create_dir(&dir).map_err(|e| TlsError::File {
        path: dir.clone(),
        reason: e.to_string(),
    })?;
    write(KEY_FILE, &Zeroizing::new(key.serialize_pem()), 0o600)?;
    write(CERT_FILE, &cert.pem(), 0o644)?;
    write(CA_FILE, &ca_cert.pem(), 0o644)?;
    Ok(dir.join(CA_FILE))
}

/// Whether `name` can be in a certificate: an IP address or a DNS name (IA5, as rcgen
/// checks it).
pub fn check_name(name: &str) -> Result<(), TlsError> {
    rcgen::CertificateParams::new(vec![name.to_string()]).map(drop)?;
    Ok(())
}

/// The names a made certificate covers unless told otherwise.
pub const DEFAULT_NAMES: &[&str] = &["localhost", "127.0.0.1", "::1"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_made_pair_loads_and_a_mismatched_key_is_refused() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let names: Vec<String> = DEFAULT_NAMES.iter().map(|s| s.to_string()).collect();
        make_private_ca(a.path(), &names).unwrap();
        make_private_ca(b.path(), &names).unwrap();
        let files = TlsFiles::made_in(a.path()).unwrap();
        let certs = Certificates::load(files.clone()).unwrap();
        assert!(matches!(
            make_private_ca(a.path(), &names),
            Err(TlsError::Exists(_))
        ));
        // b's key under a's certificate: not a pair; reload keeps what is in use.
        std::fs::copy(TlsFiles::of_data_dir(b.path()).key, &files.key).unwrap();
        assert!(matches!(certs.reload(), Err(TlsError::Pair { .. })));
        assert!(matches!(
            Certificates::load(files),
            Err(TlsError::Pair { .. })
        ));
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("c.pem"),
            key: dir.path().join("k.pem"),
        };
        std::fs::write(&files.cert, "not pem").unwrap();
        assert!(matches!(
            Certificates::load(files),
            Err(TlsError::File { .. })
        ));
    }
}
