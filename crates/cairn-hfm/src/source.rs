//! Read-only access to the scanned tree, and the list of absent sources.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cairn_proto::ComponentClass;

use crate::Absent;

/// No sysfs or procfs file we read comes near this; it only bounds a hostile tree.
const MAX_FILE: u64 = 16 << 20;

/// Why a source could not be read. Its `Display` is the [`Absent::reason`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unavailable {
    #[error("not present")]
    NotPresent,
    #[error("permission denied")]
    PermissionDenied,
    #[error("unreadable: {0}")]
    Unreadable(String),
}

impl From<io::Error> for Unavailable {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::NotADirectory => Unavailable::NotPresent,
            io::ErrorKind::PermissionDenied => Unavailable::PermissionDenied,
            _ => Unavailable::Unreadable(e.to_string()),
        }
    }
}

/// The scanned filesystem; paths are relative to its root and use `/`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tree<'a> {
    pub(crate) root: &'a Path,
}

impl Tree<'_> {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    pub(crate) fn bytes(&self, rel: &str) -> Result<Vec<u8>, Unavailable> {
        let mut buf = Vec::new();
        File::open(self.path(rel))?
            .take(MAX_FILE)
            .read_to_end(&mut buf)?;
        Ok(buf)
    }

    pub(crate) fn text(&self, rel: &str) -> Result<String, Unavailable> {
        Ok(String::from_utf8_lossy(&self.bytes(rel)?).into_owned())
    }

    /// Entry names of a directory, sorted so that the scan order is deterministic. Names that
    /// are not UTF-8 (never seen in sysfs) are skipped.
    pub(crate) fn list(&self, rel: &str) -> Result<Vec<String>, Unavailable> {
        let mut names: Vec<String> = fs::read_dir(self.path(rel))?
            .flatten()
            .filter_map(|entry| entry.file_name().to_str().map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// True when `rel` is a directory, following symlinks as the kernel does on path lookup.
    pub(crate) fn is_dir(&self, rel: &str) -> bool {
        fs::metadata(self.path(rel)).is_ok_and(|m| m.is_dir())
    }

    /// True when `rel` exists, without following a final symlink.
    pub(crate) fn exists(&self, rel: &str) -> bool {
        fs::symlink_metadata(self.path(rel)).is_ok()
    }
}

/// Scan state: the tree and the absent sources found so far.
pub(crate) struct Ctx<'a> {
    pub(crate) tree: Tree<'a>,
    absent: Vec<Absent>,
}

impl<'a> Ctx<'a> {
    pub(crate) fn new(root: &'a Path) -> Self {
        Ctx {
            tree: Tree { root },
            absent: Vec::new(),
        }
    }

    pub(crate) fn into_absent(self) -> Vec<Absent> {
        self.absent
    }

    pub(crate) fn absent(&mut self, class: ComponentClass, source: &str, reason: impl ToString) {
        self.absent.push(Absent {
            class,
            source: source.to_owned(),
            reason: reason.to_string(),
        });
    }

    /// Reads an optional file: a missing file is silently `None` (plenty of attributes exist
    /// only on some hardware); a file that exists but cannot be read is recorded as absent.
    pub(crate) fn optional(&mut self, class: ComponentClass, rel: &str) -> Option<String> {
        match self.tree.text(rel) {
            Ok(text) => Some(text),
            Err(Unavailable::NotPresent) => None,
            Err(e) => {
                self.absent(class, rel, e);
                None
            }
        }
    }

    /// Lists a directory the class depends on; any failure, missing included, is recorded.
    pub(crate) fn list(&mut self, class: ComponentClass, rel: &str) -> Option<Vec<String>> {
        match self.tree.list(rel) {
            Ok(names) => Some(names),
            Err(e) => {
                self.absent(class, rel, e);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_absent_reasons() {
        let reason = |kind: io::ErrorKind| Unavailable::from(io::Error::from(kind)).to_string();
        assert_eq!(reason(io::ErrorKind::NotFound), "not present");
        assert_eq!(reason(io::ErrorKind::NotADirectory), "not present");
        assert_eq!(reason(io::ErrorKind::PermissionDenied), "permission denied");
        let eio = Unavailable::from(io::Error::from_raw_os_error(5)).to_string();
        assert!(eio.starts_with("unreadable: "), "{eio}");
    }

    #[test]
    fn missing_root_is_not_present() {
        let tree = Tree {
            root: Path::new("/nonexistent/cairn-hfm"),
        };
        assert_eq!(tree.text("proc/cpuinfo"), Err(Unavailable::NotPresent));
        assert_eq!(tree.list("sys/block"), Err(Unavailable::NotPresent));
        assert!(!tree.is_dir("sys"));
        assert!(!tree.exists("sys"));
    }
}
