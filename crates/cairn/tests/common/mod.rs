//! Test harness: real `cairn` server processes on loopback ports, and the real CLI.
#![allow(dead_code)]

pub mod receiver;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use cairn_agent::{HardwareKeySigner, SoftKey};
use cairn_client::{ApiClient, Trust};
use cairn_proto::api::{ErotResponse, EventView, TokenRequest, TokenRole};
use cairn_proto::{ErotId, Evidence, Report, Signed};

pub const CAIRN: &str = env!("CARGO_BIN_EXE_cairn");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cairn-hfm/tests/fixtures")
        .join(name)
}

pub struct TestServer {
    child: Child,
    /// `https://127.0.0.1:PORT`: every test server serves TLS with the private CA that
    /// `server init --tls` made.
    pub url: String,
    /// That CA's certificate, which every client of this server trusts (and nothing else).
    pub ca_cert: PathBuf,
    pub admin_token: String,
    /// The log's verifier key as `server init` printed it (empty for a replica).
    pub log_key: String,
    pub data_dir: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// `cairn server init --tls` + `cairn server run --listen 127.0.0.1:0` with a fresh SQLite file
    /// (or `database_url`), plus `extra` run flags.
    pub fn start(database_url: Option<&str>, extra: &[&str]) -> TestServer {
        Self::start_with_env(&[], database_url, extra)
    }

    /// The same with environment variables for both `init` and `run` (a key store, say).
    pub fn start_with_env(
        env: &[(&str, &str)],
        database_url: Option<&str>,
        extra: &[&str],
    ) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("srv");
        let mut init = Command::new(CAIRN);
        init.args(["server", "init", "--tls", "--json", "--data-dir"])
            .arg(&data_dir)
            .envs(env.iter().copied());
        if let Some(url) = database_url {
            init.args(["--database-url", url]);
        }
        let out = init.output().unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let made = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap();
        let admin_token = made["admin_token"].as_str().unwrap().to_string();
        let mut server = Self::run_with_env(env, &data_dir, database_url, extra, admin_token);
        server.log_key = made["log_key"].as_str().unwrap().to_string();
        server._dir = Some(dir);
        server
    }

    /// Another process serving an existing data directory (a replica).
    pub fn run(
        data_dir: &Path,
        database_url: Option<&str>,
        extra: &[&str],
        admin_token: String,
    ) -> TestServer {
        Self::run_with_env(&[], data_dir, database_url, extra, admin_token)
    }

    pub fn run_with_env(
        env: &[(&str, &str)],
        data_dir: &Path,
        database_url: Option<&str>,
        extra: &[&str],
        admin_token: String,
    ) -> TestServer {
        let mut cmd = Command::new(CAIRN);
        cmd.args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .envs(env.iter().copied());
        if let Some(url) = database_url {
            cmd.args(["--database-url", url]);
        }
        let log = std::fs::File::create(
            data_dir.join(format!("server-{}.log", std::process::id() ^ rand_u32())),
        )
        .unwrap();
        let mut child = cmd.stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let url = announced(&mut child, "cairn server listening on ");
        TestServer {
            child,
            url,
            ca_cert: data_dir.join("tls/ca.pem"),
            admin_token,
            log_key: String::new(),
            data_dir: data_dir.to_path_buf(),
            _dir: None,
        }
    }

    pub fn trust(&self) -> Trust {
        Trust::from_pem_file(Some(&self.ca_cert)).unwrap()
    }

    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.url, false, &self.trust())
            .unwrap()
            .with_attempts(1)
    }

    /// A bare HTTP client that trusts this server's CA, for requests `ApiClient` would not send.
    pub fn http(&self) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(&std::fs::read(&self.ca_cert).unwrap()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .unwrap()
    }

    pub fn admin(&self) -> ApiClient {
        self.client()
            .with_admin_token(Some(self.admin_token.clone()))
    }

    /// The body of `GET path` (`/metrics`, `/.well-known/jwks.json`…), trusting this server's CA.
    pub async fn get_text(&self, path: &str) -> String {
        self.http()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Runs the CLI against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(CAIRN)
            .args(args)
            .env("CAIRN_SERVER", &self.url)
            .env("CAIRN_CA_CERT", &self.ca_cert)
            .env("CAIRN_ADMIN_TOKEN", &self.admin_token)
            .output()
            .unwrap()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to exit (after a signal, say).
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().unwrap()
    }

    /// Stops the process, keeping its data directory (to restart on it).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Everything the server logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_dir(&self.data_dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("server-"))
            .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a process announces on its first stdout line after `prefix` (the address it listens
/// on, say); a panic if it says anything else.
pub fn announced(child: &mut Child, prefix: &str) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("unexpected: {line:?}"))
        .to_string()
}

