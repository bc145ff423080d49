//! `--key-store`: which backend holds the server's keys.
//!
//! - `file` (the default): PEM files in `<data dir>/keys`.
//! - `pkcs11:MODULE?token=LABEL&pin-file=PATH[&alg=EdDSA|ES256]`: keys inside the PKCS#11
//!   token labelled LABEL of the module (a shared library path). The user PIN is read from a
//!   file, never from the command line, so it stays out of `ps` and shell history.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::{FileKeyStore, KeyStore, KeyStoreError, Pkcs11KeyStore};

/// The JWS algorithm of the signing keys an HSM holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SigningAlg {
    /// Ed25519 through CKM_EDDSA.
    #[default]
    EdDSA,
    /// P-256 through CKM_ECDSA on a SHA-256 digest, for HSMs without EdDSA.
    ES256,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Config {
    /// The PKCS#11 module, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The label of the token that holds Cairn's keys.
    pub token: String,
    /// A file holding the user PIN (mode 0600 or stricter).
    pub pin_file: PathBuf,
    pub alg: SigningAlg,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KeyStoreSpec {
    #[default]
    File,
    Pkcs11(Pkcs11Config),
}

impl KeyStoreSpec {
    /// Creates the keys (refusing if any already exist), then opens the store.
    pub fn init(&self, data_dir: &Path) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
        Ok(match self {
            KeyStoreSpec::File => Arc::new(FileKeyStore::create(&data_dir.join("keys"))?),
            KeyStoreSpec::Pkcs11(config) => Arc::new(Pkcs11KeyStore::create(config)?),
        })
    }

    pub fn open(&self, data_dir: &Path) -> Result<Arc<dyn KeyStore>, KeyStoreError> {
        Ok(match self {
            KeyStoreSpec::File => Arc::new(FileKeyStore::open(&data_dir.join("keys"))?),
            KeyStoreSpec::Pkcs11(config) => Arc::new(Pkcs11KeyStore::open(config)?),
        })
    }
}

impl FromStr for KeyStoreSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s == "file" {
            return Ok(KeyStoreSpec::File);
        }
        let Some(rest) = s.strip_prefix("pkcs11:") else {
            return Err(format!(
                "unknown key store {s:?} (expected `file` or `pkcs11:MODULE?token=LABEL&pin-file=PATH`)"
            ));
        };
        let (module, query) = rest.split_once('?').unwrap_or((rest, ""));
        if module.is_empty() {
            return Err("pkcs11 key store: the module path is missing".into());
        }
        let (mut token, mut pin_file, mut alg) = (None, None, SigningAlg::default());
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(value)?;
            match name {
                "token" => token = Some(value),
                "pin-file" => pin_file = Some(PathBuf::from(value)),
                "alg" => {
                    alg = match value.as_str() {
                        "EdDSA" => SigningAlg::EdDSA,
                        "ES256" => SigningAlg::ES256,
                        other => {
                            return Err(format!(
                                "pkcs11 key store: alg {other:?} is not EdDSA or ES256"
                            ));
                        }
                    }
                }
                other => return Err(format!("pkcs11 key store: unknown parameter {other:?}")),
            }
        }
        Ok(KeyStoreSpec::Pkcs11(Pkcs11Config {
            module: PathBuf::from(module),
            token: token.ok_or("pkcs11 key store: token=LABEL is missing")?,
            pin_file: pin_file.ok_or("pkcs11 key store: pin-file=PATH is missing")?,
            alg,
        }))
    }
}

impl fmt::Display for KeyStoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyStoreSpec::File => f.write_str("file"),
            KeyStoreSpec::Pkcs11(c) => write!(
                f,
                "pkcs11:{}?token={}&pin-file={}&alg={:?}",
                c.module.display(),
                c.token,
                c.pin_file.display(),
                c.alg
            ),
        }
    }
}

/// Token labels may hold spaces or `&`, written `%20`, `%26`.
fn percent_decode(value: &str) -> Result<String, String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("pkcs11 key store: bad escape in {value:?}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("pkcs11 key store: {value:?} is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_and_pkcs11() {
        assert_eq!("file".parse(), Ok(KeyStoreSpec::File));
        let spec: KeyStoreSpec =
            "pkcs11:/usr/lib/softhsm/libsofthsm2.so?token=cairn%20prod&pin-file=/etc/cairn/pin"
                .parse()
                .unwrap();
        assert_eq!(
            spec,
            KeyStoreSpec::Pkcs11(Pkcs11Config {
                module: "/usr/lib/softhsm/libsofthsm2.so".into(),
                token: "cairn prod".into(),
                pin_file: "/etc/cairn/pin".into(),
                alg: SigningAlg::EdDSA,
            })
        );
        let again: KeyStoreSpec = spec.to_string().replace(' ', "%20").parse().unwrap();
        assert_eq!(again, spec);
        let es: KeyStoreSpec = "pkcs11:m.so?token=t&pin-file=p&alg=ES256".parse().unwrap();
        assert!(matches!(es, KeyStoreSpec::Pkcs11(c) if c.alg == SigningAlg::ES256));
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        for bad in [
            "",
            "files",
            "pkcs11:",
            "pkcs11:m.so",
            "pkcs11:m.so?token=t",
            "pkcs11:m.so?pin-file=p",
            "pkcs11:m.so?token=t&pin-file=p&alg=RS256",
            "pkcs11:m.so?token=t&pin-file=p&pin=1234",
            "pkcs11:m.so?token=%zz&pin-file=p",
        ] {
            assert!(bad.parse::<KeyStoreSpec>().is_err(), "{bad}");
        }
    }
}
