//! The HTTP client of the Cairn API, for every role (the host agent, the admin, a customer,
//! an auditor): JSON in, JSON or an RFC 9457 problem out; plain HTTP only to loopback.

use std::time::Duration;

use cairn_proto::api::{
    AttestResponse, Challenge, EnrollResponse, ErotRequest, ErotResponse, EventsPage, HostView,
    InstanceRequest, InstanceResponse, KeyRequest, LogProof, ReceiptRequest, ReceiptResponse,
    ReleaseRequest, TokenRequest, TokenResponse, TokenView, VolumeRequest, VolumeView,
};
use cairn_proto::{
    Completion, Enrollment, ErotId, Evidence, HostAction, HostId, Problem, Sealed, Signed,
};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a refusal.
    #[error("{0}")]
    Refused(Problem),
    #[error("server unreachable: {0}")]
    Unreachable(String),
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    #[error("{0}")]
    Usage(String),
}

/// The certificate authorities a client trusts for an `https` server.
#[derive(Clone, Default)]
pub enum Trust {
    /// The system's roots (a server with a publicly issued certificate).
    #[default]
    SystemRoots,
    /// Exactly these (a private CA such as `server init --tls` makes), nothing else.
    Only(Vec<reqwest::Certificate>),
}

impl Trust {
    /// The CAs of a PEM bundle (`--ca-cert`, `CAIRN_CA_CERT`), or the system's roots.
    pub fn from_pem_file(path: Option<&std::path::Path>) -> Result<Trust, ClientError> {
        let Some(path) = path else {
            return Ok(Trust::SystemRoots);
        };
        let certs =
            cairn_pem::read_certificates(path).map_err(|e| ClientError::Usage(e.to_string()))?;
        let certs = certs
            .iter()
            .map(|der| reqwest::Certificate::from_der(der))
            .collect::<Result<_, _>>()
            .map_err(|e| ClientError::Usage(format!("{}: {e}", path.display())))?;
        Ok(Trust::Only(certs))
    }

    fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        match self {
            Trust::SystemRoots => builder,
            Trust::Only(certs) => builder.tls_certs_only(certs.iter().cloned()),
        }
    }
}

#[derive(Clone)]
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    admin_token: Option<String>,
    /// Attempts for a request the server never received (connection refused, reset).
    attempts: u32,
}

impl ApiClient {
    pub fn new(server: &str, insecure: bool, trust: &Trust) -> Result<Self, ClientError> {
        let base = Url::parse(server)
            .map_err(|e| ClientError::Usage(format!("bad server URL {server:?}: {e}")))?;
        match base.scheme() {
            "https" => {}
            "http" if insecure || cairn_proto::transport::is_loopback(&base) => {}
            "http" => {
                return Err(ClientError::Usage(format!(
                    "refusing plain HTTP to {server} (not loopback); use https or pass --insecure"
                )));
            }
            other => {
                return Err(ClientError::Usage(format!(
                    "unsupported URL scheme {other:?}"
                )));
            }
        }
        // The API never redirects, and a redirect must not carry signed evidence or an admin
        // token elsewhere.
        let http = trust
            .apply(reqwest::Client::builder())
            .tls_version_min(reqwest::tls::Version::TLS_1_2)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            // Idle connections are dropped before the server's idle timeout (10 s by
            // default) would close them under a request.
            .pool_idle_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Usage(format!("HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            base,
            admin_token: None,
            attempts: 4,
        })
    }

    pub fn with_admin_token(mut self, token: Option<String>) -> Self {
        self.admin_token = token;
        self
    }

    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    async fn send<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ClientError> {
        let (url, bytes) = self.exchange(method, path, body).await?;
        // 204 No Content reads as JSON null.
        let body: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(body).map_err(|e| ClientError::Protocol(format!("{url}: {e}")))
    }

    /// A request whose successful answer's bytes are returned as they are; `path` may carry
    /// a query.
    async fn exchange<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(Url, Vec<u8>), ClientError> {
        // Every path is absolute, so setting it is `join` without re-parsing the host.
        let mut url = self.base.clone();
        let (path, query) = match path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (path, None),
        };
        url.set_path(path);
        url.set_query(query);
        // Only failures to connect are retried: the server never saw the request, so
        // repeating it cannot, say, consume a nonce twice.
        let response = with_backoff(self.attempts, reqwest::Error::is_connect, || {
            let mut req = self.http.request(method.clone(), url.clone());
            if let Some(token) = &self.admin_token {
                req = req.bearer_auth(token);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            req.send()
        })
        .await
        .map_err(|e| {
            ClientError::Unreachable(format!("{url}: {}", cairn_proto::error_chain(&e)))
        })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ClientError::Unreachable(e.to_string()))?;
        if status.is_success() {
            return Ok((url, bytes.to_vec()));
        }
        Err(match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => ClientError::Refused(problem),
            Err(_) => ClientError::Protocol(format!(
                "{url}: HTTP {status}: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            )),
        })
    }

    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.send::<(), R>(Method::GET, path, None).await
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn challenge(&self) -> Result<Challenge, ClientError> {
        self.send::<(), _>(Method::POST, "/v1/attest/challenge", None)
            .await
    }

