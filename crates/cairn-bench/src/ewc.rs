//! `cairn bench ewc`: sealing and opening a large stream, beside AES-256-GCM and SHA-256.

use std::time::{Duration, Instant};

use cairn_proto::sealed::RecipientKey;

use crate::measure::per_second;
use crate::{Result, failure};

/// A reader of `len` bytes cycling through 1 MiB of random data: input at memory speed.
pub(crate) struct Synthetic {
    pub(crate) block: Vec<u8>,
    pub(crate) at: usize,
    pub(crate) left: u64,
}

impl std::io::Read for Synthetic {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(self.block.len() - self.at)
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at = (self.at + n) % self.block.len();
        self.left -= n as u64;
        Ok(n)
    }
}

pub(crate) fn synthetic(len: u64) -> Synthetic {
    let mut block = vec![0u8; 1 << 20];
    aws_lc_rs::rand::fill(&mut block).expect("randomness");
    Synthetic {
        block,
        at: 0,
        left: len,
    }
}

/// Peak resident memory of this process so far (`VmHWM`), in MiB.
pub(crate) fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Single-core AES-256-GCM (64 KiB chunks) and SHA-256 throughput, in GB/s.
pub(crate) fn primitive_rates(budget: Duration) -> (f64, f64) {
    use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).expect("key"));
    let mut buf = vec![1u8; 64 * 1024];
    let aes = per_second(budget, || {
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key([0; 12]),
                Aad::empty(),
                &mut buf,
            )
            .expect("seals");
        let _ = std::hint::black_box(tag);
    }) * buf.len() as f64
        / 1e9;
    let sha = per_second(budget, || {
        std::hint::black_box(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &buf));
    }) * buf.len() as f64
        / 1e9;
    (aes, sha)
}

pub fn ewc(size: u64, dir: Option<std::path::PathBuf>) -> Result {
    use cairn_ewc::Header;
    let (aes, sha) = primitive_rates(Duration::from_secs(1));
    println!("single core: AES-256-GCM {aes:.2} GB/s, SHA-256 {sha:.2} GB/s (64 KiB blocks)");
    let erot = RecipientKey::generate();
    let header = Header::new("erot_bench", erot.public(), [0; 32]);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let gb = |bytes: u64, d: Duration| bytes as f64 / d.as_secs_f64() / 1e9;
    for threads in [1, cores] {
        let t = Instant::now();
        let sealed = cairn_ewc::seal(
            synthetic(size),
            std::io::sink(),
            &header,
            threads,
            &mut |_| {},
        )
        .map_err(failure)?;
        let rate = gb(size, t.elapsed());
        println!(
            "seal {size} bytes, {threads} thread(s): {rate:.2} GB/s = {:.0}% of the slower primitive",
            100.0 * rate / aes.min(sha)
        );
        let _ = sealed;
    }
    // Open needs the sealed bytes back: they go through a file, not memory.
    let tmp = match dir {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .map_err(failure)?;
    let path = tmp.path().join("bench.ewc");
    let file =
        std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).map_err(failure)?);
    cairn_ewc::seal(synthetic(size), file, &header, cores, &mut |_| {}).map_err(failure)?;
    for threads in [1, cores] {
        let input = std::io::BufReader::with_capacity(
            1 << 20,
            std::fs::File::open(&path).map_err(failure)?,
        );
        let t = Instant::now();
        cairn_ewc::open(input, std::io::sink(), &erot, threads, &mut |_| {}).map_err(failure)?;
        let rate = gb(size, t.elapsed());
        println!(
            "open {size} bytes from a file, {threads} thread(s): {rate:.2} GB/s = {:.0}% of the slower primitive",
            100.0 * rate / aes.min(sha)
        );
    }
    println!(
        "peak resident memory of the whole run: {:.1} MiB",
        peak_rss_mib()
    );
    Ok(())
}
