//! Attacks on the EWC format (invariant 6): every modification of a sealed file, however
//! small, is refused, and nothing but a whole, unmodified file opens.

use cairn_ewc::{EwcError, Header, open, seal};
use cairn_proto::sealed::RecipientKey;

const CHUNK: u32 = 1024;

fn header(erot: &RecipientKey) -> Header {
    Header {
        chunk_size: CHUNK,
        ..Header::new("erot_test", erot.public(), [7; 32])
    }
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn seal_bytes(erot: &RecipientKey, plain: &[u8], threads: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let sealed = seal(plain, &mut out, &header(erot), threads, &mut |_| {}).unwrap();
    assert_eq!(sealed.ewc_len, out.len() as u64);
    assert_eq!(sealed.plaintext_len, plain.len() as u64);
    out
}

fn open_bytes(erot: &RecipientKey, ewc: &[u8], threads: usize) -> Result<Vec<u8>, EwcError> {
    let mut plain = Vec::new();
    open(ewc, &mut plain, erot, threads, &mut |_| {}).map(|_| plain)
}

/// Where chunk `i` starts in a sealed file.
fn chunk_start(ewc: &[u8], i: usize) -> usize {
    let prelude = ewc.len() - sealed_chunks_len(ewc);
    prelude + i * (CHUNK as usize + 16)
}

fn sealed_chunks_len(ewc: &[u8]) -> usize {
    // header: 79 fixed bytes + id; sealed key: 80 bytes
    ewc.len() - (79 + "erot_test".len() + 80)
}

#[test]
fn round_trips_every_size_around_chunk_boundaries_on_any_thread_count() {
    let erot = RecipientKey::generate();
    for len in [0, 1, 1023, 1024, 1025, 2048, 5 * 1024 + 7] {
        for threads in [1, 2, 4] {
            let plain = payload(len);
            let ewc = seal_bytes(&erot, &plain, threads);
            for open_threads in [1, 3] {
                assert_eq!(
                    open_bytes(&erot, &ewc, open_threads).unwrap(),
                    plain,
                    "len {len}"
                );
            }
        }
    }
}

#[test]
fn the_digest_is_of_the_whole_file_and_seals_are_fresh() {
    let erot = RecipientKey::generate();
    let plain = payload(3000);
    let mut ewc = Vec::new();
    let sealed = seal(&plain[..], &mut ewc, &header(&erot), 2, &mut |_| {}).unwrap();
    let want: [u8; 32] = cairn_proto::Digest::sha256(&ewc).0;
    assert_eq!(sealed.ewc_digest, want);
    let opened = open(&ewc[..], Vec::new(), &erot, 1, &mut |_| {}).unwrap();
    assert_eq!(opened.ewc_digest, want);
    assert_eq!(opened.header, header(&erot));
    // A fresh data key each time: the same input never seals to the same bytes.
    assert_ne!(seal_bytes(&erot, &plain, 1), ewc);
}

#[test]
fn every_single_bit_flip_is_refused() {
    let erot = RecipientKey::generate();
    let ewc = seal_bytes(&erot, &payload(2 * 1024 + 100), 1);
    for byte in 0..ewc.len() {
        for bit in [0, 3, 7] {
            let mut bad = ewc.clone();
            bad[byte] ^= 1 << bit;
            assert!(
                open_bytes(&erot, &bad, 2).is_err(),
                "flip of bit {bit} in byte {byte} was accepted"
            );
        }
    }
}

#[test]
fn every_truncation_and_any_appended_byte_is_refused() {
    let erot = RecipientKey::generate();
    let ewc = seal_bytes(&erot, &payload(3 * 1024), 1);
    for len in 0..ewc.len() {
        assert!(
            open_bytes(&erot, &ewc[..len], 1).is_err(),
            "truncation to {len} bytes was accepted"
        );
    }
    for extra in [
        &[0u8][..],
        &[0u8; 16],
        &ewc[chunk_start(&ewc, 0)..chunk_start(&ewc, 1)],
    ] {
        let mut longer = ewc.clone();
        longer.extend_from_slice(extra);
        assert!(
            open_bytes(&erot, &longer, 1).is_err(),
            "{} appended bytes were accepted",
            extra.len()
        );
    }
}

#[test]
fn reordered_duplicated_or_dropped_chunks_are_refused() {
    let erot = RecipientKey::generate();
    let ewc = seal_bytes(&erot, &payload(4 * 1024 + 10), 1);
    let (c0, c1, c2, c3) = (
        chunk_start(&ewc, 0),
        chunk_start(&ewc, 1),
        chunk_start(&ewc, 2),
        chunk_start(&ewc, 3),
    );
    let prelude = &ewc[..c0];
    let (a, b, c, rest) = (&ewc[c0..c1], &ewc[c1..c2], &ewc[c2..c3], &ewc[c3..]);
    let cases: [(&str, Vec<&[u8]>); 4] = [
        ("swapped", vec![prelude, b, a, c, rest]),
        ("duplicated", vec![prelude, a, a, b, c, rest]),
        ("dropped", vec![prelude, a, c, rest]),
        ("last chunk dropped", vec![prelude, a, b, c]),
    ];
    for (what, parts) in cases {
        let bad: Vec<u8> = parts.concat();
        assert!(
            matches!(open_bytes(&erot, &bad, 2), Err(EwcError::Chunk(_))),
            "{what} chunks were accepted"
        );
    }
}

#[test]
fn a_container_for_another_erot_or_with_a_foreign_prelude_does_not_open() {
    let (mine, other) = (RecipientKey::generate(), RecipientKey::generate());
    let ewc = seal_bytes(&other, &payload(100), 1);
    assert!(matches!(
        open_bytes(&mine, &ewc, 1),
        Err(EwcError::OtherErot)
    ));
    // Splice this file's chunks after another file's header and sealed key (same ERoT).
    let donor = seal_bytes(&mine, &payload(100), 1);
    let mine_ewc = seal_bytes(&mine, &payload(100), 1);
    let c0 = chunk_start(&mine_ewc, 0);
    let spliced = [&donor[..c0], &mine_ewc[c0..]].concat();
    assert!(matches!(
        open_bytes(&mine, &spliced, 1),
        Err(EwcError::Chunk(0))
    ));
}
