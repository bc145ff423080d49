//! Attacks on the key broker (invariants 2, 3, 4 and 8) through the real server process. Each
//! test does what an attacker could do on the wire and fails if a volume key comes out.

mod common;

use cairn_agent::{HardwareKeySigner, SoftKey};
use cairn_keystore::{FileKeyStore, KeyPurpose, KeyStore};
use cairn_proto::sealed::{RecipientKey, VOLUME_KEY_INFO};
use cairn_proto::{Digest, b64};
use cairn_token::{Ed25519Signer, Jwk, Jwks, JwsSigner};
use common::*;
use serde_json::json;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The server's own signing key for `purpose`, read from its data directory: the tests play
/// a server that signs what an attacker wants (an expired PAT, a token from the future).
fn server_key(server: &TestServer, purpose: KeyPurpose) -> std::sync::Arc<dyn JwsSigner> {
    FileKeyStore::open(&server.data_dir.join("keys"))
        .unwrap()
        .signer(purpose)
}

fn forge_pat(
    server: &TestServer,
    host: &cairn_proto::HostId,
    token: &str,
    recipient: &RecipientKey,
    iat: u64,
    exp: u64,
) -> String {
    let claims = json!({
        "iss": server.url, "sub": host, "aud": "cairn-kbs", "iat": iat, "nbf": iat, "exp": exp,
        "jti": "forged", "hwfp": baremetal().fingerprint(), "cnf": { "jwk": Jwk::okp("X25519", &recipient.public()) },
        "tkd": Digest::sha256(token), "status": "affirming", "drift": [],
    });
    cairn_token::jws::encode(
        server_key(server, KeyPurpose::Pat).as_ref(),
        "pat+jwt",
        &claims,
    )
    .unwrap()
}

fn token_claims(
    iss: &str,
    host: &cairn_proto::HostId,
    volumes: &[&str],
    iat: u64,
    exp: u64,
) -> serde_json::Value {
    json!({ "iss": iss, "sub": "i-forged", "aud": "cairn-kbs", "iat": iat, "nbf": iat, "exp": exp, "host_id": host, "volume_ids": volumes })
}

/// An active host with its key, and a PAT and security token that agree for `volumes`.
async fn booting_instance(
    server: &TestServer,
    volumes: &[&str],
) -> (SoftKey, String, String, RecipientKey) {
    let key = active_host(server, &baremetal()).await;
    let token = security_token(server, "i-1", &key.public().host_id(), volumes).await;
    let recipient = RecipientKey::generate();
    let pat = pat(server, &key, Some(&token), &recipient).await;
    (key, token, pat, recipient)
}

#[tokio::test]
async fn agreeing_tokens_release_a_key_only_the_cnf_key_opens() {
    let server = TestServer::start(None, &[]);
    let volume_key = volume(&server, "vol-a").await;
    let (_, token, pat, recipient) = booting_instance(&server, &["vol-a"]).await;
    let sealed = release(&server, "vol-a", &token, &pat).await.unwrap();
    assert_eq!(
        &recipient.open(&sealed, VOLUME_KEY_INFO, b"vol-a").unwrap()[..],
        &volume_key
    );
    // Invariant 3: a thief holding both tokens and the answer still cannot read the key.
    assert!(
        RecipientKey::generate()
            .open(&sealed, VOLUME_KEY_INFO, b"vol-a")
            .is_err()
    );
    assert!(recipient.open(&sealed, VOLUME_KEY_INFO, b"vol-b").is_err());
    assert!(
        recipient
            .open(&sealed, b"cairn/v1/erot-key", b"vol-a")
            .is_err()
    );
    // Each release is sealed afresh.
    assert_ne!(
        release(&server, "vol-a", &token, &pat).await.unwrap(),
        sealed
    );
}

