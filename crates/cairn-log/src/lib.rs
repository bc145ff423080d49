//! Cairn's transparency log (DESIGN.md "Transparency log and audit"), as pure logic that the
//! server, the store and the audit tools share:
//!
//! - [`entry`]: what one log entry says (a security event: ids and digests, never key
//!   material) and its bytes;
//! - [`tree`]: the RFC 6962 Merkle tree, grown from its right edge ([`Frontier`]), with the
//!   stored-hash layout of `tlog_tiles` (Go's `sumdb/tlog`);
//! - [`note`]: checkpoints (C2SP `tlog-checkpoint`) signed as C2SP signed notes with the log's
//!   Ed25519 key, and their verification with the published verifier key;
//! - [`tiles`]: the C2SP `tlog-tiles` read API's paths and entry bundles;
//! - [`proof`]: C2SP `tlog-proof@v1`, an offline-verifiable proof that an entry is logged;
//! - [`webhook`]: entries pushed to operators' endpoints, signed as Standard Webhooks says.

pub mod entry;
pub mod note;
pub mod proof;
pub mod tiles;
pub mod tree;
pub mod webhook;

pub use entry::{Entry, Event, EventType, HostChanged};
pub use note::{Checkpoint, LogKey, LogSigner, NoteError, origin_for};
pub use proof::TlogProof;
pub use tlog_tiles::{Hash, record_hash};
pub use tree::{Frontier, TreeError};
