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
