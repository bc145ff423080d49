//! Attacks on attestation (invariants 1 and 4) through the real server process. Each test
//! does what an attacker could do on the wire and fails if the server issues a PAT.

mod common;

use cairn_agent::{HardwareKeySigner, SoftKey};
use cairn_proto::{ComponentClass, Nonce, Signed};
use common::*;

/// The baremetal report with one component's value changed.
#[tokio::test]
async fn replayed_nonce_is_refused() {
    let server = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let signed = evidence(&server, &key, &baremetal()).await;
    server.client().attest(&signed).await.unwrap();
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "nonce-unknown"
    );
}

#[tokio::test]
async fn expired_nonce_is_refused() {
    let server = TestServer::start(None, &["--nonce-ttl", "0"]);
    let key = active_host(&server, &baremetal()).await;
    let signed = evidence(&server, &key, &baremetal()).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "nonce-expired"
    );
}

#[tokio::test]
async fn nonce_from_another_deployment_or_made_up_is_refused() {
    let server = TestServer::start(None, &[]);
    let other = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let foreign = other.client().challenge().await.unwrap().nonce;
    let signed = sign_evidence(&key, key.public().host_id(), foreign, &baremetal());
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "nonce-unknown"
    );
    let made_up = sign_evidence(&key, key.public().host_id(), Nonce::random(), &baremetal());
    assert_eq!(
        refusal(server.client().attest(&made_up).await),
        "nonce-unknown"
    );
}

#[tokio::test]
async fn evidence_signed_by_another_key_or_naming_another_host_is_refused() {
    let server = TestServer::start(None, &[]);
    let victim = active_host(&server, &baremetal()).await;
    let attacker = active_host(&server, &baremetal()).await;
    let nonce = server.client().challenge().await.unwrap().nonce;
    // The attacker's own key, the victim's host id.
    let signed = sign_evidence(&attacker, victim.public().host_id(), nonce, &baremetal());
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "evidence-signature-invalid"
    );
    // The nonce survived: a failed signature must not burn it.
    let honest = sign_evidence(&victim, victim.public().host_id(), nonce, &baremetal());
    server.client().attest(&honest).await.unwrap();
}

#[tokio::test]
async fn tampered_evidence_is_refused() {
    let server = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let signed = evidence(&server, &key, &baremetal()).await;
    for (field, value) in [
        (
            "instance_key",
            serde_json::json!(cairn_proto::b64::encode([1u8; 32])),
        ),
        (
            "security_token_digest",
            serde_json::json!(cairn_proto::Digest::sha256("other").hex()),
        ),
        ("time", serde_json::json!("2030-01-01T00:00:00Z")),
    ] {
        let mut raw = signed.raw_payload();
        raw[field] = value;
        let tampered = signed.clone().with_raw_payload(raw).unwrap();
        assert_eq!(
            refusal(server.client().attest(&tampered).await),
            "evidence-signature-invalid",
            "{field}"
        );
    }
    // A report swapped after signing.
    let mut raw = signed.raw_payload();
    raw["report"] = serde_json::to_value(with_changed(ComponentClass::Disk)).unwrap();
    let tampered = signed.clone().with_raw_payload(raw).unwrap();
    assert_eq!(
        refusal(server.client().attest(&tampered).await),
        "evidence-signature-invalid"
    );
    // A flipped signature bit.
    let mut bad = serde_json::to_value(&signed).unwrap();
    let mut sig = cairn_proto::b64::decode(bad["signature"]["value"].as_str().unwrap()).unwrap();
    sig[0] ^= 1;
    bad["signature"]["value"] = serde_json::json!(cairn_proto::b64::encode(sig));
    let (status, body) = post_raw(&server, "/v1/attest", &bad).await;
    assert_eq!(
        (status, body["type"].as_str().unwrap()),
        (403, "urn:cairn:problem:evidence-signature-invalid")
    );
    // And the untouched original still works.
    server.client().attest(&signed).await.unwrap();
}

