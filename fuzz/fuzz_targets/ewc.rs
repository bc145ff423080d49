//! Encrypted workload containers as the RHEM reads them: the header, then a whole open. The
//! ERoT key is a fixed one, so that the seed (sealed to it by `cairn workload seal`) opens and
//! mutations reach every chunk; a header naming another key gets this key patched in, so that
//! opening goes past the key check. Nothing may panic, and what opens is no longer than what
//! was read.
#![no_main]

use std::sync::LazyLock;

use cairn_proto::sealed::RecipientKey;
use libfuzzer_sys::fuzz_target;

/// The X25519 key of private bytes `[7; 32]` (public `13be4fea…7b6d`, as fuzz/make_corpus.py
/// seals to).
static EROT: LazyLock<RecipientKey> =
    LazyLock::new(|| RecipientKey::from_private(zeroize::Zeroizing::new([7; 32])));

fuzz_target!(|data: &[u8]| {
    let mut input = data.to_vec();
    if let Ok((header, _)) = cairn_ewc::Header::read(&mut &data[..])
        && header.erot_pub != EROT.public()
        && let Some(at) = input.windows(32).position(|w| w == header.erot_pub)
    {
        input[at..at + 32].copy_from_slice(&EROT.public());
    }
    let mut plaintext = vec![];
    if let Ok(opened) = cairn_ewc::open(&input[..], &mut plaintext, &EROT, 1, &mut |_| {}) {
        assert_eq!(opened.plaintext_len, plaintext.len() as u64);
        assert!(plaintext.len() <= input.len());
    }
});
