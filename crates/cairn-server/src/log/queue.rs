//! The log's durable queue: the file an event is in before its request is answered, until the
//! writer has sequenced it into the tree. One file per server process, in
//! `<data dir>/log-queue/`, locked while the process lives (replicas may share a data
//! directory); a file nobody holds was left by a process that stopped, and the next one to
//! start appends what the tree lacks of it.
//!
//! Each line is one queued entry: `{"seq":N,"owner":…,"entry":"…"}`, `seq` counting from 0
//! over the queue's life and `entry` the entry's bytes exactly as they will be hashed. The
//! store records, with each append, how far into its queue the tree holds (`log_queues`), so a
//! replay skips what is already in. A write is in the kernel before the answer: the file
//! survives a crash of the process, as a SQLite commit (WAL, `synchronous = NORMAL`) does.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A queued entry, as written (borrowing what it is written from) and as read back.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queued<'a> {
    pub seq: u64,
    pub owner: Option<Cow<'a, str>>,
    pub entry: Cow<'a, str>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the log's queue {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the log's queue {} is damaged at line {line}: {why}", .path.display())]
    Damaged {
        path: PathBuf,
        line: usize,
        why: String,
    },
}

const SUFFIX: &str = ".queue";

/// This process's queue file, locked.
pub struct QueueFile {
    id: String,
    path: PathBuf,
    file: File,
    /// The bytes of its whole lines, where a failed write is cut back to.
    len: u64,
    /// Its lines.
    lines: u64,
}

/// A queue file no live process holds: the entries it still had.
pub struct Abandoned {
    pub id: String,
    pub path: PathBuf,
    pub entries: Vec<Queued<'static>>,
    /// Held until the file is removed, so no other process replays it too.
    _lock: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> QueueError + '_ {
    move |source| QueueError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The directory of a data directory's queues.
pub fn dir(data_dir: &Path) -> PathBuf {
    data_dir.join("log-queue")
}

impl QueueFile {
    /// Makes and locks a new queue in `dir`.
    pub fn create(dir: &Path) -> Result<QueueFile, QueueError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let id = hex::encode(cairn_proto::random_bytes::<16>());
        let path = dir.join(format!("{id}{SUFFIX}"));
        let file = Self::locked_as(&path, &[])?;
        Ok(QueueFile {
            id,
            path,
            file,
            len: 0,
            lines: 0,
        })
    }

    /// A file at `path` holding `lines`, locked before it is there under that name (it is
    /// written under a name no other process adopts), so that nobody else can take it.
    fn locked_as(path: &Path, lines: &[u8]) -> Result<File, QueueError> {
        let mut making = path.as_os_str().to_owned();
        making.push(".new");
        let making = PathBuf::from(making);
        // Only the process that holds `path` (or makes it) writes here: what is there is left
        // from a crash of its own, mid-rewrite.
        match std::fs::remove_file(&making) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&making)(e)),
            _ => {}
        }
        // Its entries name customers (their token hashes): for this user only, like the database.
        let mut file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .mode(0o600)
            .open(&making)
            .map_err(io(&making))?;
        file.try_lock()
            .map_err(|e| io(&making)(std::io::Error::other(e.to_string())))?;
        file.write_all(lines).map_err(io(&making))?;
        std::fs::rename(&making, path).map_err(io(path))?;
        Ok(file)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Appends one entry's line (into the kernel: no fsync, see the module's comment).
    pub fn append(&mut self, queued: &Queued<'_>) -> Result<(), QueueError> {
        let line = line(queued);
        match self.file.write_all(&line) {
            Ok(()) => {
                self.len += line.len() as u64;
                self.lines += 1;
                Ok(())
            }
            Err(e) => {
                // A part of a line would be damage in the middle of the file.
                let _ = self.file.set_len(self.len);
                Err(io(&self.path)(e))
            }
        }
    }

    /// The bytes it holds.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// The lines it holds.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Empties the file once everything in it is in the tree (positions go on counting).
    pub fn clear(&mut self) -> Result<(), QueueError> {
        self.file.set_len(0).map_err(io(&self.path))?;
        self.len = 0;
        self.lines = 0;
        Ok(())
    }

    /// Replaces the file with one of only `left` (what the tree still lacks): under steady
    /// load it is never all in the tree at once, and must not grow without bound. Either file
    /// has every line the tree lacks, whenever a crash comes.
    pub fn rewrite<'a>(
        &mut self,
        left: impl Iterator<Item = Queued<'a>>,
    ) -> Result<(), QueueError> {
        let (mut lines, mut count) = (vec![], 0);
        for queued in left {
            lines.extend(line(&queued));
            count += 1;
        }
        self.file = Self::locked_as(&self.path, &lines)?;
        self.len = lines.len() as u64;
        self.lines = count;
        Ok(())
    }

    /// Removes the file when the process stops with its queue sequenced.
    pub fn remove(&self) -> Result<(), QueueError> {
        std::fs::remove_file(&self.path).map_err(io(&self.path))
    }
}

fn line(queued: &Queued<'_>) -> Vec<u8> {
    let mut line = serde_json::to_vec(queued).expect("a queued entry serializes");
    line.push(b'\n');
    line
}

