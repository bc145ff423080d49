//! The transparency log through the real server and CLI: every security event is logged with
//! its fields, a receipt's tlog proof verifies offline with only the log key, a monitor
//! follows the log, and a rewritten row is caught by the server and by the monitor.

mod common;

use std::collections::BTreeMap;

use cairn_agent::HardwareKeySigner;
use cairn_proto::api::{ErotRequest, ReceiptRequest, TokenRequest, TokenRole};
use cairn_proto::sealed::RecipientKey;
use cairn_proto::{ComponentClass, Digest, HostAction, Signed};
use common::*;

/// Every event of the log, as the admin reads them, by type.
async fn events_by_type(server: &TestServer) -> BTreeMap<String, Vec<serde_json::Value>> {
    let mut by_type: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for event in events_after(server, None).await {
        let kind = event.entry["type"].as_str().unwrap().to_string();
        by_type.entry(kind).or_default().push(event.entry);
    }
    by_type
}

/// Drives every kind of security event once or more; answers the customer's token and the
/// host's key.
async fn every_event(server: &TestServer) -> (String, Box<dyn HardwareKeySigner>) {
    let admin = server.admin();
    let key = active_host(server, &baremetal()).await;
    let host = key.public().host_id();
    // Quarantine, approve, a maintenance window and the attestation that rotates.
    admin
        .host_action(&host, HostAction::Quarantine)
        .await
        .unwrap();
    admin.host_action(&host, HostAction::Approve).await.unwrap();
    admin.host_action(&host, HostAction::Rotate).await.unwrap();
    let new_disk = with_changed(ComponentClass::Disk);
    server
        .client()
        .attest(&evidence(server, &key, &new_disk).await)
        .await
        .unwrap();
    // A boot: instance, volume key, instance revoked.
    volume(server, "vol-log").await;
    let token = security_token(server, "i-log", &host, &["vol-log"]).await;
    let recipient = RecipientKey::generate();
    let pat = pat(server, &key, Some(&token), &recipient).await;
    release(server, "vol-log", &token, &pat).await.unwrap();
    admin.revoke_instance("i-log").await.unwrap();
    // An ERoT generated, released, destroyed; another that expires.
    let customer = admin
        .create_token(&TokenRequest {
            role: TokenRole::Customer,
            ttl_seconds: None,
        })
        .await
        .unwrap()
        .token;
    let as_customer = server.client().with_admin_token(Some(customer.clone()));
    let erot = as_customer
        .create_erot(&ErotRequest {
            host_id: host.clone(),
            workload: serde_json::json!({ "name": "logged" }),
            ttl_seconds: None,
        })
        .await
        .unwrap();
    let receipt = as_customer
        .receipt(
            &erot.erot_id,
            &ReceiptRequest {
                ewc_digest: Digest::sha256("ewc"),
            },
        )
        .await
        .unwrap();
    assert!(receipt.tlog_proof.is_some());
    host_release(server, &key, &erot.erot_id, &receipt.receipt)
        .await
        .unwrap();
    let completion = cairn_proto::Completion {
        erot_id: erot.erot_id.to_string(),
        host_id: host.clone(),
        exit_status: 3,
        output_digest: Digest::sha256("out"),
        time: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap(),
    };
    let signed = Signed::sign(completion, |m| key.sign(m)).unwrap();
    server
        .client()
        .complete_erot(&erot.erot_id, &signed)
        .await
        .unwrap();
    let short = as_customer
        .create_erot(&ErotRequest {
            host_id: host.clone(),
            workload: serde_json::json!({ "name": "short" }),
            ttl_seconds: Some(1),
        })
        .await
        .unwrap();
    let short_receipt = as_customer
        .receipt(
            &short.erot_id,
            &ReceiptRequest {
                ewc_digest: Digest::sha256("ewc"),
            },
        )
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        refusal(host_release(server, &key, &short.erot_id, &short_receipt.receipt).await),
        "erot-expired"
    );
    // Tamper: a tripped sensor quarantines the host, until the operator clears it.
    let mut opened = baremetal();
    let chassis = opened
        .components
        .iter_mut()
        .find(|c| c.class == ComponentClass::Chassis)
        .unwrap();
    chassis
        .values
        .insert("smbios.boot_up_state".into(), "tripped".into());
    let refused = server
        .client()
        .attest(&evidence(server, &key, &opened).await)
        .await;
    assert_eq!(refusal(refused), "tamper-detected");
    admin
        .host_action(&host, HostAction::ClearTamper)
        .await
        .unwrap();
    // Drift: another board quarantines the host.
    let new_board = with_changed(ComponentClass::Board);
    let refused = server
        .client()
        .attest(&evidence(server, &key, &new_board).await)
        .await;
    assert_eq!(refusal(refused), "immutable-component-changed");
    // A token revoked, and the host at last.
    let spare = admin
        .create_token(&TokenRequest {
            role: TokenRole::Join,
            ttl_seconds: None,
        })
        .await
        .unwrap();
    admin.revoke_token(&spare.id).await.unwrap();
    admin.host_action(&host, HostAction::Revoke).await.unwrap();
    (customer, Box::new(key))
}

