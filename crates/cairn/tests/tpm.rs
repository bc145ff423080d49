//! TPM hardware keys through the real server process, the real CLI and swtpm: a host
//! manufactured with an EK certificate enrolls by credential activation and attests with
//! quotes; tpm2_checkquote verifies the agent's quotes; and what must fail does: an EK from an
//! untrusted manufacturer, a wrong answer to the challenge, approval before it, edited PCRs.

#[cfg(not(feature = "tpm"))]
#[test]
fn tpm_cases_need_the_tpm_feature() {
    if std::env::var_os("CAIRN_REQUIRE_TOOLS").is_some() {
        panic!("the TPM cases are required here: build with --features tpm (libtss2-dev)");
    }
    eprintln!("SKIPPED: TPM cases (cairn built without --features tpm; needs libtss2-dev)");
}

#[cfg(feature = "tpm")]
mod common;
#[cfg(feature = "tpm")]
#[path = "../../cairn-tpm/tests/ek_certs/mod.rs"]
mod ek_certs;
#[cfg(feature = "tpm")]
#[path = "../../cairn-tpm/tests/swtpm/mod.rs"]
mod swtpm;

#[cfg(feature = "tpm")]
mod with_tpm {
    use std::path::{Path, PathBuf};

    use cairn_agent::HardwareKeySigner;
    use cairn_agent::hk::tpm::TpmKey;
    use cairn_proto::api::ActivationRequest;
    use cairn_proto::{Digest, Enrollment, Signed};
    use cairn_token::{Jwks, Verifier};

    use super::common::*;
    use super::swtpm::Swtpm;

    const ISSUER: &str = "https://cairn.test";

