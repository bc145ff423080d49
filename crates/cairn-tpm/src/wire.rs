//! TPM 2.0 marshalling (Part 2 of the specification): big-endian integers and `TPM2B_*`
//! buffers (a u16 size, then that many bytes).

use crate::TpmError;

/// Reads marshalled TPM structures from a byte slice; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], TpmError> {
        if self.bytes.len() < n {
            return Err(TpmError::Malformed("truncated"));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, TpmError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, TpmError> {
        Ok(u16::from_be_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, TpmError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, TpmError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    /// A `TPM2B_*`: its contents, without the size.
    pub(crate) fn sized(&mut self) -> Result<&'a [u8], TpmError> {
        let n = self.u16()? as usize;
        self.take(n)
    }

    /// Fails unless everything was read: trailing bytes would be unsigned or unchecked.
    pub(crate) fn finish(self) -> Result<(), TpmError> {
        match self.bytes.is_empty() {
            true => Ok(()),
            false => Err(TpmError::Malformed("trailing bytes")),
        }
    }
}

/// Algorithm ids (TPM_ALG_ID) Cairn meets.
pub(crate) mod alg {
    pub const RSA: u16 = 0x0001;
    pub const SHA256: u16 = 0x000b;
    pub const NULL: u16 = 0x0010;
    pub const RSASSA: u16 = 0x0014;
    pub const RSAPSS: u16 = 0x0016;
    pub const ECDSA: u16 = 0x0018;
    pub const ECC: u16 = 0x0023;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_bounded() {
        let mut r = Reader::new(&[0, 2, 0xaa, 0xbb, 0xcc]);
        assert_eq!(r.sized().unwrap(), &[0xaa, 0xbb]);
        assert_eq!(r.u8().unwrap(), 0xcc);
        assert!(r.u8().is_err());
        let mut r = Reader::new(&[0, 9, 1]);
        assert!(r.sized().is_err());
        assert!(Reader::new(&[1]).finish().is_err());
    }
}
