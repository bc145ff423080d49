//! Encrypted volumes on the host side of flow 3: creating them (for `cairn admin volumes
//! create`) and unlocking them with a released key (for `cairn agent boot`). The key reaches
//! each tool on stdin or through a 0600 file in a private directory, never on a command line
//! or in an environment variable.

mod keyfile;
mod luks;
mod qemu;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

pub use keyfile::{KeyOut, write_key};
pub use luks::{Luks, format as format_luks};
pub use qemu::{ImageFormat, Qemu, check as check_image, create_qcow2};

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{tool} is not installed (or not on PATH)")]
    ToolMissing { tool: &'static str },
    #[error("{tool} failed: {message}")]
    Tool { tool: &'static str, message: String },
    #[error("the key does not open {0}")]
    WrongKey(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// How `cairn agent boot` unlocks the volume once it holds the key.
#[derive(Clone, Debug)]
pub enum Backend {
    /// Hand the key to another tool through a 0600 file or an inherited descriptor.
    Keyfile(KeyOut),
    Luks(Luks),
    Qemu(Qemu),
}

impl Backend {
    /// Unlocks with `key`; returns what was done, for the boot log.
    pub fn unlock(&self, key: &[u8]) -> Result<String, VolumeError> {
        match self {
            Backend::Keyfile(out) => write_key(out, key).map(|()| format!("key written to {out}")),
            Backend::Luks(luks) => luks.unlock(key),
            Backend::Qemu(qemu) => qemu.unlock(key),
        }
    }
}

/// LUKS key slots, cryptsetup's and qemu's alike, take the volume key as its base64url text:
/// qemu accepts only UTF-8 passphrases, and one rule for both tools lets either open an image
/// the other made. The text still carries all 256 bits.
fn passphrase(key: &[u8]) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(cairn_proto::b64::encode(key).into_bytes())
}

/// Runs `tool` with `stdin` piped in; its stderr becomes the error message.
fn run(tool: &'static str, args: &[&str], stdin: &[u8]) -> Result<(), VolumeError> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => VolumeError::ToolMissing { tool },
            _ => VolumeError::Tool {
                tool,
                message: e.to_string(),
            },
        })?;
    let mut pipe = child.stdin.take().expect("stdin is piped");
    // A tool that exits early closes the pipe; its status below says why.
    let _ = pipe.write_all(stdin);
    drop(pipe);
    let output = child.wait_with_output().map_err(|e| VolumeError::Tool {
        tool,
        message: e.to_string(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    Err(VolumeError::Tool {
        tool,
        message: format!(
            "{} ({})",
            stderr.trim().lines().last().unwrap_or("no output"),
            output.status
        ),
    })
}

/// A 0600 key file inside a fresh 0700 directory, overwritten and removed on drop: how a key
/// reaches tools (qemu's `secret` objects) that read it from a path.
struct SecretFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
    len: usize,
}

impl SecretFile {
    fn new(key: &[u8]) -> Result<Self, VolumeError> {
        let dir = tempfile::Builder::new()
            .prefix("cairn-key-")
            .tempdir()
            .map_err(|e| VolumeError::File {
                path: "temporary directory".into(),
                message: e.to_string(),
            })?;
        let path = dir.path().join("key");
        write_key(&KeyOut::File(path.clone()), key)?;
        Ok(SecretFile {
            _dir: dir,
            path,
            len: key.len(),
        })
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SecretFile {
    fn drop(&mut self) {
        // Overwrite before unlinking, so the key does not linger in a freed page cache block.
        let _ = std::fs::write(&self.path, vec![0u8; self.len]);
        let _ = std::fs::remove_file(&self.path);
        // `dir` removes the (now empty) directory when it drops.
    }
}

fn path_str(path: &Path) -> Result<&str, VolumeError> {
    path.to_str().ok_or_else(|| VolumeError::File {
        path: path.display().to_string(),
        message: "path is not UTF-8".into(),
    })
}
