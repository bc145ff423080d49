//! The authenticated header: what the container is for (docs/ewc.md, "Header").

use std::io::Read;

use crate::EwcError;

pub const MAGIC: &[u8; 8] = b"CAIRNEWC";
pub const VERSION: u8 = 1;
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
pub const MIN_CHUNK_SIZE: u32 = 1024;
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
const MAX_EROT_ID: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub erot_id: String,
    /// The X25519 public key of the ERoT the data key is sealed to.
    pub erot_pub: [u8; 32],
    /// SHA-256 of the JCS encoding of the workload description.
    pub workload_digest: [u8; 32],
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
}

impl Header {
    pub fn new(erot_id: &str, erot_pub: [u8; 32], workload_digest: [u8; 32]) -> Self {
        Header {
            erot_id: erot_id.into(),
            erot_pub,
            workload_digest,
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    pub fn check(&self) -> Result<(), EwcError> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return Err(EwcError::Format(format!(
                "chunk size {} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}",
                self.chunk_size
            )));
        }
        if self.erot_id.is_empty() || self.erot_id.len() > MAX_EROT_ID {
            return Err(EwcError::Format(format!(
                "erot id must be 1..={MAX_EROT_ID} bytes"
            )));
        }
        Ok(())
    }

    /// The header's bytes, exactly as written and authenticated.
    pub fn encode(&self) -> Result<Vec<u8>, EwcError> {
        self.check()?;
        let mut out = Vec::with_capacity(8 + 1 + 4 + 64 + 2 + self.erot_id.len());
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&self.chunk_size.to_be_bytes());
        out.extend_from_slice(&self.erot_pub);
        out.extend_from_slice(&self.workload_digest);
        out.extend_from_slice(&(self.erot_id.len() as u16).to_be_bytes());
        out.extend_from_slice(self.erot_id.as_bytes());
        Ok(out)
    }

    /// Reads a header; returns it with its bytes (what the rest of the file authenticates).
    pub fn read(input: &mut impl Read) -> Result<(Header, Vec<u8>), EwcError> {
        let mut fixed = [0u8; 8 + 1 + 4 + 64 + 2];
        read_exact(input, &mut fixed, "header")?;
        if &fixed[..8] != MAGIC {
            return Err(EwcError::Format("not an EWC file (bad magic)".into()));
        }
        if fixed[8] != VERSION {
            return Err(EwcError::Format(format!(
                "EWC version {} is not supported (this is version {VERSION})",
                fixed[8]
            )));
        }
        let chunk_size = u32::from_be_bytes(fixed[9..13].try_into().expect("4 bytes"));
        let erot_pub: [u8; 32] = fixed[13..45].try_into().expect("32 bytes");
        let workload_digest: [u8; 32] = fixed[45..77].try_into().expect("32 bytes");
        let id_len = u16::from_be_bytes(fixed[77..79].try_into().expect("2 bytes")) as usize;
        if id_len == 0 || id_len > MAX_EROT_ID {
            return Err(EwcError::Format("bad erot id length".into()));
        }
        let mut id = vec![0u8; id_len];
        read_exact(input, &mut id, "header")?;
        let header = Header {
            erot_id: String::from_utf8(id.clone())
                .map_err(|_| EwcError::Format("erot id is not UTF-8".into()))?,
            erot_pub,
            workload_digest,
            chunk_size,
        };
        header.check()?;
        let mut bytes = fixed.to_vec();
        bytes.extend_from_slice(&id);
        Ok((header, bytes))
    }
}

/// `read_exact` whose early end is a truncation, named by where it happened.
pub(crate) fn read_exact(
    input: &mut impl Read,
    buf: &mut [u8],
    what: &str,
) -> Result<(), EwcError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => EwcError::Truncated(what.into()),
        _ => EwcError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_cannot_read() {
        let header = Header::new("erot_1", [1; 32], [2; 32]);
        let bytes = header.encode().unwrap();
        let (read, raw) = Header::read(&mut &bytes[..]).unwrap();
        assert_eq!((read, raw), (header.clone(), bytes.clone()));
        let mut bad = bytes.clone();
        bad[8] = 2;
        assert!(matches!(
            Header::read(&mut &bad[..]),
            Err(EwcError::Format(_))
        ));
        assert!(matches!(
            Header::read(&mut &bytes[..20]),
            Err(EwcError::Truncated(_))
        ));
        let tiny = Header {
            chunk_size: 16,
            ..header
        };
        assert!(tiny.encode().is_err());
    }
}
