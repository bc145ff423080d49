//! Exit codes (DESIGN.md flow 3, step 5) and the one readable line that goes with them.

use cairn_agent::ClientError;

pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
pub const UNREACHABLE: u8 = 3;
pub const ATTESTATION_REFUSED: u8 = 10;
pub const KEY_RELEASE_REFUSED: u8 = 11;
pub const UNLOCK_FAILED: u8 = 12;
/// `cairn agent run`: the host cannot build the workload's sandbox; nothing was requested.
pub const UNSANDBOXABLE: u8 = 13;

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(USAGE, message)
    }

    /// A client error, where a server refusal exits with `refused_code`.
    pub fn client(e: ClientError, refused_code: u8) -> Self {
        let code = client_code(&e, refused_code);
        let message = match e {
            ClientError::Refused(problem) => format!("refused: {problem}"),
            other => other.to_string(),
        };
        Failure::new(code, message)
    }
}

/// The exit code of a client error, where a server refusal exits with `refused_code`.
pub fn client_code(e: &ClientError, refused_code: u8) -> u8 {
    match e {
        ClientError::Refused(_) => refused_code,
        ClientError::Unreachable(_) => UNREACHABLE,
        ClientError::Usage(_) => USAGE,
        ClientError::Protocol(_) => FAILURE,
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::client(e, FAILURE)
    }
}

pub type Result<T = ()> = std::result::Result<T, Failure>;
