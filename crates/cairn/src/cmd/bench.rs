//! `cairn bench attest`: full attestations (challenge + attest) over HTTP on loopback with N
//! concurrent clients, beside the single-core cost of the crypto alone measured in the same
//! run, so the figure reads as a fraction of what the machine allows.

use std::time::{Duration, Instant};

use cairn_agent::{ApiClient, HardwareKeySigner, SoftKey, flows};
use cairn_proto::api::{TokenRequest, TokenRole};
use cairn_server::{Server, ServerConfig};
use cairn_token::{Ed25519Signer, JwsSigner};

use crate::cli::BenchCmd;
use crate::exit::{FAILURE, Failure, Result};

pub async fn run(cmd: BenchCmd) -> Result {
    let BenchCmd::Attest {
        clients,
        seconds,
        server,
        admin_token,
    } = cmd;
    if clients == 0 || seconds == 0 {
        return Err(Failure::usage("--clients and --seconds must be at least 1"));
    }
    let crypto = crypto_alone_per_core(Duration::from_secs(2));
    println!("crypto alone (1 core): {crypto:.0} /s  (Ed25519 evidence verify + EdDSA PAT sign)");

    // An in-process server unless told otherwise; the tempdir lives as long as the run.
    let mut _dir = None;
    let (url, token) = match (server, admin_token) {
        (Some(url), Some(token)) => (url, token),
        (Some(_), None) => {
            return Err(Failure::usage(
                "--server needs --admin-token (or CAIRN_ADMIN_TOKEN)",
            ));
        }
        (None, _) => {
            let dir = tempfile::tempdir().map_err(|e| Failure::new(FAILURE, e.to_string()))?;
            let url = ServerConfig::default_database_url(dir.path());
            let token = cairn_server::init(dir.path(), &url)
                .await
                .map_err(|e| Failure::new(FAILURE, e.to_string()))?;
            let server = Server::bind(ServerConfig::new(
                dir.path().to_path_buf(),
                "127.0.0.1:0".into(),
            ))
            .await
            .map_err(|e| Failure::new(FAILURE, e.to_string()))?;
            let url = format!("http://{}", server.local_addr());
            tokio::spawn(server.serve(std::future::pending()));
            _dir = Some(dir);
            (url, token)
        }
    };
    let admin = ApiClient::new(&url, false)?.with_admin_token(Some(token));
    let client = ApiClient::new(&url, false)?;
    let report = cairn_hfm::scan(std::path::Path::new("/")).report;

    let mut hosts = Vec::with_capacity(clients);
    for i in 0..clients {
        let key = SoftKey::ephemeral();
        let join = admin
            .create_token(&TokenRequest {
                role: TokenRole::Join,
                ttl_seconds: None,
            })
            .await?
            .token;
        flows::enroll(
            &client,
            &key,
            &format!("bench-{i}"),
            report.clone(),
            Some(join),
        )
        .await?;
        hosts.push(key);
    }
    // Warm the connection pool and caches.
    for key in &hosts {
        flows::attest(&client, key, report.clone(), [7; 32], None).await?;
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = hosts
        .into_iter()
        .map(|key| {
            let (client, report) = (client.clone(), report.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0u64;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match flows::attest(&client, &key, report.clone(), [7; 32], None).await {
                        Ok(_) => latencies.push(t.elapsed()),
                        Err(_) => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task
            .await
            .map_err(|e| Failure::new(FAILURE, e.to_string()))?;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    let rate = latencies.len() as f64 / elapsed;
    println!(
        "attest over HTTP: {} clients, {:.1} s, {} ok, {} failed, {} cores",
        clients,
        elapsed,
        latencies.len(),
        failures,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "  {rate:.0} attestations/s  p50 {:.2} ms  p99 {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.99))
    );
    println!(
        "  = {:.0}% of the single-core crypto bound",
        100.0 * rate / crypto
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Operations per second of one evidence verification plus one PAT signature on one core,
/// with the same keys and primitives the server uses.
fn crypto_alone_per_core(budget: Duration) -> f64 {
    let hk = SoftKey::ephemeral();
    let public = hk.public();
    let evidence = vec![b'e'; 900]; // the size of a typical canonical evidence
    let signature = hk.sign(&evidence).expect("soft key signs");
    let pat_key = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).expect("fresh key");
    let pat_input = vec![b'p'; 620]; // header.claims of a typical PAT
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..64 {
            public.verify(&evidence, &signature).expect("verifies");
            std::hint::black_box(pat_key.sign(&pat_input).expect("signs"));
        }
        n += 64;
    }
    n as f64 / start.elapsed().as_secs_f64()
}
