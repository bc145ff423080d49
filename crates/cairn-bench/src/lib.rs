//! Cairn's benchmarks, run as `cairn bench …`: the hot paths over HTTP on loopback with N
//! concurrent clients, beside the single-core cost of their crypto alone measured in the same
//! run, so that each figure reads as a fraction of what the machine allows.

mod attest;
mod ewc;
mod log;
mod measure;
mod release;
mod sandbox;
mod target;

pub use attest::{attest, attest_with};
pub use ewc::ewc;
pub use log::log;
pub use release::release;
pub use sandbox::sandbox;
pub use target::TargetSpec;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The benchmark was asked for something it cannot do.
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Failed(String),
}

impl BenchError {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        BenchError::Usage(message.into())
    }
}

impl From<cairn_client::ClientError> for BenchError {
    fn from(e: cairn_client::ClientError) -> Self {
        match e {
            cairn_client::ClientError::Usage(message) => BenchError::Usage(message),
            other => BenchError::Failed(other.to_string()),
        }
    }
}

pub(crate) fn failure(e: impl std::fmt::Display) -> BenchError {
    BenchError::Failed(e.to_string())
}

pub type Result<T = ()> = std::result::Result<T, BenchError>;
