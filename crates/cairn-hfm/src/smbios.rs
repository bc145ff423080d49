//! A pure, bounds-checked parser for the raw SMBIOS structure table (DMTF DSP0134), as the
//! kernel exports it in `/sys/firmware/dmi/tables/DMI`.
//!
//! Each structure is a formatted area (type u8, length u8, handle u16 little-endian, then
//! `length - 4` type-specific bytes) followed by a string-set: NUL-terminated strings ended by
//! one more NUL (`00 00` when the structure has no strings). Type 127 ends the table.
//!
//! A malformed or truncated table yields the structures that parsed cleanly before the
//! damage and then stops; nothing here panics or reads out of bounds.

use std::borrow::Cow;

/// Structure type that marks the end of the table.
pub const END_OF_TABLE: u8 = 127;

/// One SMBIOS structure, borrowing from the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Structure<'a> {
    pub kind: u8,
    pub handle: u16,
    /// The whole formatted area, header included, so offsets match the specification.
    formatted: &'a [u8],
    /// The string-set without its terminating NULs: `str1 \0 str2 \0 ... strN`.
    strings: &'a [u8],
}

impl<'a> Structure<'a> {
    /// The formatted area, header included.
    pub fn formatted(&self) -> &'a [u8] {
        self.formatted
    }

    /// `len` bytes at `offset` of the formatted area, if the structure is long enough.
    pub fn bytes(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        self.formatted.get(offset..offset.checked_add(len)?)
    }

    pub fn byte(&self, offset: usize) -> Option<u8> {
        self.formatted.get(offset).copied()
    }

    pub fn word(&self, offset: usize) -> Option<u16> {
        self.bytes(offset, 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn dword(&self, offset: usize) -> Option<u32> {
        self.bytes(offset, 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// String number `index` of the string-set (1-based; 0 means "no string"). Strings are
    /// meant to be ASCII; other bytes are replaced rather than rejected.
    pub fn string(&self, index: u8) -> Option<Cow<'a, str>> {
        if index == 0 || self.strings.is_empty() {
            return None;
        }
        let raw = self
            .strings
            .split(|&b| b == 0)
            .nth(usize::from(index) - 1)?;
        (!raw.is_empty()).then(|| String::from_utf8_lossy(raw))
    }

    /// The string whose number is stored in the byte at `offset`.
    pub fn string_at(&self, offset: usize) -> Option<Cow<'a, str>> {
        self.string(self.byte(offset)?)
    }
}

/// Iterator over the structures of a table; see [`structures`].
#[derive(Clone, Debug)]
pub struct Structures<'a> {
    data: &'a [u8],
    pos: usize,
}

/// Iterates over the structures of a raw table, stopping at the end-of-table structure (not
/// yielded), at the end of the data, or at the first structure that does not parse.
pub fn structures(data: &[u8]) -> Structures<'_> {
    Structures { data, pos: 0 }
}

impl<'a> Iterator for Structures<'a> {
    type Item = Structure<'a>;

    fn next(&mut self) -> Option<Structure<'a>> {
        let parsed = self.parse_at(self.pos);
        match parsed {
            Some((structure, next)) if structure.kind != END_OF_TABLE => {
                self.pos = next;
                Some(structure)
            }
            _ => {
                self.pos = self.data.len();
                None
            }
        }
    }
}

impl<'a> Structures<'a> {
    /// Parses the structure at `pos`, returning it and the offset of the next one.
    fn parse_at(&self, pos: usize) -> Option<(Structure<'a>, usize)> {
        let data = self.data;
        let header = data.get(pos..pos.checked_add(4)?)?;
        let (kind, length) = (header[0], usize::from(header[1]));
        if length < 4 {
            return None;
        }
        let strings_start = pos.checked_add(length)?;
        let formatted = data.get(pos..strings_start)?;
        let rest = data.get(strings_start..)?;
        // The string-set ends at the first double NUL (strings themselves are never empty).
        let end = rest.windows(2).position(|w| w == [0, 0])?;
        let structure = Structure {
            kind,
            handle: u16::from_le_bytes([header[2], header[3]]),
            formatted,
            strings: &rest[..end],
        };
        Some((structure, strings_start + end + 2))
    }
}

