//! A software TPM per test, over its real TCP interface, for the TPM cases here and in
//! `crates/cairn/tests` (which include this file). Skips, saying why, without swtpm and
//! tpm2-tools; `CAIRN_REQUIRE_TOOLS` (set by `.ci/run`) makes that a failure.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use cairn_tpm::{AkPublic, Credential};

/// A swtpm of its own on free loopback ports, killed on drop.
pub struct Swtpm {
    child: Child,
    dir: tempfile::TempDir,
    pub tcti: String,
}

impl Swtpm {
    pub fn start() -> Option<Swtpm> {
        Self::start_manufactured(None)
    }

    /// With `ca`, the TPM is first manufactured by `swtpm_setup` with an EK certificate (at
    /// NV 0x01c00002) issued by the local CA kept in that directory (made on first use).
    pub fn start_manufactured(ca: Option<&Path>) -> Option<Swtpm> {
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

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a tpm2-tools command in the state directory, then flushes transient objects
    /// (swtpm has no resource manager).
    pub fn tpm2(&self, args: &[&str]) -> Output {
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

    pub fn ok(&self, args: &[&str]) {
        let out = self.tpm2(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An RSA 2048 EK and an ECC AK under it: (EK SubjectPublicKeyInfo DER, AK).
    pub fn keys(&self) -> (Vec<u8>, AkPublic) {
        self.keys_with("rsa")
    }

    /// The same with the EK of a tpm2-tools algorithm name (`rsa`, `ecc256`, …), which
    /// [`Swtpm::activate`] then uses.
    pub fn keys_with(&self, ek_alg: &str) -> (Vec<u8>, AkPublic) {
        self.ok(&[
            "tpm2_createek",
            "-c",
            "ek.ctx",
            "-G",
            ek_alg,
            "-u",
            "ek.pem",
            "-f",
            "pem",
        ]);
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
        let pem = std::fs::read(self.path("ek.pem")).unwrap();
        (pem_rfc7468::decode_vec(&pem).unwrap().1, ak)
    }

    /// TPM2_ActivateCredential with this TPM's EK and AK (the EK's policy is PolicySecret
    /// of the endorsement hierarchy).
    pub fn activate(&self, credential: &Credential) -> Option<Vec<u8>> {
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
pub fn ca_certificates(ca: &Path) -> Vec<Vec<u8>> {
    ["swtpm-localca-rootca-cert.pem", "issuercert.pem"]
        .iter()
        .map(|name| {
            let pem = std::fs::read(ca.join(name)).unwrap();
            pem_rfc7468::decode_vec(&pem).unwrap().1
        })
        .collect()
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// tpm2-tools' credential file: magic, version, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
pub fn write_tpm2_tools_credential(path: &Path, c: &Credential) {
    let mut bytes = 0xBADC_C0DEu32.to_be_bytes().to_vec();
    bytes.extend(1u32.to_be_bytes());
    for part in [&c.id_object, &c.encrypted_secret] {
        bytes.extend((part.len() as u16).to_be_bytes());
        bytes.extend_from_slice(part);
    }
    std::fs::write(path, bytes).unwrap();
}