    pub async fn enroll(&self, signed: &Signed<Enrollment>) -> Result<EnrollResponse, ClientError> {
        self.post("/v1/hosts", signed).await
    }

    /// Answers a TPM host's credential challenge with the secret its TPM recovered.
    pub async fn activate(
        &self,
        host_id: &cairn_proto::HostId,
        secret: cairn_proto::secret::ActivationSecret,
    ) -> Result<EnrollResponse, ClientError> {
        let request = cairn_proto::api::ActivationRequest { secret };
        self.post(&format!("/v1/hosts/{host_id}/activation"), &request)
            .await
    }

    pub async fn attest(&self, signed: &Signed<Evidence>) -> Result<String, ClientError> {
        self.post::<_, AttestResponse>("/v1/attest", signed)
            .await
            .map(|r| r.pat)
    }

    pub async fn jwks<R: DeserializeOwned>(&self) -> Result<R, ClientError> {
        self.get("/.well-known/jwks.json").await
    }

    /// A resource of the transparency log (`/v1/log/…`), as bytes: the checkpoint, the
    /// verifier key, a tile.
    pub async fn log_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        self.exchange::<()>(Method::GET, &format!("/v1/log/{path}"), None)
            .await
            .map(|(_, bytes)| bytes)
    }

    /// That the log's tree of `old` entries is a prefix of its tree of `new`.
    pub async fn log_consistency(&self, old: u64, new: u64) -> Result<LogProof, ClientError> {
        self.get(&format!("/v1/log/proof/consistency?old={old}&new={new}"))
            .await
    }

    /// Events after log index `after` (from the first without it).
    pub async fn events(&self, after: Option<u64>) -> Result<EventsPage, ClientError> {
        match after {
            Some(after) => self.get(&format!("/v1/events?after={after}")).await,
            None => self.get("/v1/events").await,
        }
    }

    pub async fn hosts(&self) -> Result<Vec<HostView>, ClientError> {
        self.get("/v1/hosts").await
    }

    pub async fn host(&self, id: &HostId) -> Result<HostView, ClientError> {
        self.get(&format!("/v1/hosts/{id}")).await
    }

    /// `approve`, `revoke`, `quarantine` or `rotate`.
    pub async fn host_action(
        &self,
        id: &HostId,
        action: HostAction,
    ) -> Result<HostView, ClientError> {
        self.post(&format!("/v1/hosts/{id}/{action}"), &serde_json::json!({}))
            .await
    }

    pub async fn create_token(&self, req: &TokenRequest) -> Result<TokenResponse, ClientError> {
        self.post("/v1/tokens", req).await
    }

    pub async fn tokens(&self) -> Result<Vec<TokenView>, ClientError> {
        self.get("/v1/tokens").await
    }

    pub async fn revoke_token(&self, id: &str) -> Result<TokenView, ClientError> {
        self.post(&format!("/v1/tokens/{id}/revoke"), &serde_json::json!({}))
            .await
    }

    pub async fn revoke_instance(&self, instance_id: &str) -> Result<(), ClientError> {
        self.post(
            &format!("/v1/instances/{instance_id}/revoke"),
            &serde_json::json!({}),
        )
        .await
    }

    pub async fn create_instance(
        &self,
        req: &InstanceRequest,
    ) -> Result<InstanceResponse, ClientError> {
        self.post("/v1/instances", req).await
    }

    pub async fn create_volume(&self, req: &VolumeRequest) -> Result<VolumeView, ClientError> {
        self.post("/v1/volumes", req).await
    }

    pub async fn volumes(&self) -> Result<Vec<VolumeView>, ClientError> {
        self.get("/v1/volumes").await
    }

    pub async fn create_erot(&self, req: &ErotRequest) -> Result<ErotResponse, ClientError> {
        self.post("/v1/erots", req).await
    }

    pub async fn receipt(
        &self,
        erot_id: &ErotId,
        req: &ReceiptRequest,
    ) -> Result<ReceiptResponse, ClientError> {
        self.post(&format!("/v1/erots/{}/receipt", erot_id), req)
            .await
    }

    pub async fn release_erot(
        &self,
        erot_id: &ErotId,
        req: &ReleaseRequest,
    ) -> Result<Sealed, ClientError> {
        self.post(&format!("/v1/erots/{}/release", erot_id), req)
            .await
    }

    pub async fn complete_erot(
        &self,
        erot_id: &ErotId,
        signed: &Signed<Completion>,
    ) -> Result<(), ClientError> {
        self.post::<_, serde::de::IgnoredAny>(&format!("/v1/erots/{}/complete", erot_id), signed)
            .await
            .map(|_| ())
    }

    pub async fn release_key(
        &self,
        volume_id: &str,
        req: &KeyRequest,
    ) -> Result<Sealed, ClientError> {
        cairn_proto::api::check_id("volume", volume_id).map_err(ClientError::Usage)?;
        self.post(&format!("/v1/volumes/{volume_id}/key"), req)
            .await
    }
}

