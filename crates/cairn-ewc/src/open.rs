//! Opening: every chunk is authenticated before its plaintext is written, and the caller
//! learns of success only when the whole stream, last chunk included, has verified. Whoever
//! executes the plaintext must therefore write it somewhere private and run it only after
//! `open` returned `Ok` (the RHEM does).

use std::io::{Read, Write};

use aws_lc_rs::digest::{Context, SHA256};
use cairn_proto::sealed::{RecipientKey, Sealed as SealedKey};
use zeroize::Zeroizing;

use crate::chunk::ChunkKey;
use crate::header::read_exact;
use crate::{
    DATA_KEY_INFO, EwcError, Hand, Header, Job, TAG_LEN, batch_len, in_parallel, pipeline,
    read_chunk,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Opened {
    pub header: Header,
    /// SHA-256 of the whole EWC file, to compare with a receipt's `ewc_digest`.
    pub ewc_digest: [u8; 32],
    pub plaintext_len: u64,
}

/// Opens an EWC with the ERoT private key, writing the plaintext to `output`.
pub fn open(
    mut input: impl Read,
    mut output: impl Write + Send,
    erot: &RecipientKey,
    threads: usize,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Opened, EwcError> {
    let input = &mut input;
    let mut digest = Context::new(&SHA256);
    let (header, header_bytes) = Header::read(input)?;
    if header.erot_pub != erot.public() {
        return Err(EwcError::OtherErot);
    }
    let mut wrapped = [0u8; crate::SEALED_KEY_LEN];
    read_exact(input, &mut wrapped, "sealed data key")?;
    let sealed_key = SealedKey {
        enc: wrapped[..32].to_vec(),
        ct: wrapped[32..].to_vec(),
    };
    let data_key = erot
        .open(&sealed_key, DATA_KEY_INFO, &header_bytes)
        .map_err(|_| EwcError::DataKey)?;
    let data_key: Zeroizing<[u8; 32]> = Zeroizing::new(
        data_key[..]
            .try_into()
            .map_err(|_| EwcError::Format("the data key is not 32 bytes".into()))?,
    );
    let mut prelude = header_bytes;
    prelude.extend_from_slice(&wrapped);
    digest.update(&prelude);
    let key = ChunkKey::new(&data_key, &prelude);

    let sealed_size = header.chunk_size as usize + TAG_LEN;
    // Pipelined, one thread reads while the others hash, decrypt and write.
    let pipelined = threads > 1;
    let workers = if pipelined { threads - 1 } else { 1 };
    let batch = batch_len(header.chunk_size, workers);
    let produce = |send: &mut Hand<'_>| {
        let mut next = read_chunk(input, sealed_size)?;
        if next.is_empty() {
            return Err(EwcError::Truncated("chunks (there are none)".into()));
        }
        let (mut index, mut done) = (0u64, false);
        while !done {
            let mut jobs = Vec::with_capacity(batch);
            while jobs.len() < batch && !done {
                let current = std::mem::replace(&mut next, read_chunk(input, sealed_size)?);
                done = next.is_empty();
                // Only the last chunk may be short, and only a lone last chunk may be empty.
                let well_formed = current.len() >= TAG_LEN
                    && (done || current.len() == sealed_size)
                    && !(done && index > 0 && current.len() == TAG_LEN);
                if !well_formed {
                    return Err(EwcError::Chunk(index));
                }
                jobs.push(Job {
                    index,
                    last: done,
                    buf: current,
                    ok: false,
                });
                index += 1;
            }
            send(jobs)?;
        }
        Ok(())
    };
    let mut plaintext_len = 0u64;
    let consume = |mut jobs: Vec<Job>| -> Result<(), EwcError> {
        // The file digest covers the ciphertext, in order, before it is decrypted in place.
        for job in &jobs {
            digest.update(&job.buf);
        }
        in_parallel(&mut jobs, workers, |job| {
            job.ok = key.open(job.index, job.last, &mut job.buf);
        });
        for job in &jobs {
            if !job.ok {
                return Err(EwcError::Chunk(job.index));
            }
            output.write_all(&job.buf)?;
            plaintext_len += job.buf.len() as u64;
        }
        progress(plaintext_len);
        Ok(())
    };
    pipeline(pipelined, produce, consume)?;
    output.flush()?;
    Ok(Opened {
        header,
        ewc_digest: digest.finish().as_ref().try_into().expect("32 bytes"),
        plaintext_len,
    })
}
