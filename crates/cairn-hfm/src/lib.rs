//! The Hardware Fingerprinting Module (DESIGN.md flow 1, step 1): reads sysfs, procfs and the
//! raw SMBIOS table under a root directory and turns them into a canonical
//! [`cairn_proto::Report`], one component per piece of hardware.
//!
//! The scan only reads: files, directories and (by following them as paths) symlinks under
//! `root`. `root` is `/` in production and a captured tree in tests. Nothing it meets is an
//! error: a source that is missing, unreadable or holds nothing identifying is listed in
//! [`Scan::absent`] and the rest of the machine is still scanned.
//!
//! What goes into a component is chosen for stability: values that change at runtime
//! (driver bindings, random MACs, sizes, microcode in immutable classes) are left out, and
//! placeholder strings firmware vendors leave behind are dropped (see [`normalize`]), so that
//! the fingerprint only moves when hardware does.

#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::path::Path;

use cairn_proto::{Component, ComponentClass, Report};
use serde::Serialize;

mod board;
pub mod chassis;
mod cpu;
mod disk;
mod gpu;
mod memory;
mod nic;
pub mod normalize;
mod platform;
pub mod smbios;
mod source;
mod tpm;

use source::{Ctx, Unavailable};

/// The raw SMBIOS structure table exported by the kernel.
pub const DMI_TABLE: &str = "sys/firmware/dmi/tables/DMI";
/// The SMBIOS entry point (tells the table's version, which decides the UUID byte order).
pub const DMI_ENTRY_POINT: &str = "sys/firmware/dmi/tables/smbios_entry_point";
/// The kernel's decoded DMI identification strings.
pub const DMI_ID: &str = "sys/class/dmi/id";
pub const CPUINFO: &str = "proc/cpuinfo";

pub use tpm::with_endorsement_key;

/// The result of scanning one machine.
#[derive(Debug, Clone, Serialize)]
pub struct Scan {
    /// Canonical (sorted, validated) hardware report.
    pub report: Report,
    /// Sources that could not contribute, sorted by (class, source).
    pub absent: Vec<Absent>,
}

/// A source that did not contribute to the report, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Absent {
    pub class: ComponentClass,
    /// Path relative to the scanned root, e.g. `sys/class/dmi/id`.
    pub source: String,
    /// `not present`, `permission denied`, `unreadable: ...` or `no identifying values`.
    pub reason: String,
}

/// Reason given when a source was read but held nothing identifying after normalization.
pub const NO_VALUES: &str = "no identifying values";

/// Scans the machine whose filesystem is mounted at `root`. Never fails and never panics on
/// missing or malformed input.
pub fn scan(root: &Path) -> Scan {
    let mut ctx = Ctx::new(root);

    // Sources shared by several classes are read once.
    let cpuinfo: Result<String, Unavailable> = ctx.tree.text(CPUINFO);
    let processors = cpuinfo
        .as_ref()
        .map(|text| cpu::parse_cpuinfo(text))
        .map_err(Clone::clone);
    let dmi = ctx.tree.bytes(DMI_TABLE);
    let uuid_le = ctx
        .tree
        .bytes(DMI_ENTRY_POINT)
        .ok()
        .and_then(|ep| smbios::entry_point_version(&ep))
        .is_none_or(smbios::uuid_is_little_endian);
    let dmi = board::Dmi {
        table: dmi,
        uuid_le,
    };

    let mut components = Vec::new();
    components.extend(board::scan(&mut ctx, &dmi));
    components.extend(cpu::scan(&mut ctx, &processors));
    components.extend(memory::scan(&mut ctx, &dmi.table));
    components.extend(nic::scan(&mut ctx));
    components.extend(disk::scan(&mut ctx));
    components.extend(gpu::scan(&mut ctx));
    components.extend(tpm::scan(&mut ctx));
    components.extend(platform::scan(&mut ctx, &dmi, &processors));
    components.extend(chassis::scan(&mut ctx, &dmi.table));

    disambiguate(&mut components);
    let report = Report::new(components);
    debug_assert!(report.validate().is_ok());

    let mut absent = ctx.into_absent();
    absent.sort_by(|a, b| (a.class, &a.source, &a.reason).cmp(&(b.class, &b.source, &b.reason)));
    absent.dedup();
    Scan { report, absent }
}

/// Makes (class, id) unique: the first component (in discovery order, which is deterministic)
/// keeps its id, later ones get `#2`, `#3`, ... skipping any id already in use.
fn disambiguate(components: &mut [Component]) {
    let original: BTreeSet<(ComponentClass, String)> =
        components.iter().map(|c| (c.class, c.id.clone())).collect();
    let mut taken: BTreeSet<(ComponentClass, String)> = BTreeSet::new();
    for c in components.iter_mut() {
        if taken.insert((c.class, c.id.clone())) {
            continue;
        }
        let mut n = 2u32;
        let id = loop {
            let candidate = format!("{}#{n}", c.id);
            let key = (c.class, candidate.clone());
            if !taken.contains(&key) && !original.contains(&key) {
                break candidate;
            }
            n += 1;
        };
        taken.insert((c.class, id.clone()));
        c.id = id;
    }
}

/// Builds a component, or `None` when it has no values.
fn component(
    class: ComponentClass,
    id: String,
    values: std::collections::BTreeMap<String, String>,
) -> Option<Component> {
    (!values.is_empty()).then_some(Component { class, id, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(class: ComponentClass, id: &str) -> Component {
        Component {
            class,
            id: id.into(),
            values: [("v".to_string(), "1".to_string())].into(),
        }
    }

    #[test]
    fn duplicates_get_deterministic_suffixes() {
        let mut list = vec![
            c(ComponentClass::Memory, "DIMM 0"),
            c(ComponentClass::Memory, "DIMM 0"),
            c(ComponentClass::Memory, "DIMM 0#2"),
            c(ComponentClass::Nic, "DIMM 0"),
            c(ComponentClass::Memory, "DIMM 0"),
        ];
        disambiguate(&mut list);
        let ids: Vec<_> = list.iter().map(|c| c.key()).collect();
        assert_eq!(
            ids,
            [
                "memory/DIMM 0",
                "memory/DIMM 0#3",
                "memory/DIMM 0#2",
                "nic/DIMM 0",
                "memory/DIMM 0#4"
            ]
        );
        assert_eq!(Report::new(list).validate(), Ok(()));
    }
}
