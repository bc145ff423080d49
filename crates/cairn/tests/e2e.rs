//! The main job end to end, as a user runs it: real server process, real CLI, real SQLite
//! (and PostgreSQL), the PAT checked with a standard JWT library against the published JWKS.

mod common;

use cairn_proto::{Digest, b64};
use common::*;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "command failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

async fn full_flow(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let hk = format!("soft:{}", dir.path().join("hk.pem").display());
    let root = fixture("baremetal");
    let root = root.to_str().unwrap();

    // Enroll: pending until approved; attesting before approval is refused with exit 10.
    let enrolled: serde_json::Value = serde_json::from_str(&stdout(&server.cli(&[
        "agent", "enroll", "--hk", &hk, "--root", root, "--name", "rack1-u7", "--json",
    ])))
    .unwrap();
    assert_eq!(enrolled["status"], "pending");
    let host_id = enrolled["host_id"].as_str().unwrap().to_string();
    let refused = server.cli(&["agent", "attest", "--hk", &hk, "--root", root]);
    assert_eq!(refused.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("host-pending"));

    // Enrolling the same key again answers with the same host, never a second record.
    let again: serde_json::Value = serde_json::from_str(&stdout(
        &server.cli(&["agent", "enroll", "--hk", &hk, "--root", root, "--json"]),
    ))
    .unwrap();
    assert_eq!(again["host_id"], host_id.as_str());

    stdout(&server.cli(&["admin", "hosts", "approve", &host_id]));
    let token_file = dir.path().join("security-token");
    std::fs::write(&token_file, "eyJhbGciOi.example.security-token\n").unwrap();
    let pat = stdout(&server.cli(&[
        "agent",
        "attest",
        "--hk",
        &hk,
        "--root",
        root,
        "--token-file",
        token_file.to_str().unwrap(),
    ]));
    let pat = pat.trim();

    // Verify with jsonwebtoken against /.well-known/jwks.json, as any relying party would.
    let jwks: JwkSet = server.client().jwks().await.unwrap();
    let header = jsonwebtoken::decode_header(pat).unwrap();
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("pat+jwt"));
    let jwk = jwks
        .find(header.kid.as_deref().unwrap())
        .expect("kid is published");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["cairn-kbs"]);
    validation.set_issuer(&[&server.url]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(
        pat,
        &DecodingKey::from_jwk(jwk).unwrap(),
        &validation,
    )
    .unwrap()
    .claims;

    let report = baremetal();
    assert_eq!(claims["sub"], host_id.as_str());
    assert_eq!(claims["aud"], "cairn-kbs");
    assert_eq!(claims["iss"], server.url.as_str());
    let (iat, nbf, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["nbf"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!((nbf, exp), (iat, iat + 300));
    assert!(iat.abs_diff(jsonwebtoken::get_current_timestamp()) < 60);
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 16));
    assert_eq!(claims["hwfp"], report.fingerprint().hex());
    assert_eq!(claims["cnf"]["jwk"]["kty"], "OKP");
    assert_eq!(claims["cnf"]["jwk"]["crv"], "X25519");
    assert_eq!(
        b64::decode(claims["cnf"]["jwk"]["x"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert_eq!(
        claims["tkd"],
        Digest::sha256("eyJhbGciOi.example.security-token").hex()
    );
    assert_eq!(claims["status"], "affirming");
    assert_eq!(claims["drift"], serde_json::json!([]));

    // The library verifier agrees, and the registry shows the host with its history.
    let verifier = cairn_token::Verifier::for_pats(
        &server.client().jwks().await.unwrap(),
        Some(server.url.clone()),
    )
    .unwrap();
    assert_eq!(
        verifier.verify_pat(pat).unwrap().registered.sub.as_str(),
        host_id
    );
    let shown: serde_json::Value = serde_json::from_str(&stdout(
        &server.cli(&["admin", "hosts", "show", &host_id, "--json"]),
    ))
    .unwrap();
    assert_eq!(shown["status"], "active");
    assert_eq!(shown["fingerprint"], report.fingerprint().hex());
    assert_eq!(shown["history"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn enroll_approve_attest_on_sqlite() {
    let server = TestServer::start(None, &[]);
    full_flow(&server).await;
}

#[tokio::test]
async fn enroll_approve_attest_on_postgres() {
    let Some(url) = cairn_store::testing::fresh_postgres("e2e").await else {
        return;
    };
    let server = TestServer::start(Some(&url), &[]);
    full_flow(&server).await;
}

#[test]
fn scan_prints_a_fingerprint_and_reports_absent_sources() {
    let out = std::process::Command::new(CAIRN)
        .args(["agent", "scan", "--json", "--root"])
        .arg(fixture("vm-nodmi"))
        .output()
        .unwrap();
    let scan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = cairn_hfm::scan(&fixture("vm-nodmi")).report;
    assert_eq!(scan["fingerprint"], report.fingerprint().hex());
    assert!(
        scan["absent"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["class"] == "board")
    );
    // A root with nothing in it is not an error either.
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(CAIRN)
        .args(["agent", "scan", "--root"])
        .arg(empty.path())
        .output()
        .unwrap();
    assert!(out.status.success());
}

#[test]
fn bad_input_on_the_cli_is_one_line_and_exit_2() {
    let out = std::process::Command::new(CAIRN)
        .args([
            "agent",
            "attest",
            "--hk",
            "yubikey",
            "--server",
            "http://127.0.0.1:1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let out = std::process::Command::new(CAIRN)
        .args([
            "agent",
            "attest",
            "--hk",
            "soft:/tmp/x",
            "--server",
            "http://10.1.2.3:1",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 2);
}

#[test]
fn unusable_tpm_trust_files_stop_the_server_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    ok(&std::process::Command::new(CAIRN)
        .args(["server", "init", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap());
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    let bad_reference = dir.path().join("reference.json");
    std::fs::write(&bad_reference, r#"{"default":{"7":["xyz"]}}"#).unwrap();
    for (flag, file) in [
        ("--ek-ca", not_pem.as_path()),
        ("--ek-ca", dir.path().join("missing.pem").as_path()),
        ("--pcr-reference", bad_reference.as_path()),
    ] {
        let out = std::process::Command::new(CAIRN)
            .args(["server", "run", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .arg(flag)
            .arg(file)
            .output()
            .unwrap();
        assert_exit(&out, 2);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(flag) && stderr.lines().count() == 1,
            "{stderr}"
        );
    }
}

#[test]
fn unreachable_server_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let hk = format!("soft:{}", dir.path().join("hk.pem").display());
    let out = std::process::Command::new(CAIRN)
        .args([
            "agent",
            "enroll",
            "--hk",
            &hk,
            "--server",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 3);
}

/// The benchmarks run as `cairn bench …` from their own crate, each printing its figure as a
/// fraction of the crypto bound it measured in the same run (the figures are not asserted).
#[test]
fn benchmarks_report_against_their_crypto_bound() {
    for args in [
        &["bench", "attest", "--clients", "2", "--seconds", "1"][..],
        &[
            "bench",
            "release",
            "--clients",
            "2",
            "--seconds",
            "1",
            "--boots",
            "3",
        ],
    ] {
        let out = std::process::Command::new(CAIRN)
            .args(args)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("of the single-core crypto bound"),
            "{stdout}"
        );
        assert!(stdout.contains(" 0 failed"), "{stdout}");
    }
    let out = std::process::Command::new(CAIRN)
        .args(["bench", "attest", "--clients", "0"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
}

/// A token flag reads `@FILE`, so that no secret needs to be in argv (where every local
/// user can read it); a missing file is one line and exit 2.
#[test]
fn token_flags_read_their_secret_from_a_file() {
    let server = TestServer::start(None, &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("admin-token");
    std::fs::write(&file, format!("{}\n", server.admin_token)).unwrap();
    let run = |token: &str| {
        std::process::Command::new(CAIRN)
            .args(["admin", "hosts", "--admin-token", token, "list"])
            .env("CAIRN_SERVER", &server.url)
            .env("CAIRN_CA_CERT", &server.ca_cert)
            .env_remove("CAIRN_ADMIN_TOKEN")
            .output()
            .unwrap()
    };
    ok(&run(&format!("@{}", file.display())));
    std::fs::write(&file, "cairn_not-the-token").unwrap();
    assert_exit(&run(&format!("@{}", file.display())), 1);
    let missing = run("@/nonexistent/token");
    assert_exit(&missing, 2);
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("/nonexistent/token"), "{stderr}");
}
