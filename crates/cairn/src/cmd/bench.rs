//! `cairn bench attest | release | ewc` (and `run`, in `bench_sandbox`): the hot paths over HTTP on loopback with N concurrent
//! clients, beside the single-core cost of their crypto alone measured in the same run, so
//! each figure reads as a fraction of what the machine allows.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_agent::boot;
use cairn_agent::volume::{Backend, KeyOut};
use cairn_agent::{ApiClient, HardwareKeySigner, HkSpec, SoftKey, flows};
use cairn_keystore::{KeyPurpose, KeyStore, KeyStoreSpec};
use cairn_proto::api::{
    InstanceRequest, KeyRequest, TokenRequest, TokenRole, VolumeFormat, VolumeRequest,
};
use cairn_proto::sealed::{self, RecipientKey, VOLUME_KEY_INFO};
use cairn_proto::secret::VolumeKey;
use cairn_proto::{Digest, Report};
use cairn_server::{Server, ServerConfig};
use cairn_token::claims::{self, Claims, TokenSigner, Validity};
use cairn_token::security::{Audience, SecurityTokenClaims};
use cairn_token::{Ed25519Signer, Jwk, JwsSigner, PatClaims, PatStatus, TrustedIssuers, Verifier};

use crate::cli::BenchCmd;
use crate::exit::{FAILURE, Failure, Result};

pub async fn run(cmd: BenchCmd) -> Result {
    match cmd {
        BenchCmd::Attest {
            clients,
            seconds,
            server,
            admin_token,
            key_store,
            hk: None,
        } => attest(clients, seconds, server, admin_token, key_store).await,
        BenchCmd::Attest {
            seconds,
            server,
            admin_token,
            key_store,
            hk: Some(hk),
            ..
        } => attest_with(&hk, seconds, server, admin_token, key_store).await,
        BenchCmd::Release {
            clients,
            seconds,
            boots,
            key_store,
        } => release(clients, seconds, boots, key_store).await,
        BenchCmd::Ewc { size, dir } => ewc(super::parse_size(&size)?, dir),
        BenchCmd::Run {
            runs,
            bwrap,
            cgroup,
        } => super::bench_sandbox::run(runs, bwrap.as_deref(), cgroup.as_deref()).await,
    }
}

pub(super) fn failure(e: impl std::fmt::Display) -> Failure {
    Failure::new(FAILURE, e.to_string())
}

/// A server to measure: `url` and `admin_token`, or a fresh in-process one on loopback
/// (whose key store is then at hand too).
struct Target {
    admin: ApiClient,
    client: ApiClient,
    keys: Option<Arc<dyn KeyStore>>,
    _dir: Option<tempfile::TempDir>,
}

impl Target {
    async fn new(
        url: Option<String>,
        admin_token: Option<String>,
        key_store: KeyStoreSpec,
    ) -> Result<Target> {
        let (url, token, keys, dir) = match (url, admin_token) {
            (Some(url), Some(token)) => (url, token, None, None),
            (Some(_), None) => {
                return Err(Failure::usage(
                    "--server needs --admin-token (or CAIRN_ADMIN_TOKEN)",
                ));
            }
            (None, _) => {
                let dir = tempfile::tempdir().map_err(failure)?;
                let db = ServerConfig::default_database_url(dir.path());
                let token = cairn_server::init(dir.path(), &db, &key_store)
                    .await
                    .map_err(failure)?;
                let mut config = ServerConfig::new(dir.path().to_path_buf(), "127.0.0.1:0".into());
                config.key_store = key_store;
                let server = Server::bind(config).await.map_err(failure)?;
                let url = format!("http://{}", server.local_addr());
                let keys = server.keys();
                tokio::spawn(server.serve(std::future::pending()));
                (url, token, Some(keys), Some(dir))
            }
        };
        Ok(Target {
            admin: ApiClient::new(&url, false)?.with_admin_token(Some(token)),
            client: ApiClient::new(&url, false)?,
            keys,
            _dir: dir,
        })
    }

