//! Ephemeral roots of trust (DESIGN.md flow 4, step 1, and seed correction 2): a workload's
//! X25519 key pair derived from the host's hardware key, the workload description and a
//! time-variant nonce, keyed by a master secret that never leaves the key store. The DERG
//! re-derives the private key when it releases it and stores none.

use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Salt};
use zeroize::Zeroizing;

use crate::sealed::RecipientKey;
use crate::{Digest, jcs};

/// HKDF `info` of the derivation.
pub const DERIVATION_INFO: &[u8] = b"cairn/v1/erot";
/// HPKE `info` of a released ERoT private key; its `aad` is the ERoT id.
pub const EROT_KEY_INFO: &[u8] = b"cairn/v1/erot-key";

/// SHA-256 of the JCS encoding of a workload description.
pub fn workload_digest(workload: &serde_json::Value) -> Digest {
    Digest::sha256(jcs::canonical(workload))
}

/// `nonce` = 32 random bytes ‖ expiry (seconds since the epoch, 8 bytes big-endian): the
/// expiry is part of what the key is derived from.
pub fn nonce(expires_at: i64) -> Vec<u8> {
    let mut nonce = crate::random_bytes::<32>().to_vec();
    nonce.extend_from_slice(&expires_at.to_be_bytes());
    nonce
}

/// `seed = SHA-256(hk_pub ‖ workload_digest ‖ nonce)`: public inputs only, hence keyed below.
pub fn seed(hk_pub: &[u8], workload_digest: &Digest, nonce: &[u8]) -> [u8; 32] {
    let mut input = Vec::with_capacity(hk_pub.len() + 32 + nonce.len());
    input.extend_from_slice(hk_pub);
    input.extend_from_slice(&workload_digest.0);
    input.extend_from_slice(nonce);
    Digest::sha256(&input).0
}

struct Len32;

impl KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// The ERoT key pair: `HKDF-SHA256(ikm = HMAC-SHA256(master, seed), info = "cairn/v1/erot")`,
/// where `mac` computes the HMAC inside the key store (and may fail, as an HSM can).
pub fn derive<E>(
    seed: &[u8; 32],
    mac: impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, E>,
) -> Result<RecipientKey, E> {
    let ikm = mac(seed)?;
    let mut private = Zeroizing::new([0u8; 32]);
    Salt::new(HKDF_SHA256, &[])
        .extract(&ikm[..])
        .expand(&[DERIVATION_INFO], Len32)
        .and_then(|okm| okm.fill(&mut private[..]))
        .expect("HKDF-SHA256 expands 32 bytes");
    Ok(RecipientKey::from_private(private))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mac_with(
        master: [u8; 32],
    ) -> impl FnOnce(&[u8; 32]) -> Result<Zeroizing<[u8; 32]>, std::convert::Infallible> {
        move |seed| {
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &master);
            let tag = aws_lc_rs::hmac::sign(&key, seed);
            Ok(Zeroizing::new(tag.as_ref().try_into().unwrap()))
        }
    }

    fn derive_pub(
        master: [u8; 32],
        hk: &[u8],
        workload: &serde_json::Value,
        nonce: &[u8],
    ) -> [u8; 32] {
        derive(
            &seed(hk, &workload_digest(workload), nonce),
            mac_with(master),
        )
        .unwrap()
        .public()
    }

    proptest! {
        #[test]
        fn same_inputs_same_key_and_any_change_changes_it(
            master in any::<[u8; 32]>(),
            hk in prop::collection::vec(any::<u8>(), 32),
            name in "[a-z]{1,12}",
            memory in 1u32..4096,
            nonce in prop::collection::vec(any::<u8>(), 40),
            flip in 0usize..40,
        ) {
            let workload = serde_json::json!({ "name": name, "memory_mb": memory, "args": [] });
            let key = derive_pub(master, &hk, &workload, &nonce);
            prop_assert_eq!(key, derive_pub(master, &hk, &workload, &nonce));
            let mut other_hk = hk.clone();
            other_hk[flip % 32] ^= 1;
            prop_assert_ne!(key, derive_pub(master, &other_hk, &workload, &nonce));
            let other_workload = serde_json::json!({ "name": name, "memory_mb": memory + 1, "args": [] });
            prop_assert_ne!(key, derive_pub(master, &hk, &other_workload, &nonce));
            let mut other_nonce = nonce.clone();
            other_nonce[flip] ^= 0x80;
            prop_assert_ne!(key, derive_pub(master, &hk, &workload, &other_nonce));
            let mut other_master = master;
            other_master[flip % 32] ^= 1;
            prop_assert_ne!(key, derive_pub(other_master, &hk, &workload, &nonce));
        }
    }

    #[test]
    fn the_released_private_key_rebuilds_the_same_pair() {
        let pair = derive(&[1; 32], mac_with([2; 32])).unwrap();
        let again = RecipientKey::from_private(Zeroizing::new(pair.private().try_into().unwrap()));
        assert_eq!(pair.public(), again.public());
        // Key order of the description does not matter: the digest is over JCS.
        let a = serde_json::json!({ "name": "x", "memory_mb": 1 });
        let b: serde_json::Value = serde_json::from_str(r#"{"memory_mb":1,"name":"x"}"#).unwrap();
        assert_eq!(workload_digest(&a), workload_digest(&b));
    }
}
