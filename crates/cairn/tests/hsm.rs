//! The `pkcs11` key store through the real server process and SoftHSM2: PATs signed inside
//! the HSM verify against the JWKS; volume keys are wrapped by an HSM KEK; ERoTs derive
//! through the HSM's HMAC, the same after a restart; and no key can be read out.

mod common;

use cairn_agent::HardwareKeySigner;
use cairn_proto::sealed::{RecipientKey, VOLUME_KEY_INFO};
use cairn_token::{Jwks, Verifier};
use common::*;

const ISSUER: &str = "https://cairn.test";

fn server_on(hsm: &SoftHsm, alg: &str) -> TestServer {
    let spec = hsm.spec(alg);
    let env = [
        ("SOFTHSM2_CONF", hsm.conf.to_str().unwrap()),
        ("CAIRN_KEY_STORE", spec.as_str()),
    ];
    TestServer::start_with_env(&env, None, &["--issuer", ISSUER])
}

async fn jwks(server: &TestServer) -> Jwks {
    serde_json::from_str(&server.get_text("/.well-known/jwks.json").await).unwrap()
}

/// A PAT from `server` verified against its published keys; returns the JWS `alg`.
async fn attested_pat_alg(server: &TestServer, key: &dyn HardwareKeySigner) -> String {
    let recipient = RecipientKey::generate();
    let pat = pat(server, key, None, &recipient).await;
    let verifier = Verifier::for_pats(&jwks(server).await, Some(ISSUER.into())).unwrap();
    let claims = verifier.verify_pat(&pat).unwrap();
    assert_eq!(claims.registered.sub, key.public().host_id());
    format!("{:?}", jsonwebtoken::decode_header(&pat).unwrap().alg)
}

