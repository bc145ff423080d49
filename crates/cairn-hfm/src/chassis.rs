//! `chassis`: the tamper sensors, id `chassis`, one value per sensor, `clear` or `tripped`
//! (DESIGN.md flow 1, step 1). A tripped one refuses attestation and quarantines the host
//! until an operator clears it after inspection; the server judges that from these values.
//!
//! - Chassis intrusion switches that Linux's hwmon drivers expose
//!   (`sys/class/hwmon/*/intrusionN_alarm`: `1` once the case was opened, until someone writes
//!   `0`), named `hwmon.<chip>.intrusionN`.
//! - The SMBIOS chassis (type 3) boot-up state the firmware recorded: `safe` is clear;
//!   `warning`, `critical` and `non-recoverable` are tripped (`smbios.boot_up_state`). Its
//!   security status is not read: it says whether the front panel is locked, a setting, not
//!   something that happened.
//! - The IPMI "Physical Security" sensors a BMC reports (`ipmi.<sensor>`), read with
//!   `ipmitool` on the live system only (there is nothing to run under a captured root): a
//!   sensor with an asserted state (general chassis intrusion, drive bay intrusion, …) is
//!   tripped.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cairn_proto::report::{TAMPER_CLEAR, TAMPER_TRIPPED};
use cairn_proto::{Component, ComponentClass};

use crate::smbios;
use crate::source::{Ctx, Unavailable};

pub const HWMON: &str = "sys/class/hwmon";

/// The SMBIOS chassis information structure.
const CHASSIS: u8 = 3;
/// Its boot-up state byte.
const BOOT_UP_STATE: usize = 0x09;

/// How long `ipmitool` may take (a BMC that does not answer must not hold up a boot).
const IPMITOOL_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn scan(
    ctx: &mut Ctx<'_>,
    dmi_table: &Result<Vec<u8>, Unavailable>,
) -> Option<Component> {
    let class = ComponentClass::Chassis;
    let mut values = BTreeMap::new();
    let hwmon = ctx.tree.list(HWMON);
    for chip in hwmon.as_deref().unwrap_or_default() {
        intrusion_switches(ctx, chip, &mut values);
    }
    if let Some(state) = dmi_table.as_deref().ok().and_then(boot_up_state) {
        insert(&mut values, "smbios.boot_up_state".into(), state);
    }
    if ctx.tree.root == Path::new("/")
        && let Some(sdr) = ipmitool_physical_security()
    {
        for (sensor, state) in ipmi_sensors(&sdr) {
            insert(&mut values, sensor, state);
        }
    }
    if values.is_empty() {
        match hwmon {
            Err(e) => ctx.absent(class, HWMON, e),
            Ok(_) => ctx.absent(class, HWMON, "no tamper sensors"),
        }
    }
    crate::component(class, "chassis".into(), values)
}

/// The `intrusionN_alarm` files of one hwmon chip.
fn intrusion_switches(ctx: &mut Ctx<'_>, chip: &str, values: &mut BTreeMap<String, String>) {
    let class = ComponentClass::Chassis;
    let dir = format!("{HWMON}/{chip}");
    let Ok(files) = ctx.tree.list(&dir) else {
        return;
    };
    let alarms: Vec<&String> = files
        .iter()
        .filter(|f| intrusion_number(f).is_some())
        .collect();
    if alarms.is_empty() {
        return;
    }
    // hwmonN numbers change from boot to boot; the driver's name does not.
    let name = ctx
        .optional(class, &format!("{dir}/name"))
        .map(|n| plain(n.trim()))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| plain(chip));
    for file in alarms {
        let sensor = format!("hwmon.{name}.intrusion{}", intrusion_number(file).unwrap());
        let path = format!("{dir}/{file}");
        match ctx.optional(class, &path).as_deref().map(str::trim) {
            Some("0") => insert(values, sensor, TAMPER_CLEAR),
            Some("1") => insert(values, sensor, TAMPER_TRIPPED),
            Some(other) => ctx.absent(class, &path, format!("unexpected value {other:?}")),
            None => {}
        }
    }
}

/// A name as sensor names spell it (`a-z 0-9 _`, at most 32 characters), whatever a driver or
/// a BMC calls it.
fn plain(name: &str) -> String {
    name.chars()
        .take(32)
        .map(|c| match c.is_ascii_alphanumeric() {
            true => c.to_ascii_lowercase(),
            false => '_',
        })
        .collect()
}

/// Adds a sensor; a second one of the same name (two chips of one driver, two BMC sensors
/// spelled alike) becomes `NAME#2`, `NAME#3`… in the order found, so that none hides another.
fn insert(values: &mut BTreeMap<String, String>, sensor: String, state: &str) {
    let name = (1..)
        .map(|n| match n {
            1 => sensor.clone(),
            n => format!("{sensor}#{n}"),
        })
        .find(|name| !values.contains_key(name))
        .expect("a free name");
    values.insert(name, state.to_string());
}

