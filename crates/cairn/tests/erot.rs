//! Flow 4 through the real server and CLI: a customer derives an ERoT for an enrolled host,
//! seals a payload, gets a receipt an auditor can verify; the host obtains the ERoT key once
//! and opens the container; completion destroys the ERoT. Attacks on invariant 5 alongside.

mod common;

use std::process::Output;

use cairn_agent::{HardwareKeySigner, SoftKey, hk};
use cairn_proto::api::ErotResponse;
use cairn_proto::{Digest, b64};
use common::*;

struct Customer<'a> {
    server: &'a TestServer,
    token: String,
    dir: tempfile::TempDir,
}

impl Customer<'_> {
    fn new(server: &TestServer) -> Customer<'_> {
        let token = ok(&server.cli(&["admin", "tokens", "create", "--role", "customer"]))
            .trim()
            .to_string();
        Customer {
            server,
            token,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        std::process::Command::new(CAIRN)
            .args(args)
            .env("CAIRN_SERVER", &self.server.url)
            .env("CAIRN_TOKEN", &self.token)
            .output()
            .unwrap()
    }

    /// erot → seal → receipt for `payload`; returns (erot, ewc path, receipt).
    fn seal_for(
        &self,
        host: &str,
        payload: &[u8],
        ttl: Option<&str>,
    ) -> (ErotResponse, std::path::PathBuf, String) {
        let description =
            r#"{"name":"hello","code_digest":"sha256:00","memory_mb":64,"args":["--greet"]}"#;
        self.seal_with(host, description, payload, ttl)
    }

    /// The same with a workload description of the caller's.
    fn seal_with(
        &self,
        host: &str,
        description: &str,
        payload: &[u8],
        ttl: Option<&str>,
    ) -> (ErotResponse, std::path::PathBuf, String) {
        let d = self.dir.path();
        let workload = d.join("workload.json");
        std::fs::write(&workload, description).unwrap();
        let erot_path = d.join(format!(
            "erot-{}.json",
            cairn_proto::b64::encode(cairn_proto::random_bytes::<6>())
        ));
        let mut args = vec![
            "workload",
            "erot",
            "--host-id",
            host,
            "--workload",
            workload.to_str().unwrap(),
            "--out",
            erot_path.to_str().unwrap(),
        ];
        if let Some(ttl) = ttl {
            args.extend(["--ttl", ttl]);
        }
        ok(&self.cli(&args));
        let erot: ErotResponse =
            serde_json::from_str(&std::fs::read_to_string(&erot_path).unwrap()).unwrap();
        let input = d.join("payload.bin");
        std::fs::write(&input, payload).unwrap();
        let ewc = d.join(format!("{}.ewc", erot.erot_id));
        ok(&self.cli(&[
            "workload",
            "seal",
            input.to_str().unwrap(),
            "--erot",
            erot_path.to_str().unwrap(),
            "--out",
            ewc.to_str().unwrap(),
        ]));
        let receipt = ok(&self.cli(&[
            "workload",
            "receipt",
            "--erot-id",
            &erot.erot_id,
            "--ewc",
            ewc.to_str().unwrap(),
        ]))
        .trim()
        .to_string();
        (erot, ewc, receipt)
    }
}

/// `cairn agent run EWC --receipt R` on the host whose key is `hk_spec`.
fn agent_run(server: &TestServer, hk_spec: &str, ewc: &std::path::Path, receipt: &str) -> Output {
    let receipt_file = ewc.with_extension("jws");
    std::fs::write(&receipt_file, receipt).unwrap();
    let root = fixture("baremetal");
    std::process::Command::new(CAIRN)
        .args([
            "agent",
            "run",
            ewc.to_str().unwrap(),
            "--receipt",
            receipt_file.to_str().unwrap(),
        ])
        .args([
            "--server",
            &server.url,
            "--hk",
            hk_spec,
            "--root",
            root.to_str().unwrap(),
        ])
        .output()
        .unwrap()
}

fn enroll_cli(server: &TestServer, dir: &std::path::Path) -> (Box<dyn HardwareKeySigner>, String) {
    let spec = format!("soft:{}", dir.join("hk.pem").display());
    let join = ok(&server.cli(&["admin", "tokens", "create"]))
        .trim()
        .to_string();
    let root = fixture("baremetal");
    let out = ok(&server.cli(&[
        "agent",
        "enroll",
        "--json",
        "--hk",
        &spec,
        "--root",
        root.to_str().unwrap(),
        "--join-token",
        &join,
    ]));
    let host: serde_json::Value = serde_json::from_str(&out).unwrap();
    (
        hk::open(&spec).unwrap(),
        host["host_id"].as_str().unwrap().to_string(),
    )
}

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
        &other.erot_id,
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
/// runs, even with a receipt that matches it.
#[tokio::test]
async fn the_host_runs_a_sealed_program_once_and_never_a_tampered_one() {
    let server = TestServer::start(None, &[]);
    let hostdir = tempfile::tempdir().unwrap();
    let (_, host) = enroll_cli(&server, hostdir.path());
    let hk_spec = format!("soft:{}", hostdir.path().join("hk.pem").display());
    let customer = Customer::new(&server);
    let marker = hostdir.path().join("ran");
    let program = format!(
        "#!/bin/sh\necho \"hello $1\" >> {}\necho \"hello $1\"\nexit 3\n",
        marker.display()
    );
    let run = |ewc: &std::path::Path, receipt: &str| agent_run(&server, &hk_spec, ewc, receipt);

    let (_, ewc, receipt) = customer.seal_for(&host, program.as_bytes(), None);
    let out = run(&ewc, &receipt);
    assert_exit(&out, 3);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello --greet\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("destroyed"));
    // Once: the ERoT is destroyed, the key is not released again.
    let out = run(&ewc, &receipt);
    assert_exit(&out, 11);
    assert!(String::from_utf8_lossy(&out.stderr).contains("erot-gone"));
    assert_eq!(std::fs::read_to_string(&marker).unwrap().lines().count(), 1);

    // A flipped bit in the last chunk, with a receipt issued for exactly those bytes.
    let (_, ewc, _) = customer.seal_for(&host, program.as_bytes(), None);
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
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "the tampered program ran"
    );

    // A container sealed for this host, run on another enrolled host: refused before
    // anything is released or run.
    let (_, for_a, receipt_a) = customer.seal_for(&host, program.as_bytes(), None);
    let other_dir = tempfile::tempdir().unwrap();
    let (_, _) = enroll_cli(&server, other_dir.path());
    let receipt_file = for_a.with_extension("jws");
    std::fs::write(&receipt_file, &receipt_a).unwrap();
    let root = fixture("baremetal");
    let out = std::process::Command::new(CAIRN)
        .args([
            "agent",
            "run",
            for_a.to_str().unwrap(),
            "--receipt",
            receipt_file.to_str().unwrap(),
        ])
        .args(["--server", &server.url, "--root", root.to_str().unwrap()])
        .arg("--hk")
        .arg(format!(
            "soft:{}",
            other_dir.path().join("hk.pem").display()
        ))
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("another host"));
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().lines().count(),
        1,
        "it ran on host B"
    );

    // The untampered receipt of another container does not cover this one.
    let (_, other_ewc, other_receipt) = customer.seal_for(&host, b"#!/bin/sh\nexit 0\n", None);
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
