//! Hardware reports and fingerprints (DESIGN.md flow 1 and wire format).
//!
//! A report is `{ "components": [ { "class", "id", "values": { name: string } } ] }`, sorted
//! by (class, id). A component's digest is SHA-256 of its JCS encoding, so drift can be named
//! per component; the fingerprint is SHA-256 of JCS(components).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Digest, jcs};

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ComponentClass {
    Board,
    Cpu,
    Memory,
    Nic,
    Disk,
    Gpu,
    Tpm,
    Platform,
    /// Tamper sensors: one value per sensor, [`TAMPER_CLEAR`] or [`TAMPER_TRIPPED`].
    Chassis,
}

/// A tamper sensor's value when it has seen nothing.
pub const TAMPER_CLEAR: &str = "clear";
/// A tamper sensor's value once it has seen an intrusion: the host is refused and quarantined
/// until an operator clears it after inspection (and the sensor reads clear again).
pub const TAMPER_TRIPPED: &str = "tripped";

impl ComponentClass {
    pub const ALL: [ComponentClass; 9] = [
        Self::Board,
        Self::Cpu,
        Self::Memory,
        Self::Nic,
        Self::Disk,
        Self::Gpu,
        Self::Tpm,
        Self::Platform,
        Self::Chassis,
    ];

    /// Immutable classes are the server itself: a different mainboard, CPU or TPM means a
    /// different (or tampered) machine, so drift there is refused. The others are parts an
    /// operator replaces (DIMMs, NICs, disks, GPUs) or updates (firmware, microcode). The
    /// chassis's sensors are judged by their readings (a tripped one refuses, whatever the
    /// drift); a sensor appearing or going (a driver loaded, an agent upgraded) is drift that
    /// warns, as a replaced part does.
    pub fn is_immutable(self) -> bool {
        matches!(self, Self::Board | Self::Cpu | Self::Tpm)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Board => "board",
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::Nic => "nic",
            Self::Disk => "disk",
            Self::Gpu => "gpu",
            Self::Tpm => "tpm",
            Self::Platform => "platform",
            Self::Chassis => "chassis",
        }
    }
}

