//! Encrypted workload containers (EWC), the file format of DESIGN.md flow 4, step 2; the
//! precise specification is `docs/ewc.md`. A random 256-bit data key encrypts the payload as
//! a STREAM of AES-256-GCM chunks (nonce = chunk counter ‖ last-chunk flag), so truncation,
//! reordering, duplication and bit flips are all detected; the data key travels HPKE-sealed
//! to the ERoT's X25519 key; the header (ERoT id and key, workload digest, chunk size) is
//! authenticated by both. Sealing and opening stream in constant memory and spread chunks
//! over threads.

mod chunk;
mod header;
mod open;
mod seal;

pub use header::{DEFAULT_CHUNK_SIZE, Header, MAGIC, MAX_CHUNK_SIZE, MIN_CHUNK_SIZE, VERSION};
pub use open::{Opened, open};
pub use seal::{Sealed, seal};

/// HPKE `info` of the sealed data key; its `aad` is the header's bytes.
pub const DATA_KEY_INFO: &[u8] = b"cairn/v1/ewc-data-key";
/// Bytes of the sealed data key: HPKE `enc` (32) ‖ ciphertext of 32 bytes with its tag (48).
pub const SEALED_KEY_LEN: usize = 32 + 48;
pub const TAG_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum EwcError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a valid EWC file: {0}")]
    Format(String),
    #[error("the EWC file is truncated (in its {0})")]
    Truncated(String),
    #[error("the EWC is sealed to another ERoT (its key is not this one)")]
    OtherErot,
    #[error("the data key does not open: the header or the sealed key was altered")]
    DataKey,
    #[error("chunk {0} failed authentication: the file was altered, truncated or reordered")]
    Chunk(u64),
}

/// One chunk on its way through sealing or opening.
struct Job {
    index: u64,
    last: bool,
    /// Plaintext or ciphertext, transformed in place.
    buf: Vec<u8>,
    /// Whether it authenticated (opening only).
    ok: bool,
}

/// Where a producer hands its batches.
type Hand<'a> = dyn FnMut(Vec<Job>) -> Result<(), EwcError> + 'a;

/// How many chunks a batch holds: enough to keep `threads` busy, never more than about
/// 4 MiB per thread, so memory stays constant whatever the input size.
fn batch_len(chunk_size: u32, threads: usize) -> usize {
    let per_thread = ((4 << 20) / chunk_size as usize).clamp(1, 64);
    per_thread * threads.max(1)
}

/// Runs `f` over `items`, split across up to `threads` scoped threads.
fn in_parallel<T: Send>(items: &mut [T], threads: usize, f: impl Fn(&mut T) + Sync) {
    if threads <= 1 || items.len() <= 1 {
        items.iter_mut().for_each(f);
        return;
    }
    let per_thread = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        for part in items.chunks_mut(per_thread) {
            let f = &f;
            scope.spawn(move || part.iter_mut().for_each(f));
        }
    });
}

/// Runs `produce`, which hands batches to its callback, and `consume`, which takes them in
/// order. With `pipelined`, they run on two threads with two batches in flight between them,
/// so that the sequential part of sealing or opening (SHA-256 over the file) overlaps the
/// parallel part (AES-GCM over the chunks); otherwise on this thread, one after the other.
fn pipeline(
    pipelined: bool,
    produce: impl FnOnce(&mut Hand<'_>) -> Result<(), EwcError>,
    mut consume: impl FnMut(Vec<Job>) -> Result<(), EwcError> + Send,
) -> Result<(), EwcError> {
    if !pipelined {
        return produce(&mut consume);
    }
    std::thread::scope(|scope| {
        let (queue, batches) = std::sync::mpsc::sync_channel::<Vec<Job>>(2);
        let consumer = scope.spawn(move || {
            for batch in batches {
                consume(batch)?;
            }
            Ok(())
        });
        let produced = produce(&mut |batch| {
            // A closed queue means the consumer stopped on an error, reported below.
            queue
                .send(batch)
                .map_err(|_| EwcError::Format("consumer stopped".into()))
        });
        drop(queue);
        let consumed = consumer.join().expect("EWC consumer thread panicked");
        // The consumer's error is the cause when both failed.
        consumed.and(produced)
    })
}

/// The next `len` bytes of `input`, fewer at its end (empty once it is over), in a buffer
/// with room for a tag.
fn read_chunk(input: &mut dyn std::io::Read, len: usize) -> Result<Vec<u8>, EwcError> {
    let mut buf = Vec::with_capacity(len + TAG_LEN);
    buf.resize(len, 0);
    let n = read_full(input, &mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

/// Reads until `buf` is full or the input ends; returns how many bytes were read.
fn read_full(input: &mut (impl std::io::Read + ?Sized), buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