/// Every logged event after index `after` (all without it), as the admin reads them page by
/// page.
pub async fn events_after(server: &TestServer, mut after: Option<u64>) -> Vec<EventView> {
    let mut all = vec![];
    loop {
        let page = server.admin().events(after).await.unwrap();
        if page.events.is_empty() {
            return all;
        }
        after = page.next;
        all.extend(page.events);
    }
}

fn rand_u32() -> u32 {
    u32::from_le_bytes(cairn_proto::random_bytes::<4>())
}

/// A fresh single-use join token.
pub async fn join_token(server: &TestServer) -> String {
    let request = TokenRequest {
        role: TokenRole::Join,
        ttl_seconds: None,
    };
    server.admin().create_token(&request).await.unwrap().token
}

/// An enrolled, approved host with an in-memory key.
pub async fn active_host(server: &TestServer, report: &Report) -> SoftKey {
    let key = SoftKey::ephemeral();
    let join = join_token(server).await;
    cairn_agent::flows::enroll(
        &server.client(),
        &key,
        "test-host",
        report.clone(),
        Some(join),
    )
    .await
    .unwrap();
    key
}

pub fn baremetal() -> Report {
    cairn_hfm::scan(&fixture("baremetal")).report
}

/// The baremetal report with one component of `class` swapped for another part.
pub fn with_changed(class: cairn_proto::ComponentClass) -> Report {
    let mut report = baremetal();
    let c = report
        .components
        .iter_mut()
        .find(|c| c.class == class)
        .expect("fixture has the class");
    let first = c.values.keys().next().unwrap().clone();
    c.values.insert(first, "swapped-part".into());
    report
}

/// `report` as the host of `key` sends it: with its TPM's endorsement key, when it has one
/// (as `cairn agent` adds it).
pub fn reported(key: &dyn HardwareKeySigner, report: &Report) -> Report {
    match key.endorsement_key() {
        Some(ek) => cairn_hfm::with_endorsement_key(report.clone(), &ek),
        None => report.clone(),
    }
}

/// Signed evidence for `key` over a fresh nonce from `server`.
pub async fn evidence(
    server: &TestServer,
    key: &dyn HardwareKeySigner,
    report: &Report,
) -> Signed<Evidence> {
    let nonce = server.client().challenge().await.unwrap().nonce;
    sign_evidence(key, key.public().host_id(), nonce, &reported(key, report))
}

pub fn sign_evidence(
    key: &dyn HardwareKeySigner,
    host_id: cairn_proto::HostId,
    nonce: cairn_proto::Nonce,
    report: &Report,
) -> Signed<Evidence> {
    let evidence = Evidence {
        host_id,
        nonce,
        instance_key: [42; 32],
        security_token_digest: None,
        time: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap(),
        report: report.clone(),
    };
    Signed::sign(evidence, |m| key.sign(m)).unwrap()
}