impl fmt::Display for ComponentClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one report from the network may hold: room for the largest servers (hundreds of
/// disks, DIMMs and NICs; an EK in base64url), and no more, so that no report can be made to
/// cost the registry or its cache much.
pub mod limits {
    pub const COMPONENTS: usize = 512;
    pub const VALUES_PER_COMPONENT: usize = 64;
    /// Bytes of one id, value name or value.
    pub const TEXT: usize = 4096;
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub class: ComponentClass,
    // limits::TEXT (the attribute takes literals; a test keeps them equal)
    #[schema(min_length = 1, max_length = 4096)]
    pub id: String,
    pub values: BTreeMap<String, String>,
}

impl Component {
    pub fn digest(&self) -> Digest {
        let mut out = Vec::with_capacity(256);
        self.write_canonical(&mut out);
        Digest::sha256(out)
    }

    /// Appends this component's JCS encoding. Every attestation fingerprints a report, so it
    /// is written directly rather than serialized and canonicalized: the members `class`,
    /// `id` and `values` are already in canonical order, and `values` holds only strings.
    fn write_canonical(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(br#"{"class":"#);
        jcs::write_string(out, self.class.as_str());
        out.extend_from_slice(br#","id":"#);
        jcs::write_string(out, &self.id);
        out.extend_from_slice(br#","values":"#);
        jcs::write_object(out, self.values.iter(), |out, v| jcs::write_string(out, v));
        out.push(b'}');
    }

    /// The name drift reports use: `class/id`, unique within a report.
    pub fn key(&self) -> String {
        format!("{}/{}", self.class, self.id)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Report {
    // limits::COMPONENTS
    #[schema(max_items = 512)]
    pub components: Vec<Component>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    #[error("components are not sorted by (class, id) at {0}")]
    NotSorted(String),
    #[error("component {0} appears twice")]
    Duplicate(String),
    #[error("component {0} has an empty id")]
    EmptyId(String),
    #[error("more than {} components", limits::COMPONENTS)]
    TooManyComponents,
    #[error("component {0} has more than {max} values", max = limits::VALUES_PER_COMPONENT)]
    TooManyValues(String),
    #[error("component {0} has an id, value name or value longer than {max} bytes", max = limits::TEXT)]
    TextTooLong(String),
    #[error("component {0}: {1}")]
    Chassis(String, &'static str),
}

/// The one chassis component's id.
pub const CHASSIS_ID: &str = "chassis";

/// The longest tamper sensor name.
pub const SENSOR_NAME: usize = 64;

/// What a host reports of its sensors goes into the log when one trips, so it is held to the
/// form the agent writes: one `chassis` component, short plain names, and a state each.
fn check_chassis(c: &Component) -> Result<(), &'static str> {
    if c.id != CHASSIS_ID {
        return Err("the chassis component's id is `chassis`");
    }
    for (sensor, state) in &c.values {
        let plain = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._#-".contains(&b);
        if sensor.is_empty() || sensor.len() > SENSOR_NAME || !sensor.bytes().all(plain) {
            return Err("a sensor name is 1 to 64 characters of a-z 0-9 . _ # -");
        }
        if state != TAMPER_CLEAR && state != TAMPER_TRIPPED {
            return Err("a sensor reads `clear` or `tripped`");
        }
    }
    Ok(())
}

/// How a sensor is named in refusals, the host's tamper mark and the log.
fn sensor_name(sensor: &str) -> String {
    format!("{}/{CHASSIS_ID}:{sensor}", ComponentClass::Chassis)
}

impl Report {
    /// Builds a report in canonical order.
    pub fn new(mut components: Vec<Component>) -> Self {
        components.sort_by(|a, b| (a.class, &a.id).cmp(&(b.class, &b.id)));
        Report { components }
    }

    /// A report received from the network must already be canonical: sorted by (class, id)
    /// with no duplicates, or two different documents could carry one fingerprint's meaning.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.components.len() > limits::COMPONENTS {
            return Err(ReportError::TooManyComponents);
        }
        for c in &self.components {
            if c.id.is_empty() {
                return Err(ReportError::EmptyId(c.class.to_string()));
            }
            // The id is cut short before it is quoted back.
            let name = || format!("{}/{}", c.class, c.id.chars().take(64).collect::<String>());
            if c.values.len() > limits::VALUES_PER_COMPONENT {
                return Err(ReportError::TooManyValues(name()));
            }
            let long = |text: &String| text.len() > limits::TEXT;
            if long(&c.id) || c.values.iter().any(|(k, v)| long(k) || long(v)) {
                return Err(ReportError::TextTooLong(name()));
            }
            if c.class == ComponentClass::Chassis {
                check_chassis(c).map_err(|e| ReportError::Chassis(name(), e))?;
            }
        }
        for pair in self.components.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            match (a.class, &a.id).cmp(&(b.class, &b.id)) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Err(ReportError::Duplicate(b.key())),
                std::cmp::Ordering::Greater => return Err(ReportError::NotSorted(b.key())),
            }
        }
        Ok(())
    }

    /// The tamper sensors that read [`TAMPER_TRIPPED`], as `chassis/chassis:SENSOR`.
    pub fn tripped_sensors(&self) -> Vec<String> {
        self.sensors()
            .filter(|(_, state)| *state == TAMPER_TRIPPED)
            .map(|(sensor, _)| sensor_name(sensor))
            .collect()
    }

    /// The tamper sensors `registered` has that this report no longer names: a sensor that
    /// went silent counts as tripped (unplugged, its driver unloaded, its BMC not answering).
    pub fn missing_sensors(&self, registered: &Report) -> Vec<String> {
        let present: std::collections::BTreeSet<&str> = self.sensors().map(|(s, _)| s).collect();
        registered
            .sensors()
            .filter(|(sensor, _)| !present.contains(sensor))
            .map(|(sensor, _)| sensor_name(sensor))
            .collect()
    }

    /// The chassis's sensors and their states.
    fn sensors(&self) -> impl Iterator<Item = (&str, &str)> {
        self.components
            .iter()
            .filter(|c| c.class == ComponentClass::Chassis)
            .flat_map(|c| c.values.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// SHA-256 of JCS(components), in the order the report holds them (canonical once
    /// [`Report::validate`] passes or [`Report::new`] built it).
    pub fn fingerprint(&self) -> Digest {
        let mut out = Vec::with_capacity(256 * self.components.len() + 2);
        out.push(b'[');
        for (i, component) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            component.write_canonical(&mut out);
        }
        out.push(b']');
        Digest::sha256(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn component(class: ComponentClass, id: &str, kv: &[(&str, &str)]) -> Component {
        Component {
            class,
            id: id.into(),
            values: kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn tripped_sensors_are_the_chassis_values_that_say_so() {
        let report = Report::new(vec![
            component(
                ComponentClass::Chassis,
                "chassis",
                &[
                    ("hwmon.nct6775.intrusion0", TAMPER_TRIPPED),
                    ("hwmon.nct6775.intrusion1", TAMPER_CLEAR),
                    ("smbios.boot_up_state", TAMPER_TRIPPED),
                ],
            ),
            // Only the chassis's sensors count.
            component(ComponentClass::Board, "board", &[("x", TAMPER_TRIPPED)]),
        ]);
        assert_eq!(
            report.tripped_sensors(),
            [
                "chassis/chassis:hwmon.nct6775.intrusion0",
                "chassis/chassis:smbios.boot_up_state"
            ]
        );
        assert!(Report::default().tripped_sensors().is_empty());
        // A sensor that went silent is named as missing; one that appears is not.
        let later = Report::new(vec![component(
            ComponentClass::Chassis,
            "chassis",
            &[
                ("smbios.boot_up_state", TAMPER_CLEAR),
                ("ipmi.intrusion", TAMPER_CLEAR),
            ],
        )]);
        assert_eq!(
            later.missing_sensors(&report),
            [
                "chassis/chassis:hwmon.nct6775.intrusion0",
                "chassis/chassis:hwmon.nct6775.intrusion1"
            ]
        );
        assert!(Report::default().missing_sensors(&later).len() == 2);
        assert!(later.missing_sensors(&Report::default()).is_empty());
    }

    #[test]
    fn a_chassis_component_is_held_to_the_agents_form() {
        let chassis = |id: &str, kv: &[(&str, &str)]| {
            Report::new(vec![component(ComponentClass::Chassis, id, kv)]).validate()
        };
        assert_eq!(
            chassis("chassis", &[("hwmon.it87#2.intrusion0", "tripped")]),
            Ok(())
        );
        let long = "a".repeat(65);
        for (id, sensor, state) in [
            ("other", "ipmi.x", "clear"),
            ("chassis", "ipmi.x", "open"),
            ("chassis", "ipmi.x", "Tripped"),
            ("chassis", "IPMI.x", "clear"),
            ("chassis", "ipmi x", "clear"),
            ("chassis", "", "clear"),
            ("chassis", long.as_str(), "tripped"),
        ] {
            assert!(
                matches!(
                    chassis(id, &[(sensor, state)]),
                    Err(ReportError::Chassis(..))
                ),
                "{id} {sensor} {state}"
            );
        }
    }

    /// The JSON Schema states the same limits `validate` enforces (the attribute needs
    /// literals, so this keeps the two in step).
    #[test]
    fn the_schema_states_the_report_limits() {
        use utoipa::PartialSchema;
        let report = serde_json::to_value(Report::schema()).unwrap();
        assert_eq!(
            report["properties"]["components"]["maxItems"],
            limits::COMPONENTS
        );
        let component = serde_json::to_value(Component::schema()).unwrap();
        assert_eq!(component["properties"]["id"]["maxLength"], limits::TEXT);
    }

    #[test]
    fn reports_past_their_limits_are_refused() {
        let disks = |n: usize| {
            Report::new(
                (0..n)
                    .map(|i| component(ComponentClass::Disk, &format!("d{i:04}"), &[]))
                    .collect(),
            )
        };
        assert_eq!(disks(limits::COMPONENTS).validate(), Ok(()));
        assert_eq!(
            disks(limits::COMPONENTS + 1).validate(),
            Err(ReportError::TooManyComponents)
        );
        let mut many_values = component(ComponentClass::Nic, "eth0", &[]);
        many_values.values = (0..=limits::VALUES_PER_COMPONENT)
            .map(|i| (format!("k{i}"), "v".into()))
            .collect();
        assert_eq!(
            Report::new(vec![many_values]).validate(),
            Err(ReportError::TooManyValues("nic/eth0".into()))
        );
        let long = "x".repeat(limits::TEXT + 1);
        for c in [
            component(ComponentClass::Cpu, &long, &[]),
            component(ComponentClass::Cpu, "cpu0", &[(&long, "v")]),
            component(ComponentClass::Cpu, "cpu0", &[("k", &long)]),
        ] {
            assert!(matches!(
                Report::new(vec![c]).validate(),
                Err(ReportError::TextTooLong(_))
            ));
        }
    }

    #[test]
    fn fingerprint_is_sha256_of_jcs_components() {
        let report = Report::new(vec![
            component(
                ComponentClass::Nic,
                "0000:3b:00.0",
                &[("mac", "0c:42:a1:00:00:01")],
            ),
            component(
                ComponentClass::Board,
                "board",
                &[("serial", "S1"), ("uuid", "U1")],
            ),
        ]);
        let expected_json = r#"[{"class":"board","id":"board","values":{"serial":"S1","uuid":"U1"}},{"class":"nic","id":"0000:3b:00.0","values":{"mac":"0c:42:a1:00:00:01"}}]"#;
        assert_eq!(report.fingerprint(), Digest::sha256(expected_json));
        assert_eq!(
            report.components[0].digest(),
            Digest::sha256(
                r#"{"class":"board","id":"board","values":{"serial":"S1","uuid":"U1"}}"#
            )
        );
    }

    fn arbitrary_component() -> impl Strategy<Value = Component> {
        (
            prop::sample::select(ComponentClass::ALL.to_vec()),
            any::<String>(),
            prop::collection::btree_map(any::<String>(), any::<String>(), 0..6),
        )
            .prop_map(|(class, id, values)| Component { class, id, values })
    }

    proptest! {
        /// The direct encoder agrees with JCS of the report's JSON value, for any strings
        /// (escapes, and names whose UTF-16 order differs from their UTF-8 order).
        #[test]
        fn direct_encoding_is_jcs(components in prop::collection::vec(arbitrary_component(), 0..6)) {
            let report = Report { components };
            prop_assert_eq!(report.fingerprint(), Digest::sha256(jcs::canonical(&report.components)));
            for c in &report.components {
                prop_assert_eq!(c.digest(), Digest::sha256(jcs::canonical(c)));
            }
        }
    }

    #[test]
    fn value_names_sort_by_utf16() {
        let c = component(
            ComponentClass::Gpu,
            "g",
            &[("\u{fb01}", "a"), ("\u{1f600}", "b")],
        );
        assert_eq!(
            c.digest(),
            Digest::sha256(
                "{\"class\":\"gpu\",\"id\":\"g\",\"values\":{\"\u{1f600}\":\"b\",\"\u{fb01}\":\"a\"}}"
            )
        );
    }

    #[test]
    fn any_value_change_changes_the_fingerprint() {
        let a = Report::new(vec![component(
            ComponentClass::Cpu,
            "cpu0",
            &[("model", "x")],
        )]);
        let b = Report::new(vec![component(
            ComponentClass::Cpu,
            "cpu0",
            &[("model", "y")],
        )]);
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn validate_rejects_unsorted_and_duplicates() {
        let board = component(ComponentClass::Board, "board", &[]);
        let cpu = component(ComponentClass::Cpu, "cpu0", &[]);
        let unsorted = Report {
            components: vec![cpu.clone(), board.clone()],
        };
        assert_eq!(
            unsorted.validate(),
            Err(ReportError::NotSorted("board/board".into()))
        );
        let dup = Report {
            components: vec![board.clone(), board.clone()],
        };
        assert_eq!(
            dup.validate(),
            Err(ReportError::Duplicate("board/board".into()))
        );
        assert_eq!(Report::new(vec![cpu, board]).validate(), Ok(()));
    }

    #[test]
    fn unknown_class_is_rejected() {
        let text = r#"{"components":[{"class":"fpga","id":"x","values":{}}]}"#;
        assert!(serde_json::from_str::<Report>(text).is_err());
    }
}
