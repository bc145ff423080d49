//! The transparency log's writer. Every event is durable before its request is answered, in
//! one of two ways:
//!
//! - A change of state (a host's status, a token, an ERoT…) takes its entry from
//!   [`Log::prepare`], which refuses while the log cannot take one (inconsistent, full,
//!   stopping) before anything changed, and hands the entry to the store, which writes it into
//!   the log's outbox in the change's own transaction: the change is committed if and only if
//!   its entry is (invariant 13).
//! - What changes no state (a PAT issued, a volume key released) is [`Log::record`]ed after
//!   the fact in this process's queue file ([`queue`]), which returns at once.
//!
//! The writer sequences both into the tree in batches, each one transaction with one new
//! signed checkpoint: after [`LINGER`], or at once when a batch is full or a reader asks
//! ([`Log::flush`]). So a request waits for a line in a file (or its own commit) rather than
//! for the tree's, and a commit of the tree is shared by hundreds of entries (measured: waiting
//! on it cost attestation 40 % of its throughput). At start-up, what queues left by stopped
//! processes still hold is appended first, and the outbox is drained.

mod queue;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use cairn_keystore::KeyStore;
use cairn_log::entry::MAX_ENTRY_BYTES;
use cairn_log::{Checkpoint, Entry, Event, LogSigner};
use cairn_proto::b64;
use cairn_store::{NewEntry, QueueMark, Store, StoreError};
use tokio::sync::{Notify, watch};

pub use queue::QueueError;
use queue::{QueueFile, Queued};

use crate::clock;
use crate::metrics::Metrics;
use crate::problem::ApiError;

/// The most entries one transaction appends.
const MAX_BATCH: usize = 1024;

/// How long the writer lets entries gather before it sequences them (unless asked sooner):
/// the most an event waits to be readable in the log, and to reach the webhooks.
pub const LINGER: Duration = Duration::from_millis(100);

/// Entries acknowledged but not yet in the tree, beyond which recording is refused: the store
/// is not keeping up, or refusing, and the queue must not grow without bound (the default of
/// `--max-log-queue`).
pub const MAX_QUEUED: usize = 65_536;

/// The size past which the queue file is rewritten with only what the tree lacks (once that
/// is less than half of it).
const REWRITE_AT: u64 = 1 << 20;

/// The queue file's size beyond which recording is refused likewise.
const MAX_QUEUE_BYTES: u64 = 64 << 20;

/// How long the writer waits before it tries a failed append again.
const RETRY: Duration = Duration::from_secs(1);

/// How often the writer looks for outbox entries that no process here wrote (a replica's that
/// died before its writer took them).
const ORPHANS: Duration = Duration::from_secs(5);

/// This process's queue: its file and, in order, what of it the tree lacks.
struct Queue {
    file: QueueFile,
    /// The next entry's position.
    next: u64,
    /// What has been acknowledged and is not in the tree yet, in order, but for the writer's
    /// batch in flight (the `in_flight` positions before these).
    pending: VecDeque<NewEntry>,
    in_flight: usize,
    /// Whether the last append failed, so that the tree may hold more of the queue than the
    /// writer knows.
    unsure: bool,
    /// Places reserved by requests under way.
    reserved: usize,
    /// Entries this process's changes have written into the outbox (or may have: a change
    /// that failed counts too), and how many of those the tree is known to hold.
    outboxed: u64,
    outbox_done: u64,
    /// Drains of the outbox that authenticated readers asked for, and how many of those are
    /// done (not counted as waiting entries).
    drains_asked: u64,
    drains_done: u64,
    /// Whether the outbox may hold entries.
    outbox_due: bool,
    /// The most entries that may wait.
    max_queued: usize,
    /// Why nothing more may be recorded: the tree was found inconsistent (invariant 9), or
    /// the server is stopping.
    closed: Option<Arc<StoreError>>,
}

impl Queue {
    /// Entries acknowledged and not in the tree, the outbox's included.
    fn waiting(&self) -> usize {
        self.queued() + self.reserved + (self.outboxed - self.outbox_done) as usize
    }

    /// Those in the queue file.
    fn queued(&self) -> usize {
        self.pending.len() + self.in_flight
    }

    /// The position of the first of those.
    fn first(&self) -> u64 {
        self.next - self.queued() as u64
    }