async fn every_event_is_logged_with_its_fields(server: TestServer) {
    let (customer, key) = every_event(&server).await;
    let host = key.public().host_id().to_string();
    let events = events_by_type(&server).await;
    let types: Vec<&str> = events.keys().map(String::as_str).collect();
    // (A TPM host's credential activation is logged too: see tests/tpm.rs.)
    for expected in cairn_log::EventType::WORDS {
        let tpm_only = *expected == cairn_log::EventType::HostActivated.as_str();
        assert!(
            tpm_only || types.contains(expected),
            "no {expected} in {types:?}"
        );
    }
    let one = |kind: &str| events[kind].last().unwrap().clone();
    assert_eq!(one("host.enrolled")["host_id"], host);
    assert_eq!(one("host.enrolled")["status"], "active");
    let quarantined = one("host.quarantined");
    assert_eq!(
        (quarantined["from"].as_str(), quarantined["to"].as_str()),
        (Some("active"), Some("quarantined"))
    );
    assert!(quarantined["by"].as_str().unwrap().starts_with("t_"));
    assert_eq!(one("host.rotated")["to"], "active");
    assert_eq!(
        one("host.rotated")["fingerprint"].as_str().unwrap().len(),
        64
    );
    assert_eq!(one("host.drift")["to"], "quarantined");
    let sensors = serde_json::json!(["chassis/chassis:smbios.boot_up_state"]);
    assert_eq!(one("host.tamper")["sensors"], sensors);
    assert_eq!(one("host.tamper")["to"], "quarantined");
    assert_eq!(one("host.tamper_cleared")["sensors"], sensors);
    assert_eq!(one("host.tamper_cleared")["to"], "active");
    assert!(
        one("host.tamper_cleared")["by"]
            .as_str()
            .unwrap()
            .starts_with("t_")
    );
    assert_eq!(one("host.revoked")["to"], "revoked");
    let released = one("volume.released");
    assert_eq!(released["volume_id"], "vol-log");
    assert_eq!(released["instance_id"], "i-log");
    assert_eq!(released["host_id"], host);
    // The released key's PAT is one the log issued.
    let jtis: Vec<&serde_json::Value> = events["pat.issued"].iter().map(|e| &e["jti"]).collect();
    assert!(jtis.contains(&&released["pat_jti"]));
    let generated = &events["erot.generated"][0];
    assert_eq!(generated["host_id"], host);
    assert_eq!(
        generated["customer"],
        cairn_store::token_id(&cairn_server::token_hash(&customer))
    );
    assert_eq!(one("erot.destroyed")["exit_status"], 3);
    assert_eq!(
        one("erot.destroyed")["output_digest"],
        Digest::sha256("out").hex()
    );
    assert_eq!(
        one("instance.created")["volumes"],
        serde_json::json!(["vol-log"])
    );
    // Nothing secret is logged: no token, no key, no sealed secret.
    let everything = serde_json::to_string(&events).unwrap();
    assert!(!everything.contains(&customer) && !everything.contains(&server.admin_token));
    assert!(!everything.contains("\"sealed\"") && !everything.contains("\"key\":"));
    // A customer reads only its own ERoTs' events.
    let own = server
        .client()
        .with_admin_token(Some(customer))
        .events(None)
        .await
        .unwrap();
    assert_eq!(own.events.len(), 5, "{:?}", own.events);
    assert!(
        own.events
            .iter()
            .all(|e| e.entry["type"].as_str().unwrap().starts_with("erot."))
    );
    assert_eq!(refusal(server.client().events(None).await), "unauthorized");
}

#[tokio::test]
async fn every_event_is_logged_with_its_fields_on_sqlite() {
    every_event_is_logged_with_its_fields(TestServer::start(None, &[])).await;
}

