//! `cpu` (immutable): one component per physical package, from `/proc/cpuinfo`.
//!
//! Microcode is deliberately not here: it changes with firmware and OS updates, so it lives in
//! the replaceable `platform` class.

use std::collections::{BTreeMap, BTreeSet};

use cairn_proto::{Component, ComponentClass};

use crate::normalize;
use crate::source::{Ctx, Unavailable};
use crate::{CPUINFO, NO_VALUES};

/// One processor block of `/proc/cpuinfo`: trimmed keys to trimmed values.
pub(crate) type Processor = BTreeMap<String, String>;

/// cpuinfo keys copied into the component, and the value names they get. x86 first, then the
/// arm64 equivalents (arm64 has no model name, family or package ids).
const KEYS: &[(&str, &str)] = &[
    ("vendor_id", "vendor_id"),
    ("model name", "model_name"),
    ("cpu family", "cpu_family"),
    ("model", "model"),
    ("stepping", "stepping"),
    ("CPU implementer", "cpu_implementer"),
    ("CPU architecture", "cpu_architecture"),
    ("CPU variant", "cpu_variant"),
    ("CPU part", "cpu_part"),
    ("CPU revision", "cpu_revision"),
];

/// Splits cpuinfo into processor blocks (blank-line separated, `key : value` lines). Blocks
/// without a `processor` line (arm32's trailing hardware block) are not processors.
pub(crate) fn parse_cpuinfo(text: &str) -> Vec<Processor> {
    let mut out = Vec::new();
    let mut current = Processor::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if current.contains_key("processor") {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        if let Some((key, value)) = line.split_once(':') {
            current
                .entry(key.trim().to_owned())
                .or_insert_with(|| value.trim().to_owned());
        }
    }
    out
}

pub(crate) fn scan(
    ctx: &mut Ctx<'_>,
    processors: &Result<Vec<Processor>, Unavailable>,
) -> Vec<Component> {
    let class = ComponentClass::Cpu;
    let processors = match processors {
        Ok(p) => p,
        Err(e) => {
            ctx.absent(class, CPUINFO, e);
            return Vec::new();
        }
    };
    let components = packages(processors);
    if components.is_empty() {
        ctx.absent(class, CPUINFO, NO_VALUES);
    }
    components
}

/// Groups processors by `physical id` (0 when absent) into one component per package.
pub(crate) fn packages(processors: &[Processor]) -> Vec<Component> {
    let mut by_package: BTreeMap<String, Vec<&Processor>> = BTreeMap::new();
    for p in processors {
        let package = p
            .get("physical id")
            .and_then(|v| normalize::clean(v))
            .unwrap_or_else(|| "0".into());
        by_package.entry(package).or_default().push(p);
    }
    by_package
        .into_iter()
        .filter_map(|(package, members)| {
            let first = members[0];
            let mut values: BTreeMap<String, String> = KEYS
                .iter()
                .filter_map(|(key, name)| {
                    let value = normalize::clean(first.get(*key)?)?;
                    Some(((*name).to_owned(), value))
                })
                .collect();
            if values.is_empty() {
                return None;
            }
            let core_ids: BTreeSet<&str> = members
                .iter()
                .filter_map(|p| p.get("core id").map(String::as_str))
                .collect();
            let cores = if core_ids.is_empty() {
                members.len()
            } else {
                core_ids.len()
            };
            values.insert("cores".into(), cores.to_string());
            crate::component(ComponentClass::Cpu, format!("cpu{package}"), values)
        })
        .collect()
}

/// Microcode revision of the first processor (for the `platform` component).
pub(crate) fn microcode(processors: &[Processor]) -> Option<String> {
    normalize::clean(processors.first()?.get("microcode")?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_SOCKETS: &str = "\
processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 85
model name\t: Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz
stepping\t: 0
microcode\t: 0x5003604
physical id\t: 0
core id\t\t: 0
flags\t\t: fpu vme de: colon in value

processor\t: 1
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz
microcode\t: 0x5003604
physical id\t: 1
core id\t\t: 0

processor\t: 2
physical id\t: 0
core id\t\t: 1

processor\t: 3
physical id\t: 0
core id\t\t: 0
";

    #[test]
    fn parses_blocks() {
        let procs = parse_cpuinfo(TWO_SOCKETS);
        assert_eq!(procs.len(), 4);
        assert_eq!(procs[0]["flags"], "fpu vme de: colon in value");
        assert_eq!(
            procs[0]["model name"],
            "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz"
        );
        assert_eq!(procs[3]["core id"], "0");
    }

    #[test]
    fn one_component_per_package_with_zero_values_kept() {
        let procs = parse_cpuinfo(TWO_SOCKETS);
        let pkgs = packages(&procs);
        assert_eq!(
            pkgs.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            ["cpu0", "cpu1"]
        );
        let cpu0 = &pkgs[0].values;
        assert_eq!(cpu0["stepping"], "0", "stepping 0 is a real value");
        assert_eq!(cpu0["cpu_family"], "6");
        assert_eq!(cpu0["model"], "85");
        assert_eq!(cpu0["cores"], "2");
        assert!(!cpu0.contains_key("microcode"));
        assert_eq!(pkgs[1].values["cores"], "1");
        assert_eq!(microcode(&procs).as_deref(), Some("0x5003604"));
    }

    #[test]
    fn without_package_or_core_ids() {
        let text = "processor : 0\nCPU implementer : 0x41\nCPU part : 0xd0c\n\n\
                    processor : 1\nCPU implementer : 0x41\nCPU part : 0xd0c\n\n\
                    Hardware : foo\nSerial : 1234\n";
        let procs = parse_cpuinfo(text);
        assert_eq!(procs.len(), 2);
        let pkgs = packages(&procs);
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].id, "cpu0");
        assert_eq!(pkgs[0].values["cores"], "2");
        assert_eq!(pkgs[0].values["cpu_part"], "0xd0c");
        assert_eq!(microcode(&procs), None);
    }

    #[test]
    fn nothing_identifying() {
        assert!(packages(&parse_cpuinfo("")).is_empty());
        assert!(packages(&parse_cpuinfo("processor : 0\nbogomips : 5000\n")).is_empty());
    }
}