/// Runs `send` up to `attempts` times while its failure is one `retry` accepts, backing off
/// from 0.2 s, doubling up to 5 s: the one retry loop of the agent.
pub(crate) async fn with_backoff<T, F>(
    attempts: u32,
    retry: impl Fn(&reqwest::Error) -> bool,
    mut send: impl FnMut() -> F,
) -> Result<T, reqwest::Error>
where
    F: Future<Output = Result<T, reqwest::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match send().await {
            Err(e) if attempt < attempts && retry(&e) => {
                tracing::debug!(error = %e, attempt, "unreachable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
                attempt += 1;
            }
            done => return done,
        }
    }
}

/// An instance's security token from its metadata service (`--token-url`). Metadata
/// services are link-local plain HTTP by design; the token is a signed JWT, so the transport
/// adds nothing to its integrity. A refusal is a configuration error; anything else is
/// retried `attempts` times (the GET changes nothing).
pub async fn fetch_security_token(url: &str, attempts: u32) -> Result<String, ClientError> {
    let fail = |e: reqwest::Error| match e.is_status() {
        true => ClientError::Usage(format!("security token from {url}: {e}")),
        false => ClientError::Unreachable(format!("security token from {url}: {e}")),
    };
    // A metadata service answers on its own link, directly: no proxy, no redirect.
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| ClientError::Usage(format!("HTTP client: {e}")))?;
    let mut response = with_backoff(
        attempts.max(1),
        |e| !e.is_status(),
        || async { http.get(url).send().await?.error_for_status() },
    )
    .await
    .map_err(fail)?;
    let mut token = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(fail)? {
        if token.len() + chunk.len() > MAX_SECURITY_TOKEN {
            return Err(ClientError::Protocol(format!(
                "security token from {url}: more than {MAX_SECURITY_TOKEN} bytes"
            )));
        }
        token.extend_from_slice(&chunk);
    }
    String::from_utf8(token)
        .map_err(|_| ClientError::Protocol(format!("security token from {url}: not UTF-8")))
}

/// A security token is a JWT of a few KiB; an answer longer than this is not one.
const MAX_SECURITY_TOKEN: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server on loopback answering `body`.
    async fn metadata_service(body: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut head = [0; 1024];
            let _ = tcp.read(&mut head).await;
            let _ = tcp
                .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                .await;
            let _ = tcp.write_all(&body).await;
        });
        url
    }

    #[tokio::test]
    async fn a_security_token_from_a_metadata_url_is_read_up_to_its_cap() {
        let url = metadata_service(b"eyJ.token.sig".to_vec()).await;
        assert_eq!(
            fetch_security_token(&url, 1).await.unwrap(),
            "eyJ.token.sig"
        );
        let url = metadata_service(vec![b'a'; MAX_SECURITY_TOKEN + 1]).await;
        assert!(matches!(
            fetch_security_token(&url, 1).await,
            Err(ClientError::Protocol(e)) if e.contains("more than")
        ));
    }

    #[test]
    fn plain_http_only_to_loopback_unless_insecure() {
        for ok in [
            "http://127.0.0.1:1",
            "http://localhost:8",
            "http://[::1]:9",
            "https://cairn.example",
        ] {
            assert!(
                ApiClient::new(ok, false, &Trust::SystemRoots).is_ok(),
                "{ok}"
            );
        }
        assert!(matches!(
            ApiClient::new("http://10.0.0.1", false, &Trust::SystemRoots),
            Err(ClientError::Usage(_))
        ));
        assert!(ApiClient::new("http://10.0.0.1", true, &Trust::SystemRoots).is_ok());
        assert!(ApiClient::new("ftp://x", true, &Trust::SystemRoots).is_err());
    }
}