#[tokio::test]
async fn every_event_is_logged_with_its_fields_on_postgres() {
    let Some(url) = cairn_store::testing::fresh_postgres("e2e-log").await else {
        return;
    };
    every_event_is_logged_with_its_fields(TestServer::start(Some(&url), &[])).await;
}

#[tokio::test]
async fn a_receipts_tlog_proof_verifies_offline_and_a_monitor_follows_the_log() {
    let server = TestServer::start(None, &[]);
    let hostdir = tempfile::tempdir().unwrap();
    let (_, host) = enroll_cli(&server, hostdir.path());
    let customer = Customer::new(&server);
    let (erot, ewc, _) = customer.seal_for(&host, b"payload", None);
    let d = customer.dir.path();
    let receipt = d.join("r.jws");
    ok(&customer.cli(&[
        "workload",
        "receipt",
        "--erot-id",
        erot.erot_id.as_str(),
        "--ewc",
        ewc.to_str().unwrap(),
        "--out",
        receipt.to_str().unwrap(),
    ]));
    let proof = d.join("r.jws.tlog-proof");
    let text = std::fs::read_to_string(&proof).unwrap();
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
    // Offline: a saved JWKS, the log key from init, the proof beside the receipt, and a
    // server address nothing answers at.
    let jwks = d.join("jwks.json");
    std::fs::write(&jwks, server.get_text("/.well-known/jwks.json").await).unwrap();
    let checkpoint = d.join("seen.checkpoint");
    std::fs::write(&checkpoint, server.get_text("/v1/log/checkpoint").await).unwrap();
    let key_text = server.get_text("/v1/log/key").await;
    assert_eq!(key_text.trim(), server.log_key);
    let state = d.join("monitor.json");
    let audit_log = |state: &std::path::Path| {
        customer.cli(&[
            "audit",
            "log",
            "--log-key",
            &server.log_key,
            "--state",
            state.to_str().unwrap(),
            "--json",
        ])
    };
    let first: serde_json::Value = serde_json::from_str(&ok(&audit_log(&state))).unwrap();
    let seen = first["tree_size"].as_u64().unwrap();
    assert_eq!(first["events"].as_array().unwrap().len() as u64, seen);
    assert_eq!(first["events"][0]["entry"]["type"], "token.created");
    assert_eq!(first["events"][0]["entry"]["by"], "cairn server init");
    // More happens; the monitor sees only what is new, consistent with what it kept.
    ok(&server.cli(&["admin", "tokens", "create", "--role", "join"]));
    let second: serde_json::Value = serde_json::from_str(&ok(&audit_log(&state))).unwrap();
    assert_eq!(second["tree_size"].as_u64().unwrap(), seen + 1);
    assert_eq!(second["events"].as_array().unwrap().len(), 1);
    // The C2SP tiles read as the same log: the entry bundle holds every entry.
    let bundle = server
        .http()
        .get(format!(
            "{}/v1/log/tile/entries/000.p/{}",
            server.url,
            seen + 1
        ))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        cairn_log::tiles::unbundle(&bundle).unwrap().len() as u64,
        seen + 1
    );
    let missing = server
        .http()
        .get(format!(
            "{}/v1/log/tile/entries/000.p/{}",
            server.url,
            seen + 2
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // Beyond the tree, or past what an index can be: refused or empty, never a server error.
    let get = |path: String| {
        let (http, url) = (server.http(), server.url.clone());
        async move {
            let response = http.get(format!("{url}{path}")).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    for path in [
        format!("/v1/log/proof/inclusion?index=0&size={}", seen + 2),
        format!("/v1/log/proof/consistency?old={}", seen + 2),
        "/v1/log/proof/inclusion?index=3&size=2".to_string(),
    ] {
        let (status, problem) = get(path.clone()).await;
        assert_eq!(status, 404, "{path}: {problem}");
        assert_eq!(problem["type"], "urn:cairn:problem:proof-out-of-range");
    }
    let admin_get = |path: &str| {
        server
            .http()
            .get(format!("{}{path}", server.url))
            .bearer_auth(&server.admin_token)
            .send()
    };
    let page: serde_json::Value = admin_get(&format!("/v1/events?after={}", i64::MAX))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["events"], serde_json::json!([]));
    for query in [
        "limit=0".to_string(),
        "limit=1001".to_string(),
        format!("after={}", i64::MAX as u64 + 1),
    ] {
        let refused = admin_get(&format!("/v1/events?{query}")).await.unwrap();
        assert_eq!(refused.status(), 400, "{query}");
    }

    let verify = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            "verify",
            receipt.to_str().unwrap(),
            "--ewc",
            ewc.to_str().unwrap(),
            "--jwks",
            jwks.to_str().unwrap(),
            "--log-key",
            &server.log_key,
            "--server",
            "http://127.0.0.1:9",
            "--json",
        ];
        args.extend_from_slice(extra);
        customer.cli(&args)
    };
    let checked: serde_json::Value = serde_json::from_str(&ok(&verify(&[]))).unwrap();
    assert!(checked["log"]["index"].as_u64().unwrap() < seen);
    // The checkpoint seen before is the proof's own: consistent without asking anyone.
    ok(&verify(&["--checkpoint", checkpoint.to_str().unwrap()]));
    // A proof moved to another index, for another key, or with its entry changed: refused.
    let moved = d.join("moved.tlog-proof");
    let index_line = text.lines().nth(2).unwrap();
    let index: u64 = index_line.strip_prefix("index ").unwrap().parse().unwrap();
    std::fs::write(
        &moved,
        text.replacen(index_line, &format!("index {}", index + 1), 1),
    )
    .unwrap();
    assert_exit(&verify(&["--proof", moved.to_str().unwrap()]), 1);
    let other_key = {
        let other = TestServer::start(None, &[]);
        other.log_key.clone()
    };
    let out = customer.cli(&[
        "audit",
        "verify",
        receipt.to_str().unwrap(),
        "--jwks",
        jwks.to_str().unwrap(),
        "--log-key",
        &other_key,
    ]);
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not logged"),
        "{out:?}"
    );
    let entry_line = text.lines().nth(1).unwrap();
    use base64::Engine;
    let std64 = base64::engine::general_purpose::STANDARD;
    let logged = std64
        .decode(entry_line.strip_prefix("extra ").unwrap())
        .unwrap();
    let mut forged: serde_json::Value = serde_json::from_slice(&logged).unwrap();
    forged["erot_id"] = "e_other".into();
    let forged_line = format!(
        "extra {}",
        std64.encode(serde_json::to_vec(&forged).unwrap())
    );
    let tampered = d.join("tampered.tlog-proof");
    std::fs::write(&tampered, text.replacen(entry_line, &forged_line, 1)).unwrap();
    assert_exit(&verify(&["--proof", tampered.to_str().unwrap()]), 1);
}