#[tokio::test]
async fn a_pat_for_one_host_and_a_token_for_another_do_not_agree() {
    let server = TestServer::start(None, &[]);
    volume(&server, "vol-a").await;
    let host_a = active_host(&server, &baremetal()).await;
    let host_b = active_host(&server, &baremetal()).await;
    let token_b = security_token(&server, "i-b", &host_b.public().host_id(), &["vol-a"]).await;
    // Host A attests, binding its PAT to the token that names host B.
    let pat_a = pat(&server, &host_a, Some(&token_b), &RecipientKey::generate()).await;
    assert_eq!(
        refusal(release(&server, "vol-a", &token_b, &pat_a).await),
        "host-mismatch"
    );
}

/// The control plane moves an instance to another host: the token it held on the old host
/// no longer opens anything there, though it still verifies and its PAT agrees with it.
#[tokio::test]
async fn a_moved_instances_old_token_is_refused() {
    let server = TestServer::start(None, &[]);
    volume(&server, "vol-a").await;
    let old_host = active_host(&server, &baremetal()).await;
    let new_host = active_host(&server, &baremetal()).await;
    let old = security_token(&server, "i-m", &old_host.public().host_id(), &["vol-a"]).await;
    let recipient = RecipientKey::generate();
    let pat_old = pat(&server, &old_host, Some(&old), &recipient).await;
    release(&server, "vol-a", &old, &pat_old).await.unwrap();
    let new = security_token(&server, "i-m", &new_host.public().host_id(), &["vol-a"]).await;
    assert_eq!(
        refusal(release(&server, "vol-a", &old, &pat_old).await),
        "security-token-revoked"
    );
    let pat_new = pat(&server, &new_host, Some(&new), &recipient).await;
    release(&server, "vol-a", &new, &pat_new).await.unwrap();
}

#[tokio::test]
async fn a_token_for_one_volume_does_not_open_another() {
    let server = TestServer::start(None, &[]);
    volume(&server, "vol-x").await;
    volume(&server, "vol-y").await;
    let (_, token, pat, _) = booting_instance(&server, &["vol-x"]).await;
    assert_eq!(
        refusal(release(&server, "vol-y", &token, &pat).await),
        "volume-not-authorized"
    );
    // Not even whether a volume exists is said to the holder of agreeing tokens without it.
    assert_eq!(
        refusal(release(&server, "vol-nope", &token, &pat).await),
        "volume-not-authorized"
    );
}

#[tokio::test]
async fn a_pat_bound_to_another_token_or_to_none_is_refused() {
    let server = TestServer::start(None, &[]);
    volume(&server, "vol-a").await;
    let (key, token, _, _) = booting_instance(&server, &["vol-a"]).await;
    let other_token = security_token(&server, "i-2", &key.public().host_id(), &["vol-a"]).await;
    let bound_to_other = pat(&server, &key, Some(&other_token), &RecipientKey::generate()).await;
    assert_eq!(
        refusal(release(&server, "vol-a", &token, &bound_to_other).await),
        "token-binding-mismatch"
    );
    let unbound = pat(&server, &key, None, &RecipientKey::generate()).await;
    assert_eq!(
        refusal(release(&server, "vol-a", &token, &unbound).await),
        "token-binding-mismatch"
    );
}

/// `token` re-signed by the server's `purpose` key with `crit` added to its header: a token the
/// server's own key signed, declaring an extension the key broker cannot know.
fn with_critical_extension(server: &TestServer, purpose: KeyPurpose, token: &str) -> String {
    let signer = server_key(server, purpose);
    let (header, rest) = token.split_once('.').unwrap();
    let claims = rest.split('.').next().unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&b64::decode(header).unwrap()).unwrap();
    header["crit"] = json!(["cairn-unknown"]);
    header["cairn-unknown"] = json!(true);
    let input = format!(
        "{}.{claims}",
        b64::encode(serde_json::to_vec(&header).unwrap())
    );
    let signature = signer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64::encode(signature))
}