    /// What the server's key store does per core: the operations behind a PAT, a key
    /// release and an ERoT (an HSM's figures differ from the file store's by orders).
    fn print_key_store(&self) {
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

    async fn join_token(&self) -> Result<String> {
        let request = TokenRequest {
            role: TokenRole::Join,
            ttl_seconds: None,
        };
        Ok(self.admin.create_token(&request).await?.token)
    }

    /// `n` active hosts with this machine's hardware report.
    async fn hosts(&self, n: usize, report: &Report) -> Result<Vec<SoftKey>> {
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

/// Latencies of the operations that succeeded, and how many failed, over a wall-clock span.
struct Run {
    latencies: Vec<Duration>,
    failures: u64,
    elapsed: Duration,
    /// CPU time this process (server and clients) used meanwhile: steadier than rates on a
    /// shared machine.
    cpu: Duration,
}

/// User + system CPU time of this process so far, from `/proc/self/stat` (in clock ticks of
/// 10 ms; fine over seconds).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesized command name; utime and stime are the 14th and 15th.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let ticks: u64 = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

impl Run {
    /// Runs `op` in a loop on every item concurrently until `seconds` have passed.
    async fn drive<T, F, Fut>(items: Vec<T>, seconds: u64, op: F) -> Result<Run>
    where
        T: Send + Sync + 'static,
        F: Fn(Arc<T>) -> Fut + Clone + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let cpu_before = process_cpu();
        let tasks: Vec<_> = items
            .into_iter()
            .map(|item| {
                let (item, op) = (Arc::new(item), op.clone());
                tokio::spawn(async move {
                    let (mut latencies, mut failures) = (Vec::new(), 0u64);
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        if op(item.clone()).await {
                            latencies.push(t.elapsed());
                        } else {
                            failures += 1;
                        }
                    }
                    (latencies, failures)
                })
            })
            .collect();
        let mut run = Run {
            latencies: Vec::new(),
            failures: 0,
            elapsed: Duration::ZERO,
            cpu: Duration::ZERO,
        };
        for task in tasks {
            let (l, f) = task.await.map_err(failure)?;
            run.latencies.extend(l);
            run.failures += f;
        }
        run.elapsed = started.elapsed();
        run.cpu = process_cpu().saturating_sub(cpu_before);
        run.latencies.sort();
        Ok(run)
    }

    fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies, p)
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// `in_process`: whether the server ran in this process (its CPU is then counted too).
    fn print(&self, what: &str, clients: usize, bound: f64, in_process: bool) {
        println!(
            "{what} over HTTP: {clients} clients, {:.1} s, {} ok, {} failed, {} cores",
            self.elapsed.as_secs_f64(),
            self.latencies.len(),
            self.failures,
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        );
        println!(
            "  {:.0} /s  p50 {:.2} ms  p99 {:.2} ms  = {:.0}% of the single-core crypto bound",
            self.rate(),
            ms(self.percentile(0.50)),
            ms(self.percentile(0.99)),
            100.0 * self.rate() / bound
        );
        println!(
            "  {:.0} µs of CPU per operation ({}; the crypto alone is {:.0} µs)",
            self.cpu.as_secs_f64() * 1e6 / self.latencies.len().max(1) as f64,
            match in_process {
                true => "server and clients together",
                false => "clients only: the server is another process",
            },
            1e6 / bound
        );
    }
}

