//! `disk` (replaceable): block devices from `sys/block`, minus the virtual kinds.
//!
//! The size is left out: it changes when a volume is resized, which is not a hardware change.

use std::collections::BTreeMap;

use cairn_proto::{Component, ComponentClass};

use crate::NO_VALUES;
use crate::normalize;
use crate::source::Ctx;

const BLOCK: &str = "sys/block";

/// Name prefixes of block devices that are not hardware (or, for `sr`, removable media).
const SKIP: &[&str] = &["loop", "ram", "zram", "dm-", "md", "sr", "nbd"];

pub(crate) fn scan(ctx: &mut Ctx<'_>) -> Vec<Component> {
    let class = ComponentClass::Disk;
    let Some(names) = ctx.list(class, BLOCK) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names
        .into_iter()
        .filter(|n| !SKIP.iter().any(|p| n.starts_with(p)))
    {
        let dir = format!("{BLOCK}/{name}");
        // The first readable, non-placeholder value among the candidate files.
        let mut first = |files: &[&str]| {
            files.iter().find_map(|f| {
                ctx.optional(class, &format!("{dir}/{f}"))
                    .and_then(|v| normalize::ident(&v))
            })
        };
        let serial = first(&["device/serial", "serial"]);
        let wwid = first(&["wwid", "device/wwid"]);
        let model = first(&["device/model"]);
        let vendor = first(&["device/vendor"]);
        let id = wwid
            .clone()
            .or_else(|| serial.clone())
            .unwrap_or_else(|| name.clone());
        let values: BTreeMap<String, String> = [
            ("serial", serial),
            ("wwid", wwid),
            ("model", model),
            ("vendor", vendor),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some((k.to_owned(), v?)))
        .collect();
        match crate::component(class, id, values) {
            Some(c) => out.push(c),
            None => ctx.absent(class, &dir, NO_VALUES),
        }
    }
    out
}