    /// The CA's root and intermediate in one PEM bundle, as an operator configures `--ek-ca`.
    fn bundle(ca: &Path) -> PathBuf {
        let path = ca.join("bundle.pem");
        let text: String = ["swtpm-localca-rootca-cert.pem", "issuercert.pem"]
            .iter()
            .map(|f| std::fs::read_to_string(ca.join(f)).unwrap())
            .collect();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Posts `evidence` and expects it refused as not signed by the host's key; the problem.
    async fn refused_as_unsigned(
        server: &TestServer,
        evidence: &Signed<cairn_proto::Evidence>,
    ) -> serde_json::Value {
        let (status, body) = post_raw(
            server,
            "/v1/attest",
            &serde_json::to_value(evidence).unwrap(),
        )
        .await;
        assert_eq!(
            (status, body["type"].as_str()),
            (403, Some("urn:cairn:problem:evidence-signature-invalid")),
            "{body}"
        );
        body
    }

    /// Certificates a CA named in `--ek-ca` issued that are not EK certificates, presented as
    /// the EK certificate of a real TPM's attestation key: each is refused with its own
    /// problem before any challenge is made, and no host is created. (With one accepted, the
    /// credential challenge would be sealed to a key the attacker holds in software.)
    #[tokio::test]
    async fn certificates_of_a_trusted_ca_that_are_not_ek_certificates_are_refused() {
        use rcgen::{ExtendedKeyUsagePurpose, IsCa, KeyUsagePurpose, SanType};
        let Some((_ca, tpm, _)) = manufactured() else {
            return;
        };
        let ca = super::ek_certs::ca();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ek-ca.pem");
        std::fs::write(&bundle, &ca.pem).unwrap();
        let server = TestServer::start(
            None,
            &["--ek-ca", bundle.to_str().unwrap(), "--ek-auto-approve"],
        );
        let key = TpmKey::open(&tpm.tcti, true).unwrap();
        let dns = |name: &str| vec![SanType::DnsName(name.try_into().unwrap())];
        let tls_server = super::ek_certs::issued(&ca, |p| {
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            p.custom_extensions.clear();
            p.subject_alt_names = dns("host.example");
        });
        let no_key_agreement = super::ek_certs::issued(&ca, |p| {
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        });
        let other_purpose = super::ek_certs::issued(&ca, |p| {
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        });
        let a_ca = super::ek_certs::issued(&ca, |p| {
            p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        });
        let no_tpm = super::ek_certs::issued(&ca, |p| {
            p.custom_extensions.clear();
            p.subject_alt_names = dns("tpm.example");
        });
        for (cert, problem) in [
            (tls_server, "ek-cert-key-usage"),
            (no_key_agreement, "ek-cert-key-usage"),
            (other_purpose, "ek-cert-purpose"),
            (a_ca, "ek-cert-is-ca"),
            (no_tpm, "ek-cert-no-tpm"),
        ] {
            let enrollment = Enrollment {
                nonce: server.client().challenge().await.unwrap().nonce,
                name: "forged-ek".into(),
                report: reported(&key, &baremetal()),
                hk: key.public(),
                join_token: None,
                ek_cert: Some(cairn_proto::b64::encode(&cert)),
            };
            let signed = Signed::sign(enrollment, |m| key.sign(m)).unwrap();
            assert_eq!(refusal(server.client().enroll(&signed).await), problem);
        }
        assert!(server.admin().hosts().await.unwrap().is_empty());
    }

    /// `cairn agent ARGS --hk tpm:TCTI` on the baremetal fixture.
    fn agent(server: &TestServer, tpm: &Swtpm, args: &[&str]) -> std::process::Output {
        agent_with(server, &format!("tpm:{}", tpm.tcti), args)
    }

    fn agent_with(server: &TestServer, hk: &str, args: &[&str]) -> std::process::Output {
        let root = fixture("baremetal");
        let mut all = vec!["agent"];
        all.extend(args);
        all.extend(["--hk", hk, "--root", root.to_str().unwrap()]);
        server.cli(&all)
    }

    /// A swtpm manufactured with EK certificates by a local CA, and that CA's `--ek-ca` bundle.
    fn manufactured() -> Option<(tempfile::TempDir, Swtpm, PathBuf)> {
        let ca = tempfile::tempdir().unwrap();
        let tpm = Swtpm::start_manufactured(Some(ca.path()))?;
        let bundle = bundle(ca.path());
        Some((ca, tpm, bundle))
    }

    #[tokio::test]
    async fn a_tpm_host_enrolls_by_credential_activation_and_attests_with_quotes() {
        let Some((_ca, tpm, ek_ca)) = manufactured() else {
            return;
        };
        let server = TestServer::start(
            None,
            &[
                "--issuer",
                ISSUER,
                "--ek-ca",
                ek_ca.to_str().unwrap(),
                "--ek-auto-approve",
            ],
        );
        // The EK chains to the trusted manufacturer, the AK is proven to share its TPM:
        // active without an operator.
        let enrolled: serde_json::Value =
            serde_json::from_str(&ok(&agent(&server, &tpm, &["enroll", "--json"]))).unwrap();
        assert_eq!(enrolled["status"], "active", "{enrolled}");
        assert!(enrolled.get("credential").is_none());
        // The log tells it as it happened: enrolled pending, then activated.
        let logged: Vec<serde_json::Value> = server
            .admin()
            .events(None)
            .await
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.entry)
            .filter(|e| e["host_id"] == enrolled["host_id"])
            .collect();
        assert_eq!(logged[0]["type"], "host.enrolled");
        assert_eq!(logged[0]["status"], "pending");
        assert_eq!(logged[1]["type"], "host.activated");
        assert_eq!(
            (logged[1]["from"].as_str(), logged[1]["to"].as_str()),
            (Some("pending"), Some("active"))
        );

        let pat = ok(&agent(&server, &tpm, &["attest"])).trim().to_string();
        let jwks: Jwks = server.client().jwks().await.unwrap();
        let claims = Verifier::for_pats(&jwks, Some(ISSUER.into()))
            .unwrap()
            .verify_pat(&pat)
            .unwrap();
        assert_eq!(
            claims.registered.sub.as_str(),
            enrolled["host_id"].as_str().unwrap()
        );

        // tpm2_checkquote (tpm2-tools) verifies a quote the agent made, for this payload only.
        let key = TpmKey::open(&tpm.tcti, false).unwrap();
        let message = b"{\"evidence\":\"for checkquote\"}";
        let signature = key.sign(message).unwrap();
        std::fs::write(tpm.path("cairn-ak.pub"), key.public().public_key).unwrap();
        std::fs::write(tpm.path("cairn.attest"), signature.attest.as_ref().unwrap()).unwrap();
        std::fs::write(tpm.path("cairn.sig"), &signature.value).unwrap();
        let checkquote = |qualifying: &str| {
            tpm.tpm2(&[
                "tpm2_checkquote",
                "-u",
                "cairn-ak.pub",
                "-m",
                "cairn.attest",
                "-s",
                "cairn.sig",
                "-g",
                "sha256",
                "-q",
                qualifying,
            ])
        };
        let out = checkquote(&Digest::sha256(message).hex());
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!checkquote(&Digest::sha256(b"other").hex()).status.success());

