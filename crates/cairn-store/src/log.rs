//! The transparency log's rows (migration 0008). Appending is one transaction that takes the
//! head row's lock first (so replicas sequence one after another), checks that the stored
//! tree still has the root its last signed checkpoint names (invariant 9), adds the entries
//! and the hashes they complete, and stores the new signed checkpoint.
//!
//! A change of state writes its entry into the outbox (migration 0012) in its own transaction
//! ([`outbox`]), so that the change and its entry commit together (invariant 13); an append
//! takes what waits there, in order, and deletes it in the same transaction.

use std::collections::HashMap;

use cairn_log::tree::Hashes;
use cairn_log::{Checkpoint, Frontier, Hash, LogSigner};
use sqlx::Row;

use crate::{Backend, Result, Store, StoreError};

/// An entry to append: its bytes, and what it is found by.
#[derive(Clone, Debug)]
pub struct NewEntry {
    /// Its event type (kept as text: an outbox row written by a newer replica may name a type
    /// this one does not know, and goes in all the same).
    pub kind: std::borrow::Cow<'static, str>,
    /// When it was recorded, in nanoseconds since the epoch: an append takes entries from the
    /// outbox and from a server's queue in this order.
    pub at: i64,
    pub subject: String,
    /// The token hash of the customer it concerns, who may read it.
    pub owner: Option<String>,
    pub bytes: Vec<u8>,
}

/// How far into a server's durable queue the tree holds, once an append commits: its
/// positions below `upto`.
#[derive(Clone, Copy, Debug)]
pub struct QueueMark<'a> {
    pub queue: &'a str,
    pub upto: u64,
}

/// What an append did.
#[derive(Clone, Debug)]
pub struct Appended {
    /// The index of its first entry.
    pub first: u64,
    /// The checkpoint the tree now has (the one it had, when there was nothing to append).
    pub checkpoint: Checkpoint,
    /// How many of its entries came from the outbox.
    pub outboxed: usize,
}

/// One stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedEntry {
    pub index: u64,
    pub bytes: Vec<u8>,
}

/// Rows per statement when appending (SQLite allows 32,766 parameters).
const ROWS_PER_INSERT: usize = 500;

/// Entries read per query when the whole log is checked.
const CHECK_CHUNK: u64 = 4096;

fn index(i: u64) -> Result<i64> {
    i64::try_from(i).map_err(|_| StoreError::Corrupt(format!("log index {i} out of range")))
}

fn inconsistent(what: impl std::fmt::Display) -> StoreError {
    StoreError::LogInconsistent(what.to_string())
}