/// The `p` quantile of `sorted` (zero when there are none).
pub(super) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p) as usize).min(sorted.len().saturating_sub(1));
    sorted.get(i).copied().unwrap_or_default()
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Operations per second of `op` on this thread over `budget`.
fn per_second(budget: Duration, mut op: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..16 {
            op();
        }
        n += 16;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn check_counts(clients: usize, seconds: u64) -> Result {
    if clients == 0 || seconds == 0 {
        return Err(Failure::usage("--clients and --seconds must be at least 1"));
    }
    Ok(())
}

async fn attest(
    clients: usize,
    seconds: u64,
    server: Option<String>,
    admin_token: Option<String>,
    key_store: KeyStoreSpec,
) -> Result {
    check_counts(clients, seconds)?;
    let crypto = attest_crypto_per_core(Duration::from_secs(2));
    println!("crypto alone (1 core): {crypto:.0} /s  (Ed25519 evidence verify + EdDSA PAT sign)");
    let target = Target::new(server, admin_token, key_store).await?;
    target.print_key_store();
    let report = cairn_hfm::scan(std::path::Path::new("/")).report;
    let hosts = target.hosts(clients, &report).await?;
    // Warm the connection pool and caches.
    for key in &hosts {
        flows::attest(&target.client, key, report.clone(), [7; 32], None).await?;
    }
    let client = target.client.clone();
    let run = Run::drive(hosts, seconds, move |key: Arc<SoftKey>| {
        let (client, report) = (client.clone(), report.clone());
        async move {
            flows::attest(&client, key.as_ref(), report, [7; 32], None)
                .await
                .is_ok()
        }
    })
    .await?;
    run.print("attest", clients, crypto, target.keys.is_some());
    Ok(())
}

/// Sequential attestations with one real hardware key (a TPM: each signature is a quote),
/// beside what verifying such a signature costs the server per core.
async fn attest_with(
    spec: &HkSpec,
    seconds: u64,
    server: Option<String>,
    admin_token: Option<String>,
    key_store: KeyStoreSpec,
) -> Result {
    check_counts(1, seconds)?;
    let key = spec.open_or_create().map_err(failure)?;
    let target = Target::new(server, admin_token, key_store).await?;
    let report = flows::host_report(std::path::Path::new("/"), key.as_ref());
    let join = target.join_token().await?;
    flows::enroll(
        &target.client,
        key.as_ref(),
        "bench-hk",
        report.clone(),
        Some(join),
    )
    .await?;
    let message = vec![b'e'; 900];
    let started = Instant::now();
    let signature = key.sign(&message).map_err(failure)?;
    let sign_time = started.elapsed();
    let public = key.public();
    let verify = per_second(Duration::from_secs(1), || {
        public.verify(&message, &signature).expect("verifies");
    });
    println!(
        "{} signature: {:.1} ms to make; the server verifies {verify:.0} /s per core",
        public.alg.as_str(),
        ms(sign_time)
    );
    let client = target.client.clone();
    let run = Run::drive(
        vec![key],
        seconds,
        move |key: Arc<Box<dyn HardwareKeySigner>>| {
            let (client, report) = (client.clone(), report.clone());
            async move {
                flows::attest(&client, key.as_ref().as_ref(), report, [7; 32], None)
                    .await
                    .is_ok()
            }
        },
    )
    .await?;
    let crypto = attest_crypto_per_core(Duration::from_secs(1));
    run.print(
        "attest (one hardware key)",
        1,
        crypto,
        target.keys.is_some(),
    );
    Ok(())
}

/// One evidence verification plus one PAT signature, with the server's keys and primitives.
fn attest_crypto_per_core(budget: Duration) -> f64 {
    let hk = SoftKey::ephemeral();
    let public = hk.public();
    let evidence = vec![b'e'; 900]; // the size of a typical canonical evidence
    let signature = hk.sign(&evidence).expect("soft key signs");
    let pat_key = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).expect("fresh key");
    let pat_input = vec![b'p'; 620]; // header.claims of a typical PAT
    per_second(budget, || {
        public.verify(&evidence, &signature).expect("verifies");
        std::hint::black_box(pat_key.sign(&pat_input).expect("signs"));
    })
}