        // The TPM's EK is part of the registered hardware (the immutable `tpm` component).
        let id = enrolled["host_id"].as_str().unwrap();
        let shown: serde_json::Value =
            serde_json::from_str(&ok(&server.cli(&["admin", "hosts", "show", id, "--json"])))
                .unwrap();
        let tpm_component = shown["report"]["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["class"] == "tpm")
            .unwrap()
            .clone();
        let ek = cairn_proto::b64::encode(key.endorsement_key().unwrap());
        assert_eq!(tpm_component["values"]["ek_public"], ek.as_str());

        // A configured PCR selection is what gets quoted, and attests as well.
        let narrow = format!("{}?pcrs=7,0", tpm.tcti);
        let quoted = TpmKey::open(&narrow, false).unwrap().sign(message).unwrap();
        let indices: Vec<&String> = quoted.pcrs.as_ref().unwrap()["sha256"].keys().collect();
        assert_eq!(indices, ["0", "7"]);
        let root = fixture("baremetal");
        ok(&server.cli(&[
            "agent",
            "attest",
            "--hk",
            &format!("tpm:{narrow}"),
            "--root",
            root.to_str().unwrap(),
        ]));

        // Evidence whose PCR values were edited after the quote is refused.
        let mut evidence = evidence(&server, &key, &baremetal()).await;
        let pcrs = evidence.signature.pcrs.as_mut().unwrap();
        let pcr0 = pcrs.get_mut("sha256").unwrap().get_mut("0").unwrap();
        *pcr0 = "11".repeat(32);
        refused_as_unsigned(&server, &evidence).await;
    }

