//! A workload's output costs the agent no memory: gigabytes written to stdout are hashed
//! whole (the completion's `output_digest` covers every byte) while only `--max-output` bytes
//! are kept. The agent's peak resident memory is read by GNU time (`/usr/bin/time -f %M`).

mod common;

use std::path::Path;
use std::process::Output;

use common::*;

/// `cairn agent run` under `/usr/bin/time`: its output and its peak RSS in MiB.
fn run_measured(host: &Host, ewc: &Path, receipt: &str, flags: &[&str]) -> (Output, u64) {
    let rss_file = ewc.with_extension("rss");
    let agent = host.run_command(ewc, receipt);
    let out = std::process::Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss_file)
        .arg(agent.get_program())
        .args(agent.get_args())
        .args(flags)
        .output()
        .unwrap();
    let kib: u64 = std::fs::read_to_string(&rss_file)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    (out, kib / 1024)
}

/// Writes `n` × 64 KiB of 'w' through WASI `fd_write`.
fn wasm_writer(n: u32) -> String {
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (func (export "_start") (local $i i32)
    (memory.fill (i32.const 1024) (i32.const 119) (i32.const 65536))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 65536))
    (loop $again
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const {n}))))))"#
    )
}

#[tokio::test]
async fn gigabytes_of_output_are_hashed_whole_and_kept_bounded() {
    if !have("bwrap") || !have("time") {
        return;
    }
    let host = Host::new();
    let customer = Customer::new(&host.server);

    // 1.5 GB from a native workload with 64 MiB of memory.
    let total: u64 = 1_500_000_000;
    let description = r#"{"name":"flood","runtime":"process","memory_mb":64,"timeout_s":120}"#;
    let program = format!("#!/bin/sh\nexec head -c {total} /dev/zero\n");
    let (_, ewc, receipt) = customer.seal_with(&host.id, description, program.as_bytes(), None);
    let (out, peak_mib) = run_measured(&host, &ewc, &receipt, &[]);
    assert_exit(&out, 0);
    assert_eq!(out.stdout.len(), 1 << 20, "--max-output defaults to 1 MiB");
    assert!(out.stdout.iter().all(|b| *b == 0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("1048576 of {total} bytes shown")),
        "{stderr}"
    );
    // The digest of all 1.5 GB of zeros, computed here independently.
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let zeros = vec![0u8; 1 << 20];
    let mut left = total;
    while left > 0 {
        let n = left.min(zeros.len() as u64) as usize;
        context.update(&zeros[..n]);
        left -= n as u64;
    }
    let digest = cairn_proto::Digest(context.finish().as_ref().try_into().unwrap());
    assert!(
        stderr.contains(&format!("output digest {digest}")),
        "{stderr}"
    );
    assert!(peak_mib < 100, "the agent peaked at {peak_mib} MiB");
    eprintln!("native: 1.5 GB of output, agent peak RSS {peak_mib} MiB");

    // 256 MiB from a wasm module, and a smaller --max-output.
    let description = r#"{"name":"flood","runtime":"wasm","memory_mb":16,"timeout_s":120}"#;
    let (_, ewc, receipt) =
        customer.seal_with(&host.id, description, wasm_writer(4096).as_bytes(), None);
    let (out, peak_mib) = run_measured(&host, &ewc, &receipt, &["--max-output", "1000"]);
    assert_exit(&out, 0);
    assert_eq!(out.stdout, vec![b'w'; 1000]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("1000 of {} bytes shown", 4096u64 << 16)),
        "{stderr}"
    );
    assert!(peak_mib < 100, "the agent peaked at {peak_mib} MiB");
    eprintln!("wasm: 256 MiB of output, agent peak RSS {peak_mib} MiB");
}
