//! Invariant 13 against the real server: a state change is committed if and only if its log
//! entry is durable. Every route that changes something is tried while the log cannot take an
//! entry (closed as inconsistent after a stored hash was rewritten; its queue full while the
//! tree's head is locked): each answers its refusal and the database is unchanged. And a
//! server killed right after it acknowledged changes loses none of their entries.

mod common;

use cairn_agent::HardwareKeySigner;
use cairn_proto::sealed::RecipientKey;
use cairn_proto::{Completion, Digest, Enrollment, HostId, Signed};
use common::*;
use serde_json::json;
use sqlx::Connection;

/// What the routes are tried with: an active host with a PAT, a pending host, an instance, a
/// spare token, and a customer's ERoT with its receipt.
struct Ready {
    key: cairn_agent::SoftKey,
    pat: String,
    pending: HostId,
    spare_token: String,
    customer: String,
    erot: String,
    receipt: String,
}

async fn ready(server: &TestServer) -> Ready {
    let key = active_host(server, &baremetal()).await;
    let host = key.public().host_id();
    let pending_key = cairn_agent::SoftKey::ephemeral();
    let pending = enrollment(server, &pending_key).await;
    let (status, _) = post_raw(server, "/v1/hosts", &pending).await;
    assert_eq!(status, 201);
    volume(server, "vol-1").await;
    security_token(server, "i-1", &host, &["vol-1"]).await;
    let token = async |role| {
        let request = cairn_proto::api::TokenRequest {
            role,
            ttl_seconds: None,
        };
        server.admin().create_token(&request).await.unwrap()
    };
    let spare = token(cairn_proto::api::TokenRole::Join).await;
    let (erot, receipt) = erot_with_receipt(server, &host).await;
    let customer = token(cairn_proto::api::TokenRole::Customer).await.token;
    let pat = pat(server, &key, None, &RecipientKey::generate()).await;
    Ready {
        key,
        pat,
        pending: pending_key.public().host_id(),
        spare_token: spare.id,
        customer,
        erot: erot.erot_id.to_string(),
        receipt,
    }
}

/// A signed enrollment of `key` over a fresh nonce, without a join token.
async fn enrollment(server: &TestServer, key: &dyn HardwareKeySigner) -> serde_json::Value {
    let nonce = server.client().challenge().await.unwrap().nonce;
    let enrollment = Enrollment {
        nonce,
        name: "refused".into(),
        report: baremetal(),
        hk: key.public(),
        join_token: None,
        ek_cert: None,
    };
    serde_json::to_value(Signed::sign(enrollment, |m| key.sign(m)).unwrap()).unwrap()
}

/// What the database holds that a change would touch, as text.
async fn snapshot(url: &str) -> Vec<String> {
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    let queries = [
        "SELECT host_id || ' ' || status || ' ' || COALESCE(tamper, '-') || ' ' || fingerprint || ' ' || CAST(updated_at AS TEXT) FROM hosts ORDER BY host_id",
        "SELECT host_id || ' ' || secret_digest FROM host_activations ORDER BY host_id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM host_fingerprints",
        "SELECT token_hash || ' ' || COALESCE(CAST(used_at AS TEXT), '-') || ' ' || COALESCE(CAST(revoked_at AS TEXT), '-') FROM tokens ORDER BY token_hash",
        "SELECT instance_id || ' ' || host_id || ' ' || COALESCE(CAST(revoked_at AS TEXT), '-') || ' ' || COALESCE(CAST(tokens_after AS TEXT), '-') FROM instances ORDER BY instance_id",
        "SELECT erot_id || ' ' || status FROM erots ORDER BY erot_id",
        "SELECT id FROM log_outbox ORDER BY id",
        "SELECT CAST(COUNT(*) AS TEXT) FROM log_entries",
    ];
    let mut rows = vec![];
    for sql in queries {
        for row in sqlx::query_scalar::<_, String>(sql)
            .fetch_all(&mut conn)
            .await
            .unwrap()
        {
            rows.push(format!("{sql}: {row}"));
        }
    }
    rows
}

/// Sends `body` to `path` with `bearer`; answers the status and the problem's type.
async fn send(
    server: &TestServer,
    path: &str,
    bearer: Option<&str>,
    body: serde_json::Value,
) -> (u16, String) {
    let mut request = server
        .http()
        .post(format!("{}{path}", server.url))
        .json(&body);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    (
        status,
        body["type"].as_str().unwrap_or_default().to_string(),
    )
}