    /// Why no entry may be taken now, if one may not: the log is closed, or full.
    fn refusal(&self) -> Option<StoreError> {
        if let Some(closed) = &self.closed {
            return Some(StoreError::Batch(closed.clone()));
        }
        // The file holds at least what waits in it (in memory too), so its size bounds both.
        if self.waiting() >= self.max_queued || self.file.bytes() >= MAX_QUEUE_BYTES {
            return Some(StoreError::Unavailable(format!(
                "the log's queue is full ({} entries, {} bytes): the store is not keeping up",
                self.waiting(),
                self.file.bytes()
            )));
        }
        None
    }
}

/// How far the writer has come.
#[derive(Clone, Default)]
struct Progress {
    /// Queue positions below this one are in the tree.
    sequenced: u64,
    /// As many outbox entries of this process's as this are in the tree.
    outbox_done: u64,
    /// As many asked drains of the outbox as this are done.
    drains_done: u64,
    /// Why the writer's last append failed, until one succeeds.
    failed: Option<Arc<StoreError>>,
    /// Appends that failed so far (a waiter heeds only failures after it began).
    failures: u64,
}

pub struct Log {
    id: String,
    store: Store,
    signer: Arc<LogSigner>,
    queue: Arc<Mutex<Queue>>,
    /// Wakes the writer: something was queued.
    queued: Arc<Notify>,
    /// Has it sequence now rather than after its linger.
    hurry: Arc<Notify>,
    progress: watch::Receiver<Progress>,
    /// The size of the tree as this process last signed it (webhooks wait on it).
    size: watch::Receiver<u64>,
    metrics: Arc<Metrics>,
}

/// What the writer task holds.
struct Writer {
    store: Store,
    signer: Arc<LogSigner>,
    queue: Arc<Mutex<Queue>>,
    id: String,
    queued: Arc<Notify>,
    hurry: Arc<Notify>,
    progress: watch::Sender<Progress>,
    size: watch::Sender<u64>,
    metrics: Arc<Metrics>,
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
    /// Opens the log: checks the stored tree against its last signed checkpoint, appends
    /// what queues that stopped processes left in `data_dir` still hold, and starts the
    /// writer (on the current runtime) over a new queue of this process's.
    pub async fn open(
        store: Store,
        keys: &Arc<dyn KeyStore>,
        metrics: Arc<Metrics>,
        data_dir: &Path,
        max_queued: usize,
    ) -> Result<(Log, Checkpoint), crate::ServeError> {
        let signer = Arc::new(signer(keys));
        let opened = store.open_log(&signer).await.inspect_err(|e| {
            if matches!(e, StoreError::LogInconsistent(_)) {
                metrics.log_inconsistent.inc();
            }
        })?;
        let dir = queue::dir(data_dir);
        // Taken first, so that no other process starting beside this one adopts it.
        let file = QueueFile::create(&dir)?;
        let mut checkpoint = opened;
        for left in queue::abandoned(&dir)? {
            checkpoint = replay(&store, &signer, &left).await?.unwrap_or(checkpoint);
            // The file goes first: were its mark forgotten first, a crash in between would
            // have the next start append all of it again.
            let id = left.id.clone();
            left.remove()?;
            store.forget_log_queue(&id).await?;
            // The dead process's webhook leases (named by its queue) are free at once.
            store.release_webhooks(&id).await?;
        }
        // What changes of stopped processes left in the outbox goes in before anything is
        // served, so that readers see it.
        loop {
            let appended = store.sequence_log(&[], &signer, None, MAX_BATCH).await?;
            checkpoint = appended.checkpoint;
            if appended.outboxed < MAX_BATCH {
                break;
            }
        }
        metrics.log_size.set(checkpoint.size as i64);
        let (progress_tx, progress) = watch::channel(Progress::default());
        let (size_tx, size) = watch::channel(checkpoint.size);
        let writer = Writer {
            store,
            signer: signer.clone(),
            id: file.id().to_string(),
            queue: Arc::new(Mutex::new(Queue {
                file,
                next: 0,
                pending: VecDeque::new(),
                in_flight: 0,
                unsure: false,
                reserved: 0,
                outboxed: 0,
                outbox_done: 0,
                drains_asked: 0,
                drains_done: 0,
                outbox_due: false,
                max_queued,
                closed: None,
            })),
            queued: Arc::default(),
            hurry: Arc::default(),
            progress: progress_tx,
            size: size_tx,
            metrics: metrics.clone(),
        };
        let log = Log {
            id: writer.id.clone(),
            store: writer.store.clone(),
            signer,
            queue: writer.queue.clone(),
            queued: writer.queued.clone(),
            hurry: writer.hurry.clone(),
            progress,
            size,
            metrics,
        };
        tokio::spawn(writer.write_forever());
        Ok((log, checkpoint))
    }

