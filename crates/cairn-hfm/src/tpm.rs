//! `tpm` (immutable): the platform TPM, `sys/class/tpm/tpm0`.
//!
//! Files record the TPM's presence and version. The endorsement key (EK), the TPM's real
//! identity, takes TPM commands to read: the TPM hardware key backend reads it and
//! [`with_endorsement_key`] adds it to this component.

use std::collections::BTreeMap;

use cairn_proto::{Component, ComponentClass, Report};

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

/// `report` with the TPM's EK (its TPM2B_PUBLIC) as `ek_public` of the `tpm` component, which
/// is added when sysfs showed none (a TPM reached over a TCTI only, as swtpm is).
pub fn with_endorsement_key(report: Report, ek_public: &[u8]) -> Report {
    let mut components = report.components;
    let ek = cairn_proto::b64::encode(ek_public);
    match components
        .iter_mut()
        .find(|c| c.class == ComponentClass::Tpm)
    {
        Some(tpm) => {
            tpm.values.insert("ek_public".to_owned(), ek);
        }
        None => components.push(Component {
            class: ComponentClass::Tpm,
            id: "tpm0".into(),
            values: [("ek_public".to_owned(), ek)].into(),
        }),
    }
    Report::new(components)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ek_joins_the_tpm_component_or_becomes_one() {
        let board = Component {
            class: ComponentClass::Board,
            id: "board".into(),
            values: [("serial".to_owned(), "S".to_owned())].into(),
        };
        let without = Report::new(vec![board.clone()]);
        let with = with_endorsement_key(without.clone(), b"ek");
        assert_eq!(with.components.len(), 2);
        assert_eq!(with.validate(), Ok(()));
        assert_eq!(with.components[1].values["ek_public"], "ZWs");
        let tpm = Component {
            class: ComponentClass::Tpm,
            id: "tpm0".into(),
            values: [("version_major".to_owned(), "2".to_owned())].into(),
        };
        let both = with_endorsement_key(Report::new(vec![board, tpm]), b"ek");
        assert_eq!(both.components.len(), 2);
        assert_eq!(both.components[1].values.len(), 2);
        assert_ne!(
            both.fingerprint(),
            with_endorsement_key(both.clone(), b"other").fingerprint()
        );
    }
}
