//! LUKS2 through `cryptsetup`, the key always on stdin (`--key-file=-`).

use std::path::PathBuf;

use super::{VolumeError, passphrase, path_str, run};

#[derive(Clone, Debug)]
pub struct Luks {
    pub device: PathBuf,
    /// The device-mapper name to open as (`/dev/mapper/NAME`).
    pub name: String,
    /// Only check that the key opens a key slot (`--test-passphrase`): for machines whose
    /// kernel has no device-mapper, and for tests.
    pub verify_only: bool,
}

impl Luks {
    pub fn unlock(&self, key: &[u8]) -> Result<String, VolumeError> {
        let device = path_str(&self.device)?;
        let result = if self.verify_only {
            run(
                "cryptsetup",
                &[
                    "open",
                    "--type",
                    "luks",
                    "--test-passphrase",
                    "--key-file=-",
                    device,
                ],
                &passphrase(key),
            )
        } else {
            run(
                "cryptsetup",
                &["open", "--type", "luks", "--key-file=-", device, &self.name],
                &passphrase(key),
            )
        };
        result.map_err(|e| wrong_key_or(e, device))?;
        Ok(if self.verify_only {
            format!("key opens {device} (verified only)")
        } else {
            format!("{device} unlocked as /dev/mapper/{}", self.name)
        })
    }
}

/// Tells a wrong key (cryptsetup exits 2: "No key available with this passphrase") from any
/// other failure.
fn wrong_key_or(e: VolumeError, device: &str) -> VolumeError {
    match &e {
        VolumeError::Tool { message, .. } if message.contains("No key available") => {
            VolumeError::WrongKey(device.into())
        }
        _ => e,
    }
}

/// Formats `path` (a file, created with `size_bytes` if missing, or a block device) as LUKS2
/// with `key` (as its passphrase text) in key slot 0. The key is 256 random bits, so PBKDF2 at its minimum cost is
/// enough: a slow KDF (argon2id's default takes a second and 1 GiB) protects weak
/// passphrases, and there are none here.
pub fn format(path: &std::path::Path, size_bytes: u64, key: &[u8]) -> Result<(), VolumeError> {
    let file_error = |e: std::io::Error| VolumeError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    };
    if !path.exists() {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(file_error)?;
        file.set_len(size_bytes).map_err(file_error)?;
    }
    run(
        "cryptsetup",
        &[
            "luksFormat",
            "--type",
            "luks2",
            "--batch-mode",
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
            "--key-file=-",
            path_str(path)?,
        ],
        &passphrase(key),
    )
}