/// `N` of `intrusionN_alarm`.
fn intrusion_number(file: &str) -> Option<&str> {
    let n = file.strip_prefix("intrusion")?.strip_suffix("_alarm")?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(n)
}

/// The first chassis structure's boot-up state, when it says one (not "other" or "unknown").
pub fn boot_up_state(table: &[u8]) -> Option<&'static str> {
    let chassis = smbios::structures(table).find(|s| s.kind == CHASSIS)?;
    match chassis.byte(BOOT_UP_STATE)? {
        0x03 => Some(TAMPER_CLEAR),
        0x04..=0x06 => Some(TAMPER_TRIPPED),
        _ => None,
    }
}

/// The sensors of `ipmitool sdr type "Physical Security"`, in its order: `NAME | ID | STATUS |
/// ENTITY | ASSERTED STATES`. A sensor without a reading (`ns`) is left out; one with any
/// asserted state is tripped.
pub fn ipmi_sensors(sdr: &str) -> Vec<(String, &'static str)> {
    let mut sensors = vec![];
    for line in sdr.lines() {
        let columns: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, _, status, _, asserted] = columns[..] else {
            continue;
        };
        if name.is_empty() || status == "ns" {
            continue;
        }
        let state = match asserted.is_empty() {
            true => TAMPER_CLEAR,
            false => TAMPER_TRIPPED,
        };
        sensors.push((format!("ipmi.{}", plain(name)), state));
    }
    sensors
}

/// `ipmitool sdr type "Physical Security"` on this machine, where it has a BMC device and
/// `ipmitool`, within [`IPMITOOL_TIMEOUT`].
fn ipmitool_physical_security() -> Option<String> {
    let has_bmc = ["/dev/ipmi0", "/dev/ipmi/0", "/dev/ipmidev/0"]
        .iter()
        .any(|dev| Path::new(dev).exists());
    if !has_bmc {
        return None;
    }
    let mut child = Command::new("ipmitool")
        .args(["sdr", "type", "Physical Security"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(None) if started.elapsed() < IPMITOOL_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
    let mut out = String::new();
    child
        .stdout
        .take()?
        .take(64 * 1024)
        .read_to_string(&mut out)
        .ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipmi_physical_security_sensors() {
        // As ipmitool 1.8 prints them on a Supermicro and a Dell BMC.
        let sdr = "Chassis Intru     | 51h | ok  | 23.1 | General Chassis intrusion\n\
                   Physical Scrty    | 5Ah | ok  | 23.0 | \n\
                   Intrusion         | 73h | ns  |  7.1 | No Reading\n\
                   garbage line\n\
                   Chassis-Intru     | 52h | ok  | 23.2 | \n";
        let sensors = ipmi_sensors(sdr);
        assert_eq!(
            sensors,
            [
                ("ipmi.chassis_intru".to_string(), TAMPER_TRIPPED),
                ("ipmi.physical_scrty".to_string(), TAMPER_CLEAR),
                ("ipmi.chassis_intru".to_string(), TAMPER_CLEAR),
            ]
        );
        assert!(ipmi_sensors("").is_empty());
        // Spelled alike, two sensors stay two: the clear one does not hide the tripped one.
        let mut values = BTreeMap::new();
        for (sensor, state) in sensors {
            insert(&mut values, sensor, state);
        }
        assert_eq!(values["ipmi.chassis_intru"], TAMPER_TRIPPED);
        assert_eq!(values["ipmi.chassis_intru#2"], TAMPER_CLEAR);
        // Whatever a driver calls itself, the name is one the server takes.
        assert_eq!(plain("NCT6775 (ISA) rev.2"), "nct6775__isa__rev_2");
    }

    #[test]
    fn intrusion_alarm_files() {
        assert_eq!(intrusion_number("intrusion0_alarm"), Some("0"));
        assert_eq!(intrusion_number("intrusion12_alarm"), Some("12"));
        for other in [
            "intrusion_alarm",
            "intrusion0_beep",
            "in0_alarm",
            "intrusionx_alarm",
        ] {
            assert_eq!(intrusion_number(other), None, "{other}");
        }
    }

    #[test]
    fn smbios_boot_up_states() {
        // A chassis structure (type 3, length 0x15) with boot-up state `state`, then the end.
        let table = |state: u8| {
            let mut t = vec![3, 0x15, 0, 3, 1, 0x17, 0, 2, 0, state, 3, 3, 3];
            t.extend_from_slice(&[0; 8]);
            t.extend_from_slice(b"\0\0");
            t.extend_from_slice(&[127, 4, 0xff, 0xff, 0, 0]);
            t
        };
        assert_eq!(boot_up_state(&table(3)), Some(TAMPER_CLEAR));
        for tripped in [4, 5, 6] {
            assert_eq!(boot_up_state(&table(tripped)), Some(TAMPER_TRIPPED));
        }
        for unknown in [1, 2, 7, 0xff] {
            assert_eq!(boot_up_state(&table(unknown)), None);
        }
        assert_eq!(boot_up_state(&[]), None);
    }
}
