//! `board` (immutable): the system, baseboard and chassis identity.
//!
//! Read from the kernel's decoded `sys/class/dmi/id/*` files; any value missing there (the
//! directory absent, a file unreadable, e.g. the root-only `product_serial`) is looked up in
//! the raw SMBIOS table instead, which holds the same strings.

use std::collections::BTreeMap;

use cairn_proto::{Component, ComponentClass};

use crate::normalize;
use crate::smbios;
use crate::source::{Ctx, Unavailable};
use crate::{DMI_ID, DMI_TABLE, NO_VALUES};

/// The raw SMBIOS table as read, and the UUID byte order its version implies.
pub(crate) struct Dmi {
    pub(crate) table: Result<Vec<u8>, Unavailable>,
    pub(crate) uuid_le: bool,
}

/// Where a DMI value lives in the raw table.
#[derive(Clone, Copy)]
pub(crate) enum At {
    /// A string whose number is the byte at this offset.
    Str(u8, usize),
    /// A 16-byte UUID at this offset.
    Uuid(u8, usize),
}

/// A DMI value: its `sys/class/dmi/id` file name (also the value's name) and its SMBIOS
/// location.
pub(crate) type Field = (&'static str, At);

const FIELDS: [Field; 8] = [
    ("sys_vendor", At::Str(1, 0x04)),
    ("product_name", At::Str(1, 0x05)),
    ("product_uuid", At::Uuid(1, 0x08)),
    ("product_serial", At::Str(1, 0x07)),
    ("board_vendor", At::Str(2, 0x04)),
    ("board_name", At::Str(2, 0x05)),
    ("board_serial", At::Str(2, 0x07)),
    ("chassis_serial", At::Str(3, 0x07)),
];

pub(crate) fn scan(ctx: &mut Ctx<'_>, dmi: &Dmi) -> Option<Component> {
    let class = ComponentClass::Board;
    let (values, any_source) = dmi_values(ctx, class, &FIELDS, dmi);
    if values.is_empty() && any_source {
        ctx.absent(class, DMI_ID, NO_VALUES);
    }
    crate::component(class, "board".into(), values)
}

/// Collects `fields` from `sys/class/dmi/id`, falling back to the SMBIOS table for the ones
/// that could not be read there. Records absent sources for `class`; also returns whether any
/// source was readable (to tell "nothing there" from "nothing readable").
pub(crate) fn dmi_values(
    ctx: &mut Ctx<'_>,
    class: ComponentClass,
    fields: &[Field],
    dmi: &Dmi,
) -> (BTreeMap<String, String>, bool) {
    let mut values = BTreeMap::new();
    let sysfs = ctx.list(class, DMI_ID).is_some();
    if sysfs {
        for &(name, at) in fields {
            let raw = ctx.optional(class, &format!("{DMI_ID}/{name}"));
            let value = raw.and_then(|raw| match at {
                At::Uuid(..) => normalize::uuid(&raw),
                At::Str(..) => normalize::ident(&raw),
            });
            if let Some(value) = value {
                values.insert(name.to_owned(), value);
            }
        }
    }
    if fields.iter().all(|(name, _)| values.contains_key(*name)) {
        return (values, sysfs);
    }
    let table = match &dmi.table {
        Ok(table) => table,
        Err(e) => {
            ctx.absent(class, DMI_TABLE, e);
            return (values, sysfs);
        }
    };
    for &(name, at) in fields {
        if values.contains_key(name) {
            continue;
        }
        if let Some(value) = smbios_value(table, at, dmi.uuid_le) {
            values.insert(name.to_owned(), value);
        }
    }
    (values, true)
}

/// A field from the first structure of its type, normalized like its sysfs counterpart.
fn smbios_value(table: &[u8], at: At, uuid_le: bool) -> Option<String> {
    let kind = match at {
        At::Str(kind, _) | At::Uuid(kind, _) => kind,
    };
    let s = smbios::structures(table).find(|s| s.kind == kind)?;
    match at {
        At::Str(_, offset) => normalize::ident(&s.string_at(offset)?),
        At::Uuid(_, offset) => {
            let bytes: &[u8; 16] = s.bytes(offset, 16)?.try_into().ok()?;
            normalize::uuid(&smbios::format_uuid(bytes, uuid_le))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smbios::tests::structure;

    fn system(uuid: [u8; 16]) -> Vec<u8> {
        let mut body = vec![1, 2, 0, 3];
        body.extend(uuid);
        structure(
            1,
            0x100,
            &body,
            &["Dell Inc.", "PowerEdge R740", "  CN7016 "],
        )
    }

    #[test]
    fn smbios_fallback_values() {
        let mut uuid = [0u8; 16];
        uuid[0] = 0x44;
        let mut table = system(uuid);
        table.extend(structure(
            2,
            0x200,
            &[1, 2, 0, 3],
            &["Dell Inc.", "0WRPXK", "Not Specified"],
        ));
        let get = |at| smbios_value(&table, at, true);
        assert_eq!(get(At::Str(1, 0x04)).as_deref(), Some("Dell Inc."));
        assert_eq!(get(At::Str(1, 0x07)).as_deref(), Some("CN7016"));
        assert_eq!(
            get(At::Uuid(1, 0x08)).as_deref(),
            Some("00000044-0000-0000-0000-000000000000")
        );
        assert_eq!(get(At::Str(2, 0x07)), None, "placeholder serial");
        assert_eq!(get(At::Str(3, 0x07)), None, "no chassis structure");
    }

    #[test]
    fn unset_uuids_are_dropped() {
        for fill in [0x00, 0xFF] {
            let table = system([fill; 16]);
            assert_eq!(smbios_value(&table, At::Uuid(1, 0x08), true), None);
        }
    }

    #[test]
    fn short_system_structure_has_no_uuid() {
        let table = structure(1, 0x100, &[1, 2, 0, 3, 0xAA], &["a", "b", "c"]);
        assert_eq!(smbios_value(&table, At::Uuid(1, 0x08), true), None);
        assert_eq!(
            smbios_value(&table, At::Str(1, 0x05), true).as_deref(),
            Some("b")
        );
    }
}