/// A request that changes something: path, bearer, body.
type Attempt<'a> = (String, Option<&'a str>, serde_json::Value);

/// Every route that changes state (or uses a nonce up) answers 503 `slug`, and the database
/// is as it was. Answers the attempts, to try again.
async fn every_change_is_refused<'a>(
    server: &'a TestServer,
    url: &str,
    ready: &'a Ready,
    slug: &str,
) -> Vec<Attempt<'a>> {
    let before = snapshot(url).await;
    let admin = Some(server.admin_token.as_str());
    let host = ready.key.public().host_id();
    let fresh = cairn_agent::SoftKey::ephemeral();
    let completion = Signed::sign(
        Completion {
            erot_id: ready.erot.clone(),
            host_id: host.clone(),
            exit_status: 0,
            output_digest: Digest::sha256("out"),
            time: time::OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap(),
        },
        |m| ready.key.sign(m),
    )
    .unwrap();
    let attempts: Vec<Attempt<'a>> = vec![
        (
            "/v1/hosts".to_string(),
            None,
            enrollment(server, &fresh).await,
        ),
        (
            format!("/v1/hosts/{}/activation", ready.pending),
            None,
            json!({ "secret": cairn_proto::b64::encode([7u8; 32]) }),
        ),
        (
            format!("/v1/hosts/{}/approve", ready.pending),
            admin,
            json!({}),
        ),
        (format!("/v1/hosts/{host}/quarantine"), admin, json!({})),
        (format!("/v1/hosts/{host}/rotate"), admin, json!({})),
        (format!("/v1/hosts/{host}/revoke"), admin, json!({})),
        ("/v1/tokens".to_string(), admin, json!({ "role": "join" })),
        (
            format!("/v1/tokens/{}/revoke", ready.spare_token),
            admin,
            json!({}),
        ),
        (
            "/v1/instances".to_string(),
            admin,
            json!({ "instance_id": "i-2", "host_id": host, "volume_ids": ["vol-1"] }),
        ),
        ("/v1/instances/i-1/revoke".to_string(), admin, json!({})),
        (
            "/v1/erots".to_string(),
            Some(ready.customer.as_str()),
            json!({ "host_id": host, "workload": { "name": "w2" } }),
        ),
        (
            format!("/v1/erots/{}/release", ready.erot),
            None,
            json!({ "pat": ready.pat, "receipt": ready.receipt }),
        ),
        (
            format!("/v1/erots/{}/complete", ready.erot),
            None,
            serde_json::to_value(&completion).unwrap(),
        ),
        (
            "/v1/attest".to_string(),
            None,
            serde_json::to_value(evidence(server, &ready.key, &baremetal()).await).unwrap(),
        ),
    ];
    for (path, bearer, body) in &attempts {
        let (status, problem) = send(server, path, *bearer, body.clone()).await;
        assert_eq!(
            (status, problem.as_str()),
            (503, format!("urn:cairn:problem:{slug}").as_str()),
            "POST {path}"
        );
    }
    assert_eq!(snapshot(url).await, before);
    attempts
}

#[tokio::test]
async fn with_the_log_closed_as_inconsistent_every_change_is_refused_and_nothing_changes() {
    let server = TestServer::start(None, &[]);
    let ready = ready(&server).await;
    let url = cairn_store::Store::sqlite_url(&server.data_dir.join("cairn.db"));
    // Someone with the database rewrites the stored hashes; the next append finds it.
    events_after(&server, None).await;
    raw_sql(&url, "UPDATE log_hashes SET hash = zeroblob(32)").await;
    pat(&server, &ready.key, None, &RecipientKey::generate()).await;
    for _ in 0..50 {
        if server.logs().contains("refusing to sign a checkpoint") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        server.logs().contains("refusing to sign a checkpoint"),
        "{}",
        server.logs()
    );
    every_change_is_refused(&server, &url, &ready, "log-inconsistent").await;
}