#[tokio::test]
async fn tokens_declaring_critical_extensions_are_refused() {
    let server = TestServer::start(None, &[]);
    volume(&server, "vol-a").await;
    let (_key, token, pat, _recipient) = booting_instance(&server, &["vol-a"]).await;
    let crit_pat = with_critical_extension(&server, KeyPurpose::Pat, &pat);
    assert_eq!(
        refusal(release(&server, "vol-a", &token, &crit_pat).await),
        "pat-invalid"
    );
    let crit_token = with_critical_extension(&server, KeyPurpose::SecurityToken, &token);
    assert_eq!(
        refusal(release(&server, "vol-a", &crit_token, &pat).await),
        "security-token-invalid"
    );
    // The same PAT and token without `crit` still release the key.
    release(&server, "vol-a", &token, &pat).await.unwrap();
}

#[tokio::test]
async fn tokens_outside_their_validity_are_refused_on_either_side() {
    let server = TestServer::start(None, &[]);
    volume(&server, "vol-a").await;
    let key = active_host(&server, &baremetal()).await;
    let host = key.public().host_id();
    // The instance the forged tokens name is placed there (tokens of Cairn's own issuer
    // count only for a placed instance).
    security_token(&server, "i-forged", &host, &["vol-a"]).await;
    let issuer = server_key(&server, KeyPurpose::SecurityToken);
    let sign_token = |iat: u64, exp: u64| {
        cairn_token::jws::encode(
            issuer.as_ref(),
            "st+jwt",
            &token_claims(&server.url, &host, &["vol-a"], iat, exp),
        )
        .unwrap()
    };
    let recipient = RecipientKey::generate();
    let t = now();

    let good_token = sign_token(t, t + 600);
    let expired_pat = forge_pat(&server, &host, &good_token, &recipient, t - 900, t - 120);
    assert_eq!(
        refusal(release(&server, "vol-a", &good_token, &expired_pat).await),
        "pat-expired"
    );
    let future_pat = forge_pat(&server, &host, &good_token, &recipient, t + 120, t + 600);
    assert_eq!(
        refusal(release(&server, "vol-a", &good_token, &future_pat).await),
        "pat-not-yet-valid"
    );

    let expired_token = sign_token(t - 900, t - 120);
    let pat = forge_pat(&server, &host, &expired_token, &recipient, t, t + 300);
    assert_eq!(
        refusal(release(&server, "vol-a", &expired_token, &pat).await),
        "security-token-expired"
    );
    let future_token = sign_token(t + 120, t + 600);
    let pat = forge_pat(&server, &host, &future_token, &recipient, t, t + 300);
    assert_eq!(
        refusal(release(&server, "vol-a", &future_token, &pat).await),
        "security-token-not-yet-valid"
    );

    // Within the 60 s of allowed skew both are accepted.
    let skewed_token = sign_token(t - 400, t - 30);
    let pat = forge_pat(&server, &host, &skewed_token, &recipient, t - 330, t - 30);
    release(&server, "vol-a", &skewed_token, &pat)
        .await
        .unwrap();
}

