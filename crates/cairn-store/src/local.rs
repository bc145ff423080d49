//! What a server process keeps in memory when it owns its database. A SQLite file belongs to
//! one process (replicas share PostgreSQL instead), which an exclusive lock next to the file
//! enforces. Owning the data, the process can keep used nonces in memory and serve host
//! lookups from a read-through cache, which spares every attestation its database round
//! trips; every change to a host goes through this process and evicts its entry.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::Path;
use std::sync::{Arc, Mutex};

use cairn_proto::HostId;

use crate::{HostRecord, StoreError};

/// Past either bound the cached hosts are dropped wholesale (and read back on demand).
const MAX_CACHED_HOSTS: usize = 65_536;
const MAX_CACHED_BYTES: usize = 64 << 20;

pub(crate) struct Local {
    /// Held for the life of the store; the OS releases it when the process ends.
    _lock: Option<File>,
    /// Used nonces by expiry second: a nonce names its expiry, so it always lands in the same
    /// set, and forgetting the expired is splitting off the front of the map.
    used_nonces: Mutex<BTreeMap<i64, HashSet<[u8; 32]>>>,
    hosts: Mutex<HostCache>,
}

#[derive(Default)]
struct HostCache {
    /// Bumped by every eviction, so a read that raced a write never caches what it read.
    generation: u64,
    records: HashMap<HostId, Arc<HostRecord>>,
    /// What the cached records weigh, about (see [`weight`]).
    bytes: usize,
}

/// `path` with symlinks and `..` resolved: its directory's, when the file is yet to be made.
fn canonical(path: &Path) -> std::io::Result<std::path::PathBuf> {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return Ok(resolved);
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("not a file name"))?;
    Ok(std::fs::canonicalize(dir)?.join(name))
}

/// About how many bytes a record holds: its strings and a fixed part. Reports dominate.
fn weight(record: &HostRecord) -> usize {
    let report: usize = record
        .report
        .components
        .iter()
        .map(|c| {
            64 + c.id.len()
                + c.values
                    .iter()
                    .map(|(k, v)| 48 + k.len() + v.len())
                    .sum::<usize>()
        })
        .sum();
    256 + record.name.len() + record.hk.public_key.len() + report
}

impl Local {
    /// Takes `<database>.lock`, named after the database's canonical path (so that no
    /// second name for it, a symlink say, gets past the lock); `None` for an in-memory
    /// database, which nobody else can open.
    pub fn open(database: Option<&Path>) -> Result<Local, StoreError> {
        let lock = match database {
            Some(path) => {
                let canonical = canonical(path)
                    .map_err(|e| StoreError::Locked(format!("{}: {e}", path.display())))?;
                let mut lock_path = canonical.into_os_string();
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
            used_nonces: Mutex::default(),
            hosts: Mutex::default(),
        })
    }

    /// Records a use of `nonce`; true for the first.
    pub fn use_nonce(&self, nonce: &cairn_proto::Nonce, expires_at: i64) -> bool {
        let mut used = self.used_nonces.lock().expect("nonce lock");
        used.entry(expires_at).or_default().insert(nonce.0)
    }

    /// Forgets the nonces that expired before `now`; returns how many.
    pub fn prune_nonces(&self, now: i64) -> u64 {
        let expired = {
            let mut used = self.used_nonces.lock().expect("nonce lock");
            let live = used.split_off(&now);
            std::mem::replace(&mut *used, live)
        };
        // Counted (and freed) outside the lock.
        expired.values().map(|set| set.len() as u64).sum()
    }

    /// The cached record, and otherwise the generation to pass to [`Local::remember`].
    pub fn cached(&self, host_id: &HostId) -> Result<Arc<HostRecord>, u64> {
        let cache = self.hosts.lock().expect("host cache lock");
        cache.records.get(host_id).cloned().ok_or(cache.generation)
    }

    /// Caches a record read from the database, unless a write evicted anything since the read
    /// began (`generation` then differs): what was read may already be stale. Pending hosts
    /// are never cached: anyone can enroll one, and none gets anything until approved.
    pub fn remember(&self, record: &Arc<HostRecord>, generation: u64) {
        if record.status == cairn_proto::HostStatus::Pending {
            return;
        }
        let weight = weight(record);
        let mut cache = self.hosts.lock().expect("host cache lock");
        if cache.generation != generation {
            return;
        }
        if cache.records.len() >= MAX_CACHED_HOSTS || cache.bytes + weight > MAX_CACHED_BYTES {
            cache.records.clear();
            cache.bytes = 0;
        }
        if let Some(old) = cache.records.insert(record.host_id.clone(), record.clone()) {
            cache.bytes -= self::weight(&old);
        }
        cache.bytes += weight;
    }

    /// Evicts a host after its row changed (called once the change is committed).
    pub fn evict(&self, host_id: &HostId) {
        let mut cache = self.hosts.lock().expect("host cache lock");
        cache.generation += 1;
        if let Some(old) = cache.records.remove(host_id) {
            cache.bytes -= weight(&old);
        }
    }
}