#[tokio::test]
async fn unknown_pending_revoked_and_quarantined_hosts_get_nothing() {
    let server = TestServer::start(None, &[]);
    let stranger = SoftKey::ephemeral();
    let signed = evidence(&server, &stranger, &baremetal()).await;
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "unknown-host"
    );

    let pending = SoftKey::ephemeral();
    cairn_agent::flows::enroll(&server.client(), &pending, "p", baremetal(), None)
        .await
        .unwrap();
    let signed = evidence(&server, &pending, &baremetal()).await;
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "host-pending"
    );

    for (action, slug) in [
        (cairn_proto::HostAction::Revoke, "host-revoked"),
        (cairn_proto::HostAction::Quarantine, "host-quarantined"),
    ] {
        let key = active_host(&server, &baremetal()).await;
        // Challenge taken while active; the status changes before the evidence arrives.
        let signed = evidence(&server, &key, &baremetal()).await;
        server
            .admin()
            .host_action(&key.public().host_id(), action)
            .await
            .unwrap();
        assert_eq!(
            refusal(server.client().attest(&signed).await),
            slug,
            "{action}"
        );
    }
}

#[tokio::test]
async fn revoked_is_final_and_invalid_transitions_conflict() {
    let server = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let id = key.public().host_id();
    server
        .admin()
        .host_action(&id, cairn_proto::HostAction::Revoke)
        .await
        .unwrap();
    assert_eq!(
        refusal(
            server
                .admin()
                .host_action(&id, cairn_proto::HostAction::Approve)
                .await
        ),
        "invalid-transition"
    );
    // Enrolling the revoked key again returns the revoked record, not a fresh one.
    let again = cairn_agent::flows::enroll(&server.client(), &key, "again", baremetal(), None)
        .await
        .unwrap();
    assert_eq!(again.status, cairn_proto::HostStatus::Revoked);
}

#[tokio::test]
async fn a_swapped_immutable_component_is_refused_and_quarantines() {
    let server = TestServer::start(None, &[]);
    for class in [
        ComponentClass::Board,
        ComponentClass::Cpu,
        ComponentClass::Tpm,
    ] {
        let key = active_host(&server, &baremetal()).await;
        let signed = evidence(&server, &key, &with_changed(class)).await;
        assert_eq!(
            refusal(server.client().attest(&signed).await),
            "immutable-component-changed",
            "{class}"
        );
        let host = server.admin().host(&key.public().host_id()).await.unwrap();
        assert_eq!(host.status, cairn_proto::HostStatus::Quarantined);
        // Even the original hardware gets nothing now, until an operator acts.
        let signed = evidence(&server, &key, &baremetal()).await;
        assert_eq!(
            refusal(server.client().attest(&signed).await),
            "host-quarantined"
        );
    }
}

#[tokio::test]
async fn replaceable_drift_warns_and_strict_drift_refuses() {
    let server = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let signed = evidence(&server, &key, &with_changed(ComponentClass::Disk)).await;
    let pat = server.client().attest(&signed).await.unwrap();
    let verifier =
        cairn_token::Verifier::for_pats(&server.client().jwks().await.unwrap(), None).unwrap();
    let claims = verifier.verify_pat(&pat).unwrap();
    assert_eq!(claims.body.status, cairn_token::PatStatus::Warning);
    assert_eq!(claims.body.drift.len(), 1);
    assert!(claims.body.drift[0].starts_with("disk/"));

    let strict = TestServer::start(None, &["--strict-drift"]);
    let key = active_host(&strict, &baremetal()).await;
    let signed = evidence(&strict, &key, &with_changed(ComponentClass::Memory)).await;
    assert_eq!(
        refusal(strict.client().attest(&signed).await),
        "component-drift"
    );
}

#[tokio::test]
async fn rotation_window_accepts_new_hardware_once() {
    let server = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let id = key.public().host_id();
    server
        .admin()
        .host_action(&id, cairn_proto::HostAction::Rotate)
        .await
        .unwrap();
    let new_board = with_changed(ComponentClass::Board);
    let pat = server
        .client()
        .attest(&evidence(&server, &key, &new_board).await)
        .await
        .unwrap();
    assert!(!pat.is_empty());
    let host = server.admin().host(&id).await.unwrap();
    assert_eq!(host.status, cairn_proto::HostStatus::Active);
    assert_eq!(host.fingerprint, new_board.fingerprint());
    assert_eq!(host.history.len(), 2);
    // The window is closed: the old board is now the drift.
    let signed = evidence(&server, &key, &baremetal()).await;
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "immutable-component-changed"
    );
}