#[tokio::test]
async fn tokens_of_untrusted_or_impostor_issuers_are_refused() {
    // An external control plane whose keys the key broker trusts from a JWKS file.
    let dir = tempfile::tempdir().unwrap();
    let external = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).unwrap();
    let jwks_path = dir.path().join("cp-jwks.json");
    std::fs::write(
        &jwks_path,
        serde_json::to_vec(&Jwks {
            keys: vec![external.public_jwk()],
        })
        .unwrap(),
    )
    .unwrap();
    let issuers = dir.path().join("issuers.json");
    std::fs::write(
        &issuers,
        json!({ "issuers": [{ "issuer": "https://cp.example", "jwks_file": jwks_path }] })
            .to_string(),
    )
    .unwrap();
    let server = TestServer::start(None, &["--trusted-issuers", issuers.to_str().unwrap()]);
    volume(&server, "vol-a").await;
    let key = active_host(&server, &baremetal()).await;
    let host = key.public().host_id();
    let t = now();
    let try_token = |token: String| {
        let server = &server;
        let key = &key;
        async move {
            let pat = pat(server, key, Some(&token), &RecipientKey::generate()).await;
            release(server, "vol-a", &token, &pat).await
        }
    };

    // The trusted external issuer's token works, with its own `typ`.
    let claims = token_claims("https://cp.example", &host, &["vol-a"], t, t + 300);
    try_token(cairn_token::jws::encode(&external, "JWT", &claims).unwrap())
        .await
        .unwrap();

    // The same claims from an issuer nobody configured.
    let claims = token_claims("https://evil.example", &host, &["vol-a"], t, t + 300);
    let token = cairn_token::jws::encode(&external, "JWT", &claims).unwrap();
    assert_eq!(
        refusal(try_token(token).await),
        "security-token-untrusted-issuer"
    );

    // The trusted issuer's name, signed by another key.
    let impostor = Ed25519Signer::from_pkcs8(&Ed25519Signer::generate_pkcs8()).unwrap();
    let claims = token_claims("https://cp.example", &host, &["vol-a"], t, t + 300);
    let token = cairn_token::jws::encode(&impostor, "JWT", &claims).unwrap();
    assert_eq!(refusal(try_token(token).await), "security-token-invalid");

    // A token for another audience.
    let mut claims = token_claims("https://cp.example", &host, &["vol-a"], t, t + 300);
    claims["aud"] = json!("some-other-service");
    let token = cairn_token::jws::encode(&external, "JWT", &claims).unwrap();
    assert_eq!(refusal(try_token(token).await), "security-token-invalid");

    // A PAT (our own issuer, our own audience) presented as a security token.
    let pat_as_token = pat(&server, &key, None, &RecipientKey::generate()).await;
    assert_eq!(
        refusal(try_token(pat_as_token).await),
        "security-token-invalid"
    );

    // Cairn's own issuer key signing a PAT-typed token: explicit typing refuses it.
    let claims = token_claims(&server.url, &host, &["vol-a"], t, t + 300);
    let token = cairn_token::jws::encode(
        server_key(&server, KeyPurpose::SecurityToken).as_ref(),
        "pat+jwt",
        &claims,
    )
    .unwrap();
    assert_eq!(refusal(try_token(token).await), "security-token-invalid");
}

#[tokio::test]
async fn a_host_revoked_or_quarantined_after_attesting_gets_nothing() {
    let server = TestServer::start(None, &[]);
    volume(&server, "vol-a").await;
    let (key, token, pat, _) = booting_instance(&server, &["vol-a"]).await;
    let host = key.public().host_id();
    server
        .admin()
        .host_action(&host, cairn_proto::HostAction::Quarantine)
        .await
        .unwrap();
    assert_eq!(
        refusal(release(&server, "vol-a", &token, &pat).await),
        "host-quarantined"
    );
    server
        .admin()
        .host_action(&host, cairn_proto::HostAction::Revoke)
        .await
        .unwrap();
    assert_eq!(
        refusal(release(&server, "vol-a", &token, &pat).await),
        "host-revoked"
    );
}

