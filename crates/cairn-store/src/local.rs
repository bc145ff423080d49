//! What a server process keeps in memory when it owns its database. A SQLite file belongs to
//! one process (replicas share PostgreSQL instead), which an exclusive lock next to the file
//! enforces. Owning the data, the process can keep outstanding nonces in memory and serve host
//! lookups from a read-through cache, which spares every attestation three database round
//! trips; every change to a host goes through this process and evicts its entry.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use cairn_proto::HostId;

use crate::{HostRecord, StoreError};

/// Cached hosts beyond this are dropped wholesale (and read back on demand).
const MAX_CACHED_HOSTS: usize = 65_536;

pub(crate) struct Local {
    /// Held for the life of the store; the OS releases it when the process ends.
    _lock: Option<File>,
    nonces: Mutex<HashMap<[u8; 32], i64>>,
    hosts: Mutex<HostCache>,
}

#[derive(Default)]
struct HostCache {
    /// Bumped by every eviction, so a read that raced a write never caches what it read.
    generation: u64,
    records: HashMap<HostId, Arc<HostRecord>>,
}

impl Local {
    /// Takes `<database>.lock`; `None` for an in-memory database, which nobody else can open.
    pub fn open(database: Option<&Path>) -> Result<Local, StoreError> {
        let lock = match database {
            Some(path) => {
                let mut lock_path = path.as_os_str().to_owned();
                lock_path.push(".lock");
                let lock_path = std::path::PathBuf::from(lock_path);
                let file = File::create(&lock_path)
                    .map_err(|e| StoreError::Locked(format!("{}: {e}", lock_path.display())))?;
                file.try_lock().map_err(|_| {
                    StoreError::Locked(format!(
                        "{} is in use by another process (a SQLite database belongs to one Cairn server; replicas share PostgreSQL)",
                        path.display()
                    ))
                })?;
                Some(file)
            }
            None => None,
        };
        Ok(Local {
            _lock: lock,
            nonces: Mutex::default(),
            hosts: Mutex::default(),
        })
    }

    /// Runs `f` on the outstanding nonces (nonce → expiry).
    pub fn nonces<R>(&self, f: impl FnOnce(&mut HashMap<[u8; 32], i64>) -> R) -> R {
        f(&mut self.nonces.lock().expect("nonce lock"))
    }

    /// The cached record, and otherwise the generation to pass to [`Local::remember`].
    pub fn cached(&self, host_id: &HostId) -> Result<Arc<HostRecord>, u64> {
        let cache = self.hosts.lock().expect("host cache lock");
        cache.records.get(host_id).cloned().ok_or(cache.generation)
    }

    /// Caches a record read from the database, unless a write evicted anything since the read
    /// began (`generation` then differs): what was read may already be stale.
    pub fn remember(&self, record: &Arc<HostRecord>, generation: u64) {
        let mut cache = self.hosts.lock().expect("host cache lock");
        if cache.generation != generation {
            return;
        }
        if cache.records.len() >= MAX_CACHED_HOSTS {
            cache.records.clear();
        }
        cache.records.insert(record.host_id.clone(), record.clone());
    }

    /// Evicts a host after its row changed (called once the change is committed).
    pub fn evict(&self, host_id: &HostId) {
        let mut cache = self.hosts.lock().expect("host cache lock");
        cache.generation += 1;
        cache.records.remove(host_id);
    }
}
