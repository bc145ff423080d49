//! Sealing: header ‖ sealed data key ‖ chunks, streamed from `input` to `output`.

use std::io::{Read, Write};

use aws_lc_rs::digest::{Context, SHA256};
use cairn_proto::sealed;
use zeroize::Zeroizing;

use crate::chunk::ChunkKey;
use crate::{
    DATA_KEY_INFO, EwcError, Hand, Header, Job, batch_len, in_parallel, pipeline, read_chunk,
};

/// What sealing produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// SHA-256 of the whole EWC file (the receipt's `ewc_digest`).
    pub ewc_digest: [u8; 32],
    pub plaintext_len: u64,
    pub ewc_len: u64,
}

/// Seals everything `input` yields for the ERoT named in `header`, using up to `threads`
/// threads; `progress` is told the plaintext bytes done so far.
pub fn seal(
    mut input: impl Read,
    mut output: impl Write + Send,
    header: &Header,
    threads: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<Sealed, EwcError> {
    let (input, output) = (&mut input, &mut output);
    let data_key = Zeroizing::new(cairn_proto::random_bytes::<32>());
    let header_bytes = header.encode()?;
    let wrapped = sealed::seal(
        &header.erot_pub,
        DATA_KEY_INFO,
        &header_bytes,
        &data_key[..],
    )
    .map_err(|e| EwcError::Format(e.to_string()))?;
    let mut prelude = header_bytes;
    prelude.extend_from_slice(&wrapped.enc);
    prelude.extend_from_slice(&wrapped.ct);
    let key = ChunkKey::new(&data_key, &prelude);

    let mut digest = Context::new(&SHA256);
    let mut ewc_len = prelude.len() as u64;
    digest.update(&prelude);
    output.write_all(&prelude)?;

    let chunk_size = header.chunk_size as usize;
    // Pipelined, one thread hashes and writes while the others encrypt.
    let pipelined = threads > 1;
    let workers = if pipelined { threads - 1 } else { 1 };
    let batch = batch_len(header.chunk_size, workers);
    let mut plaintext_len = 0u64;
    let produce = |send: &mut Hand<'_>| {
        // One chunk of lookahead: a chunk is the last exactly when nothing follows it.
        let mut next = read_chunk(input, chunk_size)?;
        let (mut index, mut done) = (0u64, false);
        while !done {
            let mut jobs = Vec::with_capacity(batch);
            while jobs.len() < batch && !done {
                let current = std::mem::replace(&mut next, read_chunk(input, chunk_size)?);
                done = next.is_empty();
                plaintext_len += current.len() as u64;
                jobs.push(Job {
                    index,
                    last: done,
                    buf: current,
                    ok: true,
                });
                index += 1;
            }
            in_parallel(&mut jobs, workers, |job| {
                key.seal(job.index, job.last, &mut job.buf)
            });
            send(jobs)?;
            progress(plaintext_len);
        }
        Ok(())
    };
    let consume = |jobs: Vec<Job>| -> Result<(), EwcError> {
        for job in &jobs {
            digest.update(&job.buf);
            output.write_all(&job.buf)?;
            ewc_len += job.buf.len() as u64;
        }
        Ok(())
    };
    pipeline(pipelined, produce, consume)?;
    output.flush()?;
    Ok(Sealed {
        ewc_digest: digest.finish().as_ref().try_into().expect("32 bytes"),
        plaintext_len,
        ewc_len,
    })
}