/// The parameters `first..first + n` of a statement, in order: `$first, $first+1, …` on
/// PostgreSQL, and anonymous `?` on SQLite, where a numbered one costs a scan of the
/// statement's parameter list at each bind (measured: half of a 500-row insert's time).
fn placeholders(backend: Backend, first: usize, n: usize) -> String {
    let one = |i| match backend {
        Backend::Postgres => format!("${i}"),
        Backend::Sqlite => "?".to_string(),
    };
    (first..first + n).map(one).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Opens the log: signs the empty tree's checkpoint if there is none yet, then checks
    /// every stored entry and hash against the last signed checkpoint (invariant 9, at
    /// start-up). Answers that checkpoint.
    pub async fn open_log(&self, signer: &LogSigner) -> Result<Checkpoint> {
        let empty = signer
            .checkpoint(0, Frontier::empty().root())
            .map_err(StoreError::Unavailable)?;
        sqlx::query("INSERT INTO log_head (id, size, checkpoint) VALUES (1, 0, $1) ON CONFLICT (id) DO NOTHING")
            .bind(String::from_utf8_lossy(&empty.note).into_owned())
            .execute(&self.pool)
            .await?;
        let checkpoint = self.signed_head(signer).await?;
        self.check_log(&checkpoint).await?;
        Ok(checkpoint)
    }

    /// The last signed checkpoint, opened with the log's key.
    async fn signed_head(&self, signer: &LogSigner) -> Result<Checkpoint> {
        let row = sqlx::query("SELECT size, checkpoint FROM log_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| inconsistent("the log has no checkpoint"))?;
        open_head(
            signer,
            row.try_get("size")?,
            &row.try_get::<String, _>("checkpoint")?,
        )
    }

    /// Rehashes every entry and compares each stored hash and the root with the checkpoint.
    async fn check_log(&self, checkpoint: &Checkpoint) -> Result<()> {
        let mut frontier = Frontier::empty();
        while frontier.size() < checkpoint.size {
            let from = frontier.size();
            let to = (from + CHECK_CHUNK).min(checkpoint.size);
            let entries = self.log_entries(from, to).await?;
            let mut computed = vec![];
            for (expected, entry) in (from..).zip(&entries) {
                if entry.index != expected {
                    return Err(inconsistent(format!("log entry {expected} is missing")));
                }
                computed.extend(frontier.append(&entry.bytes));
            }
            if frontier.size() != to {
                return Err(inconsistent(format!(
                    "the log holds {} entries where its checkpoint says {}",
                    frontier.size(),
                    checkpoint.size
                )));
            }
            let indexes: Vec<u64> = computed.iter().map(|(i, _)| *i).collect();
            let stored = self.log_hashes(&indexes).await?;
            if let Some((i, _)) = computed.iter().find(|(i, h)| stored.0.get(i) != Some(h)) {
                return Err(inconsistent(format!(
                    "stored hash {i} does not match the entries (a rewritten row?)"
                )));
            }
        }
        if frontier.root() != checkpoint.root {
            return Err(inconsistent(format!(
                "the entries' root is not the root the checkpoint of size {} signed (a rewritten entry?)",
                checkpoint.size
            )));
        }
        Ok(())
    }

    /// Appends `entries` in order (and, in the same transaction, marks how far they take
    /// their queue); answers the index of the first and the new checkpoint.
    pub async fn append_log(
        &self,
        entries: &[NewEntry],
        signer: &LogSigner,
        queued: Option<QueueMark<'_>>,
    ) -> Result<(u64, Checkpoint)> {
        let appended = self.sequence_log(entries, signer, queued, 0).await?;
        Ok((appended.first, appended.checkpoint))
    }

    /// Whether entries wait in the outbox (a cheap read, taking no lock).
    pub async fn outbox_waiting(&self) -> Result<bool> {
        Ok(sqlx::query("SELECT 1 FROM log_outbox LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Appends up to `outbox` of the entries waiting in the outbox, oldest first, then
    /// `entries` (as [`Self::append_log`] does), deleting the outbox's in the same transaction
    /// so that each goes in once. Nothing is signed when there is nothing to append.
    pub async fn sequence_log(
        &self,
        entries: &[NewEntry],
        signer: &LogSigner,
        queued: Option<QueueMark<'_>>,
        outbox: usize,
    ) -> Result<Appended> {
        let mut tx = self.pool.begin().await?;
        // The lock on the head row sequences every appender, on every replica.
        let row =
            sqlx::query("UPDATE log_head SET size = size WHERE id = 1 RETURNING size, checkpoint")
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| inconsistent("the log has no checkpoint (not opened)"))?;
        let head = open_head(
            signer,
            row.try_get("size")?,
            &row.try_get::<String, _>("checkpoint")?,
        )?;
        let stored = fetch_hashes(&mut tx, self.backend, &Frontier::indexes(head.size)).await?;
        let mut frontier = Frontier::new(head.size, stored.0)
            .map_err(|e| inconsistent(format!("at size {}: {e}", head.size)))?;
        // Invariant 9 before each checkpoint: the stored tree is still the signed one.
        if frontier.root() != head.root {
            return Err(inconsistent(format!(
                "the stored tree of size {} no longer has the root its checkpoint signed",
                head.size
            )));
        }
        // Read under the head's lock: an outbox row committed before it is here, or was
        // deleted by the append that took it.
        let (ids, taken) = take_outbox(&mut tx, outbox).await?;
        let outboxed = taken.len();
        if outboxed + entries.len() == 0 {
            tx.rollback().await?;
            return Ok(Appended {
                first: head.size,
                checkpoint: head,
                outboxed,
            });
        }
        let taken = in_order(taken, entries);
        let entries = &taken[..];
        let first = frontier.size();
        let mut hashes = vec![];
        for entry in entries {
            hashes.extend(frontier.append(&entry.bytes));
        }
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "DELETE FROM log_outbox WHERE id IN ({})",
                placeholders(self.backend, 1, chunk.len())
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for id in chunk {
                query = query.bind(id.clone());
            }
            query.execute(&mut *tx).await?;
        }
        for (n, chunk) in entries.chunks(ROWS_PER_INSERT).enumerate() {
            let values = (0..chunk.len())
                .map(|i| format!("({})", placeholders(self.backend, 5 * i + 1, 5)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO log_entries (idx, kind, subject, owner, entry) VALUES {values}"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, entry) in chunk.iter().enumerate() {
                let at = first + (n * ROWS_PER_INSERT + i) as u64;
                query = query
                    .bind(index(at)?)
                    .bind(entry.kind.to_string())
                    .bind(entry.subject.clone())
                    .bind(entry.owner.clone())
                    .bind(String::from_utf8_lossy(&entry.bytes).into_owned());
            }
            query.execute(&mut *tx).await?;
        }
        for chunk in hashes.chunks(2 * ROWS_PER_INSERT) {
            let values = (0..chunk.len())
                .map(|i| format!("({})", placeholders(self.backend, 2 * i + 1, 2)))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("INSERT INTO log_hashes (idx, hash) VALUES {values}");
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (i, hash) in chunk {
                query = query.bind(index(*i)?).bind(hash.0.to_vec());
            }
            query.execute(&mut *tx).await?;
        }
        let checkpoint = signer
            .checkpoint(frontier.size(), frontier.root())
            .map_err(StoreError::Unavailable)?;
        sqlx::query("UPDATE log_head SET size = $1, checkpoint = $2 WHERE id = 1")
            .bind(index(checkpoint.size)?)
            .bind(String::from_utf8_lossy(&checkpoint.note).into_owned())
            .execute(&mut *tx)
            .await?;
        if let Some(mark) = queued {
            sqlx::query("INSERT INTO log_queues (queue, sequenced) VALUES ($1, $2) ON CONFLICT (queue) DO UPDATE SET sequenced = excluded.sequenced")
                .bind(mark.queue.to_string())
                .bind(index(mark.upto)?)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Appended {
            first,
            checkpoint,
            outboxed,
        })
    }

    /// How far the tree holds queue `queue`: its positions below the answer (0 for a queue
    /// never sequenced from).
    pub async fn log_queue_sequenced(&self, queue: &str) -> Result<u64> {
        let row = sqlx::query("SELECT sequenced FROM log_queues WHERE queue = $1")
            .bind(queue.to_string())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(row.try_get::<i64, _>("sequenced")? as u64),
            None => Ok(0),
        }
    }

    /// Forgets a queue whose file is gone (all of it is in the tree).
    pub async fn forget_log_queue(&self, queue: &str) -> Result<()> {
        sqlx::query("DELETE FROM log_queues WHERE queue = $1")
            .bind(queue.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The last signed checkpoint's note, as served.
    pub async fn log_checkpoint(&self) -> Result<Option<(u64, String)>> {
        let row = sqlx::query("SELECT size, checkpoint FROM log_head WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let size: i64 = row.try_get("size")?;
            Ok((size as u64, row.try_get("checkpoint")?))
        })
        .transpose()
    }

    /// Stored hashes by index (those that exist).
    pub async fn log_hashes(&self, indexes: &[u64]) -> Result<Hashes> {
        let mut conn = self.pool.acquire().await?;
        fetch_hashes(&mut conn, self.backend, indexes).await
    }

    /// Entries `from..to`, in order.
    pub async fn log_entries(&self, from: u64, to: u64) -> Result<Vec<LoggedEntry>> {
        let rows = sqlx::query(
            "SELECT idx, entry FROM log_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx",
        )
        .bind(index(from)?)
        .bind(index(to)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(logged).collect()
    }

    /// Up to `limit` entries after index `after` (from the first when `None`), only those of
    /// `owner` when given.
    pub async fn log_events(
        &self,
        after: Option<u64>,
        owner: Option<&str>,
        limit: u32,
    ) -> Result<Vec<LoggedEntry>> {
        let from = match after.map(i64::try_from) {
            Some(Ok(i)) => i.saturating_add(1),
            // No log holds an entry after the largest index a database can store.
            Some(Err(_)) => return Ok(vec![]),
            None => 0,
        };
        let rows = match owner {
            Some(owner) => sqlx::query("SELECT idx, entry FROM log_entries WHERE owner = $1 AND idx >= $2 ORDER BY idx LIMIT $3")
                .bind(owner.to_string()),
            None => sqlx::query("SELECT idx, entry FROM log_entries WHERE $1 = $1 AND idx >= $2 ORDER BY idx LIMIT $3")
                .bind(String::new()),
        }
        .bind(from)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(logged).collect()
    }

    /// The bytes the log's tables and indexes take, as the database counts them (`None`
    /// where it does not say: a SQLite built without its `dbstat` table).
    pub async fn log_storage_bytes(&self) -> Result<Option<u64>> {
        let sql = match self.backend {
            Backend::Postgres => {
                "SELECT CAST(pg_total_relation_size('log_entries') + pg_total_relation_size('log_hashes') AS BIGINT) AS bytes"
            }
            Backend::Sqlite => {
                "SELECT CAST(SUM(pgsize) AS BIGINT) AS bytes FROM dbstat WHERE name LIKE 'log_%' OR name LIKE 'sqlite_autoindex_log_%'"
            }
        };
        match sqlx::query(sql).fetch_one(&self.pool).await {
            Ok(row) => Ok(row.try_get::<Option<i64>, _>("bytes")?.map(|b| b as u64)),
            Err(sqlx::Error::Database(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The index of an ERoT's `erot.generated` entry, which its receipt's proof is for. (Only
    /// those entries are indexed by subject: the others cost no index to append.)
    pub async fn erot_generated_index(&self, erot_id: &str) -> Result<Option<u64>> {
        let row = sqlx::query(
            "SELECT MIN(idx) AS idx FROM log_entries WHERE subject = $1 AND kind = 'erot.generated'",
        )
        .bind(erot_id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("idx")?.map(|i| i as u64))
    }
}

/// Ends a change's transaction: commits it with its log entry, or, where the change did not
/// happen (`None`: a lost race, nothing found), rolls it back, writing nothing.
pub(crate) async fn finish(
    mut tx: sqlx::Transaction<'_, sqlx::Any>,
    entry: Option<&NewEntry>,
) -> Result<()> {
    match entry {
        Some(entry) => {
            outbox(&mut tx, entry).await?;
            tx.commit().await?;
        }
        None => tx.rollback().await?,
    }
    Ok(())
}

/// Writes `entry` into the log's outbox, in the transaction of the change it records.
pub(crate) async fn outbox(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    entry: &NewEntry,
) -> Result<()> {
    // Ordered by when the entry was made, on the same clock as its server's queued entries.
    let random = u64::from_le_bytes(cairn_proto::random_bytes());
    let id = format!("{:020}{random:016x}", entry.at.max(0));
    sqlx::query(
        "INSERT INTO log_outbox (id, kind, subject, owner, entry) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(entry.kind.to_string())
    .bind(entry.subject.clone())
    .bind(entry.owner.clone())
    .bind(String::from_utf8_lossy(&entry.bytes).into_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Up to `limit` outbox entries, oldest first, with their ids.
async fn take_outbox(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    limit: usize,
) -> Result<(Vec<String>, Vec<NewEntry>)> {
    if limit == 0 {
        return Ok((vec![], vec![]));
    }
    let rows =
        sqlx::query("SELECT id, kind, subject, owner, entry FROM log_outbox ORDER BY id LIMIT $1")
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut **tx)
            .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let id: String = row.try_get("id")?;
        let at = id
            .get(..20)
            .and_then(|nanos| nanos.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("log outbox id {id:?}")))?;
        ids.push(id);
        entries.push(NewEntry {
            kind: std::borrow::Cow::Owned(row.try_get("kind")?),
            at,
            subject: row.try_get("subject")?,
            owner: row.try_get("owner")?,
            bytes: row.try_get::<String, _>("entry")?.into_bytes(),
        });
    }
    Ok((ids, entries))
}

/// The outbox's entries and a queue's, each already in its own order, merged by the time each
/// was recorded: so that within one server, what was acknowledged first is logged first.
fn in_order(outbox: Vec<NewEntry>, queued: &[NewEntry]) -> Vec<NewEntry> {
    let mut merged = Vec::with_capacity(outbox.len() + queued.len());
    let mut queued = queued.iter().peekable();
    for entry in outbox {
        while let Some(next) = queued.next_if(|q| q.at <= entry.at) {
            merged.push(next.clone());
        }
        merged.push(entry);
    }
    merged.extend(queued.cloned());
    merged
}

fn logged(row: &sqlx::any::AnyRow) -> Result<LoggedEntry> {
    let idx: i64 = row.try_get("idx")?;
    Ok(LoggedEntry {
        index: idx as u64,
        bytes: row.try_get::<String, _>("entry")?.into_bytes(),
    })
}

/// The stored checkpoint, if the log's key signed it and it says the size stored beside it.
fn open_head(signer: &LogSigner, size: i64, note: &str) -> Result<Checkpoint> {
    let checkpoint = signer
        .open(note.as_bytes())
        .map_err(|e| inconsistent(format!("the stored checkpoint: {e}")))?;
    if i64::try_from(checkpoint.size).ok() != Some(size) {
        return Err(inconsistent(format!(
            "the log's size is {size} but its checkpoint says {}",
            checkpoint.size
        )));
    }
    Ok(checkpoint)
}

async fn fetch_hashes(
    conn: &mut sqlx::AnyConnection,
    backend: Backend,
    indexes: &[u64],
) -> Result<Hashes> {
    let mut found = HashMap::with_capacity(indexes.len());
    for chunk in indexes.chunks(2 * ROWS_PER_INSERT) {
        let sql = format!(
            "SELECT idx, hash FROM log_hashes WHERE idx IN ({})",
            placeholders(backend, 1, chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for i in chunk {
            query = query.bind(index(*i)?);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let idx: i64 = row.try_get("idx")?;
            let bytes: Vec<u8> = row.try_get("hash")?;
            let hash: [u8; 32] = bytes
                .try_into()
                .map_err(|_| inconsistent(format!("stored hash {idx} is not 32 bytes")))?;
            found.insert(idx as u64, Hash(hash));
        }
    }
    Ok(Hashes(found))
}