/// Malformed, mistyped and oversized bodies: `crates/cairn-server/tests/routes.rs`.
#[tokio::test]
async fn non_canonical_reports_are_problems() {
    let server = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let mut unsorted = baremetal();
    unsorted.components.reverse();
    let signed = evidence(&server, &key, &unsorted).await;
    assert_eq!(
        refusal(server.client().attest(&signed).await),
        "invalid-report"
    );
}

#[tokio::test]
async fn enrollment_needs_proof_of_possession_and_single_use_join_tokens() {
    let server = TestServer::start(None, &[]);
    let key = SoftKey::ephemeral();
    let impostor = SoftKey::ephemeral();
    let nonce = server.client().challenge().await.unwrap().nonce;
    // Registering someone else's public key, signed with my own.
    let enrollment = cairn_proto::Enrollment {
        nonce,
        name: "stolen".into(),
        report: baremetal(),
        hk: key.public(),
        join_token: None,
        ek_cert: None,
    };
    let signed = Signed::sign(enrollment, |m| impostor.sign(m)).unwrap();
    assert_eq!(
        refusal(server.client().enroll(&signed).await),
        "enrollment-signature-invalid"
    );

    let join = join_token(&server).await;
    let first =
        cairn_agent::flows::enroll(&server.client(), &key, "a", baremetal(), Some(join.clone()))
            .await
            .unwrap();
    assert_eq!(first.status, cairn_proto::HostStatus::Active);
    let reuse =
        cairn_agent::flows::enroll(&server.client(), &impostor, "b", baremetal(), Some(join)).await;
    assert_eq!(refusal(reuse), "join-token-invalid");

    // Admin endpoints refuse without, or with a wrong, bearer token.
    assert_eq!(refusal(server.client().hosts().await), "unauthorized");
    let wrong = server.client().with_admin_token(Some("cairn_wrong".into()));
    assert_eq!(refusal(wrong.hosts().await), "unauthorized");
    // A join token is not an admin token.
    let join2 = join_token(&server).await;
    assert_eq!(
        refusal(server.client().with_admin_token(Some(join2)).hosts().await),
        "unauthorized"
    );
}

/// Another local user on the server's machine reads nothing: the data directory is 0700 and
/// every file the server made in it (the database and its journal, the keys) is 0600, also
/// after the server has run and written.
#[tokio::test]
async fn the_data_directory_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let server = TestServer::start(None, &[]);
    active_host(&server, &baremetal()).await;
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&server.data_dir), 0o700);
    let mut seen = vec![];
    let mut pending = vec![server.data_dir.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if path.is_dir() {
                assert_eq!(mode(&path), 0o700, "{name}");
                pending.push(path);
            } else if !name.starts_with("server-") {
                // (server-*.log is the test harness's own capture of the server's output.)
                assert_eq!(mode(&path), 0o600, "{name}");
                seen.push(name);
            }
        }
    }
    assert!(seen.iter().any(|n| n == "cairn.db"), "{seen:?}");
    assert!(seen.iter().any(|n| n == "cairn.db-wal"), "{seen:?}");
}

/// A second server pointed at a running server's SQLite file through a symlink is refused:
/// two processes caching one registry would disagree about a revoked host.
#[test]
fn a_second_server_on_a_symlinked_database_is_refused() {
    let first = TestServer::start(None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("alias.db");
    std::os::unix::fs::symlink(first.data_dir.join("cairn.db"), &link).unwrap();
    let data = dir.path().join("srv");
    ok(&std::process::Command::new(CAIRN)
        .args(["server", "init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap());
    let out = std::process::Command::new(CAIRN)
        .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .arg("--database-url")
        .arg(cairn_store::Store::sqlite_url(&link))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
}