    #[tokio::test]
    async fn an_untrusted_ek_a_wrong_answer_or_an_early_approval_is_refused() {
        let (ca, other_ca) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let Some(tpm) = Swtpm::start_manufactured(Some(ca.path())) else {
            return;
        };
        let _other = Swtpm::start_manufactured(Some(other_ca.path())).unwrap();

        // A manufacturer the operator does not trust.
        let other_bundle = bundle(other_ca.path());
        let strict = TestServer::start(None, &["--ek-ca", other_bundle.to_str().unwrap()]);
        let out = agent(&strict, &tpm, &["enroll"]);
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("ek-cert-untrusted"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        // No manufacturer CA configured: the challenge still has to be answered, and then
        // an operator approves.
        let server = TestServer::start(None, &[]);
        let key = TpmKey::open(&tpm.tcti, true).unwrap();
        let nonce = server.client().challenge().await.unwrap().nonce;
        let enrollment = Enrollment {
            nonce,
            name: "tpm-host".into(),
            report: reported(&key, &baremetal()),
            hk: key.public(),
            join_token: None,
            ek_cert: Some(cairn_proto::b64::encode(key.ek_certificate().unwrap())),
        };
        // Without its EK certificate a TPM host has nothing to be challenged against.
        let uncertified = Enrollment {
            ek_cert: None,
            ..enrollment.clone()
        };
        let signed = Signed::sign(uncertified, |m| key.sign(m)).unwrap();
        assert_eq!(
            refusal(server.client().enroll(&signed).await),
            "ek-cert-required"
        );
        let signed = Signed::sign(enrollment, |m| key.sign(m)).unwrap();
        let enrolled = server.client().enroll(&signed).await.unwrap();
        assert_eq!(enrolled.status.as_str(), "pending");
        let credential = enrolled.credential.clone().unwrap();
        let id = enrolled.host_id.to_string();

        let approve = server.cli(&["admin", "hosts", "approve", &id]);
        assert!(String::from_utf8_lossy(&approve.stderr).contains("activation-pending"));
        // An answer that is not the secret (what any other TPM could at best produce).
        let wrong = ActivationRequest {
            secret: cairn_proto::secret::ActivationSecret::from_slice(&[7; 32]).unwrap(),
        };
        let (status, body) = post_raw(
            &server,
            &format!("/v1/hosts/{id}/activation"),
            &serde_json::to_value(&wrong).unwrap(),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        // The TPM's own answer is accepted once; approval then works.
        let secret = key
            .activate_credential(&credential.id_object, &credential.encrypted_secret)
            .unwrap();
        let activated = server
            .client()
            .activate(&enrolled.host_id, secret.clone())
            .await
            .unwrap();
        assert_eq!(activated.status.as_str(), "pending");
        assert!(
            refusal(server.client().activate(&enrolled.host_id, secret).await)
                .contains("activation-failed")
        );
        ok(&server.cli(&["admin", "hosts", "approve", &id]));
        ok(&agent(&server, &tpm, &["attest"]));
    }

    #[tokio::test]
    async fn quoted_pcrs_off_their_reference_list_refuse_or_warn() {
        let Some((ca, tpm, ek_ca)) = manufactured() else {
            return;
        };
        // A fresh swtpm's PCRs 0-7 are zero: the reference for PCR 0 holds, PCR 7's does not.
        let zero = "00".repeat(32);
        let server_with = |on_mismatch: &str| {
            let path = ca.path().join(format!("reference-{on_mismatch}.json"));
            let reference = serde_json::json!({
                "on_mismatch": on_mismatch,
                "default": { "0": [zero], "7": ["ab".repeat(32)] },
            });
            std::fs::write(&path, reference.to_string()).unwrap();
            let args = [
                "--ek-ca",
                ek_ca.to_str().unwrap(),
                "--ek-auto-approve",
                "--pcr-reference",
                path.to_str().unwrap(),
            ];
            let server = TestServer::start(None, &args);
            ok(&agent(&server, &tpm, &["enroll"]));
            server
        };
        let refusing = server_with("refuse");
        let out = agent(&refusing, &tpm, &["attest"]);
        assert_exit(&out, 10);
        assert!(String::from_utf8_lossy(&out.stderr).contains("pcr-mismatch"));

        let warning = server_with("warn");
        let out: serde_json::Value =
            serde_json::from_str(&ok(&agent(&warning, &tpm, &["attest", "--json"]))).unwrap();
        let claims = &out["claims"];
        assert_eq!(claims["status"], "warning", "{out}");
        assert_eq!(claims["drift"], serde_json::json!(["pcr:7"]));
    }

    /// Issue 5's whole story: a TPM host, a server whose keys are in an HSM. The host enrolls
    /// by activation, attests with quotes, gets a PAT the HSM signed, unlocks its boot volume
    /// (KEK in the HSM) and gets an ERoT key derived through the HSM's HMAC, then retires it
    /// with a quoted completion.
    #[tokio::test]
    async fn a_tpm_host_boots_and_runs_against_an_hsm_backed_server() {
        let Some(hsm) = SoftHsm::new() else { return };
        let Some((_ca, tpm, ek_ca)) = manufactured() else {
            return;
        };
        let spec = hsm.spec("EdDSA");
        let env = [
            ("SOFTHSM2_CONF", hsm.conf.to_str().unwrap()),
            ("CAIRN_KEY_STORE", spec.as_str()),
        ];
        let server = TestServer::start_with_env(
            &env,
            None,
            &[
                "--issuer",
                ISSUER,
                "--ek-ca",
                ek_ca.to_str().unwrap(),
                "--ek-auto-approve",
            ],
        );
        ok(&agent(&server, &tpm, &["enroll"]));
        let key = TpmKey::open(&tpm.tcti, false).unwrap();
        let host = key.public().host_id();

        // Boot through the CLI: a TPM-quoted PAT and the HSM-wrapped volume key.
        let volume_key = volume(&server, "vol-tpm").await;
        let token = security_token(&server, "i-tpm", &host, &["vol-tpm"]).await;
        let dir = tempfile::tempdir().unwrap();
        let (token_file, key_file) = (dir.path().join("token.jwt"), dir.path().join("key"));
        std::fs::write(&token_file, &token).unwrap();
        ok(&agent(
            &server,
            &tpm,
            &[
                "boot",
                "--volume",
                "vol-tpm",
                "--token-file",
                token_file.to_str().unwrap(),
                "--backend",
                "keyfile",
                "--key-out",
                key_file.to_str().unwrap(),
            ],
        ));
        assert_eq!(std::fs::read(&key_file).unwrap(), volume_key);

        // An ERoT for this TPM host, released to a quoted PAT, retired by a quoted completion.
        let (erot, receipt) = erot_with_receipt(&server, &host).await;
        let released = host_release(&server, &key, &erot.erot_id, &receipt)
            .await
            .unwrap();
        assert_eq!(released.public(), erot.erot_pub);
        cairn_agent::flows::complete(&server.client(), &key, &erot.erot_id, 0, Digest::sha256(""))
            .await
            .unwrap();

        // Evidence re-pointed at another nonce after it was quoted: the qualifying data no
        // longer matches. And evidence for this host quoted by another TPM's AK.
        let quoted = evidence(&server, &key, &baremetal()).await;
        let mut raw = quoted.raw_payload();
        raw["nonce"] =
            serde_json::to_value(server.client().challenge().await.unwrap().nonce).unwrap();
        let moved = quoted.with_raw_payload(raw).unwrap();
        let body = refused_as_unsigned(&server, &moved).await;
        assert!(
            body["detail"].as_str().unwrap().contains("qualifying data"),
            "{body}"
        );
        let other_tpm = Swtpm::start().unwrap();
        let other = TpmKey::open(&other_tpm.tcti, true).unwrap();
        let nonce = server.client().challenge().await.unwrap().nonce;
        let forged = sign_evidence(&other, host.clone(), nonce, &baremetal());
        refused_as_unsigned(&server, &forged).await;
    }

    /// swtpm certifies an ECC NIST P-384 EK too (template H-3, NV 0x01c00016): the
    /// credential is then sealed by ECDH and KDFe, and activated under the EK's PolicyOR.
    #[tokio::test]
    async fn a_tpm_host_with_an_ecc_endorsement_key_enrolls_by_activation_too() {
        let Some((_ca, tpm, ek_ca)) = manufactured() else {
            return;
        };
        let server = TestServer::start(
            None,
            &["--ek-ca", ek_ca.to_str().unwrap(), "--ek-auto-approve"],
        );
        let hk = format!("tpm:{}?ek=ecc", tpm.tcti);
        let cli = |args: &[&str]| agent_with(&server, &hk, args);
        let enrolled: serde_json::Value =
            serde_json::from_str(&ok(&cli(&["enroll", "--json"]))).unwrap();
        assert_eq!(enrolled["status"], "active", "{enrolled}");
        ok(&cli(&["attest"]));
        let key = TpmKey::open(&format!("{}?ek=ecc", tpm.tcti), false).unwrap();
        let ek_cert = key.ek_certificate().unwrap();
        let certified = cairn_tpm::ek_certificate_key(&ek_cert).unwrap();
        assert!(matches!(certified, cairn_tpm::EkPublic::EcP384(_)));
    }
}
