//! Rules every client and the server share about reaching one another: where plain HTTP is
//! allowed, and how a PEM bundle of trusted CAs is read.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Loopback: the one place plain HTTP may go, since nothing on the wire can read it.
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The certificates of a PEM bundle (at least one), as DER; errors name the file.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let fail = |reason: String| format!("{}: {reason}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    match certs.is_empty() {
        true => Err(fail("no PEM certificate in it".into())),
        false => Ok(certs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_are_loopback() {
        for (url, loopback) in [
            ("http://127.0.0.1:1/", true),
            ("http://127.9.9.9/", true),
            ("http://[::1]:7/", true),
            ("http://localhost/", true),
            ("http://localhost.evil.example/", false),
            ("http://localhost@evil.example/", false),
            ("http://[::ffff:127.0.0.1]/", false),
            ("http://10.0.0.1/", false),
        ] {
            assert_eq!(
                is_loopback(&url::Url::parse(url).unwrap()),
                loopback,
                "{url}"
            );
        }
    }

    #[test]
    fn a_bundle_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("cairn-pem-{}", std::process::id()));
        std::fs::write(&dir, "no certificate here").unwrap();
        assert!(
            read_certificates(&dir)
                .unwrap_err()
                .contains("no PEM certificate")
        );
        std::fs::remove_file(&dir).unwrap();
        assert!(read_certificates(Path::new("/nonexistent.pem")).is_err());
    }
}
