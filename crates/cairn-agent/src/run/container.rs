//! The container the RHEM runs is the one its receipt names. The file is opened once and
//! held by that one descriptor from the receipt check to the decryption, so renaming another
//! container over the path in between changes nothing; only a regular file is accepted (a FIFO
//! or a device can serve different bytes to each read); and the decryption hashes the very
//! bytes it decrypts and refuses the payload unless they are the receipted ones, so even a file
//! rewritten in place between the two reads never runs.

use std::fs::File;
use std::io::{Read, Seek};
use std::path::Path;

use cairn_ewc::Opened;
use cairn_proto::Digest;
use cairn_proto::sealed::RecipientKey;
use rustix::fs::{Mode, OFlags};

pub struct Container {
    file: File,
    len: u64,
}

/// A decrypted payload: an unnamed file (no path reaches it, and it is gone once closed, even
/// if the agent is killed), rewound, and the EWC facts that came with it.
pub struct Payload {
    pub file: File,
    pub opened: Opened,
}

impl Container {
    pub fn open(path: &Path) -> Result<Self, String> {
        let name = path.display();
        // Non-blocking, so that opening a FIFO returns at once instead of waiting for a writer.
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| format!("{name}: {e}"))?;
        let file = File::from(fd);
        let metadata = file.metadata().map_err(|e| format!("{name}: {e}"))?;
        if !metadata.is_file() {
            return Err(format!("{name} is not a regular file"));
        }
        Ok(Container {
            file,
            len: metadata.len(),
        })
    }

    /// Its size when it was opened; the payload inside is smaller.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// SHA-256 of the whole file, read through the held descriptor.
    pub fn digest(&mut self) -> Result<Digest, String> {
        self.file.rewind().map_err(|e| e.to_string())?;
        digest_reader(&mut self.file)
    }

    /// Decrypts with the ERoT key, on all cores, hashing what it decrypts. Nothing is returned
    /// unless every chunk authenticated and the bytes are exactly the `receipted` ones.
    pub fn decrypt(&mut self, key: &RecipientKey, receipted: &Digest) -> Result<Payload, String> {
        self.file.rewind().map_err(|e| e.to_string())?;
        let mut plaintext = tempfile::tempfile().map_err(|e| format!("a private file: {e}"))?;
        // No further than the length that was hashed for the receipt check: bytes appended
        // since are never read.
        let ciphertext = std::io::Read::take(&mut self.file, self.len);
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let opened = cairn_ewc::open(
            std::io::BufReader::with_capacity(1 << 20, ciphertext),
            std::io::BufWriter::with_capacity(1 << 20, &mut plaintext),
            key,
            threads,
            &mut |_| {},
        )
        .map_err(|e| e.to_string())?;
        if Digest(opened.ewc_digest) != *receipted {
            return Err(format!(
                "it changed after its receipt was checked (receipt {receipted}, decrypted {})",
                Digest(opened.ewc_digest)
            ));
        }
        plaintext.rewind().map_err(|e| e.to_string())?;
        Ok(Payload {
            file: plaintext,
            opened,
        })
    }
}

/// SHA-256 of everything `reader` yields, streamed.
fn digest_reader(reader: &mut impl Read) -> Result<Digest, String> {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
    }
    Ok(Digest(
        context.finish().as_ref().try_into().expect("32 bytes"),
    ))
}

/// SHA-256 of a file, streamed (an EWC digest, on the customer's and the auditor's side).
pub fn file_digest(path: &Path) -> Result<Digest, String> {
    Container::open(path)?.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Returns at once (no writer is ever attached) and refuses.
        let e = Container::open(&fifo).err().unwrap();
        assert!(e.contains("not a regular file"), "{e}");
        assert!(Container::open(dir.path()).is_err());
        let e = Container::open(&dir.path().join("absent")).err().unwrap();
        assert!(e.contains("absent"), "{e}");
    }

    #[test]
    fn the_held_descriptor_outlives_a_rename_over_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.ewc");
        std::fs::write(&path, b"first").unwrap();
        let mut container = Container::open(&path).unwrap();
        let other = dir.path().join("other");
        std::fs::write(&other, b"second").unwrap();
        std::fs::rename(&other, &path).unwrap();
        assert_eq!(container.digest().unwrap(), Digest::sha256(b"first"));
        assert_eq!(file_digest(&path).unwrap(), Digest::sha256(b"second"));
    }
}
