//! Checkpoints (C2SP `tlog-checkpoint`): the log's origin, size and root hash, signed as a
//! C2SP signed note with the log's Ed25519 key. The key itself stays in the server's key
//! store; this module only formats what it signs and checks what it signed.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use signed_note::{Note, StandardVerifier, VerifierList};
use tlog_tiles::Hash;

/// The signed-note algorithm byte of Ed25519 keys.
const ALG_ED25519: u8 = 1;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NoteError {
    #[error("not a log verifier key (expected NAME+KEYID+BASE64, an Ed25519 signed-note key)")]
    BadKey,
    #[error("not a signed checkpoint: {0}")]
    Malformed(String),
    #[error("the checkpoint is not signed by this log's key")]
    BadSignature,
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin { expected: String, found: String },
}

/// The origin (and key name) of the log whose key is `public_key`: one name per key, so that
/// every replica sharing the key store names the log alike, and no configuration can
/// mislabel it.
pub fn origin_for(public_key: &[u8; 32]) -> String {
    format!(
        "cairn.log/{}",
        &cairn_proto::Digest::sha256(public_key).hex()[..16]
    )
}

/// A log's public identity: its origin and Ed25519 verifier key.
pub struct LogKey {
    origin: String,
    id: u32,
    text: String,
    verifier: StandardVerifier,
}

impl LogKey {
    pub fn from_public_key(public_key: &[u8; 32]) -> LogKey {
        let origin = origin_for(public_key);
        let mut encoded = vec![ALG_ED25519];
        encoded.extend_from_slice(public_key);
        let id = signed_note::key_id(&origin, &encoded);
        let text = format!("{origin}+{id:08x}+{}", BASE64_STANDARD.encode(&encoded));
        LogKey::parse(&text).expect("a key we encoded parses")
    }