/// The SMBIOS version `(major, minor)` from a 32-bit (`_SM_`) or 64-bit (`_SM3_`) entry
/// point, as exported in `/sys/firmware/dmi/tables/smbios_entry_point`.
pub fn entry_point_version(ep: &[u8]) -> Option<(u8, u8)> {
    if ep.starts_with(b"_SM3_") {
        Some((*ep.get(7)?, *ep.get(8)?))
    } else if ep.starts_with(b"_SM_") {
        Some((*ep.get(6)?, *ep.get(7)?))
    } else {
        None
    }
}

/// SMBIOS 2.6 and later store the first three UUID fields little-endian (as the kernel does
/// when it decodes `product_uuid`); earlier versions store them big-endian.
pub fn uuid_is_little_endian((major, minor): (u8, u8)) -> bool {
    (major, minor) >= (2, 6)
}

/// Formats a 16-byte SMBIOS UUID as lowercase 8-4-4-4-12.
pub fn format_uuid(b: &[u8; 16], little_endian: bool) -> String {
    let (d1, d2, d3) = if little_endian {
        ([b[3], b[2], b[1], b[0]], [b[5], b[4]], [b[7], b[6]])
    } else {
        ([b[0], b[1], b[2], b[3]], [b[4], b[5]], [b[6], b[7]])
    };
    let hex = |bytes: &[u8]| bytes.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        hex(&d1),
        hex(&d2),
        hex(&d3),
        hex(&b[8..10]),
        hex(&b[10..16])
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds one structure: header, `body` (the formatted bytes after the header), strings.
    pub(crate) fn structure(kind: u8, handle: u16, body: &[u8], strings: &[&str]) -> Vec<u8> {
        let mut out = vec![kind, u8::try_from(4 + body.len()).unwrap()];
        out.extend(handle.to_le_bytes());
        out.extend(body);
        if strings.is_empty() {
            out.extend([0, 0]);
        } else {
            for s in strings {
                out.extend(s.as_bytes());
                out.push(0);
            }
            out.push(0);
        }
        out
    }

    fn sample() -> Vec<u8> {
        let mut t = structure(
            1,
            0x0100,
            &[1, 2, 0, 3],
            &["Dell Inc.", "PowerEdge R740", "CN70163"],
        );
        t.extend(structure(16, 0x1000, &[3, 3, 3], &[]));
        t.extend(structure(
            2,
            0x0200,
            &[1, 0, 0, 2],
            &["Dell Inc.", "0WRPXK"],
        ));
        t.extend(structure(END_OF_TABLE, 0xFEFF, &[], &[]));
        t
    }

    #[test]
    fn parses_structures_and_strings() {
        let data = sample();
        let all: Vec<_> = structures(&data).collect();
        assert_eq!(
            all.iter().map(|s| (s.kind, s.handle)).collect::<Vec<_>>(),
            [(1, 0x0100), (16, 0x1000), (2, 0x0200)]
        );
        let system = all[0];
        assert_eq!(system.formatted().len(), 8);
        assert_eq!(system.string_at(4).as_deref(), Some("Dell Inc."));
        assert_eq!(system.string_at(5).as_deref(), Some("PowerEdge R740"));
        assert_eq!(system.string_at(6), None, "string number 0 is no string");
        assert_eq!(system.string_at(7).as_deref(), Some("CN70163"));
        assert_eq!(system.string(4), None, "only three strings");
        assert_eq!(system.string_at(8), None, "offset past the formatted area");
        assert_eq!(all[1].string(1), None, "no string-set");
        assert_eq!(all[1].byte(6), Some(3));
        assert_eq!(all[2].string_at(7).as_deref(), Some("0WRPXK"));
    }

    #[test]
    fn integer_accessors_are_little_endian_and_bounded() {
        let data = structure(17, 7, &[0x34, 0x12, 0x78, 0x56, 0x34, 0x12], &[]);
        let s = structures(&data).next().unwrap();
        assert_eq!(s.word(4), Some(0x1234));
        assert_eq!(s.dword(6), Some(0x1234_5678));
        assert_eq!(s.dword(7), None);
        assert_eq!(s.word(9), None);
        assert_eq!(s.bytes(usize::MAX, 2), None);
        assert_eq!(s.byte(10), None);
    }

    #[test]
    fn stops_at_end_of_table() {
        let mut data = sample();
        data.extend(structure(1, 9, &[1, 0, 0, 0], &["after the end"]));
        assert_eq!(structures(&data).count(), 3);
    }

    #[test]
    fn missing_end_of_table_is_fine() {
        let mut data = structure(1, 1, &[1], &["a"]);
        data.extend(structure(2, 2, &[1], &["b"]));
        assert_eq!(structures(&data).count(), 2);
    }

    #[test]
    fn every_truncation_yields_a_clean_prefix() {
        let data = sample();
        let full: Vec<_> = structures(&data).collect();
        for cut in 0..data.len() {
            let part: Vec<_> = structures(&data[..cut]).collect();
            assert!(part.len() <= full.len());
            assert_eq!(part[..], full[..part.len()], "cut at {cut}");
        }
        assert!(structures(&[]).next().is_none());
    }

    #[test]
    fn malformed_length_stops_the_walk() {
        let mut data = structure(1, 1, &[1], &["a"]);
        data.extend([2, 3, 0, 0, 0, 0]); // length 3 < header size
        data.extend(structure(2, 2, &[1], &["b"]));
        assert_eq!(structures(&data).map(|s| s.kind).collect::<Vec<_>>(), [1]);

        let mut data = structure(1, 1, &[1], &["a"]);
        data.extend([2, 200, 0, 0, 1, 2]); // length runs past the data
        assert_eq!(structures(&data).count(), 1);

        let mut data = structure(1, 1, &[1], &["a"]);
        data.extend([2, 5, 0, 0, 1, b'x', 0]); // string-set without its final NUL
        assert_eq!(structures(&data).count(), 1);
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: pseudo-random bytes, plus single-byte corruptions.
        let mut x: u32 = 0x1234_5678;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let data: Vec<u8> = (0..len).map(|_| (next() % 8) as u8).collect();
            for s in structures(&data) {
                for i in 0..=255u8 {
                    let _ = s.string(i);
                }
                let _ = (s.dword(0x1C), s.word(0x0C), s.bytes(8, 16));
            }
        }
        let base = sample();
        for i in 0..base.len() {
            for v in [0u8, 1, 0xFF] {
                let mut data = base.clone();
                data[i] = v;
                for s in structures(&data) {
                    let _ = (s.string_at(4), s.string_at(7));
                }
            }
        }
    }

    #[test]
    fn non_ascii_strings_are_replaced_not_rejected() {
        let mut data = vec![1, 5, 0, 0, 1];
        data.extend([0xC3, 0x28, 0, 0]);
        let s = structures(&data).next().unwrap();
        assert_eq!(s.string(1).as_deref(), Some("\u{FFFD}("));
    }

    #[test]
    fn entry_point_versions() {
        let mut ep3 = b"_SM3_".to_vec();
        ep3.extend([0x00, 0x18, 3, 2, 0, 1, 0]);
        assert_eq!(entry_point_version(&ep3), Some((3, 2)));
        let mut ep2 = b"_SM_".to_vec();
        ep2.extend([0x00, 0x1F, 2, 4]);
        assert_eq!(entry_point_version(&ep2), Some((2, 4)));
        assert_eq!(entry_point_version(b"_SM3_"), None);
        assert_eq!(entry_point_version(b"junk"), None);
        assert!(uuid_is_little_endian((2, 6)));
        assert!(uuid_is_little_endian((3, 0)));
        assert!(!uuid_is_little_endian((2, 5)));
    }

    #[test]
    fn uuid_byte_order() {
        let bytes: [u8; 16] = [
            0x44, 0x45, 0x4C, 0x4C, 0x42, 0x00, 0x10, 0x35, 0x80, 0x52, 0xB4, 0xC0, 0x4F, 0x4D,
            0x4E, 0x32,
        ];
        assert_eq!(
            format_uuid(&bytes, true),
            "4c4c4544-0042-3510-8052-b4c04f4d4e32"
        );
        assert_eq!(
            format_uuid(&bytes, false),
            "44454c4c-4200-1035-8052-b4c04f4d4e32"
        );
    }
}
