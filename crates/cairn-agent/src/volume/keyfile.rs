//! The `keyfile` backend: the key for another tool, in a 0600 file or an inherited descriptor.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use super::VolumeError;

#[derive(Clone, Debug)]
pub enum KeyOut {
    /// Created with mode 0600; never an existing file, nor through a symbolic link.
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
            // O_CREAT|O_EXCL: a path that exists, a symbolic link included (dangling or
            // not), is refused, so no link planted by another user redirects the key and no
            // file keeps an owner or mode other than ours.
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::AlreadyExists => VolumeError::File {
                        path: out.to_string(),
                        message: "it exists (a key is written only to a new file)".into(),
                    },
                    _ => fail(e),
                })?
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
