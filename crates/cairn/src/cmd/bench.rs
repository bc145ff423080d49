//! `cairn bench …`: the benchmarks of `cairn-bench`, with their failures as exit codes.

use cairn_bench::BenchError;

use crate::cli::BenchCmd;
use crate::exit::{Exit, Failure, Result};

pub async fn run(cmd: BenchCmd) -> Result {
    let outcome = match cmd {
        BenchCmd::Attest {
            clients,
            seconds,
            target,
            hk: None,
        } => cairn_bench::attest(clients, seconds, target.into()).await,
        BenchCmd::Attest {
            seconds,
            target,
            hk: Some(hk),
            ..
        } => cairn_bench::attest_with(&hk, seconds, target.into()).await,
        BenchCmd::Release {
            clients,
            seconds,
            boots,
            key_store,
            plaintext,
        } => cairn_bench::release(clients, seconds, boots, key_store.spec, plaintext).await,
        BenchCmd::Log {
            batch,
            seconds,
            database_url,
        } => cairn_bench::log(&batch, seconds, database_url).await,
        BenchCmd::Ewc { size, dir } => cairn_bench::ewc(super::parse_size(&size)?, dir),
        BenchCmd::Run {
            runs,
            bwrap,
            cgroup,
        } => cairn_bench::sandbox(runs, bwrap.as_deref(), cgroup.as_deref()).await,
    };
    outcome.map_err(|e| match e {
        BenchError::Usage(message) => Failure::usage(message),
        BenchError::Failed(message) => Failure::new(Exit::Failure, message),
    })
}
