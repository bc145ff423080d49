//! A webhook receiver for tests: `scripts/webhook-receiver.py`, which checks every delivery's
//! signature with the Python `standardwebhooks` library.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::ok;

/// Whether Python's `standardwebhooks` is installed (`pip install standardwebhooks`).
pub fn have_standardwebhooks() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !found {
        if std::env::var_os("CAIRN_REQUIRE_TOOLS").is_some() {
            panic!("Python's standardwebhooks is required here (CAIRN_REQUIRE_TOOLS is set)");
        }
        eprintln!("SKIPPED: Python's standardwebhooks is not installed (docs/testing.md lists it)");
    }
    found
}

/// `scripts/webhook-receiver.py`, listening on a port of its own.
pub struct Receiver {
    child: Child,
    stdin: Option<ChildStdin>,
    pub url: String,
    pub dir: tempfile::TempDir,
}

impl Receiver {
    pub fn start(flags: &[&str]) -> Receiver {
        let dir = tempfile::tempdir().unwrap();
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/webhook-receiver.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg("--out")
            .arg(dir.path().join("events.jsonl"))
            .args(flags)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let url = super::announced(&mut child, "listening on ");
        let stdin = child.stdin.take();
        Receiver {
            child,
            stdin,
            url,
            dir,
        }
    }

    pub fn give_secret(&mut self, secret: &str) {
        let mut stdin = self.stdin.take().unwrap();
        writeln!(stdin, "{secret}").unwrap();
    }

    /// Every delivery it accepted (signature verified), in the order it accepted them.
    pub fn accepted(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.path().join("events.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits until it has accepted `n` deliveries (more would show in the comparison).
    pub async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let started = Instant::now();
        loop {
            let accepted = self.accepted();
            if accepted.len() >= n || started.elapsed() > Duration::from_secs(120) {
                return accepted;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr")).unwrap_or_default()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `cairn server webhook-secret` shows for `webhook` of the server in `data_dir`.
pub fn webhook_secret(data_dir: &Path, webhook: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(["server", "webhook-secret", "--data-dir"])
        .arg(data_dir)
        .arg(webhook)
        .output()
        .unwrap();
    ok(&out).trim().to_string()
}
