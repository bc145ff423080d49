//! Several server processes on one PostgreSQL database behave as one service: a nonce is
//! consumed exactly once, and a revocation on one replica binds every other at once.

mod common;

use cairn_agent::HardwareKeySigner;
use common::*;

#[tokio::test]
async fn one_nonce_raced_by_two_server_processes_wins_exactly_once() {
    let Some(url) = cairn_store::testing::fresh_postgres("replica-race").await else {
        return;
    };
    let a = TestServer::start(Some(&url), &[]);
    let b = TestServer::run(&a.data_dir, Some(&url), &[], a.admin_token.clone());
    let key = active_host(&a, &baremetal()).await;
    for round in 0..25 {
        let signed = evidence(&a, &key, &baremetal()).await;
        let attempts: Vec<_> = (0..8)
            .map(|i| {
                let client = if i % 2 == 0 { a.client() } else { b.client() };
                let signed = signed.clone();
                tokio::spawn(async move { client.attest(&signed).await })
            })
            .collect();
        let mut wins = 0;
        for attempt in attempts {
            match attempt.await.unwrap() {
                Ok(_) => wins += 1,
                Err(e) => assert_eq!(refusal::<()>(Err(e)), "nonce-unknown"),
            }
        }
        assert_eq!(wins, 1, "round {round}");
    }
}

#[tokio::test]
async fn revocation_on_one_replica_binds_the_other_immediately() {
    let Some(url) = cairn_store::testing::fresh_postgres("replica-revoke").await else {
        return;
    };
    let a = TestServer::start(Some(&url), &[]);
    let b = TestServer::run(&a.data_dir, Some(&url), &[], a.admin_token.clone());
    let key = active_host(&a, &baremetal()).await;
    b.client()
        .attest(&evidence(&b, &key, &baremetal()).await)
        .await
        .unwrap();
    a.admin()
        .host_action(&key.public().host_id(), cairn_proto::HostAction::Revoke)
        .await
        .unwrap();
    let signed = evidence(&b, &key, &baremetal()).await;
    assert_eq!(refusal(b.client().attest(&signed).await), "host-revoked");
}

/// Flow 3 across replicas sharing one issuer name: a PAT and token from one replica open a
/// volume on the other, until the host is revoked on either.
#[tokio::test]
async fn a_key_released_by_one_replica_is_refused_by_both_after_revocation() {
    let Some(url) = cairn_store::testing::fresh_postgres("replica-release").await else {
        return;
    };
    let issuer = ["--issuer", "https://cairn.test"];
    let a = TestServer::start(Some(&url), &issuer);
    let b = TestServer::run(&a.data_dir, Some(&url), &issuer, a.admin_token.clone());
    volume(&a, "vol-a").await;
    let key = active_host(&a, &baremetal()).await;
    let token = security_token(&a, "i-1", &key.public().host_id(), &["vol-a"]).await;
    let recipient = cairn_proto::sealed::RecipientKey::generate();
    let pat = pat(&a, &key, Some(&token), &recipient).await;
    release(&b, "vol-a", &token, &pat).await.unwrap();
    b.admin()
        .host_action(&key.public().host_id(), cairn_proto::HostAction::Revoke)
        .await
        .unwrap();
    for server in [&a, &b] {
        assert_eq!(
            refusal(release(server, "vol-a", &token, &pat).await),
            "host-revoked"
        );
    }
}

/// Two server processes sharing one key store derive the same ERoT key: one generates it,
/// the other releases it, and it is the key pair the ERoT was announced with.
#[tokio::test]
async fn replicas_sharing_a_key_store_derive_the_same_erot_key() {
    let Some(url) = cairn_store::testing::fresh_postgres("replica-erot").await else {
        return;
    };
    let issuer = ["--issuer", "https://cairn.test"];
    let a = TestServer::start(Some(&url), &issuer);
    let b = TestServer::run(&a.data_dir, Some(&url), &issuer, a.admin_token.clone());
    let key = active_host(&a, &baremetal()).await;
    let (erot, receipt) = erot_with_receipt(&a, &key.public().host_id()).await;
    let released = host_release(&b, &key, &erot.erot_id, &receipt)
        .await
        .unwrap();
    assert_eq!(released.public(), erot.erot_pub);
}

/// An instance revoked through one replica (`cairn admin instances revoke`) has its security
/// token refused by both from the next request on; placed again, it gets a token that counts
/// while the revoked one never counts again.
#[tokio::test]
async fn a_revoked_instances_token_is_refused_on_both_replicas() {
    let Some(url) = cairn_store::testing::fresh_postgres("replica-instance").await else {
        return;
    };
    let issuer = ["--issuer", "https://cairn.test"];
    let a = TestServer::start(Some(&url), &issuer);
    let b = TestServer::run(&a.data_dir, Some(&url), &issuer, a.admin_token.clone());
    volume(&a, "vol-a").await;
    let key = active_host(&a, &baremetal()).await;
    let host = key.public().host_id();
    let token = security_token(&a, "i-1", &host, &["vol-a"]).await;
    let recipient = cairn_proto::sealed::RecipientKey::generate();
    let pat_old = pat(&a, &key, Some(&token), &recipient).await;
    release(&b, "vol-a", &token, &pat_old).await.unwrap();
    ok(&b.cli(&["admin", "instances", "revoke", "i-1"]));
    for server in [&a, &b] {
        assert_eq!(
            refusal(release(server, "vol-a", &token, &pat_old).await),
            "security-token-revoked"
        );
    }
    // The next second's placement issues a token that counts; the old one stays void.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let fresh = security_token(&a, "i-1", &host, &["vol-a"]).await;
    let pat_new = pat(&b, &key, Some(&fresh), &recipient).await;
    release(&b, "vol-a", &fresh, &pat_new).await.unwrap();
    assert_eq!(
        refusal(release(&a, "vol-a", &token, &pat_old).await),
        "security-token-revoked"
    );
    assert_exit(&a.cli(&["admin", "instances", "revoke", "i-none"]), 1);
}

/// A bearer token revoked through one replica is refused by both; `tokens list` shows it
/// revoked, by an id that is not the token.
#[tokio::test]
async fn a_revoked_bearer_token_is_refused_on_both_replicas() {
    let Some(url) = cairn_store::testing::fresh_postgres("replica-token").await else {
        return;
    };
    let a = TestServer::start(Some(&url), &[]);
    let b = TestServer::run(&a.data_dir, Some(&url), &[], a.admin_token.clone());
    let created: serde_json::Value = serde_json::from_str(&ok(
        &a.cli(&["admin", "tokens", "create", "--role", "admin", "--json"])
    ))
    .unwrap();
    let (token, id) = (
        created["token"].as_str().unwrap().to_string(),
        created["id"].as_str().unwrap().to_string(),
    );
    let with = |server: &TestServer| server.client().with_admin_token(Some(token.clone()));
    for server in [&a, &b] {
        with(server).hosts().await.unwrap();
    }
    ok(&b.cli(&["admin", "tokens", "revoke", &id]));
    for server in [&a, &b] {
        assert_eq!(refusal(with(server).hosts().await), "unauthorized");
    }
    let listed = ok(&a.cli(&["admin", "tokens", "list"]));
    let line = listed.lines().find(|l| l.starts_with(&id)).unwrap();
    assert!(line.contains("revoked"), "{listed}");
    assert!(!listed.contains(&token));
}