    /// Parses a verifier key as `GET /v1/log/key` serves it (`NAME+KEYID+BASE64`).
    pub fn parse(text: &str) -> Result<LogKey, NoteError> {
        let text = text.trim();
        let verifier = StandardVerifier::new(text).map_err(|_| NoteError::BadKey)?;
        let (origin, rest) = text.split_once('+').ok_or(NoteError::BadKey)?;
        let id = rest
            .split_once('+')
            .and_then(|(id, _)| u32::from_str_radix(id, 16).ok())
            .ok_or(NoteError::BadKey)?;
        Ok(LogKey {
            origin: origin.to_string(),
            id,
            text: text.to_string(),
            verifier,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The verifier key, as published.
    pub fn verifier_key(&self) -> &str {
        &self.text
    }

    /// A checkpoint of the tree of `size` entries with `root`, signed with `sign` (the log
    /// key's raw Ed25519 signature of a message).
    pub fn sign<E>(
        &self,
        size: u64,
        root: Hash,
        sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
    ) -> Result<Checkpoint, E> {
        let body = tlog_tiles::Checkpoint::new(&self.origin, size, root, "")
            .expect("an origin without newlines makes a checkpoint")
            .to_bytes();
        let signature = sign(&body)?;
        let signature = signed_note::Signature::new(self.origin.clone(), self.id, signature)
            .expect("a valid key name signs");
        let note = Note::new(&body, &[signature]).expect("a checkpoint is a valid note text");
        Ok(Checkpoint {
            size,
            root,
            note: note.to_bytes(),
        })
    }

    /// Verifies a signed checkpoint of this log; other signatures on it (a witness's) are
    /// allowed and ignored.
    pub fn open(&self, note: &[u8]) -> Result<Checkpoint, NoteError> {
        let parsed = Note::from_bytes(note).map_err(|e| NoteError::Malformed(e.to_string()))?;
        let verifiers = VerifierList::new(vec![Box::new(self.verifier.clone())]);
        parsed
            .verify(&verifiers)
            .map_err(|_| NoteError::BadSignature)?;
        let checkpoint = tlog_tiles::Checkpoint::from_bytes(parsed.text())
            .map_err(|e| NoteError::Malformed(e.to_string()))?;
        if checkpoint.origin() != self.origin {
            return Err(NoteError::WrongOrigin {
                expected: self.origin.clone(),
                found: checkpoint.origin().to_string(),
            });
        }
        Ok(Checkpoint {
            size: checkpoint.size(),
            root: *checkpoint.hash(),
            note: note.to_vec(),
        })
    }
}

/// Signs raw messages with the log's Ed25519 key (the key store does; an HSM inside).
type SignFn = dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync;

/// The log's signing side: its key, and what signs with it.
pub struct LogSigner {
    key: LogKey,
    sign: Box<SignFn>,
    /// The checkpoint it signed last, which it opens again without checking its signature.
    last: std::sync::Mutex<Option<Checkpoint>>,
}

impl LogSigner {
    pub fn new(
        public_key: &[u8; 32],
        sign: impl Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    ) -> LogSigner {
        LogSigner {
            key: LogKey::from_public_key(public_key),
            sign: Box::new(sign),
            last: std::sync::Mutex::new(None),
        }
    }

    pub fn key(&self) -> &LogKey {
        &self.key
    }

    /// A signed checkpoint of the tree of `size` entries with `root`.
    pub fn checkpoint(&self, size: u64, root: Hash) -> Result<Checkpoint, String> {
        let checkpoint = self.key.sign(size, root, |m| (self.sign)(m))?;
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = Some(checkpoint.clone());
        Ok(checkpoint)
    }

    /// [`LogKey::open`], where a note byte for byte the one this signer made last is taken
    /// as it made it: the log's writer reopens its own last checkpoint before each batch, and
    /// a signature it made needs no checking (another replica's, or a forged one, does).
    pub fn open(&self, note: &[u8]) -> Result<Checkpoint, NoteError> {
        let last = self.last.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match last {
            Some(checkpoint) if checkpoint.note == note => Ok(checkpoint),
            _ => self.key.open(note),
        }
    }
}

/// A signed tree head: the tree's size and root, and the signed note saying so.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub size: u64,
    pub root: Hash,
    /// The signed note, as served at `/v1/log/checkpoint`.
    pub note: Vec<u8>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};

    pub(crate) fn key_pair() -> (Ed25519KeyPair, LogKey) {
        let pair = Ed25519KeyPair::generate().unwrap();
        let public: [u8; 32] = pair.public_key().as_ref().try_into().unwrap();
        let key = LogKey::from_public_key(&public);
        (pair, key)
    }

    pub(crate) fn signed(pair: &Ed25519KeyPair, key: &LogKey, size: u64, root: Hash) -> Checkpoint {
        key.sign(size, root, |m| Ok::<_, ()>(pair.sign(m).as_ref().to_vec()))
            .unwrap()
    }

    #[test]
    fn a_signed_checkpoint_opens_with_the_published_key_only() {
        let (pair, key) = key_pair();
        let checkpoint = signed(&pair, &key, 5, tlog_tiles::record_hash(b"x"));
        let text = String::from_utf8(checkpoint.note.clone()).unwrap();
        assert!(
            text.starts_with(&format!("{}\n5\n", key.origin())),
            "{text}"
        );
        assert!(
            text.contains(&format!("\n\n\u{2014} {} ", key.origin())),
            "{text}"
        );
        let published = LogKey::parse(key.verifier_key()).unwrap();
        assert_eq!(published.open(&checkpoint.note).unwrap(), checkpoint);

        let (_, other) = key_pair();
        assert_eq!(other.open(&checkpoint.note), Err(NoteError::BadSignature));
        let forged = text.replacen("\n5\n", "\n6\n", 1);
        assert_eq!(key.open(forged.as_bytes()), Err(NoteError::BadSignature));
        assert!(matches!(key.open(b"junk"), Err(NoteError::Malformed(_))));
        assert_eq!(
            LogKey::parse("cairn+00+AAAA").err(),
            Some(NoteError::BadKey)
        );
    }
}
