//! The server a benchmark measures: an external one, or a fresh in-process one on loopback.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_agent::{SoftKey, flows};
use cairn_client::{ApiClient, Trust};
use cairn_keystore::{KeyPurpose, KeyStore, KeyStoreSpec};
use cairn_proto::Report;
use cairn_proto::api::{TokenRequest, TokenRole};
use cairn_server::{Server, ServerConfig};

use crate::measure::per_second;
use crate::{BenchError, Result, failure};

/// Which server a benchmark measures.
pub struct TargetSpec {
    /// An external server (with `admin_token`, and `ca_cert` for a private CA); `None`: a
    /// fresh in-process one on loopback.
    pub url: Option<String>,
    pub admin_token: Option<String>,
    pub ca_cert: Option<PathBuf>,
    /// The in-process server's key store.
    pub key_store: KeyStoreSpec,
    /// The in-process server serves plain HTTP rather than TLS (to see what TLS costs).
    pub plaintext: bool,
}

/// A server to measure (an in-process one's key store at hand too).
pub(crate) struct Target {
    pub(crate) admin: ApiClient,
    pub(crate) client: ApiClient,
    pub(crate) keys: Option<Arc<dyn KeyStore>>,
    pub(crate) _dir: Option<tempfile::TempDir>,
}

impl Target {
    pub(crate) async fn new(spec: TargetSpec) -> Result<Target> {
        let (url, token, ca, keys, dir) = match (spec.url, spec.admin_token) {
            (Some(url), Some(token)) => (url, token, spec.ca_cert, None, None),
            (Some(_), None) => {
                return Err(BenchError::usage(
                    "--server needs --admin-token (or CAIRN_ADMIN_TOKEN)",
                ));
            }
            (None, _) => {
                let dir = tempfile::tempdir().map_err(failure)?;
                let db = ServerConfig::default_database_url(dir.path());
                let token = cairn_server::init(dir.path(), &db, &spec.key_store)
                    .await
                    .map_err(failure)?
                    .admin_token;
                let ca = match spec.plaintext {
                    true => None,
                    false => Some(
                        cairn_server::tls::make_private_ca(dir.path(), &["127.0.0.1".into()])
                            .map_err(failure)?,
                    ),
                };
                let mut config = ServerConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".into());
                config.key_store = spec.key_store;
                let server = Server::bind(config).await.map_err(failure)?;
                let url = server.url();
                let keys = server.keys();
                tokio::spawn(server.serve(std::future::pending()));
                (url, token, ca, Some(keys), Some(dir))
            }
        };
        println!("server: {url}");
        let trust = Trust::from_pem_file(ca.as_deref())?;
        Ok(Target {
            admin: ApiClient::new(&url, false, &trust)?.with_admin_token(Some(token)),
            client: ApiClient::new(&url, false, &trust)?,
            keys,
            _dir: dir,
        })
    }

    /// What the server's key store does per core: the operations behind a PAT, a key
    /// release and an ERoT (an HSM's figures differ from the file store's by orders).
    pub(crate) fn print_key_store(&self) {
        let Some(keys) = &self.keys else { return };
        let budget = Duration::from_secs(1);
        let signer = keys.signer(KeyPurpose::Pat);
        let claims = vec![b'p'; 620];
        let sign = per_second(budget, || {
            std::hint::black_box(signer.sign(&claims).expect("key store signs"));
        });
        let kek = keys.volume_kek();
        let wrapped = kek.wrap(b"vol-bench", &[9; 32]).expect("key store wraps");
        let unwrap = per_second(budget, || {
            std::hint::black_box(kek.unwrap(b"vol-bench", &wrapped).expect("unwraps"));
        });
        let mac = per_second(budget, || {
            std::hint::black_box(keys.erot_mac(&[5; 32]).expect("key store MACs"));
        });
        println!(
            "key store ({} {}, 1 core): PAT sign {sign:.0} /s, KEK unwrap {unwrap:.0} /s, ERoT HMAC {mac:.0} /s",
            signer.alg(),
            kek.id().split(':').next().unwrap_or("?"),
        );
    }

    pub(crate) async fn join_token(&self) -> Result<String> {
        let request = TokenRequest {
            role: TokenRole::Join,
            ttl_seconds: None,
        };
        Ok(self.admin.create_token(&request).await?.token)
    }

    /// `n` active hosts with this machine's hardware report.
    pub(crate) async fn hosts(&self, n: usize, report: &Report) -> Result<Vec<SoftKey>> {
        let mut hosts = Vec::with_capacity(n);
        for i in 0..n {
            let key = SoftKey::ephemeral();
            let join = self.join_token().await?;
            flows::enroll(
                &self.client,
                &key,
                &format!("bench-{i}"),
                report.clone(),
                Some(join),
            )
            .await?;
            hosts.push(key);
        }
        Ok(hosts)
    }
}
