//! Server challenges: 32 bytes, single use, short lived. A challenge is stateless: it
//! carries its own expiry and a MAC under the deployment's challenge key, so issuing one
//! stores nothing, and the server keeps only the challenges already used, until they expire.
//!
//! ```text
//! nonce = expires_at (u64, big-endian seconds) ‖ random (8 bytes) ‖ tag (16 bytes)
//! tag   = HMAC-SHA256(challenge key, "cairn challenge v1" ‖ expires_at ‖ random)[..16]
//! ```

use aws_lc_rs::{constant_time, hmac};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nonce(#[serde(with = "crate::b64::array")] pub [u8; 32]);

impl Nonce {
    pub fn random() -> Self {
        Nonce(random_bytes())
    }

    pub fn to_b64(&self) -> String {
        crate::b64::encode(self.0)
    }
}

impl std::fmt::Debug for Nonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Nonce({})", self.to_b64())
    }
}

/// The key that makes and checks challenges, shared by every replica of a deployment.
pub struct ChallengeKey(hmac::Key);

/// Why a nonce cannot be used, before looking at whether it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChallengeError {
    /// Not made with this deployment's key (or altered).
    Unknown,
    /// Made here, but its time is up.
    Expired,
}

const CHALLENGE_CONTEXT: &[u8] = b"cairn challenge v1";

impl ChallengeKey {
    pub fn new(secret: &[u8; 32]) -> Self {
        ChallengeKey(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }

    fn tag(&self, body: &[u8]) -> [u8; 16] {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(CHALLENGE_CONTEXT);
        context.update(body);
        let mut tag = [0; 16];
        tag.copy_from_slice(&context.sign().as_ref()[..16]);
        tag
    }

    /// A fresh challenge valid until `expires_at` (seconds since the epoch).
    pub fn issue(&self, expires_at: i64) -> Nonce {
        let mut nonce = [0; 32];
        nonce[..8].copy_from_slice(&expires_at.to_be_bytes());
        nonce[8..16].copy_from_slice(&random_bytes::<8>());
        let tag = self.tag(&nonce[..16]);
        nonce[16..].copy_from_slice(&tag);
        Nonce(nonce)
    }

    /// The expiry of a challenge this key made, if it is still valid at `now`.
    pub fn check(&self, nonce: &Nonce, now: i64) -> Result<i64, ChallengeError> {
        let tag = self.tag(&nonce.0[..16]);
        constant_time::verify_slices_are_equal(&tag, &nonce.0[16..])
            .map_err(|_| ChallengeError::Unknown)?;
        let expires_at = i64::from_be_bytes(nonce.0[..8].try_into().expect("8 bytes"));
        match expires_at >= now {
            true => Ok(expires_at),
            false => Err(ChallengeError::Expired),
        }
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_is_valid_until_its_expiry_and_only_under_its_key() {
        let key = ChallengeKey::new(&[1; 32]);
        let nonce = key.issue(1_000);
        assert_eq!(key.check(&nonce, 1_000), Ok(1_000));
        assert_eq!(key.check(&nonce, 1_001), Err(ChallengeError::Expired));
        assert_ne!(key.issue(1_000), nonce);
        let other = ChallengeKey::new(&[2; 32]);
        assert_eq!(other.check(&nonce, 0), Err(ChallengeError::Unknown));
        // Moving the expiry, or any other bit, breaks the tag.
        for byte in 0..32 {
            let mut altered = nonce;
            altered.0[byte] ^= 1;
            assert_eq!(
                key.check(&altered, 0),
                Err(ChallengeError::Unknown),
                "byte {byte}"
            );
        }
        assert_eq!(key.check(&Nonce::random(), 0), Err(ChallengeError::Unknown));
    }
}