#[tokio::test]
async fn an_hsm_key_store_signs_wraps_and_derives_and_gives_nothing_out() {
    let Some(hsm) = SoftHsm::new() else { return };
    let mut server = server_on(&hsm, "EdDSA");
    assert!(
        !server.data_dir.join("keys").exists(),
        "no key may be written to disk"
    );

    // PATs: signed by the HSM's Ed25519 key, verifiable by anyone with the JWKS.
    let key = active_host(&server, &baremetal()).await;
    assert_eq!(attested_pat_alg(&server, &key).await, "EdDSA");

    // Boot: the volume key is wrapped by the HSM KEK, and released to the attested instance.
    let volume_key = volume(&server, "vol-hsm").await;
    let host = key.public().host_id();
    let token = security_token(&server, "i-hsm", &host, &["vol-hsm"]).await;
    let recipient = RecipientKey::generate();
    let boot_pat = pat(&server, &key, Some(&token), &recipient).await;
    let sealed = release(&server, "vol-hsm", &token, &boot_pat)
        .await
        .unwrap();
    let opened = recipient
        .open(&sealed, VOLUME_KEY_INFO, b"vol-hsm")
        .unwrap();
    assert_eq!(&opened[..], &volume_key);
    let listed: serde_json::Value =
        serde_json::from_str(&ok(&server.cli(&["admin", "volumes", "list", "--json"]))).unwrap();
    let kek_id = listed[0]["kek_id"].as_str().unwrap();
    assert!(kek_id.starts_with("pkcs11:"), "{listed}");

    // ERoT: derived through the HSM's HMAC by one process, released by the next one.
    let (erot, receipt) = erot_with_receipt(&server, &host).await;
    let spec = hsm.spec("EdDSA");
    let env = [
        ("SOFTHSM2_CONF", hsm.conf.to_str().unwrap()),
        ("CAIRN_KEY_STORE", spec.as_str()),
    ];
    server.stop();
    let restarted = TestServer::run_with_env(
        &env,
        &server.data_dir,
        None,
        &["--issuer", ISSUER],
        server.admin_token.clone(),
    );
    let released = host_release(&restarted, &key, &erot.erot_id, &receipt)
        .await
        .unwrap();
    assert_eq!(released.public(), erot.erot_pub);

    // Every key the server made is sensitive, was never extractable, and does one job
    // (pkcs11-tool's view).
    let listing = ok(&hsm.pkcs11_tool(&["--list-objects"]));
    let mut objects: Vec<String> = vec![];
    for line in listing.lines() {
        match line.starts_with(' ') {
            true => objects.last_mut().unwrap().push_str(&format!("\n{line}")),
            false => objects.push(line.to_string()),
        }
    }
    let usage = |label: &str, class: &str| -> (String, String) {
        let object = objects
            .iter()
            .find(|o| o.starts_with(class) && o.contains(&format!("label:      {label}\n")))
            .unwrap_or_else(|| panic!("no {class} {label} in {listing}"));
        let field = |name: &str| {
            object
                .lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        (field("Usage:"), field("Access:"))
    };
    let never_out = "sensitive, always sensitive, never extractable, local";
    for purpose in ["pat-signing", "security-token-signing", "receipt-signing"] {
        let label = format!("cairn-{purpose}");
        assert_eq!(
            usage(&label, "Private Key Object"),
            ("sign".into(), never_out.into())
        );
    }
    assert_eq!(
        usage("cairn-volume-kek", "Secret Key Object"),
        ("encrypt, decrypt".into(), never_out.into())
    );
    let (master_usage, master_access) = usage("cairn-erot-master", "Secret Key Object");
    assert_eq!(master_access, never_out);
    assert!(
        !master_usage.contains("encrypt") && !master_usage.contains("wrap"),
        "{master_usage}"
    );
    // ...and the secrets cannot be read out: the module refuses CKA_VALUE. (pkcs11-tool does
    // not try private keys at all; their Access line above says the same of them.)
    for label in ["cairn-erot-master", "cairn-volume-kek"] {
        let out_file = hsm.path().join(format!("{label}.bin"));
        let out = hsm.pkcs11_tool(&[
            "--read-object",
            "--type",
            "secrkey",
            "--label",
            label,
            "--output-file",
            out_file.to_str().unwrap(),
        ]);
        assert!(
            !out.status.success() && !out_file.exists(),
            "{label} was read out"
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("CKR_ATTRIBUTE_SENSITIVE"));
    }
}

#[tokio::test]
async fn an_hsm_without_eddsa_signs_es256_pats() {
    let Some(hsm) = SoftHsm::new() else { return };
    let server = server_on(&hsm, "ES256");
    let key = active_host(&server, &baremetal()).await;
    assert_eq!(attested_pat_alg(&server, &key).await, "ES256");
    let jwks = jwks(&server).await;
    assert!(jwks.keys.iter().all(|k| k.kty == "EC" && k.crv == "P-256"));
}

#[test]
fn a_wrong_pin_an_unknown_token_or_a_second_init_is_a_clear_error() {
    let Some(hsm) = SoftHsm::new() else { return };
    let init = |spec: &str, dir: &str| {
        hsm.command(CAIRN)
            .args(["server", "init", "--key-store", spec, "--data-dir"])
            .arg(hsm.path().join(dir))
            .output()
            .unwrap()
    };
    ok(&init(&hsm.spec("EdDSA"), "a"));
    let again = init(&hsm.spec("EdDSA"), "b");
    assert_exit(&again, 1);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already initialized"));

    let wrong_pin = hsm.path().join("wrong-pin");
    std::fs::write(&wrong_pin, "0000").unwrap();
    let spec = hsm
        .spec("EdDSA")
        .replace(hsm.pin_file.to_str().unwrap(), wrong_pin.to_str().unwrap());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrong_pin, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = init(&spec, "c");
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    std::fs::set_permissions(&wrong_pin, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = init(&spec, "c");
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("PIN"));

    let out = init(&hsm.spec("EdDSA").replace("token=cairn", "token=nope"), "d");
    assert_exit(&out, 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    let out = init("pkcs11:/nonexistent.so", "e");
    assert_exit(&out, 2);
}
