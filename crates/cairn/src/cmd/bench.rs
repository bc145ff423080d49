//! `cairn bench …`: the benchmarks of `cairn-bench`, with their failures as exit codes.

use cairn_bench::BenchError;

use crate::cli::BenchCmd;
use crate::exit::{FAILURE, Failure, Result};

pub async fn run(cmd: BenchCmd) -> Result {
    let outcome = match cmd {
        BenchCmd::Attest {
            clients,
            seconds,
            server,
            admin_token,
            key_store,
            hk: None,
        } => cairn_bench::attest(clients, seconds, server, admin_token, key_store).await,
        BenchCmd::Attest {
            seconds,
            server,
            admin_token,
            key_store,
            hk: Some(hk),
            ..
        } => cairn_bench::attest_with(&hk, seconds, server, admin_token, key_store).await,
        BenchCmd::Release {
            clients,
            seconds,
            boots,
            key_store,
        } => cairn_bench::release(clients, seconds, boots, key_store).await,
        BenchCmd::Ewc { size, dir } => cairn_bench::ewc(super::parse_size(&size)?, dir),
        BenchCmd::Run {
            runs,
            bwrap,
            cgroup,
        } => cairn_bench::sandbox(runs, bwrap.as_deref(), cgroup.as_deref()).await,
    };
    outcome.map_err(|e| match e {
        BenchError::Usage(message) => Failure::usage(message),
        BenchError::Failed(message) => Failure::new(FAILURE, message),
    })
}
