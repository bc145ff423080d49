//! Exit codes (DESIGN.md flow 3, step 5, and flow 4, step 4) and the one readable line that
//! goes with them.

use cairn_client::ClientError;

/// What `cairn` exits with when it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Failure,
    Usage,
    /// The server could not be reached, after retries.
    Unreachable,
    AttestationRefused,
    KeyReleaseRefused,
    UnlockFailed,
    /// `cairn agent run`: the host cannot build the workload's sandbox; nothing was requested.
    Unsandboxable,
    /// `cairn agent run`: the workload's own status.
    Workload(u8),
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::AttestationRefused => 10,
            Exit::KeyReleaseRefused => 11,
            Exit::UnlockFailed => 12,
            Exit::Unsandboxable => 13,
            Exit::Workload(code) => code,
        }
    }
}

#[derive(Debug)]
pub struct Failure {
    pub code: Exit,
    pub message: String,
}

impl Failure {
    pub fn new(code: Exit, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A client error, where a server refusal exits with `refused_code`.
    pub fn client(e: ClientError, refused_code: Exit) -> Self {
        let code = client_code(&e, refused_code);
        let message = match e {
            ClientError::Refused(problem) => format!("refused: {problem}"),
            other => other.to_string(),
        };
        Failure::new(code, message)
    }
}

/// The exit code of a client error, where a server refusal exits with `refused_code`.
pub fn client_code(e: &ClientError, refused_code: Exit) -> Exit {
    match e {
        ClientError::Refused(_) => refused_code,
        ClientError::Unreachable(_) => Exit::Unreachable,
        ClientError::Usage(_) => Exit::Usage,
        ClientError::Protocol(_) => Exit::Failure,
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::client(e, Exit::Failure)
    }
}

pub type Result<T = ()> = std::result::Result<T, Failure>;
