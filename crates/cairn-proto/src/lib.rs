//! Cairn's wire formats, pinned by DESIGN.md so that an agent or verifier written in any
//! language interoperates: canonical JSON (RFC 8785), base64url, hardware reports and their
//! fingerprints, hardware keys and host ids, signed statements, and the request and response
//! bodies of the HTTP API. Pure logic only: no I/O happens here.

pub mod api;
pub mod b64;
pub mod digest;
pub mod drift;
pub mod erot;
pub mod evidence;
pub mod hk;
pub mod ids;
pub mod integer;
pub mod jcs;
pub mod lifecycle;
pub mod nonce;
pub mod problem;
pub mod report;
pub mod schema;
pub mod sealed;
pub mod secret;
pub mod statement;
pub mod transport;
pub mod unix_time;
mod words;

pub use digest::Digest;
pub use evidence::{Completion, Enrollment, Evidence};
pub use hk::{HardwareKey, HkAlg, HostId};
pub use ids::{ErotId, InstanceId, TokenId, VolumeId};
pub use lifecycle::{ErotStatus, HostAction, HostStatus};
pub use nonce::{Nonce, random_bytes};
pub use problem::{Problem, Refusal};
pub use report::{Component, ComponentClass, Report};
pub use sealed::Sealed;
pub use statement::{Signature, Signed};
pub use unix_time::UnixTime;

/// An error with its causes, `a: b: c`: where a TLS or connection failure says what it was
/// (a wrapping error's own text rarely does).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
