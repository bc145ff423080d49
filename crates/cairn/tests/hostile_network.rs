//! A hostile network against the real server process: who may talk to it, how, and for how
//! long. TLS only with the CA the server was given, no plaintext on a public address,
//! connections that never finish their handshake or headers closed within the header
//! timeout, a body trickled past the request timeout refused, the certificate replaced on
//! SIGHUP, and a shutdown that does not wait for idle clients.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn port(server: &TestServer) -> u16 {
    server.url.rsplit(':').next().unwrap().parse().unwrap()
}

/// A TLS connection to `server` trusting exactly `ca`, speaking `versions`.
async fn tls_connect_with(
    server: &TestServer,
    ca: &Path,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_protocol_versions(versions)
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(("127.0.0.1", port(server)))
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect("127.0.0.1".try_into().unwrap(), tcp)
        .await
        .unwrap()
}

async fn tls_connect(server: &TestServer, ca: &Path) -> tokio_rustls::client::TlsStream<TcpStream> {
    tls_connect_with(server, ca, rustls::DEFAULT_VERSIONS).await
}

/// Starts `command`, returns the first line it prints and stops it.
fn first_line(command: &mut Command) -> String {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    line
}

/// How long `/healthz` takes to answer through a fresh connection.
async fn healthz(server: &TestServer) -> Duration {
    let started = Instant::now();
    let response = server
        .http()
        .get(format!("{}/healthz", server.url))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("/healthz answers");
    assert_eq!(response.status(), 200);
    started.elapsed()
}

/// Waits until the peer closes `stream` (EOF or reset), or `limit` passes.
async fn closed_within<S: tokio::io::AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> bool {
    let mut buf = [0; 512];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test]
async fn tls_is_spoken_only_with_the_servers_ca() {
    let server = TestServer::start(None, &[]);
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    healthz(&server).await;
    // The system's roots do not know a private CA.
    let error = reqwest::Client::new()
        .get(format!("{}/healthz", server.url))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    // Nor does another server's CA.
    let other = TestServer::start(None, &[]);
    let out = Command::new(CAIRN)
        .args(["admin", "hosts", "list"])
        .env("CAIRN_SERVER", &server.url)
        .env("CAIRN_CA_CERT", &other.ca_cert)
        .env("CAIRN_ADMIN_TOKEN", &server.admin_token)
        .output()
        .unwrap();
    assert_exit(&out, 3);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("certificate"), "{stderr}");
    // Plain HTTP to the TLS port gets no answer.
    let plain = format!("http://127.0.0.1:{}/healthz", port(&server));
    let answer = reqwest::get(&plain).await;
    assert!(answer.is_err() || answer.unwrap().status() != 200);
}

#[tokio::test]
async fn only_tls_1_2_and_1_3_are_offered() {
    let server = TestServer::start(None, &[]);
    let stream = tls_connect(&server, &server.ca_cert).await;
    let (_, session) = stream.get_ref();
    assert!(matches!(
        session.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    ));
    assert_eq!(session.alpn_protocol(), None);
    // A client that insists on TLS 1.2 is served too.
    let stream = tls_connect_with(&server, &server.ca_cert, &[&rustls::version::TLS12]).await;
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
}

