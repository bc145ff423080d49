//! Flow 4 through the real server and CLI: a customer derives an ERoT for an enrolled host,
//! seals a payload, gets a receipt an auditor can verify; the host obtains the ERoT key once
//! and opens the container; completion destroys the ERoT. Attacks on invariant 5 alongside.

mod common;

use cairn_agent::SoftKey;
use cairn_proto::{Digest, b64};
use common::*;

#[tokio::test]
async fn a_workload_is_sealed_receipted_released_once_opened_and_destroyed() {
    let server = TestServer::start(None, &[]);
    let hostdir = tempfile::tempdir().unwrap();
    let (key, host) = enroll_cli(&server, hostdir.path());
    let customer = Customer::new(&server);
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let (erot, ewc, receipt) = customer.seal_for(&host, &payload, None);

    // The auditor's view: the receipt verifies against the JWKS and names this container.
    let receipt_file = customer.dir.path().join("receipt.jws");
    std::fs::write(&receipt_file, &receipt).unwrap();
    let audit = ok(&customer.cli(&[
        "audit",
        "verify",
        receipt_file.to_str().unwrap(),
        "--ewc",
        ewc.to_str().unwrap(),
        "--json",
    ]));
    let claims: serde_json::Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(claims["host_id"], host);
    assert_eq!(claims["hk_pub"], b64::encode(key.public().public_key));
    assert_eq!(claims["erot_pub"], b64::encode(erot.erot_pub));
    // A container that is not the one receipted fails the audit.
    let other = customer.dir.path().join("other.ewc");
    let mut bytes = std::fs::read(&ewc).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&other, &bytes).unwrap();
    let out = customer.cli(&[
        "audit",
        "verify",
        receipt_file.to_str().unwrap(),
        "--ewc",
        other.to_str().unwrap(),
    ]);
    assert_exit(&out, 1);

    // The host: the ERoT key, once, opens the container.
    let erot_key = host_release(&server, key.as_ref(), &erot.erot_id, &receipt)
        .await
        .unwrap();
    assert_eq!(erot_key.public(), erot.erot_pub);
    let mut plain = Vec::new();
    let opened = cairn_ewc::open(
        std::fs::File::open(&ewc).unwrap(),
        &mut plain,
        &erot_key,
        2,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(plain, payload);
    assert_eq!(
        Digest(opened.ewc_digest),
        claims["ewc_digest"].as_str().unwrap().parse().unwrap()
    );
    assert_eq!(
        refusal(host_release(&server, key.as_ref(), &erot.erot_id, &receipt).await),
        "erot-gone"
    );
    // Both answers are counted, as every route's are, by the one metrics layer.
    let metrics = server.get_text("/metrics").await;
    for line in [
        "cairn_erot_releases_total{outcome=\"released\"} 1",
        "cairn_erot_releases_total{outcome=\"erot-gone\"} 1",
        "cairn_requests_total{route=\"POST /v1/erots/{erot_id}/release\",outcome=\"released\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "no {line} in {metrics}");
    }

    // Completion destroys it; nothing is released after.
    cairn_agent::flows::complete(
        &server.client(),
        key.as_ref(),
        &erot.erot_id,
        0,
        Digest::sha256("out"),
    )
    .await
    .unwrap();
    assert_eq!(
        refusal(host_release(&server, key.as_ref(), &erot.erot_id, &receipt).await),
        "erot-gone"
    );
}

