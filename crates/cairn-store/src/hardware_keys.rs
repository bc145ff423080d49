//! Hosts' hardware keys, remembered by every process on either backend. A host id is the
//! digest of its hardware key, so the key enrolled under an id can never change: a cached key
//! is never stale, on any replica, and attestation checks a signature without a database
//! round trip. What the cache holds is bounded by the hosts ever approved (anyone can enroll
//! a pending host, so none is remembered) and by [`MAX_KEYS`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cairn_proto::{HardwareKey, HostId};

/// Past this many the keys are dropped wholesale (and read back on demand).
const MAX_KEYS: usize = 65_536;

#[derive(Default)]
pub(crate) struct HardwareKeys(Mutex<HashMap<HostId, Arc<HardwareKey>>>);

impl HardwareKeys {
    pub fn get(&self, host_id: &HostId) -> Option<Arc<HardwareKey>> {
        self.0.lock().expect("key cache lock").get(host_id).cloned()
    }

    pub fn remember(&self, host_id: &HostId, key: &Arc<HardwareKey>) {
        let mut keys = self.0.lock().expect("key cache lock");
        if keys.len() >= MAX_KEYS {
            keys.clear();
        }
        keys.insert(host_id.clone(), key.clone());
    }
}