/// `server run` on a public address without TLS is refused (exit 2, saying what to do),
/// unless told it sits behind a TLS-terminating proxy.
#[test]
fn plaintext_on_a_public_address_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    ok(&Command::new(CAIRN)
        .args(["server", "init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap());
    let run = |data: &Path, extra: &[&str]| {
        let mut command = Command::new(CAIRN);
        command
            .args(["server", "run", "--listen", "0.0.0.0:0", "--data-dir"])
            .arg(data)
            .args(extra);
        command
    };
    let out = run(&data, &[]).output().unwrap();
    assert_exit(&out, 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--insecure-plaintext"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let line = first_line(&mut run(&data, &["--insecure-plaintext"]));
    assert!(
        line.starts_with("cairn server listening on http://0.0.0.0:"),
        "{line}"
    );
    // With a certificate it serves TLS on any address.
    let tls_data = dir.path().join("tls-srv");
    ok(&Command::new(CAIRN)
        .args(["server", "init", "--tls", "--data-dir"])
        .arg(&tls_data)
        .output()
        .unwrap());
    let line = first_line(&mut run(&tls_data, &[]));
    assert!(
        line.starts_with("cairn server listening on https://0.0.0.0:"),
        "{line}"
    );
}

/// A thousand connections that never finish a TLS handshake, and some that finish it but
/// never their headers, are all closed by the server within its header timeout, and a new
/// client is answered meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_within_the_header_timeout() {
    raise_open_file_limit();
    let server = TestServer::start(None, &["--header-timeout", "2"]);
    let mut idle = Vec::new();
    for _ in 0..1000 {
        idle.push(
            TcpStream::connect(("127.0.0.1", port(&server)))
                .await
                .unwrap(),
        );
    }
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = tls_connect(&server, &server.ca_cert).await;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        stream.flush().await.unwrap();
        slow.push(stream);
    }
    let answered = healthz(&server).await;
    assert!(
        answered < Duration::from_secs(1),
        "/healthz took {answered:?}"
    );
    let opened = Instant::now();
    // Two seconds of header timeout, and some slack for a loaded machine.
    let limit = Duration::from_secs(6);
    for stream in &mut idle {
        assert!(closed_within(stream, limit.saturating_sub(opened.elapsed())).await);
    }
    for stream in &mut slow {
        assert!(closed_within(stream, limit.saturating_sub(opened.elapsed())).await);
    }
    let metrics = server.get_text("/metrics").await;
    assert!(
        metrics.contains(
            r#"cairn_connections_closed_by_server_total{outcome="tls-handshake-timeout"} 1000"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"cairn_connections_closed_by_server_total{outcome="head-timeout"} 20"#),
        "{metrics}"
    );
}

/// An idle keep-alive connection does not stay open past the header timeout either.
#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let server = TestServer::start(None, &["--header-timeout", "1"]);
    let mut stream = tls_connect(&server, &server.ca_cert).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0; 256];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert!(closed_within(&mut stream, Duration::from_secs(4)).await);
}

