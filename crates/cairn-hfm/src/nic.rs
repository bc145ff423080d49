//! `nic` (replaceable): physical network interfaces, from `sys/class/net`.
//!
//! Only interfaces with a `device` directory are hardware (`lo`, bridges, veths, tunnels have
//! none); SR-IOV virtual functions (a `device/physfn` link) come and go with configuration and
//! are skipped too. The MAC is included only when the kernel says it is the permanent one
//! (`addr_assign_type` 0); the driver name is left out because it changes with kernels.

use std::collections::BTreeMap;

use cairn_proto::{Component, ComponentClass};

use crate::NO_VALUES;
use crate::normalize;
use crate::source::Ctx;

const NET: &str = "sys/class/net";

pub(crate) fn scan(ctx: &mut Ctx<'_>) -> Vec<Component> {
    let class = ComponentClass::Nic;
    let Some(names) = ctx.list(class, NET) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for name in names {
        let dir = format!("{NET}/{name}");
        if !ctx.tree.is_dir(&format!("{dir}/device"))
            || ctx.tree.exists(&format!("{dir}/device/physfn"))
        {
            continue;
        }
        let id = ctx
            .optional(class, &format!("{dir}/device/uevent"))
            .and_then(|uevent| pci_slot(&uevent))
            .unwrap_or_else(|| name.clone());
        let mut values = BTreeMap::new();
        let permanent = ctx
            .optional(class, &format!("{dir}/addr_assign_type"))
            .and_then(|t| normalize::clean(&t))
            .is_some_and(|t| t == "0");
        if permanent
            && let Some(mac) = ctx
                .optional(class, &format!("{dir}/address"))
                .and_then(|a| normalize::mac(&a))
        {
            values.insert("perm_mac".to_owned(), mac);
        }
        for attr in ["vendor", "device"] {
            if let Some(v) = ctx
                .optional(class, &format!("{dir}/device/{attr}"))
                .and_then(|v| normalize::hex_id(&v))
            {
                values.insert(attr.to_owned(), v);
            }
        }
        match crate::component(class, id, values) {
            Some(c) => out.push(c),
            None => ctx.absent(class, &dir, NO_VALUES),
        }
    }
    out
}

/// `PCI_SLOT_NAME=0000:3b:00.0` from a device's uevent.
pub(crate) fn pci_slot(uevent: &str) -> Option<String> {
    uevent
        .lines()
        .find_map(|line| line.strip_prefix("PCI_SLOT_NAME="))
        .and_then(normalize::ident)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_from_uevent() {
        let uevent = "DRIVER=i40e\nPCI_CLASS=20000\nPCI_ID=8086:1572\nPCI_SLOT_NAME=0000:3b:00.0\nMODALIAS=pci:v00008086\n";
        assert_eq!(pci_slot(uevent).as_deref(), Some("0000:3b:00.0"));
        assert_eq!(
            pci_slot("DRIVER=virtio_net\nMODALIAS=virtio:d00000001v00001AF4\n"),
            None
        );
        assert_eq!(pci_slot("PCI_SLOT_NAME=\n"), None);
    }
}