#[tokio::test]
async fn an_erot_key_goes_only_to_its_host_with_its_receipt_and_never_after_expiry() {
    let server = TestServer::start(None, &[]);
    let hostdir = tempfile::tempdir().unwrap();
    let (key, host) = enroll_cli(&server, hostdir.path());
    let intruder = active_host(&server, &baremetal()).await;
    let customer = Customer::new(&server);
    let (erot, _, receipt) = customer.seal_for(&host, b"payload", None);

    // Another host, with its own valid PAT.
    assert_eq!(
        refusal(host_release(&server, &intruder, &erot.erot_id, &receipt).await),
        "erot-host-mismatch"
    );
    // An edited receipt (its claims changed, its signature kept).
    let parts: Vec<&str> = receipt.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&b64::decode(parts[1]).unwrap()).unwrap();
    claims["ewc_digest"] = serde_json::json!(Digest::sha256("another container"));
    let edited = [
        parts[0],
        &b64::encode(serde_json::to_vec(&claims).unwrap()),
        parts[2],
    ]
    .join(".");
    assert_eq!(
        refusal(host_release(&server, key.as_ref(), &erot.erot_id, &edited).await),
        "receipt-invalid"
    );
    // A receipt signed by someone else's key.
    let forger =
        cairn_token::Ed25519Signer::from_pkcs8(&cairn_token::Ed25519Signer::generate_pkcs8())
            .unwrap();
    let forged = cairn_token::jws::encode(&forger, "erot-receipt+jwt", &claims).unwrap();
    assert_eq!(
        refusal(host_release(&server, key.as_ref(), &erot.erot_id, &forged).await),
        "receipt-invalid"
    );
    // The receipt of another ERoT.
    let (other, _, other_receipt) = customer.seal_for(&host, b"other", None);
    assert_eq!(
        refusal(host_release(&server, key.as_ref(), &erot.erot_id, &other_receipt).await),
        "receipt-invalid"
    );
    // Another customer learns nothing of this ERoT.
    let stranger = Customer::new(&server);
    let out = stranger.cli(&[
        "workload",
        "receipt",
        "--erot-id",
        other.erot_id.as_str(),
        "--ewc",
        "/etc/hostname",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not-found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A completion signed by another key does not destroy it.
    let err = cairn_agent::flows::complete(
        &server.client(),
        &SoftKey::ephemeral(),
        &erot.erot_id,
        0,
        Digest::sha256("x"),
    )
    .await;
    assert!(refusal(err).starts_with("completion"));
    // The rightful release still works after all that.
    host_release(&server, key.as_ref(), &erot.erot_id, &receipt)
        .await
        .unwrap();

    // Expiry: refused once the ERoT's time is up, even without any completion.
    let (short, _, short_receipt) = customer.seal_for(&host, b"short-lived", Some("1"));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let err = host_release(&server, key.as_ref(), &short.erot_id, &short_receipt).await;
    assert_eq!(refusal(err), "erot-expired");
}

/// `cairn agent run`: the host runs a sealed native program once; a tampered container never
/// runs, even with a receipt that matches it. (The sandbox keeps the program from writing to
/// the host, so what ran is read from its output.)
#[tokio::test]
async fn the_host_runs_a_sealed_program_once_and_never_a_tampered_one() {
    if !have("bwrap") {
        return;
    }
    let host = Host::new();
    let server = &host.server;
    let customer = Customer::new(server);
    let program = "#!/bin/sh\necho \"hello $1\"\nexit 3\n";
    let run = |ewc: &std::path::Path, receipt: &str| host.run(ewc, receipt, &[]);

    let (_, ewc, receipt) = customer.seal_for(&host.id, program.as_bytes(), None);
    let out = run(&ewc, &receipt);
    assert_exit(&out, 3);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello --greet\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("destroyed"));
    // Once: the ERoT is destroyed, the key is not released again.
    let out = run(&ewc, &receipt);
    assert_exit(&out, 11);
    assert!(String::from_utf8_lossy(&out.stderr).contains("erot-gone"));
    assert!(out.stdout.is_empty(), "it ran twice");

    // A flipped bit in the last chunk, with a receipt issued for exactly those bytes.
    let (_, ewc, _) = customer.seal_for(&host.id, program.as_bytes(), None);
    let erot_id = ewc.file_stem().unwrap().to_str().unwrap().to_string();
    let mut bytes = std::fs::read(&ewc).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(&ewc, &bytes).unwrap();
    let receipt = ok(&customer.cli(&[
        "workload",
        "receipt",
        "--erot-id",
        &erot_id,
        "--ewc",
        ewc.to_str().unwrap(),
    ]))
    .trim()
    .to_string();
    let out = run(&ewc, &receipt);
    assert_exit(&out, 12);
    assert!(out.stdout.is_empty(), "the tampered program ran");

    // A container sealed for this host, run on another enrolled host: refused before
    // anything is released or run.
    let (_, for_a, receipt_a) = customer.seal_for(&host.id, program.as_bytes(), None);
    let other_dir = tempfile::tempdir().unwrap();
    let (_, _) = enroll_cli(server, other_dir.path());
    let other_spec = format!("soft:{}", other_dir.path().join("hk.pem").display());
    let out = agent_run(server, &other_spec, &for_a, &receipt_a);
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another host"));
    assert!(out.stdout.is_empty(), "it ran on host B");

    // The untampered receipt of another container does not cover this one.
    let (_, other_ewc, other_receipt) = customer.seal_for(&host.id, b"#!/bin/sh\nexit 0\n", None);
    let _ = other_ewc;
    let out = run(&ewc, &other_receipt);
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another container"));
}

const WASM_HELLO: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hello from wasm\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 7))))"#;

/// Asks for 1 GiB more memory than it started with.
const WASM_HOG: &str = r#"(module
  (memory (export "memory") 1)
  (func (export "_start") (drop (memory.grow (i32.const 16384)))))"#;

/// The `wasm` runtime: a sealed module runs with WASI and its output comes back; a module that
/// grows past its `memory_mb` is stopped.
#[tokio::test]
async fn the_host_runs_a_sealed_wasm_module_within_its_memory_cap() {
    let server = TestServer::start(None, &[]);
    let hostdir = tempfile::tempdir().unwrap();
    let (_, host) = enroll_cli(&server, hostdir.path());
    let hk_spec = format!("soft:{}", hostdir.path().join("hk.pem").display());
    let customer = Customer::new(&server);
    let run = |ewc: &std::path::Path, receipt: &str| agent_run(&server, &hk_spec, ewc, receipt);
    let wasm = r#"{"name":"hello-wasm","runtime":"wasm","memory_mb":16,"timeout_s":10}"#;
    let (_, ewc, receipt) = customer.seal_with(&host, wasm, WASM_HELLO.as_bytes(), None);
    let out = run(&ewc, &receipt);
    assert_exit(&out, 7);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from wasm\n");

    let (_, ewc, receipt) = customer.seal_with(&host, wasm, WASM_HOG.as_bytes(), None);
    let out = run(&ewc, &receipt);
    assert_exit(&out, 1);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("memory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