#[tokio::test]
async fn with_the_log_queue_full_every_change_is_refused_and_nothing_changes() {
    let Some(url) = cairn_store::testing::fresh_postgres("log-full").await else {
        return;
    };
    let server = TestServer::start(Some(&url), &["--max-log-queue", "50"]);
    let ready = ready(&server).await;
    // Everything so far is in the tree; then another transaction holds the tree's head, so
    // the writer waits and PATs fill the queue until it refuses.
    events_after(&server, None).await;
    sqlx::any::install_default_drivers();
    let mut holder = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN; SELECT size FROM log_head WHERE id = 1 FOR UPDATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut filled = 0;
    loop {
        let attested = cairn_agent::flows::attest(
            &server.client(),
            &ready.key,
            baremetal(),
            RecipientKey::generate().public(),
            None,
        )
        .await;
        match attested {
            Ok(_) => filled += 1,
            Err(e) => {
                assert_eq!(refusal::<()>(Err(e)), "storage-unavailable");
                break;
            }
        }
        assert!(filled <= 50, "the queue took more than its bound");
    }
    assert_eq!(filled, 50);
    let refused = every_change_is_refused(&server, &url, &ready, "storage-unavailable").await;
    // Once the head is free, what was acknowledged goes in and changes are taken again; the
    // refused enrollment and attestation had not used their nonces.
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    events_after(&server, None).await;
    for (path, expected) in [("/v1/hosts", 201), ("/v1/attest", 200)] {
        let (_, bearer, body) = refused.iter().find(|(p, ..)| p == path).unwrap();
        let (status, problem) = send(&server, path, *bearer, body.clone()).await;
        assert_eq!(status, expected, "POST {path} again: {problem}");
    }
    let before = events_after(&server, None).await.len();
    ok(&server.cli(&["admin", "tokens", "create", "--role", "join"]));
    let after = events_after(&server, None).await;
    assert_eq!(after.len(), before + 1);
    let issued = after
        .iter()
        .filter(|e| e.entry["type"] == "pat.issued")
        .count();
    assert_eq!(
        issued,
        2 + filled,
        "the setup's PAT, those that filled the queue, and the refused one sent again"
    );
}

/// A change whose log entry cannot be written is not made: the two are one transaction.
#[tokio::test]
async fn a_change_whose_entry_cannot_be_written_is_not_made() {
    let server = TestServer::start(None, &[]);
    let ready = ready(&server).await;
    let url = cairn_store::Store::sqlite_url(&server.data_dir.join("cairn.db"));
    events_after(&server, None).await;
    raw_sql(
        &url,
        "CREATE TRIGGER refuse_outbox BEFORE INSERT ON log_outbox BEGIN SELECT RAISE(ABORT, 'no'); END",
    )
    .await;
    let before = snapshot(&url).await;
    let admin = Some(server.admin_token.as_str());
    let host = ready.key.public().host_id();
    for (path, body) in [
        ("/v1/tokens".to_string(), json!({ "role": "join" })),
        (format!("/v1/hosts/{}/approve", ready.pending), json!({})),
        (format!("/v1/hosts/{host}/revoke"), json!({})),
        ("/v1/instances/i-1/revoke".to_string(), json!({})),
    ] {
        let (status, problem) = send(&server, &path, admin, body).await;
        assert_eq!(
            (status, problem.as_str()),
            (503, "urn:cairn:problem:storage-unavailable"),
            "POST {path}"
        );
    }
    assert_eq!(snapshot(&url).await, before);
}

/// A server killed as soon as it has answered a change leaves its entry in the outbox, with
/// the change: the next start appends it, once.
#[tokio::test]
async fn a_change_acknowledged_before_a_kill_is_logged_once_after_the_restart() {
    let mut first = TestServer::start(None, &[]);
    let url = cairn_store::Store::sqlite_url(&first.data_dir.join("cairn.db"));
    let mut outboxed = false;
    let mut server: Option<TestServer> = None;
    for _ in 0..5 {
        let running = server.as_mut().unwrap_or(&mut first);
        for _ in 0..3 {
            ok(&running.cli(&["admin", "tokens", "create", "--role", "join"]));
        }
        running.stop(); // SIGKILL
        let left = snapshot(&url).await;
        outboxed |= left.iter().any(|row| row.contains("FROM log_outbox"));
        let again = TestServer::run(&first.data_dir, None, &[], first.admin_token.clone());
        let created = events_after(&again, None)
            .await
            .iter()
            .filter(|e| e.entry["type"] == "token.created")
            .count();
        let tokens = again.admin().tokens().await.unwrap().len();
        assert_eq!(created, tokens, "{}", again.logs());
        server = Some(again);
        if outboxed {
            break;
        }
    }
    assert!(outboxed, "no kill found an entry in the outbox");
    let server = server.unwrap();
    ok(&server.cli(&["audit", "log", "--log-key", &first.log_key]));
}