/// The queues in `dir` that no live process holds, each locked for this one.
pub fn abandoned(dir: &Path) -> Result<Vec<Abandoned>, QueueError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut found = vec![];
    for item in listing {
        let path = item.map_err(io(dir))?.path();
        if path.to_string_lossy().ends_with(".new") {
            // Half of a rewrite that a crash cut short (the file it was to replace is whole),
            // unless a live process is making it this moment.
            if let Some(file) = locked_here(&path)?
                && file
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().unwrap_or_default() > STALE)
            {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(SUFFIX))
            .map(str::to_string)
        else {
            continue;
        };
        let Some(file) = locked_here(&path)? else {
            continue; // a live process's queue, or one another process took meanwhile
        };
        let entries = read(&path, &file)?;
        found.push(Abandoned {
            id,
            path,
            entries,
            _lock: file,
        });
    }
    Ok(found)
}

/// A half-made rewrite this old was left by a crash.
const STALE: std::time::Duration = std::time::Duration::from_secs(60);

/// The file at `path`, locked for this process, if nobody else holds it and it is still the
/// file at `path` once locked (not one a rewrite replaced, or another process removed, between
/// the open and the lock).
fn locked_here(path: &Path) -> Result<Option<File>, QueueError> {
    use std::os::unix::fs::MetadataExt;
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(path)(e)),
    };
    if file.try_lock().is_err() {
        return Ok(None);
    }
    let held = file.metadata().map_err(io(path))?;
    match std::fs::metadata(path) {
        Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => Ok(Some(file)),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io(path)(e)),
    }
}

/// Every line of a queue. A last line without its newline was being written when the process
/// died, before any answer: it is dropped. Any other line that does not parse is damage.
fn read(path: &Path, file: &File) -> Result<Vec<Queued<'static>>, QueueError> {
    let mut entries = vec![];
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(io(path))? == 0 {
            break;
        }
        if line.last() != Some(&b'\n') {
            tracing::warn!(queue = %path.display(), line = number, "dropping a torn last line");
            break;
        }
        let queued: Queued<'static> =
            serde_json::from_slice(&line).map_err(|e| QueueError::Damaged {
                path: path.to_path_buf(),
                line: number,
                why: e.to_string(),
            })?;
        entries.push(queued);
    }
    Ok(entries)
}

impl Abandoned {
    /// Removes the file, its entries now in the tree.
    pub fn remove(self) -> Result<(), QueueError> {
        std::fs::remove_file(&self.path).map_err(io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(seq: u64) -> Queued<'static> {
        Queued {
            seq,
            owner: seq.is_multiple_of(2).then(|| "owner".into()),
            entry: format!("{{\"n\":{seq},\"s\":\"a \\\"quoted\\\" line\\n\"}}").into(),
        }
    }

    #[test]
    fn a_live_queue_is_not_abandoned_and_a_dropped_one_is_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = QueueFile::create(dir.path()).unwrap();
        for seq in 0..3 {
            queue.append(&queued(seq)).unwrap();
        }
        assert!(abandoned(dir.path()).unwrap().is_empty(), "it is locked");
        let id = queue.id().to_string();
        drop(queue);
        let found = abandoned(dir.path()).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, id);
        assert_eq!(found[0].entries, (0..3).map(queued).collect::<Vec<_>>());
        // Held by this adopter, nobody else takes it; removed, it is gone.
        assert!(abandoned(dir.path()).unwrap().is_empty());
        found.into_iter().for_each(|a| a.remove().unwrap());
        assert!(abandoned(dir.path()).unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_damage_elsewhere_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = QueueFile::create(dir.path()).unwrap();
        queue.append(&queued(0)).unwrap();
        queue.append(&queued(1)).unwrap();
        let path = queue.path.clone();
        drop(queue);
        let whole = std::fs::read(&path).unwrap();
        std::fs::write(&path, &whole[..whole.len() - 5]).unwrap();
        let found = abandoned(dir.path()).unwrap();
        assert_eq!(found[0].entries, vec![queued(0)]);
        drop(found);
        let mut damaged = b"{\"seq\":0,\"own\n".to_vec();
        damaged.extend_from_slice(&whole);
        std::fs::write(&path, damaged).unwrap();
        let e = abandoned(dir.path()).err().expect("damage is refused");
        assert!(e.to_string().contains("damaged at line 1"), "{e}");
    }

    #[test]
    fn a_rewritten_queue_keeps_only_what_it_is_given_and_stays_locked() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = QueueFile::create(dir.path()).unwrap();
        for seq in 0..4 {
            queue.append(&queued(seq)).unwrap();
        }
        queue.rewrite((2..4).map(queued)).unwrap();
        queue.append(&queued(4)).unwrap();
        assert!(abandoned(dir.path()).unwrap().is_empty(), "still locked");
        // A rewrite a crash cut short leaves a file nobody holds, which a later scan removes
        // (not one that may be another process's rewrite under way).
        let stale = dir.path().join("x.queue.new");
        let fresh = dir.path().join("y.queue.new");
        std::fs::write(&fresh, "{").unwrap();
        std::fs::write(&stale, "{").unwrap();
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&stale)
            .unwrap()
            .set_modified(an_hour_ago)
            .unwrap();
        drop(queue);
        let found = abandoned(dir.path()).unwrap();
        assert_eq!(found[0].entries, (2..5).map(queued).collect::<Vec<_>>());
        assert!(!stale.exists());
        assert!(fresh.exists());
    }

    #[test]
    fn a_cleared_queue_goes_on_from_empty() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = QueueFile::create(dir.path()).unwrap();
        queue.append(&queued(0)).unwrap();
        queue.clear().unwrap();
        queue.append(&queued(1)).unwrap();
        let text = std::fs::read_to_string(&queue.path).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.starts_with("{\"seq\":1,"), "{text}");
    }
}
