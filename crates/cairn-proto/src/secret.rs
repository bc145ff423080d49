//! Fixed-length secrets: a volume key is 32 bytes, never more or fewer, and never lingers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// `N` secret bytes: zeroized on drop, base64url of exactly `N` bytes in JSON, redacted in
/// `Debug`. Read with [`Secret::expose`], where the bytes are used. The bytes live on the
/// heap, so moving a secret leaves no copy behind.
#[derive(Clone)]
pub struct Secret<const N: usize>(Box<Zeroizing<[u8; N]>>);

/// A volume key: 256 bits, what LUKS2 and LUKS qcow2 are given.
pub type VolumeKey = Secret<32>;

/// The secret a TPM recovers when it activates the credential its enrollment was sent.
pub type ActivationSecret = Secret<32>;

impl<const N: usize> Secret<N> {
    pub fn random() -> Self {
        let mut bytes = Box::new(Zeroizing::new([0u8; N]));
        aws_lc_rs::rand::fill(&mut bytes[..]).expect("the system's random generator");
        Secret(bytes)
    }

    /// The secret from `bytes`, which must be exactly `N` long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, String> {
        let mut secret = Box::new(Zeroizing::new([0u8; N]));
        if bytes.len() != N {
            return Err(format!("a {N}-byte secret, not {} bytes", bytes.len()));
        }
        secret.copy_from_slice(bytes);
        Ok(Secret(secret))
    }

    pub fn expose(&self) -> &[u8; N] {
        &self.0
    }
}

impl<const N: usize> Serialize for Secret<N> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(crate::b64::encode(&self.0[..])))
    }
}

impl<'de, const N: usize> Deserialize<'de> for Secret<N> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let bytes = Zeroizing::new(crate::b64::decode(&text).map_err(serde::de::Error::custom)?);
        Secret::from_slice(&bytes).map_err(serde::de::Error::custom)
    }
}

impl<const N: usize> std::fmt::Debug for Secret<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret<{N}>(redacted)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bytes_never_print() {
        let s = VolumeKey::from_slice(&[0xAB; 32]).unwrap();
        assert!(!format!("{s:?}").contains("171"));
        assert!(!format!("{s:?}").to_lowercase().contains("ab"));
    }

    #[test]
    fn exactly_n_bytes_and_never_shown() {
        let key = VolumeKey::random();
        let json = serde_json::to_string(&key).unwrap();
        let back: VolumeKey = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose(), key.expose());
        assert_eq!(format!("{key:?}"), "Secret<32>(redacted)");
        for wrong in [&[1u8; 31][..], &[1u8; 33][..]] {
            let json = serde_json::to_string(&crate::b64::encode(wrong)).unwrap();
            assert!(serde_json::from_str::<VolumeKey>(&json).is_err());
        }
        assert!(serde_json::from_str::<VolumeKey>("\"not base64!\"").is_err());
    }
}
