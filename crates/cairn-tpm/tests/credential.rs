//! Software MakeCredential against a real TPM stack: swtpm activates what we made for its EK
//! and AK, and refuses a credential made for another AK or answered by another TPM. Skips,
//! saying why, without swtpm and tpm2-tools (`.ci/run` installs them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use cairn_tpm::{
    AkPublic, Credential, TpmError, ek_public, make_credential, verify_ek_certificate,
};

/// A swtpm of its own on free loopback ports, killed on drop.
struct Swtpm {
    child: Child,
    dir: tempfile::TempDir,
    tcti: String,
}

impl Swtpm {
    fn start() -> Option<Swtpm> {
        Self::start_manufactured(None)
    }

    /// With `ca`, the TPM is first manufactured by `swtpm_setup` with an EK certificate (at
    /// NV 0x01c00002) issued by the local CA kept in that directory (made on first use).
    fn start_manufactured(ca: Option<&Path>) -> Option<Swtpm> {
        let found = ["swtpm", "tpm2_createek"].iter().all(|tool| {
            Command::new(tool)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        });
        if !found {
            if std::env::var_os("CAIRN_REQUIRE_TOOLS").is_some() {
                panic!("swtpm and tpm2-tools are required here (CAIRN_REQUIRE_TOOLS is set)");
            }
            eprintln!(
                "SKIPPED: swtpm or tpm2-tools is not installed (apt-get install swtpm tpm2-tools)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        if let Some(ca) = ca {
            manufacture(dir.path(), ca);
        }
        // The swtpm TCTI finds the control channel on the next port up.
        let ports = loop {
            let server = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = server.local_addr().unwrap().port();
            if port < u16::MAX && TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
                break [port, port + 1];
            }
        };
        let child = Command::new("swtpm")
            .args(["socket", "--tpm2", "--flags", "not-need-init,startup-clear"])
            .arg("--tpmstate")
            .arg(format!("dir={}", dir.path().display()))
            .args(["--server", &format!("type=tcp,port={}", ports[0])])
            .args(["--ctrl", &format!("type=tcp,port={}", ports[1])])
            .spawn()
            .unwrap();
        let tcti = format!("swtpm:host=127.0.0.1,port={}", ports[0]);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", ports[1])).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(Swtpm { child, dir, tcti })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a tpm2-tools command in the state directory, then flushes transient objects
    /// (swtpm has no resource manager).
    fn tpm2(&self, args: &[&str]) -> Output {
        let run = |args: &[&str]| {
            Command::new(args[0])
                .args(&args[1..])
                .current_dir(self.dir.path())
                .env("TPM2TOOLS_TCTI", &self.tcti)
                .output()
                .unwrap()
        };
        let out = run(args);
        run(&["tpm2_flushcontext", "-t"]);
        out
    }

    fn ok(&self, args: &[&str]) {
        let out = self.tpm2(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An RSA EK and an ECC AK under it: (EK TPM2B_PUBLIC, AK).
    fn keys(&self) -> (Vec<u8>, AkPublic) {
        self.ok(&["tpm2_createek", "-c", "ek.ctx", "-G", "rsa", "-u", "ek.pub"]);
        self.ok(&[
            "tpm2_createak",
            "-C",
            "ek.ctx",
            "-c",
            "ak.ctx",
            "-G",
            "ecc",
            "-s",
            "ecdsa",
            "-g",
            "sha256",
            "-u",
            "ak.pub",
            "-f",
            "tss",
            "-n",
            "ak.name",
        ]);
        let ak = AkPublic::parse(&std::fs::read(self.path("ak.pub")).unwrap()).unwrap();
        assert_eq!(ak.name, std::fs::read(self.path("ak.name")).unwrap());
        (std::fs::read(self.path("ek.pub")).unwrap(), ak)
    }

    /// TPM2_ActivateCredential with this TPM's EK and AK (the EK's policy is PolicySecret
    /// of the endorsement hierarchy).
    fn activate(&self, credential: &Credential) -> Option<Vec<u8>> {
        write_tpm2_tools_credential(&self.path("cred.in"), credential);
        self.ok(&[
            "tpm2_startauthsession",
            "--policy-session",
            "-S",
            "session.ctx",
        ]);
        self.ok(&["tpm2_policysecret", "-S", "session.ctx", "-c", "e"]);
        let out = self.tpm2(&[
            "tpm2_activatecredential",
            "-c",
            "ak.ctx",
            "-C",
            "ek.ctx",
            "-i",
            "cred.in",
            "-o",
            "secret.out",
            "-P",
            "session:session.ctx",
        ]);
        self.tpm2(&["tpm2_flushcontext", "session.ctx"]);
        out.status
            .success()
            .then(|| std::fs::read(self.path("secret.out")).unwrap())
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn manufacture(state: &Path, ca: &Path) {
    let write = |name: &str, text: String| {
        let path = ca.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let localca = write(
        "localca.conf",
        format!(
            "statedir = {0}\nsigningkey = {0}/signkey.pem\nissuercert = {0}/issuercert.pem\ncertserial = {0}/certserial\n",
            ca.display()
        ),
    );
    let options = write("localca.options", "--platform-manufacturer Cairn\n".into());
    let setup = write(
        "setup.conf",
        format!(
            "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = {}\ncreate_certs_tool_options = {}\n",
            localca.display(),
            options.display()
        ),
    );
    let out = Command::new("swtpm_setup")
        .args(["--tpm2", "--create-ek-cert", "--overwrite", "--tpmstate"])
        .arg(state)
        .arg("--config")
        .arg(setup)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The DER certificates of a local CA: its root and its intermediate.
fn ca_certificates(ca: &Path) -> Vec<Vec<u8>> {
    ["swtpm-localca-rootca-cert.pem", "issuercert.pem"]
        .iter()
        .map(|name| {
            let pem = std::fs::read(ca.join(name)).unwrap();
            pem_rfc7468::decode_vec(&pem).unwrap().1
        })
        .collect()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// tpm2-tools' credential file: magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
fn write_tpm2_tools_credential(path: &Path, c: &Credential) {
    let mut bytes = 0xBADC_C0DEu32.to_be_bytes().to_vec();
    bytes.extend(1u32.to_be_bytes());
    for part in [&c.id_object, &c.encrypted_secret] {
        bytes.extend((part.len() as u16).to_be_bytes());
        bytes.extend_from_slice(part);
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn the_tpm_of_the_ek_activates_a_credential_for_its_ak_and_no_other_does() {
    let Some(a) = Swtpm::start() else { return };
    let (ek, ak) = a.keys();
    let ek = ek_public(&ek).unwrap();
    let secret = [0x5a; 32];
    let credential = make_credential(&ek, &ak.name, &secret).unwrap();
    assert_eq!(a.activate(&credential), Some(secret.to_vec()));

    // Bound to another name: the TPM's integrity check refuses it.
    let mut other_name = ak.name.clone();
    other_name[5] ^= 1;
    let for_other_ak = make_credential(&ek, &other_name, &secret).unwrap();
    assert_eq!(a.activate(&for_other_ak), None);

    // Answered by another TPM (its own EK and an AK of the very name asked for cannot exist,
    // so it uses its own AK): it cannot recover the seed sealed to the first EK.
    let Some(b) = Swtpm::start() else { return };
    let (_, b_ak) = b.keys();
    let to_a_for_b = make_credential(&ek, &b_ak.name, &secret).unwrap();
    assert_eq!(b.activate(&to_a_for_b), None);
}

#[test]
fn an_ek_certificate_chains_to_its_manufacturer_and_its_key_is_the_tpms() {
    let (ca, other_ca) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let Some(tpm) = Swtpm::start_manufactured(Some(ca.path())) else {
        return;
    };
    tpm.ok(&["tpm2_nvread", "0x01c00002", "-o", "ek.der"]);
    let ek_cert = std::fs::read(tpm.path("ek.der")).unwrap();
    let ek = verify_ek_certificate(&ek_cert, &ca_certificates(ca.path()), now()).unwrap();
    // The certified key is the TPM's EK: a credential sealed to it activates.
    let (_, ak) = tpm.keys();
    let credential = make_credential(&ek, &ak.name, b"from the certificate").unwrap();
    assert_eq!(
        tpm.activate(&credential),
        Some(b"from the certificate".to_vec())
    );

    // Another manufacturer's CA does not vouch for it; nor does an empty trust list, nor a
    // certificate past its validity (swtpm's run to 9999, so check one from before its time).
    let _other = Swtpm::start_manufactured(Some(other_ca.path())).unwrap();
    for anchors in [ca_certificates(other_ca.path()), vec![]] {
        assert!(matches!(
            verify_ek_certificate(&ek_cert, &anchors, now()),
            Err(TpmError::EkCertificate(_))
        ));
    }
    assert!(verify_ek_certificate(&ek_cert, &ca_certificates(ca.path()), 1_000_000).is_err());
    let mut forged = ek_cert.clone();
    let n = forged.len() - 10;
    forged[n] ^= 1;
    assert!(verify_ek_certificate(&forged, &ca_certificates(ca.path()), now()).is_err());
}

#[test]
fn only_an_rsa_2048_restricted_decryption_key_is_an_ek() {
    let ak = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ak-rsa.pub"))
        .unwrap();
    assert!(ek_public(&ak).is_err(), "a signing key is not an EK");
    assert!(ek_public(&[0, 0]).is_err());
}
