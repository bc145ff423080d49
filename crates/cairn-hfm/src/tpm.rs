//! `tpm` (immutable): the platform TPM, `sys/class/tpm/tpm0`.
//!
//! The endorsement key (EK) public key, the TPM's real identity, will be added to this
//! component by the TPM backend (it needs TPM commands, not file reads); until then the
//! component records the TPM's presence and version.

use std::collections::BTreeMap;

use cairn_proto::{Component, ComponentClass};

use crate::NO_VALUES;
use crate::normalize;
use crate::source::Ctx;

const TPM0: &str = "sys/class/tpm/tpm0";

pub(crate) fn scan(ctx: &mut Ctx<'_>) -> Option<Component> {
    let class = ComponentClass::Tpm;
    ctx.list(class, TPM0)?;
    let mut values = BTreeMap::new();
    if let Some(v) = ctx
        .optional(class, &format!("{TPM0}/tpm_version_major"))
        .and_then(|v| normalize::clean(&v))
    {
        values.insert("version_major".to_owned(), v);
    }
    if let Some(v) = ctx
        .optional(class, &format!("{TPM0}/device/description"))
        .and_then(|v| normalize::ident(&v))
    {
        values.insert("description".to_owned(), v);
    }
    let component = crate::component(class, "tpm0".into(), values);
    if component.is_none() {
        ctx.absent(class, TPM0, NO_VALUES);
    }
    component
}
