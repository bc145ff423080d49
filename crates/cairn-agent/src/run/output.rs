//! A workload's output as the RHEM keeps it: every byte goes through SHA-256 (the completion's
//! `output_digest` covers all of it), only the first `keep` bytes are kept to show, and the
//! rest is counted, never buffered, so a workload writing gigabytes costs the agent nothing
//! but the hashing.

use aws_lc_rs::digest::{Context, SHA256};
use cairn_proto::Digest;

/// Default for `cairn agent run --max-output`.
pub const DEFAULT_MAX_OUTPUT: usize = 1 << 20;

pub struct Capture {
    digest: Context,
    kept: Vec<u8>,
    keep: usize,
    total: u64,
}

/// What was captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The first bytes, at most the capture's `keep`.
    pub kept: Vec<u8>,
    /// How many bytes the workload wrote in all.
    pub total: u64,
    /// SHA-256 of all of them.
    pub digest: Digest,
}

impl Output {
    /// Nothing: the output of a workload that never ran or was stopped.
    pub fn none() -> Self {
        Capture::new(0).finish()
    }

    pub fn truncated(&self) -> bool {
        self.total > self.kept.len() as u64
    }
}

impl Capture {
    pub fn new(keep: usize) -> Self {
        Capture {
            digest: Context::new(&SHA256),
            kept: Vec::new(),
            keep,
            total: 0,
        }
    }

    pub fn write(&mut self, bytes: &[u8]) {
        self.digest.update(bytes);
        self.total += bytes.len() as u64;
        let room = self.keep - self.kept.len();
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    pub fn finish(self) -> Output {
        Output {
            kept: self.kept,
            total: self.total,
            digest: Digest(
                self.digest
                    .finish()
                    .as_ref()
                    .try_into()
                    .expect("SHA-256 is 32 bytes"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_covers_everything_and_only_the_head_is_kept() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut capture = Capture::new(100);
        for piece in data.chunks(333) {
            capture.write(piece);
        }
        let output = capture.finish();
        assert_eq!(output.kept, data[..100]);
        assert_eq!(output.total, 10_000);
        assert_eq!(output.digest, Digest::sha256(&data));
        assert!(output.truncated());
    }

    #[test]
    fn short_output_is_kept_whole() {
        let mut capture = Capture::new(100);
        capture.write(b"hello");
        let output = capture.finish();
        assert_eq!(output.kept, b"hello");
        assert!(!output.truncated());
        assert_eq!(Output::none().digest, Digest::sha256(b""));
    }
}
