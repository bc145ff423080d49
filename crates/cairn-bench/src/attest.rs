//! `cairn bench attest`: challenge + attest over HTTP, beside the crypto alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_agent::{HardwareKeySigner, HkSpec, SoftKey, flows};
use cairn_token::{Ed25519Signer, JwsSigner};

use crate::measure::{Run, check_counts, ms, per_second};
use crate::target::{Target, TargetSpec};
use crate::{Result, failure};

pub async fn attest(clients: usize, seconds: u64, target: TargetSpec) -> Result {
    check_counts(clients, seconds)?;
    let crypto = attest_crypto_per_core(Duration::from_secs(2));
    println!("crypto alone (1 core): {crypto:.0} /s  (Ed25519 evidence verify + EdDSA PAT sign)");
    let target = Target::new(target).await?;
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
pub async fn attest_with(spec: &HkSpec, seconds: u64, target: TargetSpec) -> Result {
    check_counts(1, seconds)?;
    let key = spec.open_or_create().map_err(failure)?;
    let target = Target::new(target).await?;
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
pub(crate) fn attest_crypto_per_core(budget: Duration) -> f64 {
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
