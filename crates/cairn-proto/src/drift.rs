//! Per-component drift between the registered report and a presented one.

use std::collections::BTreeMap;

use crate::{Digest, Report};

/// What changed, named by component key (`class/id`): changed, added or removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift {
    pub changed: Vec<String>,
    /// True when any changed component belongs to an immutable class.
    pub immutable: bool,
}

impl Drift {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }
}

pub fn compare(registered: &Report, presented: &Report) -> Drift {
    let index = |r: &Report| -> BTreeMap<String, (crate::ComponentClass, Digest)> {
        r.components
            .iter()
            .map(|c| (c.key(), (c.class, c.digest())))
            .collect()
    };
    let (old, new) = (index(registered), index(presented));
    let mut drift = Drift::default();
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let (a, b) = (old.get(key), new.get(key));
        if a.map(|x| x.1) != b.map(|x| x.1) {
            let class = a.or(b).expect("key from one side").0;
            drift.immutable |= class.is_immutable();
            drift.changed.push(key.clone());
        }
    }
    drift
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Component, ComponentClass};

    fn c(class: ComponentClass, id: &str, v: &str) -> Component {
        Component {
            class,
            id: id.into(),
            values: [("serial".to_string(), v.to_string())].into(),
        }
    }

    #[test]
    fn no_drift_for_identical_reports() {
        let r = Report::new(vec![c(ComponentClass::Board, "board", "1")]);
        assert!(compare(&r, &r).is_empty());
    }

    #[test]
    fn replaced_disk_is_replaceable_drift() {
        let a = Report::new(vec![
            c(ComponentClass::Board, "board", "1"),
            c(ComponentClass::Disk, "d", "1"),
        ]);
        let b = Report::new(vec![
            c(ComponentClass::Board, "board", "1"),
            c(ComponentClass::Disk, "d", "2"),
        ]);
        assert_eq!(
            compare(&a, &b),
            Drift {
                changed: vec!["disk/d".into()],
                immutable: false
            }
        );
    }

    #[test]
    fn added_removed_and_immutable_changes_are_named() {
        let a = Report::new(vec![
            c(ComponentClass::Cpu, "cpu0", "1"),
            c(ComponentClass::Nic, "n1", "1"),
        ]);
        let b = Report::new(vec![
            c(ComponentClass::Cpu, "cpu0", "2"),
            c(ComponentClass::Nic, "n2", "1"),
        ]);
        let d = compare(&a, &b);
        assert_eq!(d.changed, vec!["cpu/cpu0", "nic/n1", "nic/n2"]);
        assert!(d.immutable);
    }
}
