//! `memory` (replaceable): one component per populated DIMM, from SMBIOS type 17 (Memory
//! Device) structures. Only the raw table has DIMM serials; the kernel exports no decoded
//! form of them.

use std::collections::BTreeMap;

use cairn_proto::{Component, ComponentClass};

use crate::normalize;
use crate::smbios::{self, Structure};
use crate::source::{Ctx, Unavailable};
use crate::{DMI_TABLE, NO_VALUES};

const MEMORY_DEVICE: u8 = 17;

pub(crate) fn scan(ctx: &mut Ctx<'_>, table: &Result<Vec<u8>, Unavailable>) -> Vec<Component> {
    let class = ComponentClass::Memory;
    let table = match table {
        Ok(t) => t,
        Err(e) => {
            ctx.absent(class, DMI_TABLE, e);
            return Vec::new();
        }
    };
    let dimms = dimms(table);
    if dimms.is_empty() {
        ctx.absent(class, DMI_TABLE, NO_VALUES);
    }
    dimms
}

/// The populated memory devices of a raw SMBIOS table, in table order. A device without a
/// usable locator is named `dimm<n>`, n counting every type-17 structure (empty slots too),
/// so a name does not depend on which other slots are populated.
pub(crate) fn dimms(table: &[u8]) -> Vec<Component> {
    smbios::structures(table)
        .filter(|s| s.kind == MEMORY_DEVICE)
        .enumerate()
        .filter_map(|(n, s)| dimm(n, &s))
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum Size {
    Empty,
    Unknown,
    Mb(u64),
}

/// Size field at 0x0C: 0 = no device installed, 0xFFFF = unknown, 0x7FFF = see the extended
/// size (MB, bits 0..30) at 0x1C; otherwise bit 15 selects KB (set) or MB (clear) units.
fn size(s: &Structure<'_>) -> Size {
    match s.word(0x0C) {
        None | Some(0xFFFF) => Size::Unknown,
        Some(0) => Size::Empty,
        Some(0x7FFF) => match s.dword(0x1C).map(|e| e & 0x7FFF_FFFF) {
            Some(mb) if mb > 0 => Size::Mb(u64::from(mb)),
            _ => Size::Unknown,
        },
        Some(v) if v & 0x8000 != 0 => Size::Mb(u64::from(v & 0x7FFF) / 1024),
        Some(v) => Size::Mb(u64::from(v)),
    }
}

fn dimm(n: usize, s: &Structure<'_>) -> Option<Component> {
    let size = size(s);
    if size == Size::Empty {
        return None;
    }
    let string = |offset| s.string_at(offset).and_then(|v| normalize::ident(&v));
    let mut values = BTreeMap::new();
    if let Size::Mb(mb) = size {
        values.insert("size_mb".to_owned(), mb.to_string());
    }
    for (name, offset) in [
        ("manufacturer", 0x17),
        ("serial", 0x18),
        ("part_number", 0x1A),
    ] {
        if let Some(v) = string(offset) {
            values.insert(name.to_owned(), v);
        }
    }
    let id = string(0x10).unwrap_or_else(|| format!("dimm{n}"));
    crate::component(ComponentClass::Memory, id, values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smbios::tests::structure;

    /// A 2.8-style (length 0x28) memory device. Strings: 1 locator, 2 bank, 3 manufacturer,
    /// 4 serial, 5 asset tag, 6 part number.
    fn device(size: u16, extended: u32, strings: &[&str]) -> Vec<u8> {
        let mut f = [0u8; 0x28];
        f[0x0C..0x0E].copy_from_slice(&size.to_le_bytes());
        f[0x10] = 1;
        f[0x11] = 2;
        f[0x17] = 3;
        f[0x18] = 4;
        f[0x19] = 5;
        f[0x1A] = 6;
        f[0x1C..0x20].copy_from_slice(&extended.to_le_bytes());
        structure(MEMORY_DEVICE, 0x1100, &f[4..], strings)
    }

    const STRINGS: [&str; 6] = [
        "A1",
        "Bank 0",
        "Hynix",
        "36A1B2C3",
        "A1_AssetTag",
        "HMA84GR7CJR4N-XN  ",
    ];

    #[test]
    fn sizes() {
        let one = |size, ext| dimms(&device(size, ext, &STRINGS)).pop().map(|c| c.values);
        assert_eq!(one(16384, 0).unwrap()["size_mb"], "16384");
        assert_eq!(one(0x7FFF, 65536).unwrap()["size_mb"], "65536");
        assert_eq!(
            one(0x7FFF, 0x8000_0000 | 65536).unwrap()["size_mb"],
            "65536"
        );
        assert_eq!(one(0x8000 | 2048, 0).unwrap()["size_mb"], "2");
        assert!(
            !one(0xFFFF, 0).unwrap().contains_key("size_mb"),
            "unknown size"
        );
        assert!(
            !one(0x7FFF, 0).unwrap().contains_key("size_mb"),
            "missing extended size"
        );
        assert_eq!(one(0, 0), None, "empty slot");
    }

    #[test]
    fn values_and_ids() {
        let mut table = device(16384, 0, &STRINGS);
        table.extend(device(
            0,
            0,
            &["A2", "Bank 0", "Not Specified", "Not Specified", "x", "x"],
        ));
        table.extend(device(
            8192,
            0,
            &[
                "Not Specified",
                "Bank 1",
                "Samsung",
                "0000000",
                "x",
                "M393A1K43BB1",
            ],
        ));
        let all = dimms(&table);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].id, "A1");
        let v = &all[0].values;
        assert_eq!(
            v.iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect::<Vec<_>>(),
            [
                ("manufacturer", "Hynix"),
                ("part_number", "HMA84GR7CJR4N-XN"),
                ("serial", "36A1B2C3"),
                ("size_mb", "16384")
            ]
        );
        assert_eq!(
            all[1].id, "dimm2",
            "no locator: numbered among all type-17 structures"
        );
        assert!(!all[1].values.contains_key("serial"));
    }

    #[test]
    fn short_structures_are_bounded() {
        // SMBIOS 2.1 length 0x15: no manufacturer/serial/part fields.
        let mut f = [0u8; 0x15];
        f[0x0C..0x0E].copy_from_slice(&4096u16.to_le_bytes());
        f[0x10] = 1;
        let table = structure(MEMORY_DEVICE, 1, &f[4..], &["DIMM 0"]);
        let all = dimms(&table);
        assert_eq!(all[0].id, "DIMM 0");
        assert_eq!(all[0].values.len(), 1);
        // Too short even for the size: unknown size and nothing else, so not emitted.
        let table = structure(MEMORY_DEVICE, 1, &[0; 4], &[]);
        assert!(dimms(&table).is_empty());
    }
}