#[tokio::test]
async fn a_rewritten_row_is_caught_by_a_monitor_and_by_the_server() {
    let mut server = TestServer::start(None, &[]);
    for _ in 0..5 {
        ok(&server.cli(&["admin", "tokens", "create", "--role", "join"]));
    }
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("monitor.json");
    let monitor = |state: Option<&std::path::Path>| {
        let mut args = vec![
            "audit".to_string(),
            "log".into(),
            "--log-key".into(),
            server.log_key.clone(),
        ];
        if let Some(state) = state {
            args.extend(["--state".into(), state.display().to_string()]);
        }
        server.cli(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    ok(&monitor(Some(&state)));
    // Someone with the database rewrites who made a token, under the running server.
    let url = cairn_store::Store::sqlite_url(&server.data_dir.join("cairn.db"));
    raw_sql(&url, "UPDATE log_entries SET entry = replace(entry, 'cairn server init', 'someone else') WHERE idx = 0").await;
    // A monitor checking the whole log catches it, loudly.
    let out = monitor(None);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("LOG INCONSISTENT") && stderr.contains("rewritten"),
        "{stderr}"
    );
    // So does the server when it restarts: it refuses to serve a log it did not sign.
    server.stop();
    let out = std::process::Command::new(CAIRN)
        .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("transparency log is inconsistent"),
        "{stderr}"
    );
}

/// The lines of the server's log queue files (what it acknowledged and has not sequenced).
fn queued_lines(data_dir: &std::path::Path) -> usize {
    match std::fs::read_dir(data_dir.join("log-queue")) {
        Ok(files) => files
            .filter_map(|f| f.ok())
            .map(|f| {
                std::fs::read_to_string(f.path())
                    .unwrap_or_default()
                    .lines()
                    .count()
            })
            .sum(),
        Err(_) => 0,
    }
}

/// How many `pat.issued` entries the log holds.
async fn pats_issued(server: &TestServer) -> usize {
    events_by_type(server)
        .await
        .get("pat.issued")
        .map_or(0, Vec::len)
}