/// A body trickled slower than the request timeout allows is refused with its own problem.
#[tokio::test]
async fn a_trickled_body_is_refused_at_the_request_timeout() {
    let server = TestServer::start(None, &["--request-timeout", "1"]);
    let mut stream = tls_connect(&server, &server.ca_cert).await;
    stream
        .write_all(
            b"POST /v1/attest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0; 1024];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") || !answer.ends_with(b"}") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("answered")
            .unwrap();
        assert!(n > 0, "closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("urn:cairn:problem:request-timeout"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A client that asks and never reads its answers holds its connection no longer than the
/// request timeout: the write that cannot go on fails.
#[tokio::test]
async fn a_client_that_does_not_read_is_dropped() {
    let server = TestServer::start(None, &["--request-timeout", "1"]);
    let mut stream = tls_connect(&server, &server.ca_cert).await;
    // Far more answer than the socket buffers on both sides hold.
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(300);
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.write_all(&request)).await;
    let metrics = async || server.get_text("/metrics").await;
    let dropped = r#"cairn_connections_closed_by_server_total{outcome="write-stalled"} 1"#;
    let started = Instant::now();
    while !metrics().await.contains(dropped) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{}",
            metrics().await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Names that cannot go in a certificate are refused before anything is made, so that
/// `server init --tls` can be run again at once with the right ones.
#[test]
fn a_bad_certificate_name_is_refused_before_init() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    let out = Command::new(CAIRN)
        .args([
            "server",
            "init",
            "--tls",
            "--tls-san",
            "bad\u{e9}name",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-san"));
    ok(&Command::new(CAIRN)
        .args([
            "server",
            "init",
            "--tls",
            "--tls-san",
            "cairn.example",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap());
    assert!(data.join("tls/ca.pem").exists());
}

/// `--tls-cert/--tls-key` are read again on SIGHUP; a pair that does not match keeps the
/// certificate in use.
#[tokio::test]
async fn sighup_reloads_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let made = |name: &str| {
        let data = dir.path().join(name);
        ok(&Command::new(CAIRN)
            .args(["server", "init", "--tls", "--data-dir"])
            .arg(&data)
            .output()
            .unwrap());
        data.join("tls")
    };
    let (a, b) = (made("a"), made("b"));
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::copy(a.join("server.pem"), &cert).unwrap();
    std::fs::copy(a.join("server.key"), &key).unwrap();
    let mut server = TestServer::start(
        None,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let trusting = |ca: &Path| {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap()
    };
    let url = format!("{}/healthz", server.url);
    assert!(trusting(&a.join("ca.pem")).get(&url).send().await.is_ok());
    assert!(trusting(&b.join("ca.pem")).get(&url).send().await.is_err());
    let hangup = |server: &TestServer| {
        ok(&Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .output()
            .unwrap());
    };
    // Half a pair: b's certificate with a's key. Refused; a's stays.
    std::fs::copy(b.join("server.pem"), &cert).unwrap();
    hangup(&server);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(trusting(&a.join("ca.pem")).get(&url).send().await.is_ok());
    assert!(server.logs().contains("TLS certificate not reloaded"));
    std::fs::copy(b.join("server.key"), &key).unwrap();
    hangup(&server);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(trusting(&b.join("ca.pem")).get(&url).send().await.is_ok());
    assert!(trusting(&a.join("ca.pem")).get(&url).send().await.is_err());
    server.stop();
}

/// SIGTERM: the server stops at once when its clients are idle, with exit 0.
#[tokio::test]
async fn a_shutdown_does_not_wait_for_idle_clients() {
    let mut server = TestServer::start(None, &["--shutdown-grace", "30"]);
    let mut stream = tls_connect(&server, &server.ca_cert).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0; 256];
    assert!(stream.read(&mut buf).await.unwrap() > 0);
    let started = Instant::now();
    ok(&Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .output()
        .unwrap());
    let status = server.wait();
    assert!(status.success(), "{status:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(closed_within(&mut stream, Duration::from_secs(1)).await);
}

fn raise_open_file_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    limit.current = limit.maximum;
    setrlimit(Resource::Nofile, limit).unwrap();
}

/// What the fake key-set server answers.
#[derive(Clone)]
enum Answer {
    Jwks(String),
    Redirect(String),
    /// 2 MiB of JSON without a Content-Length: only reading can tell.
    Huge,
    Failing,
}

/// A plain-HTTP server on loopback that answers every request with `answer`'s current value.
async fn key_set_server(answer: Arc<std::sync::Mutex<Answer>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let answer = answer.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let response = match answer {
                    Answer::Jwks(body) => format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    ),
                    Answer::Redirect(to) => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                    Answer::Huge => {
                        let _ = tcp
                            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"keys\":[], \"x\":\"")
                            .await;
                        let chunk = vec![b'a'; 64 * 1024];
                        for _ in 0..32 {
                            if tcp.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                        "\"}".into()
                    }
                    Answer::Failing => {
                        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into()
                    }
                };
                let _ = tcp.write_all(response.as_bytes()).await;
                let _ = tcp.shutdown().await;
            });
        }
    });
    url
}