    pub fn signer(&self) -> &LogSigner {
        &self.signer
    }

    /// This process's name: its queue's, which the next start on its data directory finds
    /// if it dies.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Changes whenever this process appends to the log.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.size.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("log queue lock")
    }

    /// The entry of a change of state about to be made (and, for a customer's ERoT, whose
    /// it is), for the store to write with the change; refused, before anything changed, while
    /// the log cannot take it. The writer is told once the entry is dropped, after the change.
    pub fn prepare(&self, event: Event, owner: Option<&str>) -> Result<Prepared<'_>, ApiError> {
        let slot = self.reserve()?;
        let entry = slot.change(event, owner)?;
        Ok(Prepared { _slot: slot, entry })
    }

    /// A place in the log for a request about to change something: refused while the log
    /// cannot take an entry (closed, or full), before anything changed. What is logged
    /// through it is taken whatever happens to the log meanwhile, so that a request that has
    /// begun to change things is never refused because of the log; while held, it counts
    /// against the queue's bound.
    pub fn reserve(&self) -> Result<Reservation<'_>, ApiError> {
        let mut queue = self.lock();
        if let Some(refused) = queue.refusal() {
            return Err(refused.into());
        }
        queue.reserved += 1;
        Ok(Reservation {
            log: self,
            changed: AtomicBool::new(false),
        })
    }

    /// Has the writer take in what the expiry sweep wrote into the outbox.
    pub fn expired(&self) {
        self.outboxed();
    }

    /// Has the writer take in what a change (or the expiry sweep) wrote into the outbox.
    fn outboxed(&self) {
        {
            let mut queue = self.lock();
            queue.outboxed += 1;
            queue.outbox_due = true;
            self.metrics.log_queued.set(queue.waiting() as i64);
        }
        self.queued.notify_one();
    }

    /// The expiry sweep's entry for an ERoT it retires, written with the change (which is no
    /// request's, so it is made whatever the log's state: the outbox keeps it).
    pub fn expired_entry(erot: &cairn_store::ExpiredErot) -> NewEntry {
        let event = Event::ErotExpired {
            erot_id: erot.erot_id.clone(),
        };
        new_entry(event, Some(&erot.owner))
    }

    /// Records `event` (and, for a customer's ERoT, whose it is) in the durable queue, for
    /// what changes no state; the writer sequences it into the tree shortly.
    pub fn record(&self, event: Event, owner: Option<&str>) -> Result<(), ApiError> {
        self.reserve()?.record(event, owner)
    }

    /// Writes `entry` to the queue file, whatever the log's state (its place was reserved).
    fn enqueue(&self, entry: NewEntry) -> Result<(), ApiError> {
        let mut queue = self.lock();
        let line = queued_line(queue.next, &entry);
        queue
            .file
            .append(&line)
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        queue.next += 1;
        queue.pending.push_back(entry);
        let queued = queue.queued();
        let waiting = queue.waiting();
        drop(queue);
        self.metrics.log_queued.set(waiting as i64);
        match queued {
            1 => self.queued.notify_one(),
            n if n % MAX_BATCH == 0 => self.hurry.notify_one(),
            _ => {}
        }
        Ok(())
    }

    /// Waits until everything recorded before the call is in the tree, so that a reader of
    /// the log sees what it was told had happened.
    pub async fn flush(&self) -> Result<(), ApiError> {
        self.sequenced(true).await
    }

    /// Waits for the writer's next batch to take in what was recorded before the call, without
    /// hurrying it: for public readers of the log, who must not be able to force commits. They
    /// get what is in the tree even when the writer is failing (it reports that itself).
    pub async fn caught_up(&self) {
        let _ = self.sequenced(false).await;
    }

    async fn sequenced(&self, hurry: bool) -> Result<(), ApiError> {
        let (target, outboxed, drains) = {
            let mut queue = self.lock();
            if hurry {
                // Whatever any process committed into the outbox before now, too (a replica
                // that died before its writer took it in, say).
                queue.drains_asked += 1;
                queue.outbox_due = true;
            }
            (queue.next, queue.outboxed, queue.drains_asked)
        };
        let done = |p: &Progress| {
            p.sequenced >= target && p.outbox_done >= outboxed && p.drains_done >= drains
        };
        let mut progress = self.progress.clone();
        let failures = {
            let now = progress.borrow();
            if done(&now) {
                return Ok(());
            }
            now.failures
        };
        if hurry {
            self.queued.notify_one();
            self.hurry.notify_one();
        }
        let stopped = || ApiError::from(StoreError::Unavailable("the log writer stopped".into()));
        let now = progress
            .wait_for(|p| done(p) || p.failures > failures)
            .await
            .map_err(|_| stopped())?;
        match &now.failed {
            Some(e) if !done(&now) => Err(StoreError::Batch(e.clone()).into()),
            _ => Ok(()),
        }
    }

    /// Sequences what is queued and removes the queue, refusing records from then on: for a
    /// server that is stopping (what it cannot sequence stays queued for the next start).
    pub async fn close(&self) {
        let flushed = self.flush().await;
        let removed = {
            let mut queue = self.lock();
            queue.closed = Some(Arc::new(StoreError::Unavailable(
                "the server is stopping".into(),
            )));
            match flushed.is_ok() && queue.waiting() == 0 {
                true => queue.file.remove().map(|()| queue.file.id().to_string()),
                false => return,
            }
        };
        let id = match removed {
            Ok(id) => id,
            Err(e) => return tracing::warn!(error = %e, "the log's queue was not removed"),
        };
        if let Err(e) = self.store.forget_log_queue(&id).await {
            tracing::warn!(error = %e, "the log's queue was removed but not its mark");
        }
    }
}

