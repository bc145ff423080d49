//! `cairn bench run`: what the `process` runtime's sandbox costs a run. `cairn agent run`
//! probes the sandbox once (before it asks for the ERoT key) and then starts the workload in
//! it; both are timed here for a native payload that does nothing (`true`), beside the same
//! executable started directly, so the difference is the sandbox's own start-up and teardown.

use std::path::Path;
use std::time::Instant;

use cairn_agent::run::{Limits, Sandbox};

use crate::measure::{ms, percentile};
use crate::{BenchError, Result, failure};

const TRUE: &str = "/usr/bin/true";

pub async fn sandbox(runs: usize, bwrap: Option<&Path>, cgroup: Option<&Path>) -> Result {
    if runs == 0 {
        return Err(BenchError::usage("--runs must be at least 1"));
    }
    let mut probes = Vec::with_capacity(runs);
    let mut sandboxed = Vec::with_capacity(runs);
    let mut direct = Vec::with_capacity(runs);
    let mut cgroups = false;
    let limits =
        Limits::of(&serde_json::json!({ "memory_mb": 64, "timeout_s": 10 })).expect("valid limits");
    let payload = std::fs::File::open(TRUE).map_err(|e| failure(format!("{TRUE}: {e}")))?;
    let payload_len = payload.metadata().map_err(failure)?.len();
    for _ in 0..runs {
        let started = Instant::now();
        let sandbox = Sandbox::probe(bwrap, cgroup)
            .await
            .map_err(|e| failure(format!("cannot sandbox: {e}")))?;
        probes.push(started.elapsed());

        let started = Instant::now();
        let cgroup = sandbox.cgroup_for(&limits).map_err(failure)?;
        let child = sandbox
            .command(&limits, &payload, payload_len, None)
            .map_err(failure)?
            .spawn(cgroup.as_ref())
            .await
            .map_err(failure)?;
        let out = child.wait_with_output().await.map_err(failure)?;
        drop(cgroup);
        sandboxed.push(started.elapsed());
        cgroups |= sandbox.has_cgroup();
        if !out.status.success() {
            return Err(failure(format!(
                "the sandboxed payload failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }

        let started = Instant::now();
        let status = tokio::process::Command::new(TRUE)
            .status()
            .await
            .map_err(failure)?;
        direct.push(started.elapsed());
        if !status.success() {
            return Err(failure(format!("{TRUE} failed: {status}")));
        }
    }
    for samples in [&mut probes, &mut sandboxed, &mut direct] {
        samples.sort();
    }
    let [probe, boxed, plain] = [&probes, &sandboxed, &direct].map(|s| percentile(s, 0.5));
    println!(
        "sandbox start-up, {runs} runs of a native payload that does nothing ({TRUE}), {}:",
        match cgroups {
            true => "each in a memory and pids cgroup of its own",
            false => "without cgroups (none here for the agent)",
        }
    );
    println!(
        "  probe (once per run, before the ERoT key is asked for): p50 {:.2} ms",
        ms(probe)
    );
    println!(
        "  payload in the sandbox: p50 {:.2} ms, p99 {:.2} ms",
        ms(boxed),
        ms(percentile(&sandboxed, 0.99))
    );
    println!(
        "  payload started directly: p50 {:.2} ms, p99 {:.2} ms",
        ms(plain),
        ms(percentile(&direct, 0.99))
    );
    println!(
        "  the sandbox costs a run {:.2} ms (probe + start-up and teardown beyond a plain start)",
        ms(probe + boxed.saturating_sub(plain))
    );
    Ok(())
}
