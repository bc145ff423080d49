//! Images a hypervisor opens: a LUKS-encrypted qcow2, or a raw LUKS image, through qemu's
//! block layer. The key reaches qemu as a `secret` object read from a 0600 file.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{KeyOut, SecretFile, VolumeError, passphrase, path_str, run, write_key};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// qcow2 with `encrypt.format=luks`.
    Qcow2,
    /// A raw LUKS image (qemu's `luks` driver).
    Luks,
}

impl ImageFormat {
    /// Recognizes an image by its magic.
    pub fn detect(path: &Path) -> Result<Self, VolumeError> {
        let mut magic = [0u8; 6];
        std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .map_err(|e| VolumeError::File {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        match magic {
            [b'Q', b'F', b'I', 0xfb, ..] => Ok(ImageFormat::Qcow2),
            [b'L', b'U', b'K', b'S', 0xba, 0xbe] => Ok(ImageFormat::Luks),
            _ => Err(VolumeError::File {
                path: path.display().to_string(),
                message: "neither a qcow2 nor a LUKS image".into(),
            }),
        }
    }
}

const SECRET_ID: &str = "cairn-volume-key";

fn secret_object(file: &SecretFile) -> Result<String, VolumeError> {
    Ok(format!(
        "secret,id={SECRET_ID},file={},format=raw",
        path_str(file.path())?
    ))
}

/// The `--image-opts` string that opens `image` with the secret.
fn image_opts(image: &Path, format: ImageFormat) -> Result<String, VolumeError> {
    let filename = path_str(image)?;
    if filename.contains(',') {
        return Err(VolumeError::File {
            path: filename.into(),
            message: "qemu option strings cannot carry a ',' in a path".into(),
        });
    }
    Ok(match format {
        ImageFormat::Qcow2 => {
            format!("driver=qcow2,file.filename={filename},encrypt.key-secret={SECRET_ID}")
        }
        ImageFormat::Luks => format!("driver=luks,file.filename={filename},key-secret={SECRET_ID}"),
    })
}

#[derive(Clone, Debug)]
pub struct Qemu {
    pub image: PathBuf,
    /// Where to leave the passphrase for the hypervisor's `secret` object (a 0600 file or a
    /// descriptor), if anywhere.
    pub key_out: Option<KeyOut>,
}

impl Qemu {
    /// Opens the image with the key through qemu's block layer (`qemu-img check` decrypts the
    /// LUKS header and every metadata cluster), then hands the key on.
    pub fn unlock(&self, key: &[u8]) -> Result<String, VolumeError> {
        let format = ImageFormat::detect(&self.image)?;
        check(&self.image, format, key)?;
        if let Some(out) = &self.key_out {
            write_key(out, &passphrase(key))?;
            return Ok(format!(
                "{} opens with the key; key written to {out}",
                self.image.display()
            ));
        }
        Ok(format!("{} opens with the key", self.image.display()))
    }
}

/// Whether `key` opens `image`.
pub fn check(image: &Path, format: ImageFormat, key: &[u8]) -> Result<(), VolumeError> {
    let secret = SecretFile::new(&passphrase(key))?;
    let result = run(
        "qemu-img",
        &[
            "check",
            "--object",
            &secret_object(&secret)?,
            "--image-opts",
            &image_opts(image, format)?,
        ],
        &[],
    );
    result.map_err(|e| match &e {
        VolumeError::Tool { message, .. } if message.contains("Invalid password") => {
            VolumeError::WrongKey(image.display().to_string())
        }
        _ => e,
    })
}

/// Creates a LUKS-encrypted qcow2 image of `size_bytes` at `path`.
pub fn create_qcow2(path: &Path, size_bytes: u64, key: &[u8]) -> Result<(), VolumeError> {
    let secret = SecretFile::new(&passphrase(key))?;
    run(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "--object",
            &secret_object(&secret)?,
            // The key is 256 random bits: the LUKS PBKDF needs no more than a token cost.
            "-o",
            &format!("encrypt.format=luks,encrypt.key-secret={SECRET_ID},encrypt.iter-time=10"),
            path_str(path)?,
            &size_bytes.to_string(),
        ],
        &[],
    )
}