/// One key release's crypto, as the key broker does it: verify a PAT and a security token
/// (EdDSA JWTs, every claim checked) and HPKE-seal a 32-byte key.
fn release_crypto_per_core(budget: Duration) -> f64 {
    fn signer<C: Claims>() -> TokenSigner<C> {
        let key = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).expect("fresh key");
        TokenSigner::new(Arc::new(key))
    }
    let (pat_key, token_key) = (signer::<PatClaims>(), signer::<SecurityTokenClaims>());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let Validity { iat, nbf, exp } = Validity::for_ttl(now, Duration::from_secs(3600));
    let host = SoftKey::ephemeral().public().host_id();
    let token = token_key
        .sign(&SecurityTokenClaims {
            iss: "https://bench".into(),
            sub: "i-bench".into(),
            aud: Audience::One(SecurityTokenClaims::AUDIENCE.into()),
            iat,
            exp,
            nbf: Some(nbf),
            jti: Some(claims::new_jti()),
            host_id: host.clone(),
            volume_ids: vec!["vol-bench".into()],
            image_digest: None,
        })
        .expect("signs");
    let recipient = RecipientKey::generate();
    let pat = pat_key
        .sign(&PatClaims {
            iss: "https://bench".into(),
            sub: host,
            aud: PatClaims::AUDIENCE.into(),
            iat,
            nbf,
            exp,
            jti: claims::new_jti(),
            hwfp: Digest::sha256("hw"),
            cnf: cairn_token::pat::Confirmation {
                jwk: Jwk::okp("X25519", &recipient.public()),
            },
            tkd: Some(Digest::sha256(&token)),
            status: PatStatus::Affirming,
            drift: vec![],
        })
        .expect("signs");
    let pats = Verifier::for_pats(&pat_key.jwks(), Some("https://bench".into())).expect("verifier");
    let mut issuers = TrustedIssuers::default();
    issuers
        .trust_cairn("https://bench", &token_key.jwks())
        .expect("issuer");
    let volume_key = [9u8; 32];
    per_second(budget, || {
        let pat = pats.verify_pat(&pat).expect("PAT verifies");
        std::hint::black_box(issuers.verify(&token).expect("token verifies"));
        let to = pat.cnf.jwk.x25519_public().expect("X25519 cnf");
        std::hint::black_box(
            sealed::seal(&to, VOLUME_KEY_INFO, b"vol-bench", &volume_key).expect("seals"),
        );
    })
}

/// An instance ready to ask for its volume key, as each benchmark client holds it.
struct Booted {
    volume_id: String,
    request: KeyRequest,
}

async fn release(clients: usize, seconds: u64, boots: usize, key_store: KeyStoreSpec) -> Result {
    check_counts(clients, seconds)?;
    let crypto = release_crypto_per_core(Duration::from_secs(2));
    println!(
        "crypto alone (1 core): {crypto:.0} /s  (PAT verify + security token verify + HPKE seal)"
    );
    let target = Target::new(None, None, key_store).await?;
    target.print_key_store();
    let report = cairn_hfm::scan(std::path::Path::new("/")).report;
    let hosts = target.hosts(clients.max(1), &report).await?;
    let mut booted = Vec::with_capacity(clients);
    for (i, key) in hosts.iter().enumerate() {
        let volume_id = format!("vol-bench-{i}");
        target
            .admin
            .create_volume(&VolumeRequest {
                volume_id: volume_id.clone(),
                format: VolumeFormat::Raw,
                key: VolumeKey::random(),
            })
            .await?;
        let security_token = target
            .admin
            .create_instance(&InstanceRequest {
                instance_id: format!("i-bench-{i}"),
                host_id: key.public().host_id(),
                volume_ids: vec![volume_id.clone()],
                image_digest: None,
            })
            .await?
            .security_token;
        let recipient = RecipientKey::generate();
        let pat = flows::attest(
            &target.client,
            key,
            report.clone(),
            recipient.public(),
            Some(&security_token),
        )
        .await?;
        let request = KeyRequest {
            security_token,
            pat,
        };
        // Warm up, and check that what comes back opens.
        let sealed = target.client.release_key(&volume_id, &request).await?;
        recipient
            .open(&sealed, VOLUME_KEY_INFO, volume_id.as_bytes())
            .map_err(failure)?;
        booted.push(Booted { volume_id, request });
    }
    let client = target.client.clone();
    let run = Run::drive(booted, seconds, move |b: Arc<Booted>| {
        let client = client.clone();
        async move { client.release_key(&b.volume_id, &b.request).await.is_ok() }
    })
    .await?;
    run.print("key release", clients, crypto, target.keys.is_some());

    // Whole boots, one after another: scan → challenge → attest → release → open → keyfile.
    let key = &hosts[0];
    let token = target
        .admin
        .create_instance(&InstanceRequest {
            instance_id: "i-bench-boot".into(),
            host_id: key.public().host_id(),
            volume_ids: vec!["vol-bench-0".into()],
            image_digest: None,
        })
        .await?
        .security_token;
    let dir = tempfile::tempdir().map_err(failure)?;
    let backend = Backend::Keyfile(KeyOut::File(dir.path().join("key")));
    let mut times = Vec::with_capacity(boots);
    for _ in 0..boots.max(1) {
        let t = Instant::now();
        let report = cairn_hfm::scan(std::path::Path::new("/")).report;
        boot::boot(
            &target.client,
            key,
            report,
            &token,
            "vol-bench-0",
            &backend,
            &mut |_| {},
        )
        .await
        .map_err(failure)?;
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "whole boot (scan → unlocked keyfile), {} in a row: p50 {:.2} ms  p99 {:.2} ms",
        times.len(),
        ms(times[times.len() / 2]),
        ms(times[(times.len() * 99 / 100).min(times.len() - 1)])
    );
    Ok(())
}

