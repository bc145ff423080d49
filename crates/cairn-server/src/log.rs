//! The transparency log's writer. Handlers [`Log::record`] an event after its change has
//! committed and before they answer, so that whatever a client was told happened is in the
//! log. Concurrent records are sequenced together: one task appends whatever has queued up
//! in one transaction with one new signed checkpoint, so logging costs each request a share
//! of a commit rather than a commit.

use std::sync::Arc;

use cairn_keystore::KeyStore;
use cairn_log::entry::MAX_ENTRY_BYTES;
use cairn_log::{Checkpoint, Entry, Event, LogSigner};
use cairn_proto::b64;
use cairn_store::{NewEntry, Store, StoreError};
use tokio::sync::{mpsc, oneshot, watch};

use crate::clock;
use crate::metrics::Metrics;
use crate::problem::ApiError;

/// The most entries one transaction appends.
const MAX_BATCH: usize = 1024;

/// Records waiting for the writer, beyond which handlers wait to queue theirs.
const QUEUE: usize = 8192;

type Appended = Result<u64, Arc<StoreError>>;

struct Pending {
    entry: NewEntry,
    done: oneshot::Sender<Appended>,
}

pub struct Log {
    signer: Arc<LogSigner>,
    queue: mpsc::Sender<Pending>,
    /// The size of the tree as this process last signed it (webhooks wait on it).
    size: watch::Receiver<u64>,
}

/// The log's signer over the key store's log key.
pub fn signer(keys: &Arc<dyn KeyStore>) -> LogSigner {
    let key = keys.log_signer();
    let public: [u8; 32] = b64::decode(&key.public_jwk().x)
        .ok()
        .and_then(|raw| raw.try_into().ok())
        .expect("the log key is Ed25519");
    LogSigner::new(&public, move |message| {
        key.sign(message).map_err(|e| e.to_string())
    })
}

impl Log {
    /// Opens the log (checking the stored tree against its last signed checkpoint) and starts
    /// its writer on the current runtime.
    pub async fn open(
        store: Store,
        keys: &Arc<dyn KeyStore>,
        metrics: Arc<Metrics>,
    ) -> Result<(Log, Checkpoint), StoreError> {
        let signer = Arc::new(signer(keys));
        let checkpoint = store.open_log(&signer).await.inspect_err(|e| {
            if matches!(e, StoreError::LogInconsistent(_)) {
                metrics.log_inconsistent.inc();
            }
        })?;
        metrics.log_size.set(checkpoint.size as i64);
        let (queue, pending) = mpsc::channel(QUEUE);
        let (grown, size) = watch::channel(checkpoint.size);
        tokio::spawn(write_forever(
            store,
            signer.clone(),
            pending,
            grown,
            metrics,
        ));
        let log = Log {
            signer,
            queue,
            size,
        };
        Ok((log, checkpoint))
    }

    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    /// Changes whenever this process appends to the log.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.size.clone()
    }

    /// Appends `event` (and, for a customer's ERoT, whose it is); answers its index once it
    /// is committed with a checkpoint that covers it.
    pub async fn record(&self, event: Event, owner: Option<&str>) -> Result<u64, ApiError> {
        let (done, appended) = oneshot::channel();
        let entry = new_entry(event, owner);
        // An entry bundle gives each entry a 16-bit length: a longer one could never be served.
        // (What requests put in entries is bounded well below; this keeps it so.)
        if entry.bytes.len() > MAX_ENTRY_BYTES {
            let e = format!("a {}-byte {} entry", entry.bytes.len(), entry.kind);
            return Err(StoreError::Unavailable(format!("{e} is over the log's limit")).into());
        }
        let pending = Pending { entry, done };
        let stopped = || ApiError::from(StoreError::Unavailable("the log writer stopped".into()));
        self.queue.send(pending).await.map_err(|_| stopped())?;
        match appended.await.map_err(|_| stopped())? {
            Ok(index) => Ok(index),
            Err(e) => Err(ApiError::from(StoreError::Batch(e))),
        }
    }
}

/// The row of `event`, happening now (`owner`: the customer whose ERoT it concerns).
pub fn new_entry(event: Event, owner: Option<&str>) -> NewEntry {
    let entry = Entry {
        time: clock::now(),
        event,
    };
    NewEntry {
        kind: entry.event.event_type().as_str(),
        subject: entry.event.subject().to_string(),
        owner: owner.map(str::to_string),
        bytes: entry.to_bytes(),
    }
}

/// What the store's expiry sweep hands over: each expired ERoT, logged.
pub fn expired(
    state: crate::AppState,
) -> impl Fn(Vec<cairn_store::ExpiredErot>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    move |erots| {
        let state = state.clone();
        Box::pin(async move {
            for erot in erots {
                let event = Event::ErotExpired {
                    erot_id: erot.erot_id,
                };
                if let Err(e) = state.log.record(event, Some(&erot.owner)).await {
                    tracing::error!(refusal = %e.refusal, "logging an ERoT's expiry failed");
                }
            }
        })
    }
}

async fn write_forever(
    store: Store,
    signer: Arc<LogSigner>,
    mut pending: mpsc::Receiver<Pending>,
    grown: watch::Sender<u64>,
    metrics: Arc<Metrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (entries, waiters): (Vec<NewEntry>, Vec<_>) =
            batch.drain(..).map(|p| (p.entry, p.done)).unzip();
        match store.append_log(&entries, &signer).await {
            Ok((first, checkpoint)) => {
                metrics.log_entries.inc_by(entries.len() as u64);
                metrics.log_size.set(checkpoint.size as i64);
                grown.send_replace(checkpoint.size);
                for (index, waiter) in (first..).zip(waiters) {
                    let _ = waiter.send(Ok(index));
                }
            }
            Err(e) => {
                if matches!(e, StoreError::LogInconsistent(_)) {
                    metrics.log_inconsistent.inc();
                    tracing::error!(error = %e, "refusing to sign a checkpoint");
                }
                let e = Arc::new(e);
                for waiter in waiters {
                    let _ = waiter.send(Err(e.clone()));
                }
            }
        }
    }
}