/// How many `token.created` entries the log holds.
async fn tokens_created(server: &TestServer) -> usize {
    events_by_type(server)
        .await
        .get("token.created")
        .map_or(0, Vec::len)
}

/// A crashed server loses nothing it acknowledged: what was still in its durable queue when it
/// was killed (PATs: what changes no state; changes go into the outbox with themselves, see
/// `log_refusals.rs`) is in the log once it is back, once each, and the log still verifies.
#[tokio::test]
async fn a_killed_server_appends_what_it_had_queued_once_when_it_restarts() {
    let mut first = TestServer::start(None, &[]);
    let key = active_host(&first, &baremetal()).await;
    let recipient = RecipientKey::generate();
    let mut made = pats_issued(&first).await;
    let mut server: Option<TestServer> = None;
    let mut replayed = false;
    // The writer lingers before it sequences, so a kill right after the answers nearly always
    // finds them queued; a few tries make sure the replay is exercised.
    for _ in 0..5 {
        let running = server.as_mut().unwrap_or(&mut first);
        for _ in 0..3 {
            pat(running, &key, None, &recipient).await;
        }
        made += 3;
        running.stop(); // SIGKILL
        replayed |= queued_lines(&first.data_dir) > 0;
        let again = TestServer::run(&first.data_dir, None, &[], first.admin_token.clone());
        assert_eq!(pats_issued(&again).await, made, "{}", again.logs());
        server = Some(again);
        if replayed {
            break;
        }
    }
    let server = server.unwrap();
    assert!(replayed, "no kill found anything queued");
    assert!(
        server
            .logs()
            .contains("appended what a stopped server had queued")
    );
    // The replayed entries are in a tree that still verifies end to end.
    ok(&server.cli(&["audit", "log", "--log-key", &first.log_key]));
}

/// A server that stops on SIGTERM sequences its queue first and leaves none behind.
#[tokio::test]
async fn a_stopping_server_sequences_its_queue_and_removes_it() {
    let mut server = TestServer::start(None, &[]);
    let before = tokens_created(&server).await;
    for _ in 0..3 {
        ok(&server.cli(&["admin", "tokens", "create", "--role", "join"]));
    }
    ok(&std::process::Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .output()
        .unwrap());
    assert!(server.wait().success());
    let left: Vec<_> = std::fs::read_dir(server.data_dir.join("log-queue"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let url = cairn_store::Store::sqlite_url(&server.data_dir.join("cairn.db"));
    let store = cairn_store::Store::connect(&url).await.unwrap();
    let (size, _) = store.log_checkpoint().await.unwrap().unwrap();
    let entries = store.log_entries(0, size).await.unwrap();
    let created = entries
        .iter()
        .filter(|e| String::from_utf8_lossy(&e.bytes).contains("\"token.created\""))
        .count();
    assert_eq!(created, before + 3);
}

/// A store that refuses for a while (another process holds SQLite's write lock past the
/// server's busy timeout, so appends fail and are tried again) loses nothing the server
/// acknowledged meanwhile, and appends nothing twice once it is back.
#[tokio::test]
async fn what_is_acknowledged_while_the_store_refuses_goes_in_once_when_it_is_back() {
    use sqlx::Connection;
    let server = TestServer::start(None, &[]);
    let key = active_host(&server, &baremetal()).await;
    let issued = |events: BTreeMap<String, Vec<serde_json::Value>>| {
        events.get("pat.issued").map_or(0, Vec::len)
    };
    let before = issued(events_by_type(&server).await);
    let url = cairn_store::Store::sqlite_url(&server.data_dir.join("cairn.db"));
    sqlx::any::install_default_drivers();
    let mut blocker = sqlx::AnyConnection::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN EXCLUSIVE")
        .execute(&mut blocker)
        .await
        .unwrap();
    // Attestations on SQLite write nothing but their log entry: they are answered meanwhile.
    let recipient = RecipientKey::generate();
    for _ in 0..5 {
        pat(&server, &key, None, &recipient).await;
    }
    // Past the 10 s busy timeout the writer's append fails, and it waits to try again.
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    assert!(
        server.logs().contains("sequencing the log failed"),
        "{}",
        server.logs()
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    assert_eq!(issued(events_by_type(&server).await), before + 5);
    ok(&server.cli(&["audit", "log", "--log-key", &server.log_key]));
}
