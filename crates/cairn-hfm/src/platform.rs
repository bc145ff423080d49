//! `platform` (replaceable): firmware and microcode revisions, id `firmware`.
//!
//! These change with BIOS and microcode updates, which operators do on purpose; keeping them
//! in their own replaceable component lets drift name exactly that.

use cairn_proto::{Component, ComponentClass};

use crate::board::{At, Dmi, Field, dmi_values};
use crate::cpu::{self, Processor};
use crate::source::{Ctx, Unavailable};
use crate::{CPUINFO, DMI_ID, NO_VALUES};

const FIELDS: [Field; 3] = [
    ("bios_vendor", At::Str(0, 0x04)),
    ("bios_version", At::Str(0, 0x05)),
    ("bios_date", At::Str(0, 0x08)),
];

pub(crate) fn scan(
    ctx: &mut Ctx<'_>,
    dmi: &Dmi,
    processors: &Result<Vec<Processor>, Unavailable>,
) -> Option<Component> {
    let class = ComponentClass::Platform;
    let (mut values, mut any_source) = dmi_values(ctx, class, &FIELDS, dmi);
    match processors {
        Ok(processors) => {
            any_source = true;
            if let Some(microcode) = cpu::microcode(processors) {
                values.insert("microcode".into(), microcode);
            }
        }
        Err(e) => ctx.absent(class, CPUINFO, e),
    }
    if values.is_empty() && any_source {
        ctx.absent(class, DMI_ID, NO_VALUES);
    }
    crate::component(class, "firmware".into(), values)
}
