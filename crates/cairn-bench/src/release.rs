//! `cairn bench release`: volume key release over HTTP beside its crypto alone, then whole boots.

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_agent::boot;
use cairn_agent::volume::{Backend, KeyOut};
use cairn_agent::{HardwareKeySigner, SoftKey, flows};
use cairn_keystore::KeyStoreSpec;
use cairn_proto::api::{InstanceRequest, KeyRequest, VolumeFormat, VolumeRequest};
use cairn_proto::sealed::{self, RecipientKey, VOLUME_KEY_INFO};
use cairn_proto::secret::VolumeKey;
use cairn_proto::{Digest, UnixTime};
use cairn_token::{
    Ed25519Signer, Jwk, Pat, PatStatus, SecurityToken, TokenKind, TokenSigner, TrustedIssuers,
    Validity, Verifier,
};

use crate::measure::{Run, check_counts, ms, per_second};
use crate::target::{Target, TargetSpec};
use crate::{Result, failure};

/// One key release's crypto, as the key broker does it: verify a PAT and a security token
/// (EdDSA JWTs, every claim checked) and HPKE-seal a 32-byte key.
pub(crate) fn release_crypto_per_core(budget: Duration) -> f64 {
    pub(crate) fn signer<K: TokenKind>() -> TokenSigner<K> {
        let key = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).expect("fresh key");
        TokenSigner::new(Arc::new(key))
    }
    let (pat_key, token_key) = (signer::<Pat>(), signer::<SecurityToken>());
    let validity = Validity::for_ttl(UnixTime::now(), Duration::from_secs(3600));
    let host = SoftKey::ephemeral().public().host_id();
    let placed = SecurityToken {
        host_id: host.clone(),
        volume_ids: vec!["vol-bench".into()],
        image_digest: None,
    };
    let instance = "i-bench".parse().expect("an instance id");
    let token = token_key
        .issue("https://bench", instance, validity, placed)
        .expect("signs")
        .token;
    let recipient = RecipientKey::generate();
    let attested = Pat {
        hwfp: Digest::sha256("hw"),
        cnf: cairn_token::pat::Confirmation {
            jwk: Jwk::okp("X25519", &recipient.public()),
        },
        tkd: Some(Digest::sha256(&token)),
        status: PatStatus::Affirming,
        drift: vec![],
    };
    let pat = pat_key
        .issue("https://bench", host, validity, attested)
        .expect("signs")
        .token;
    let pats = Verifier::for_pats(&pat_key.jwks(), Some("https://bench".into())).expect("verifier");
    let mut issuers = TrustedIssuers::default();
    issuers
        .trust_cairn("https://bench", &token_key.jwks())
        .expect("issuer");
    let volume_key = [9u8; 32];
    per_second(budget, || {
        let pat = pats.verify_pat(&pat).expect("PAT verifies");
        std::hint::black_box(issuers.verify(&token).expect("token verifies"));
        let to = pat.body.cnf.jwk.x25519_public().expect("X25519 cnf");
        std::hint::black_box(
            sealed::seal(&to, VOLUME_KEY_INFO, b"vol-bench", &volume_key).expect("seals"),
        );
    })
}

/// An instance ready to ask for its volume key, as each benchmark client holds it.
pub(crate) struct Booted {
    pub(crate) volume_id: String,
    pub(crate) request: KeyRequest,
}

pub async fn release(
    clients: usize,
    seconds: u64,
    boots: usize,
    key_store: KeyStoreSpec,
    plaintext: bool,
) -> Result {
    check_counts(clients, seconds)?;
    let crypto = release_crypto_per_core(Duration::from_secs(2));
    println!(
        "crypto alone (1 core): {crypto:.0} /s  (PAT verify + security token verify + HPKE seal)"
    );
    let target = Target::new(TargetSpec {
        url: None,
        admin_token: None,
        ca_cert: None,
        key_store,
        plaintext,
    })
    .await?;
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
    let key_path = dir.path().join("key");
    let backend = Backend::Keyfile(KeyOut::File(key_path.clone()));
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
        // A key is written only to a new file.
        std::fs::remove_file(&key_path).map_err(failure)?;
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