/// A reader of `len` bytes cycling through 1 MiB of random data: input at memory speed.
struct Synthetic {
    block: Vec<u8>,
    at: usize,
    left: u64,
}

impl std::io::Read for Synthetic {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.block.len() - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

fn synthetic(len: u64) -> Synthetic {
    let mut block = vec![0u8; 1 << 20];
    aws_lc_rs::rand::fill(&mut block).expect("randomness");
    Synthetic {
        block,
        at: 0,
        left: len,
    }
}

/// Peak resident memory of this process so far (`VmHWM`), in MiB.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Single-core AES-256-GCM (64 KiB chunks) and SHA-256 throughput, in GB/s.
fn primitive_rates(budget: Duration) -> (f64, f64) {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));
    let mut buf = vec![1u8; 64 * 1024];
    let aes = per_second(budget, || {
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                &mut buf,
            )
            .expect("seals");
        let _ = std::hint::black_box(tag);
    }) * buf.len() as f64
        / 1e9;
    let sha = per_second(budget, || {
        std::hint::black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &buf));
    }) * buf.len() as f64
        / 1e9;
    (aes, sha)
}

fn ewc(size: u64, dir: Option<std::path::PathBuf>) -> Result {
    use cairn_ewc::Header;
    let (aes, sha) = primitive_rates(Duration::from_secs(1));
    println!("single core: AES-256-GCM {aes:.2} GB/s, SHA-256 {sha:.2} GB/s (64 KiB blocks)");
    let erot = RecipientKey::generate();
    let header = Header::new("erot_bench", erot.public(), [0; 32]);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let gb = |bytes: u64, d: Duration| bytes as f64 / d.as_secs_f64() / 1e9;
    for threads in [1, cores] {
        let t = Instant::now();
        let sealed = cairn_ewc::seal(
            synthetic(size),
            std::io::sink(),
            &header,
            threads,
            &mut |_| {},
        )
        .map_err(failure)?;
        let rate = gb(size, t.elapsed());
        println!(
            "seal {size} bytes, {threads} thread(s): {rate:.2} GB/s = {:.0}% of the slower primitive",
            100.0 * rate / aes.min(sha)
        );
        let _ = sealed;
    }
    // Open needs the sealed bytes back: they go through a file, not memory.
    let tmp = match dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .map_err(failure)?;
    let path = tmp.path().join("bench.ewc");
    let file =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).map_err(failure)?);
    cairn_ewc::seal(synthetic(size), file, &header, cores, &mut |_| {}).map_err(failure)?;
    for threads in [1, cores] {
        let input = std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(&path).map_err(failure)?,
        );
        let t = Instant::now();
        cairn_ewc::open(input, std::io::sink(), &erot, threads, &mut |_| {}).map_err(failure)?;
        let rate = gb(size, t.elapsed());
        println!(
            "open {size} bytes from a file, {threads} thread(s): {rate:.2} GB/s = {:.0}% of the slower primitive",
            100.0 * rate / aes.min(sha)
        );
    }
    println!(
        "peak resident memory of the whole run: {:.1} MiB",
        peak_rss_mib()
    );
    Ok(())
}