/// A place in the log, from [`Log::reserve`].
pub struct Reservation<'a> {
    log: &'a Log,
    /// Whether an entry of a change was handed out (for the store to write in the outbox).
    changed: AtomicBool,
}

impl Reservation<'_> {
    /// The entry of a change this request is about to make, for the store to write with it.
    pub fn change(&self, event: Event, owner: Option<&str>) -> Result<NewEntry, ApiError> {
        let entry = checked_entry(event, owner)?;
        self.changed.store(true, Ordering::Relaxed);
        Ok(entry)
    }

    /// The same for an event of bounded size, made in the store's transaction.
    pub fn change_of(&self, event: Event) -> NewEntry {
        self.changed.store(true, Ordering::Relaxed);
        new_entry(event, None)
    }

    /// Records `event`, which changes no state, in the durable queue.
    pub fn record(self, event: Event, owner: Option<&str>) -> Result<(), ApiError> {
        let entry = checked_entry(event, owner)?;
        self.log.enqueue(entry)
    }
}

impl Drop for Reservation<'_> {
    /// The place is given back; the writer takes in the entry of a change made meanwhile (or
    /// finds nothing, if it failed).
    fn drop(&mut self) {
        self.log.lock().reserved -= 1;
        if self.changed.load(Ordering::Relaxed) {
            self.log.outboxed();
        }
    }
}

/// A change's entry, from [`Log::prepare`]: the store writes it with the change.
pub struct Prepared<'a> {
    _slot: Reservation<'a>,
    entry: NewEntry,
}

impl std::ops::Deref for Prepared<'_> {
    type Target = NewEntry;

    fn deref(&self) -> &NewEntry {
        &self.entry
    }
}

/// The row of `event`, if an entry bundle can hold it: each entry has a 16-bit length, so a
/// longer one could never be served. (What requests put in entries is bounded well below; this
/// keeps it so.)
fn checked_entry(event: Event, owner: Option<&str>) -> Result<NewEntry, ApiError> {
    let entry = new_entry(event, owner);
    if entry.bytes.len() > MAX_ENTRY_BYTES {
        let e = format!("a {}-byte {} entry", entry.bytes.len(), entry.kind);
        return Err(StoreError::Unavailable(format!("{e} is over the log's limit")).into());
    }
    Ok(entry)
}

