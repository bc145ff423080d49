//! `gpu` (replaceable): PCI display controllers (VGA 0x0300 and 3D 0x0302) from
//! `sys/bus/pci/devices`, with the NVIDIA driver's GPU UUID when it is loaded.

use std::collections::BTreeMap;

use cairn_proto::{Component, ComponentClass};

use crate::NO_VALUES;
use crate::normalize;
use crate::source::Ctx;

const PCI: &str = "sys/bus/pci/devices";
const NVIDIA: &str = "proc/driver/nvidia/gpus";

pub(crate) fn scan(ctx: &mut Ctx<'_>) -> Vec<Component> {
    let class = ComponentClass::Gpu;
    let Some(addrs) = ctx.list(class, PCI) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for addr in addrs {
        let dir = format!("{PCI}/{addr}");
        let is_gpu = ctx
            .optional(class, &format!("{dir}/class"))
            .and_then(|c| normalize::hex_id(&c))
            .is_some_and(|c| c.starts_with("0x0300") || c.starts_with("0x0302"));
        if !is_gpu {
            continue;
        }
        let mut values = BTreeMap::new();
        for attr in ["vendor", "device"] {
            if let Some(v) = ctx
                .optional(class, &format!("{dir}/{attr}"))
                .and_then(|v| normalize::hex_id(&v))
            {
                values.insert(attr.to_owned(), v);
            }
        }
        let info = ctx.optional(class, &format!("{NVIDIA}/{addr}/information"));
        if let Some(uuid) = info.and_then(|i| nvidia_uuid(&i)) {
            values.insert("uuid".to_owned(), uuid);
        }
        match crate::component(class, addr, values) {
            Some(c) => out.push(c),
            None => ctx.absent(class, &dir, NO_VALUES),
        }
    }
    out
}

/// The `GPU UUID:` line of `/proc/driver/nvidia/gpus/<addr>/information`, as the driver prints
/// it (`GPU-` and a lowercase UUID, the form `nvidia-smi -L` shows).
pub(crate) fn nvidia_uuid(information: &str) -> Option<String> {
    information
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("GPU UUID:"))
        .and_then(normalize::ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_line() {
        let info = "Model: \t\t NVIDIA A100 80GB PCIe\nIRQ:   \t\t 156\nGPU UUID: \t GPU-2f1c0b4e-8d3a-4e7b-9c61-0a5b3d2e1f47\nVideo BIOS: \t 92.00.45.00.05\n";
        assert_eq!(
            nvidia_uuid(info).as_deref(),
            Some("GPU-2f1c0b4e-8d3a-4e7b-9c61-0a5b3d2e1f47")
        );
        assert_eq!(nvidia_uuid("Model: x\n"), None);
        assert_eq!(nvidia_uuid("GPU UUID: \t \n"), None);
    }
}
