//! The C2SP `tlog-tiles` read API: tiles of height 8 (256 hashes) at `tile/<L>/<N>[.p/<W>]`
//! and entry bundles at `tile/entries/<N>[.p/<W>]`, `N` written in 3-digit path elements
//! (`x001/x234/067`), a partial tile's width after `.p/`.

use tlog_tiles::stored_hash_index;

/// Tiles are 2⁸ hashes wide.
pub const TILE_HEIGHT: u8 = 8;
pub const TILE_WIDTH: u64 = 1 << TILE_HEIGHT;

/// One tile or entry bundle, as its path names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TileRef {
    /// The hashes of tree level `8 × level`, nodes `256 × index` onward.
    Hashes { level: u8, index: u64, width: u64 },
    /// Entries `256 × index` onward.
    Entries { index: u64, width: u64 },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a tile path: {0:?} (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])")]
pub struct BadPath(pub String);

impl TileRef {
    /// Parses a path below the log's prefix (`tile/0/x001/234.p/17`); only the canonical
    /// spelling of each tile is accepted.
    pub fn parse(path: &str) -> Result<TileRef, BadPath> {
        let bad = || BadPath(path.to_string());
        if path.len() > 64 {
            return Err(bad());
        }
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (kind, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (n_path, width) = match rest.split_once(".p/") {
            Some((n, w)) => {
                let w: u64 = w.parse().map_err(|_| bad())?;
                (n, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let mut index: u64 = 0;
        let groups: Vec<&str> = n_path.split('/').collect();
        for (i, group) in groups.iter().enumerate() {
            let digits = match i + 1 == groups.len() {
                true => *group,
                false => group.strip_prefix('x').ok_or_else(bad)?,
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            index = index
                .checked_mul(1000)
                .and_then(|n| n.checked_add(digits.parse::<u64>().ok()?))
                .ok_or_else(bad)?;
        }
        let tile = match kind {
            "entries" => TileRef::Entries { index, width },
            level => TileRef::Hashes {
                level: level.parse().map_err(|_| bad())?,
                index,
                width,
            },
        };
        // One spelling per tile: `007` but not `7`, `.p/W` only for 0 < W < 256, L ≤ 7
        // (a tree of 2⁶⁴ entries has no level-8 tile).
        match tile.path() == path && (1..=TILE_WIDTH).contains(&width) && tile.level() < 8 {
            true => Ok(tile),
            false => Err(bad()),
        }
    }

    fn level(&self) -> u8 {
        match self {
            TileRef::Hashes { level, .. } => *level,
            TileRef::Entries { .. } => 0,
        }
    }

    fn index_and_width(&self) -> (u64, u64) {
        match *self {
            TileRef::Hashes { index, width, .. } | TileRef::Entries { index, width } => {
                (index, width)
            }
        }
    }

    pub fn path(&self) -> String {
        let (index, width) = self.index_and_width();
        let mut n = format!("{:03}", index % 1000);
        let mut rest = index / 1000;
        while rest > 0 {
            n = format!("x{:03}/{n}", rest % 1000);
            rest /= 1000;
        }
        let kind = match self {
            TileRef::Hashes { level, .. } => level.to_string(),
            TileRef::Entries { .. } => "entries".into(),
        };
        match width {
            TILE_WIDTH => format!("tile/{kind}/{n}"),
            w => format!("tile/{kind}/{n}.p/{w}"),
        }
    }

    /// Whether a tree of `size` entries has all of this tile.
    pub fn within(&self, size: u64) -> bool {
        let (index, width) = self.index_and_width();
        let nodes = match self.level() {
            0 => size,
            level => size >> (u32::from(level) * u32::from(TILE_HEIGHT)),
        };
        index
            .checked_mul(TILE_WIDTH)
            .and_then(|first| first.checked_add(width))
            .is_some_and(|end| end <= nodes)
    }

    /// The stored-hash indexes of a hash tile's hashes, in order; the entry indexes of a
    /// bundle's entries.
    pub fn indexes(&self) -> Vec<u64> {
        let (index, width) = self.index_and_width();
        let first = index * TILE_WIDTH;
        match self {
            TileRef::Hashes { level, .. } => (first..first + width)
                .map(|n| stored_hash_index(level * TILE_HEIGHT, n))
                .collect(),
            TileRef::Entries { .. } => (first..first + width).collect(),
        }
    }
}

/// An entry bundle: each entry as a big-endian 16-bit length and its bytes.
pub fn bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = vec![];
    for entry in entries {
        let len = u16::try_from(entry.len()).expect("entries fit a bundle (MAX_ENTRY_BYTES)");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    out
}

/// The entries of a bundle.
pub fn unbundle(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut entries = vec![];
    while !bytes.is_empty() {
        let [hi, lo, rest @ ..] = bytes else {
            return Err("an entry bundle ends inside a length".into());
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if rest.len() < len {
            return Err("an entry bundle ends inside an entry".into());
        }
        entries.push(rest[..len].to_vec());
        bytes = &rest[len..];
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_in_their_one_spelling() {
        let cases = [
            (
                "tile/0/000",
                TileRef::Hashes {
                    level: 0,
                    index: 0,
                    width: 256,
                },
            ),
            (
                "tile/0/x001/x234/067.p/8",
                TileRef::Hashes {
                    level: 0,
                    index: 1_234_067,
                    width: 8,
                },
            ),
            (
                "tile/1/999",
                TileRef::Hashes {
                    level: 1,
                    index: 999,
                    width: 256,
                },
            ),
            (
                "tile/entries/x001/000.p/255",
                TileRef::Entries {
                    index: 1000,
                    width: 255,
                },
            ),
        ];
        for (path, tile) in cases {
            assert_eq!(TileRef::parse(path), Ok(tile), "{path}");
            assert_eq!(tile.path(), path);
        }
        for bad in [
            "tile/0/7",
            "tile/0/0007",
            "tile/0/x000/007",
            "tile/0/001/002",
            "tile/0/000.p/256",
            "tile/0/000.p/0",
            "tile/0/000.p/08",
            "tile/8/000",
            "tile/00/000",
            "tile/data/000",
            "tile/entries/000.p/",
            "checkpoint",
            "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
        ] {
            assert!(TileRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tiles_exist_once_the_tree_covers_them() {
        let full = TileRef::Hashes {
            level: 0,
            index: 1,
            width: 256,
        };
        assert!(!full.within(511) && full.within(512));
        let partial = TileRef::Entries { index: 0, width: 3 };
        assert!(!partial.within(2) && partial.within(3) && partial.within(1000));
        let upper = TileRef::Hashes {
            level: 1,
            index: 0,
            width: 2,
        };
        assert!(!upper.within(511) && upper.within(512));
        assert_eq!(
            upper.indexes(),
            vec![stored_hash_index(8, 0), stored_hash_index(8, 1)]
        );
    }

    #[test]
    fn bundles_round_trip_and_truncation_is_refused() {
        let entries: Vec<&[u8]> = vec![b"a", b"", b"{\"type\":1}"];
        let bytes = bundle(entries.iter().copied());
        assert_eq!(unbundle(&bytes).unwrap(), entries);
        assert!(unbundle(&bytes[..bytes.len() - 1]).is_err());
        assert!(unbundle(&[0]).is_err());
    }
}