fn issuers_file(dir: &Path, issuer: &str, jwks_url: &str) -> String {
    let path = dir.join(format!("issuers-{}.json", rand_suffix()));
    std::fs::write(
        &path,
        serde_json::json!({ "issuers": [{ "issuer": issuer, "jwks_url": jwks_url, "typ": "st+jwt" }] })
            .to_string(),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

fn rand_suffix() -> String {
    hex::encode(cairn_proto::random_bytes::<4>())
}

/// A key set is what the key broker trusts: one behind a redirect, one larger than 1 MiB and
/// one over plain HTTP to another machine are refused, and the server does not start
/// (exit 2, saying which and why).
// The key-set server runs on this runtime while the test blocks on processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsafe_key_sets_are_refused() {
    let issuer = TestServer::start(None, &[]);
    let jwks = issuer.get_text("/.well-known/jwks.json").await;
    let good = key_set_server(Arc::new(std::sync::Mutex::new(Answer::Jwks(jwks)))).await;
    let redirect = key_set_server(Arc::new(std::sync::Mutex::new(Answer::Redirect(
        good.clone(),
    ))))
    .await;
    let huge = key_set_server(Arc::new(std::sync::Mutex::new(Answer::Huge))).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    ok(&Command::new(CAIRN)
        .args(["server", "init", "--tls", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap());
    for (url, says) in [
        (redirect.as_str(), "redirects are not followed"),
        (huge.as_str(), "more than 1048576 bytes"),
        ("http://192.0.2.1/jwks.json", "must be https"),
    ] {
        let out = Command::new(CAIRN)
            .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args([
                "--trusted-issuers",
                &issuers_file(dir.path(), &issuer.url, url),
            ])
            .output()
            .unwrap();
        assert_exit(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(says), "{url}: {stderr}");
    }
    // The same key set served directly is fine.
    let line = first_line(
        Command::new(CAIRN)
            .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args([
                "--trusted-issuers",
                &issuers_file(dir.path(), &issuer.url, &good),
            ]),
    );
    assert!(
        line.starts_with("cairn server listening on https://"),
        "{line}"
    );
}

/// An issuer whose key set cannot be fetched for longer than the allowed staleness has its
/// tokens refused with a problem of their own, until a fetch succeeds again.
// The key-set server runs on this runtime while the test blocks on processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_issuers_tokens_are_refused_until_its_keys_are_refreshed() {
    let issuer = TestServer::start(None, &[]);
    let jwks = issuer.get_text("/.well-known/jwks.json").await;
    let answer = Arc::new(std::sync::Mutex::new(Answer::Jwks(jwks.clone())));
    let url = key_set_server(answer.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let broker = TestServer::start(
        None,
        &[
            "--trusted-issuers",
            &issuers_file(dir.path(), &issuer.url, &url),
            "--issuer-refresh",
            "1",
            "--issuer-max-staleness",
            "2",
        ],
    );
    let key = cairn_agent::SoftKey::ephemeral();
    for server in [&issuer, &broker] {
        let join = join_token(server).await;
        cairn_agent::flows::enroll(&server.client(), &key, "h", baremetal(), Some(join))
            .await
            .unwrap();
        volume(server, "vol-a").await;
    }
    let host_id = cairn_agent::HardwareKeySigner::public(&key).host_id();
    let token = security_token(&issuer, "i-1", &host_id, &["vol-a"]).await;
    let recipient = cairn_proto::sealed::RecipientKey::generate();
    let released = async || {
        let pat = pat(&broker, &key, Some(&token), &recipient).await;
        release(&broker, "vol-a", &token, &pat).await
    };
    assert!(released().await.is_ok());
    *answer.lock().unwrap() = Answer::Failing;
    let refused = wait_for(Duration::from_secs(15), async || released().await.is_err()).await;
    assert!(refused, "the stale issuer's token was still accepted");
    assert_eq!(refusal(released().await), "security-token-issuer-stale");
    *answer.lock().unwrap() = Answer::Jwks(jwks);
    assert!(wait_for(Duration::from_secs(15), async || released().await.is_ok()).await);
}

/// Polls `condition` every 200 ms until it holds or `limit` passes.
async fn wait_for(limit: Duration, condition: impl AsyncFn() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A request head larger than 16 KiB is refused before it is buffered any further.
#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let server = TestServer::start(None, &[]);
    let mut stream = tls_connect(&server, &server.ca_cert).await;
    let padding = "a".repeat(20 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {padding}\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

/// The server's resident anonymous memory (its heap and stacks), in bytes. File-backed pages
/// are left out: SQLite maps the database, and pages of it read are cache the kernel can
/// drop, bounded by the database's size (which the tests bound separately).
fn rss(server: &TestServer) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

const RSS_GROWTH_LIMIT: u64 = 64 << 20;

/// A report as large as the body limit allows, within the per-report limits.
fn bulky_report() -> cairn_proto::Report {
    use cairn_proto::{Component, ComponentClass};
    let value = "v".repeat(3800);
    cairn_proto::Report::new(
        (0..60)
            .map(|i| Component {
                class: ComponentClass::Disk,
                id: format!("disk{i:03}"),
                values: [("serial".to_string(), value.clone())].into(),
            })
            .collect(),
    )
}

/// Enrollments without a credential, each with a report near the body limit: past the cap
/// on pending hosts they are refused, and neither they nor attestations with garbage
/// signatures for the pending hosts grow the server's memory past a bound. `/healthz`
/// answers throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrollment_flood_is_capped_and_keeps_memory_bounded() {
    let server = TestServer::start(None, &["--max-pending-hosts", "40"]);
    let report = bulky_report();
    let before = rss(&server);
    let mut keys = Vec::new();
    let (mut created, mut full) = (0, 0);
    for round in 0..4 {
        let tasks: Vec<_> = (0..50)
            .map(|i| {
                let (client, report) = (server.client(), report.clone());
                tokio::spawn(async move {
                    let key = cairn_agent::SoftKey::ephemeral();
                    let name = format!("flood-{round}-{i}");
                    let outcome =
                        cairn_agent::flows::enroll(&client, &key, &name, report, None).await;
                    (key, outcome)
                })
            })
            .collect();
        for task in tasks {
            match task.await.unwrap() {
                (key, Ok(_)) => {
                    created += 1;
                    keys.push(key);
                }
                (_, outcome) => {
                    assert_eq!(refusal(outcome), "pending-hosts-full");
                    full += 1;
                }
            }
        }
        assert!(healthz(&server).await < Duration::from_secs(1));
    }
    // Concurrent enrollments may overshoot the cap by the few that ran at once.
    assert!((40..=50).contains(&created), "{created} created");
    assert_eq!(created + full, 200);
    // Attestations for the pending hosts, signed by someone else.
    let forger = cairn_agent::SoftKey::ephemeral();
    for key in &keys {
        for _ in 0..5 {
            let nonce = server.client().challenge().await.unwrap().nonce;
            let host_id = cairn_agent::HardwareKeySigner::public(key).host_id();
            let forged = sign_evidence(&forger, host_id, nonce, &report);
            assert_eq!(
                refusal(server.client().attest(&forged).await),
                "evidence-signature-invalid"
            );
        }
    }
    let grown = rss(&server).saturating_sub(before);
    assert!(grown < RSS_GROWTH_LIMIT, "RSS grew by {} MB", grown >> 20);
    let db = std::fs::metadata(server.data_dir.join("cairn.db"))
        .unwrap()
        .len()
        + std::fs::metadata(server.data_dir.join("cairn.db-wal")).map_or(0, |m| m.len());
    assert!(db < 64 << 20, "the database holds {} MB", db >> 20);
}

/// Challenges cost the server nothing it keeps: a flood of them leaves its memory where it
/// was, and `/healthz` answers meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_flood_keeps_nothing() {
    let server = TestServer::start(None, &[]);
    let before = rss(&server);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let client = server.client();
            tokio::spawn(async move {
                for _ in 0..1500 {
                    client.challenge().await.unwrap();
                }
            })
        })
        .collect();
    let answered = healthz(&server).await;
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        answered < Duration::from_secs(1),
        "/healthz took {answered:?}"
    );
    let grown = rss(&server).saturating_sub(before);
    assert!(grown < RSS_GROWTH_LIMIT, "RSS grew by {} MB", grown >> 20);
}

/// One address cannot hold every connection: past its share its new connections are closed
/// at once, while another address (all of 127/8 is this machine) is served.
#[tokio::test]
async fn one_address_cannot_take_every_connection() {
    let server = TestServer::start(None, &["--max-connections-per-address", "10"]);
    let mut held = Vec::new();
    for _ in 0..10 {
        held.push(
            TcpStream::connect(("127.0.0.1", port(&server)))
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut eleventh = TcpStream::connect(("127.0.0.1", port(&server)))
        .await
        .unwrap();
    assert!(closed_within(&mut eleventh, Duration::from_secs(2)).await);
    let ca = reqwest::Certificate::from_pem(&std::fs::read(&server.ca_cert).unwrap()).unwrap();
    let elsewhere = reqwest::Client::builder()
        .tls_certs_only([ca])
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap();
    let get = |path: &str| elsewhere.get(format!("{}{path}", server.url)).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics
            .contains(r#"cairn_connections_closed_by_server_total{outcome="per-address-cap"} 1"#),
        "{metrics}"
    );
    // Its connections closed, the address is served again.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    healthz(&server).await;
}