/// Appends what the tree lacks of a stopped process's queue; answers the checkpoint that
/// covers it (`None` when the tree had it all).
async fn replay(
    store: &Store,
    signer: &LogSigner,
    left: &queue::Abandoned,
) -> Result<Option<Checkpoint>, crate::ServeError> {
    let sequenced = store.log_queue_sequenced(&left.id).await?;
    let missing: Vec<&Queued<'_>> = left.entries.iter().filter(|q| q.seq >= sequenced).collect();
    let mut checkpoint = None;
    for chunk in missing.chunks(MAX_BATCH) {
        let entries = chunk
            .iter()
            .map(|q| {
                queued_entry(q).map_err(|why| queue::QueueError::Damaged {
                    path: left.path.clone(),
                    line: 1 + left
                        .entries
                        .iter()
                        .position(|e| e.seq == q.seq)
                        .unwrap_or(0),
                    why,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mark = QueueMark {
            queue: &left.id,
            upto: chunk[chunk.len() - 1].seq + 1,
        };
        let (_, appended) = store.append_log(&entries, signer, Some(mark)).await?;
        checkpoint = Some(appended);
    }
    if !missing.is_empty() {
        tracing::info!(queue = %left.path.display(), entries = missing.len(), "appended what a stopped server had queued");
    }
    Ok(checkpoint)
}

/// The queue's line for `entry` at position `seq`.
fn queued_line(seq: u64, entry: &NewEntry) -> Queued<'_> {
    Queued {
        seq,
        owner: entry.owner.as_deref().map(Cow::Borrowed),
        entry: String::from_utf8_lossy(&entry.bytes),
    }
}

/// The row of a queued entry, as it was when recorded.
fn queued_entry(queued: &Queued<'_>) -> Result<NewEntry, String> {
    let bytes = queued.entry.as_bytes();
    let entry = Entry::parse(bytes).map_err(|e| format!("entry {}: {e}", queued.seq))?;
    // (A replayed queue is appended alone: its order is its own.)
    Ok(row(
        &entry,
        bytes.to_vec(),
        queued.owner.as_deref().map(str::to_string),
        0,
    ))
}

/// The row of `entry`, whose bytes are `bytes`, recorded at `at` (nanoseconds).
fn row(entry: &Entry, bytes: Vec<u8>, owner: Option<String>, at: i64) -> NewEntry {
    NewEntry {
        kind: entry.event.event_type().as_str().into(),
        at,
        subject: entry.event.subject().to_string(),
        owner,
        bytes,
    }
}

/// The row of `event`, happening now (`owner`: the customer whose ERoT it concerns).
pub fn new_entry(event: Event, owner: Option<&str>) -> NewEntry {
    let entry = Entry {
        time: clock::now().secs(),
        event,
    };
    row(
        &entry,
        entry.to_bytes(),
        owner.map(str::to_string),
        clock::stamp(),
    )
}

impl Writer {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("log queue lock")
    }

    /// The batch in flight is in the tree, which now holds the queue below `upto`: the file
    /// keeps only what the tree lacks.
    fn sequenced(&self, n: usize, upto: u64) {
        let mut queue = self.lock();
        queue.in_flight -= n;
        let kept = match queue.pending.is_empty() {
            // Nothing of the file was in this batch.
            _ if n == 0 => Ok(()),
            // All of the file is in the tree: it starts again from empty.
            true => queue.file.clear(),
            // Only when most of it is in the tree, so that rewriting costs each line O(1).
            false
                if queue.file.bytes() > REWRITE_AT
                    && queue.file.lines() > 2 * queue.queued() as u64 =>
            {
                let Queue { file, pending, .. } = &mut *queue;
                let left = (upto..).zip(pending.iter());
                file.rewrite(left.map(|(seq, entry)| queued_line(seq, entry)))
            }
            false => Ok(()),
        };
        if let Err(e) = kept {
            tracing::warn!(error = %e, "the log's queue was not emptied of what is in the tree");
        }
        self.metrics.log_queued.set(queue.waiting() as i64);
    }

    /// After a failed append, drops what of the queue the tree holds all the same: a commit
    /// whose answer was lost (a connection that broke during COMMIT) may have gone through,
    /// and its entries must not go in twice. The mark it wrote says. False if the store cannot
    /// say yet.
    async fn drop_sequenced(&self) -> bool {
        let Ok(mark) = self.store.log_queue_sequenced(&self.id).await else {
            return false;
        };
        let mut queue = self.lock();
        queue.unsure = false;
        let first = queue.first();
        if mark > first {
            let n = ((mark - first) as usize).min(queue.pending.len());
            queue.pending.drain(..n);
            drop(queue);
            tracing::warn!(entries = n, "a failed append had gone through after all");
            self.progress.send_modify(|p| p.sequenced = mark);
        }
        true
    }

    /// The batch in flight is not in the tree: it goes back in front of the queue (and, if the
    /// tree is `broken`, nothing more is taken).
    fn put_back(&self, batch: Vec<NewEntry>, broken: Option<Arc<StoreError>>) {
        let mut queue = self.lock();
        queue.in_flight -= batch.len();
        for entry in batch.into_iter().rev() {
            queue.pending.push_front(entry);
        }
        queue.unsure = true;
        if broken.is_some() {
            queue.closed = broken;
        }
    }

    async fn write_forever(self) {
        // Not reset by what this process queues: a replica that only attests still takes in
        // what a dead one left in the outbox.
        let mut orphans = tokio::time::interval(ORPHANS);
        orphans.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.queued.notified() => {
                    tokio::select! {
                        _ = tokio::time::sleep(LINGER) => {}
                        _ = self.hurry.notified() => {}
                    }
                }
                _ = orphans.tick() => {
                    if !matches!(self.store.outbox_waiting().await, Ok(true)) {
                        continue;
                    }
                    self.lock().outbox_due = true;
                }
            }
            // What is queued now; what queues meanwhile waits out a linger of its own (going
            // on at once would be back to a commit for every few entries).
            let upto = self.lock().next;
            while self.sequence(upto).await {}
            let queue = self.lock();
            if !queue.pending.is_empty() || queue.outbox_due {
                self.queued.notify_one();
            }
        }
    }

    /// Appends the oldest queued entries, below position `upto`, and what waits in the
    /// outbox to the tree; false when there were none.
    async fn sequence(&self, upto: u64) -> bool {
        let unsure = self.lock().unsure;
        if unsure && !self.drop_sequenced().await {
            tokio::time::sleep(RETRY).await;
            return true;
        }
        let (batch, first, outbox, outboxed, drains) = {
            let mut queue = self.lock();
            let first = queue.first();
            if first >= upto && !queue.outbox_due {
                return false;
            }
            let n = (upto.saturating_sub(first) as usize).min(MAX_BATCH);
            // Taken out rather than copied; put back if the append fails.
            let batch: Vec<NewEntry> = queue.pending.drain(..n).collect();
            queue.in_flight = n;
            let outbox = match queue.outbox_due {
                true => MAX_BATCH - n,
                false => 0,
            };
            // Every outbox entry counted so far is committed, or failed: the append's read
            // of the outbox, after this, finds it, or finds it taken by another's append.
            (batch, first, outbox, queue.outboxed, queue.drains_asked)
        };
        let upto = first + batch.len() as u64;
        let mark = QueueMark {
            queue: &self.id,
            upto,
        };
        let mark = (!batch.is_empty()).then_some(mark);
        match self
            .store
            .sequence_log(&batch, &self.signer, mark, outbox)
            .await
        {
            Ok(appended) => {
                let drained = appended.outboxed < outbox;
                {
                    let mut queue = self.lock();
                    if drained {
                        queue.outbox_done = queue.outbox_done.max(outboxed);
                        queue.drains_done = queue.drains_done.max(drains);
                        queue.outbox_due = queue.outboxed > outboxed || queue.drains_asked > drains;
                    }
                }
                self.sequenced(batch.len(), upto);
                let appended_now = (batch.len() + appended.outboxed) as u64;
                let checkpoint = appended.checkpoint;
                self.metrics.log_entries.inc_by(appended_now);
                self.metrics.log_size.set(checkpoint.size as i64);
                self.size.send_replace(checkpoint.size);
                let (outbox_done, drains_done) = {
                    let queue = self.lock();
                    (queue.outbox_done, queue.drains_done)
                };
                self.progress.send_modify(|p| {
                    p.sequenced = upto;
                    p.outbox_done = outbox_done;
                    p.drains_done = drains_done;
                    p.failed = None;
                });
                if batch.is_empty() && drained {
                    return false;
                }
            }
            Err(e) => {
                let e = Arc::new(e);
                let inconsistent = matches!(*e, StoreError::LogInconsistent(_));
                self.put_back(batch, inconsistent.then(|| e.clone()));
                match inconsistent {
                    true => {
                        self.metrics.log_inconsistent.inc();
                        tracing::error!(error = %e, "refusing to sign a checkpoint; no more events are taken");
                    }
                    false => tracing::error!(error = %e, "sequencing the log failed; trying again"),
                }
                self.progress.send_modify(|p| {
                    p.failed = Some(e);
                    p.failures += 1;
                });
                tokio::time::sleep(RETRY).await;
            }
        }
        true
    }
}