/// Invariant 8: the key never shows in a log line, a problem body, a listing or the metrics,
/// in any encoding.
#[tokio::test]
async fn the_volume_key_never_leaks() {
    let server = TestServer::start(None, &[]);
    let volume_key = volume(&server, "vol-a").await;
    let (key, token, pat, _) = booting_instance(&server, &["vol-a"]).await;
    let mut seen = String::new();
    // A success, then refusals of every kind the wire allows.
    let ok = post_raw(
        &server,
        "/v1/volumes/vol-a/key",
        &json!({ "security_token": token, "pat": pat }),
    )
    .await;
    assert_eq!(ok.0, 200);
    seen += &ok.1.to_string();
    for (path, body) in [
        (
            "/v1/volumes/vol-b/key",
            json!({ "security_token": token, "pat": pat }),
        ),
        (
            "/v1/volumes/vol-a/key",
            json!({ "security_token": pat, "pat": token }),
        ),
        (
            "/v1/volumes/vol-a/key",
            json!({ "security_token": "x.y.z", "pat": pat }),
        ),
        ("/v1/volumes/vol-a/key", json!({ "pat": pat })),
        (
            "/v1/volumes",
            json!({ "volume_id": "vol-a", "format": "raw", "key": b64::encode(volume_key) }),
        ),
    ] {
        let (status, body) = post_raw(&server, path, &body).await;
        assert!(status >= 400, "{path}: {status}");
        seen += &body.to_string();
    }
    server
        .admin()
        .host_action(&key.public().host_id(), cairn_proto::HostAction::Revoke)
        .await
        .unwrap();
    seen += &refusal(release(&server, "vol-a", &token, &pat).await);
    seen += &serde_json::to_string(&server.admin().volumes().await.unwrap()).unwrap();
    seen += &server.get_text("/metrics").await;
    seen += &server.logs();
    assert!(
        server.logs().contains("volume key released"),
        "the logs are being captured"
    );

    use base64::Engine;
    let std_b64 = base64::engine::general_purpose::STANDARD.encode(volume_key);
    let hex: String = volume_key.iter().map(|b| format!("{b:02x}")).collect();
    for needle in [
        b64::encode(volume_key),
        std_b64,
        hex.clone(),
        hex.to_uppercase(),
    ] {
        assert!(
            !seen.contains(&needle[..20]),
            "key material found: {}",
            &needle[..20]
        );
    }
    assert!(!seen.as_bytes().windows(16).any(|w| w == &volume_key[..16]));
}

/// Federation: deployment A trusts deployment B's issuer through B's published JWKS URL, so
/// B's control plane can place instances on A's hosts; an untrusting A refuses the same token.
#[tokio::test]
async fn a_trusted_issuer_is_read_from_its_jwks_url() {
    let b = TestServer::start(None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let issuers = dir.path().join("issuers.json");
    std::fs::write(
        &issuers,
        json!({ "issuers": [{
            "issuer": b.url, "jwks_url": format!("{}/.well-known/jwks.json", b.url), "typ": "st+jwt",
            // B's certificate is from its own private CA: A trusts it for B's keys alone.
            "ca_cert": b.ca_cert,
        }] })
        .to_string(),
    )
    .unwrap();
    let a = TestServer::start(None, &["--trusted-issuers", issuers.to_str().unwrap()]);
    let untrusting = TestServer::start(None, &[]);
    let key = SoftKey::ephemeral();
    for server in [&a, &b, &untrusting] {
        let join = join_token(server).await;
        cairn_agent::flows::enroll(&server.client(), &key, "h", baremetal(), Some(join))
            .await
            .unwrap();
        volume(server, "vol-a").await;
    }
    let token = security_token(&b, "i-fed", &key.public().host_id(), &["vol-a"]).await;
    let recipient = RecipientKey::generate();
    let pat_a = pat(&a, &key, Some(&token), &recipient).await;
    let sealed = release(&a, "vol-a", &token, &pat_a).await.unwrap();
    assert!(recipient.open(&sealed, VOLUME_KEY_INFO, b"vol-a").is_ok());
    let pat_u = pat(&untrusting, &key, Some(&token), &recipient).await;
    assert_eq!(
        refusal(release(&untrusting, "vol-a", &token, &pat_u).await),
        "security-token-untrusted-issuer"
    );
}

/// A server told to trust issuers it cannot read refuses to start, saying why (exit 2).
#[test]
fn an_unreadable_issuers_file_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    let init = std::process::Command::new(CAIRN)
        .args(["server", "init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    assert!(init.status.success());
    let issuers = dir.path().join("issuers.json");
    std::fs::write(
        &issuers,
        json!({ "issuers": [{ "issuer": "https://x", "jwks_file": "/nonexistent.json" }] })
            .to_string(),
    )
    .unwrap();
    let out = std::process::Command::new(CAIRN)
        .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .args(["--trusted-issuers", issuers.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.json"));
}
