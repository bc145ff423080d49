//! The `keyfile` backend: the key for another tool, in a 0600 file or an inherited descriptor.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;

use super::VolumeError;

#[derive(Clone, Debug)]
pub enum KeyOut {
    /// Created (or truncated) with mode 0600.
    File(PathBuf),
    /// A descriptor the caller opened for us, e.g. a pipe to the next tool.
    Fd(i32),
}

impl std::fmt::Display for KeyOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyOut::File(path) => write!(f, "{}", path.display()),
            KeyOut::Fd(fd) => write!(f, "descriptor {fd}"),
        }
    }
}

pub fn write_key(out: &KeyOut, key: &[u8]) -> Result<(), VolumeError> {
    let fail = |e: std::io::Error| VolumeError::File {
        path: out.to_string(),
        message: e.to_string(),
    };
    let mut file = match out {
        KeyOut::File(path) => {
            let file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .map_err(fail)?;
            // An existing file keeps its mode through open(2); make sure it is 0600.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(fail)?;
            file
        }
        KeyOut::Fd(fd) => {
            // Refuse stdio: a key on a terminal or in a captured log is a leak.
            if *fd <= 2 {
                return Err(VolumeError::File {
                    path: out.to_string(),
                    message: "refusing to write a key to stdin, stdout or stderr".into(),
                });
            }
            // Reopening through /proc reaches the same pipe or file without adopting a raw
            // descriptor (which would need `unsafe`).
            OpenOptions::new()
                .write(true)
                .open(format!("/proc/self/fd/{fd}"))
                .map_err(fail)?
        }
    };
    file.write_all(key)
        .and_then(|()| file.flush())
        .map_err(fail)
}
