//! One STREAM chunk: AES-256-GCM under the data key with nonce = 11-byte big-endian chunk
//! counter ‖ last-chunk flag, and the digest of the file's prelude (header and sealed key) as
//! associated data.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};

pub struct ChunkKey {
    key: LessSafeKey,
    aad: [u8; 32],
}

fn nonce(index: u64, last: bool) -> Nonce {
    let mut n = [0u8; 12];
    n[3..11].copy_from_slice(&index.to_be_bytes());
    n[11] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

impl ChunkKey {
    /// The chunk key of a file whose prelude (header ‖ sealed key) is `prelude`.
    pub fn new(data_key: &[u8; 32], prelude: &[u8]) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, prelude);
        ChunkKey {
            key: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, data_key).expect("32-byte key")),
            aad: digest.as_ref().try_into().expect("SHA-256 is 32 bytes"),
        }
    }

    /// Encrypts `buffer` in place and appends the tag.
    pub fn seal(&self, index: u64, last: bool, buffer: &mut Vec<u8>) {
        self.key
            .seal_in_place_append_tag(nonce(index, last), Aad::from(self.aad), buffer)
            .expect("AES-GCM sealing of a bounded chunk");
    }

    /// Decrypts `buffer` (ciphertext ‖ tag) in place, leaving the plaintext; false when it
    /// does not authenticate.
    pub fn open(&self, index: u64, last: bool, buffer: &mut Vec<u8>) -> bool {
        match self
            .key
            .open_in_place(nonce(index, last), Aad::from(self.aad), buffer)
        {
            Ok(plain) => {
                let len = plain.len();
                buffer.truncate(len);
                true
            }
            Err(_) => false,
        }
    }
}