/// Runs `sql` on the database at `url` behind the server's back (a tamperer, a lock holder).
pub async fn raw_sql(url: &str, sql: &str) {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_string()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// POSTs raw JSON and returns (status, body).
pub async fn post_raw(
    server: &TestServer,
    path: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = server
        .http()
        .post(format!("{}{path}", server.url))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

/// The refusal's problem slug, or panics if the call succeeded.
pub fn refusal<T: std::fmt::Debug>(result: Result<T, cairn_client::ClientError>) -> String {
    match result {
        Err(cairn_client::ClientError::Refused(p)) => p.slug().to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Registers volume `id` with a known key (tests need it to look for leaks).
pub async fn volume(server: &TestServer, id: &str) -> [u8; 32] {
    let key = cairn_proto::random_bytes::<32>();
    server
        .admin()
        .create_volume(&cairn_proto::api::VolumeRequest {
            volume_id: id.into(),
            format: cairn_proto::api::VolumeFormat::Raw,
            key: cairn_proto::secret::VolumeKey::from_slice(&key).unwrap(),
        })
        .await
        .unwrap();
    key
}

/// The security token of instance `instance` placed on `host` with `volumes`.
pub async fn security_token(
    server: &TestServer,
    instance: &str,
    host: &cairn_proto::HostId,
    volumes: &[&str],
) -> String {
    server
        .admin()
        .create_instance(&cairn_proto::api::InstanceRequest {
            instance_id: instance.into(),
            host_id: host.clone(),
            volume_ids: volumes.iter().map(|v| v.to_string()).collect(),
            image_digest: None,
        })
        .await
        .unwrap()
        .security_token
}

/// A PAT for `key`'s host, bound to `token` (when given) and to `recipient`.
pub async fn pat(
    server: &TestServer,
    key: &dyn HardwareKeySigner,
    token: Option<&str>,
    recipient: &cairn_proto::sealed::RecipientKey,
) -> String {
    cairn_agent::flows::attest(
        &server.client(),
        key,
        reported(key, &baremetal()),
        recipient.public(),
        token,
    )
    .await
    .unwrap()
}

/// Asks for `volume`'s key with the two tokens.
pub async fn release(
    server: &TestServer,
    volume: &str,
    security_token: &str,
    pat: &str,
) -> Result<cairn_proto::Sealed, cairn_client::ClientError> {
    server
        .client()
        .release_key(
            volume,
            &cairn_proto::api::KeyRequest {
                security_token: security_token.into(),
                pat: pat.into(),
            },
        )
        .await
}

/// A customer's ERoT for `host` (a minimal workload) and its receipt for a container digest,
/// through the API as `cairn workload erot` and `receipt` make them.
pub async fn erot_with_receipt(
    server: &TestServer,
    host: &cairn_proto::HostId,
) -> (cairn_proto::api::ErotResponse, String) {
    let customer = server
        .admin()
        .create_token(&TokenRequest {
            role: TokenRole::Customer,
            ttl_seconds: None,
        })
        .await
        .unwrap()
        .token;
    let as_customer = server.client().with_admin_token(Some(customer));
    let erot = as_customer
        .create_erot(&cairn_proto::api::ErotRequest {
            host_id: host.clone(),
            workload: serde_json::json!({ "name": "w" }),
            ttl_seconds: None,
        })
        .await
        .unwrap();
    let receipt = as_customer
        .receipt(
            &erot.erot_id,
            &cairn_proto::api::ReceiptRequest {
                ewc_digest: cairn_proto::Digest::sha256("ewc"),
            },
        )
        .await
        .unwrap()
        .receipt;
    (erot, receipt)
}

/// What the host does: attest (PAT bound to a fresh key), ask for the ERoT key, open it.
pub async fn host_release(
    server: &TestServer,
    key: &dyn HardwareKeySigner,
    erot_id: &ErotId,
    receipt: &str,
) -> Result<cairn_proto::sealed::RecipientKey, cairn_client::ClientError> {
    use cairn_proto::sealed::RecipientKey;
    let recipient = RecipientKey::generate();
    let pat = pat(server, key, None, &recipient).await;
    let sealed = server
        .client()
        .release_erot(
            erot_id,
            &cairn_proto::api::ReleaseRequest {
                pat,
                receipt: receipt.into(),
            },
        )
        .await?;
    let private = recipient
        .open(
            &sealed,
            cairn_proto::erot::EROT_KEY_INFO,
            erot_id.as_str().as_bytes(),
        )
        .unwrap();
    Ok(RecipientKey::from_private(zeroize::Zeroizing::new(
        private[..].try_into().unwrap(),
    )))
}

/// A customer with a token of its own: derives ERoTs, seals workloads, gets receipts.
pub struct Customer<'a> {
    pub server: &'a TestServer,
    pub token: String,
    pub dir: tempfile::TempDir,
}

impl Customer<'_> {
    pub fn new(server: &TestServer) -> Customer<'_> {
        let token = ok(&server.cli(&["admin", "tokens", "create", "--role", "customer"]))
            .trim()
            .to_string();
        Customer {
            server,
            token,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(CAIRN)
            .args(args)
            .env("CAIRN_SERVER", &self.server.url)
            .env("CAIRN_CA_CERT", &self.server.ca_cert)
            .env("CAIRN_TOKEN", &self.token)
            .output()
            .unwrap()
    }

    /// erot → seal → receipt for `payload`; returns (erot, ewc path, receipt).
    pub fn seal_for(
        &self,
        host: &str,
        payload: &[u8],
        ttl: Option<&str>,
    ) -> (ErotResponse, std::path::PathBuf, String) {
        let description =
            r#"{"name":"hello","code_digest":"sha256:00","memory_mb":64,"args":["--greet"]}"#;
        self.seal_with(host, description, payload, ttl)
    }

    /// The same with a workload description of the caller's.
    pub fn seal_with(
        &self,
        host: &str,
        description: &str,
        payload: &[u8],
        ttl: Option<&str>,
    ) -> (ErotResponse, std::path::PathBuf, String) {
        let d = self.dir.path();
        let workload = d.join("workload.json");
        std::fs::write(&workload, description).unwrap();
        let erot_path = d.join(format!(
            "erot-{}.json",
            cairn_proto::b64::encode(cairn_proto::random_bytes::<6>())
        ));
        let mut args = vec![
            "workload",
            "erot",
            "--host-id",
            host,
            "--workload",
            workload.to_str().unwrap(),
            "--out",
            erot_path.to_str().unwrap(),
        ];
        if let Some(ttl) = ttl {
            args.extend(["--ttl", ttl]);
        }
        ok(&self.cli(&args));
        let erot: ErotResponse =
            serde_json::from_str(&std::fs::read_to_string(&erot_path).unwrap()).unwrap();
        let ewc = self.seal(&erot, payload, erot.erot_id.as_str());
        let receipt = ok(&self.cli(&[
            "workload",
            "receipt",
            "--erot-id",
            erot.erot_id.as_str(),
            "--ewc",
            ewc.to_str().unwrap(),
        ]))
        .trim()
        .to_string();
        (erot, ewc, receipt)
    }
}

impl Customer<'_> {
    /// `cairn workload seal` of `payload` for `erot` (anyone may: its key is public), into
    /// NAME.ewc in the customer's directory.
    pub fn seal(&self, erot: &ErotResponse, payload: &[u8], name: &str) -> PathBuf {
        let d = self.dir.path();
        let erot_file = d.join(format!("{name}.erot.json"));
        std::fs::write(&erot_file, serde_json::to_vec(erot).unwrap()).unwrap();
        let input = d.join(format!("{name}.payload"));
        std::fs::write(&input, payload).unwrap();
        let ewc = d.join(format!("{name}.ewc"));
        ok(&self.cli(&[
            "workload",
            "seal",
            input.to_str().unwrap(),
            "--erot",
            erot_file.to_str().unwrap(),
            "--out",
            ewc.to_str().unwrap(),
        ]));
        ewc
    }
}

/// `cairn agent run EWC --receipt R` on the host whose key is `hk_spec`.
pub fn agent_run(server: &TestServer, hk_spec: &str, ewc: &Path, receipt: &str) -> Output {
    agent_run_with(server, hk_spec, ewc, receipt, &[], &[])
}

/// The same with extra flags and environment for the agent.
pub fn agent_run_with(
    server: &TestServer,
    hk_spec: &str,
    ewc: &Path,
    receipt: &str,
    flags: &[&str],
    env: &[(&str, &str)],
) -> Output {
    agent_run_command(server, hk_spec, ewc, receipt)
        .args(flags)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

/// The command line of `cairn agent run EWC --receipt R` (written beside EWC) against
/// `server`, with the captured baremetal hardware.
pub fn agent_run_command(server: &TestServer, hk_spec: &str, ewc: &Path, receipt: &str) -> Command {
    let receipt_file = ewc.with_extension("jws");
    std::fs::write(&receipt_file, receipt).unwrap();
    let mut command = Command::new(CAIRN);
    command
        .args(["agent", "run"])
        .arg(ewc)
        .arg("--receipt")
        .arg(receipt_file)
        .args(["--server", &server.url, "--hk", hk_spec, "--root"])
        .arg(fixture("baremetal"))
        .arg("--ca-cert")
        .arg(&server.ca_cert);
    command
}

/// Enrolls a host with a soft key in `dir` through the CLI and a join token: (key, host id).
pub fn enroll_cli(server: &TestServer, dir: &Path) -> (Box<dyn HardwareKeySigner>, String) {
    let spec = format!("soft:{}", dir.join("hk.pem").display());
    let join = ok(&server.cli(&["admin", "tokens", "create"]))
        .trim()
        .to_string();
    let root = fixture("baremetal");
    let out = ok(&server.cli(&[
        "agent",
        "enroll",
        "--json",
        "--hk",
        &spec,
        "--root",
        root.to_str().unwrap(),
        "--join-token",
        &join,
    ]));
    let host: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        spec.parse::<cairn_agent::HkSpec>().unwrap().open().unwrap(),
        host["host_id"].as_str().unwrap().to_string(),
    )
}

/// A server on loopback and one host enrolled with a soft key through the CLI.
pub struct Host {
    pub server: TestServer,
    pub dir: tempfile::TempDir,
    pub id: String,
}

impl Host {
    pub fn new() -> Host {
        let server = TestServer::start(None, &[]);
        let dir = tempfile::tempdir().unwrap();
        let (_, id) = enroll_cli(&server, dir.path());
        Host { server, dir, id }
    }

    pub fn hk_path(&self) -> PathBuf {
        self.dir.path().join("hk.pem")
    }

    pub fn hk_spec(&self) -> String {
        format!("soft:{}", self.hk_path().display())
    }

    /// `cairn agent run EWC --receipt R` on this host, with extra `flags`.
    pub fn run(&self, ewc: &Path, receipt: &str, flags: &[&str]) -> Output {
        agent_run_with(&self.server, &self.hk_spec(), ewc, receipt, flags, &[])
    }

    /// Its command line, to run another way.
    pub fn run_command(&self, ewc: &Path, receipt: &str) -> Command {
        agent_run_command(&self.server, &self.hk_spec(), ewc, receipt)
    }
}

/// Whether a tool is on PATH; prints why a test part is skipped when it is not.
pub fn have(tool: &str) -> bool {
    let found = have_quietly(tool);
    if !found {
        if std::env::var_os("CAIRN_REQUIRE_TOOLS").is_some() {
            panic!("{tool} is required here (CAIRN_REQUIRE_TOOLS is set) but not installed");
        }
        eprintln!("SKIPPED: {tool} is not installed (docs/testing.md lists the packages)");
    }
    found
}

/// The stdout of a command that must have succeeded (else a panic showing both streams).
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Asserts a command's exit code, showing its stderr when it differs.
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A fresh SoftHSM2 token of its own (a config file naming a private token directory),
/// initialized with `softhsm2-util` as an operator would.
pub struct SoftHsm {
    dir: tempfile::TempDir,
    pub module: PathBuf,
    pub conf: PathBuf,
    pub pin_file: PathBuf,
}

impl SoftHsm {
    pub const LABEL: &str = "cairn";
    pub const PIN: &str = "4321";

    /// `None` (printing why) where SoftHSM2 is not installed.
    pub fn new() -> Option<SoftHsm> {
        let module = [
            "/usr/lib/softhsm/libsofthsm2.so",
            "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
            "/usr/lib64/pkcs11/libsofthsm2.so",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
        let Some(module) = module.filter(|_| have_quietly("softhsm2-util")) else {
            if std::env::var_os("CAIRN_REQUIRE_TOOLS").is_some() {
                panic!("SoftHSM2 is required here (CAIRN_REQUIRE_TOOLS is set) but not installed");
            }
            eprintln!("SKIPPED: SoftHSM2 is not installed (apt-get install softhsm2 opensc)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let pin_file = dir.path().join("pin");
        std::fs::write(&pin_file, format!("{}\n", Self::PIN)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let hsm = SoftHsm {
            dir,
            module,
            conf,
            pin_file,
        };
        ok(&hsm
            .command("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                Self::LABEL,
                "--pin",
                Self::PIN,
                "--so-pin",
                "87654321",
            ])
            .output()
            .unwrap());
        Some(hsm)
    }

    /// `--key-store` for this token.
    pub fn spec(&self, alg: &str) -> String {
        format!(
            "pkcs11:{}?token={}&pin-file={}&alg={alg}",
            self.module.display(),
            Self::LABEL,
            self.pin_file.display()
        )
    }

    /// A command that sees this token (SoftHSM2 finds its tokens through SOFTHSM2_CONF).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("SOFTHSM2_CONF", &self.conf);
        cmd
    }

    /// `pkcs11-tool` logged in to this token.
    pub fn pkcs11_tool(&self, args: &[&str]) -> Output {
        self.command("pkcs11-tool")
            .arg("--module")
            .arg(&self.module)
            .args(["--token-label", Self::LABEL, "--login", "--pin", Self::PIN])
            .args(args)
            .output()
            .unwrap()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

fn have_quietly(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}
