//! Scans of the checked-in fixture trees (and of the real machine).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use cairn_hfm::{Absent, DMI_ENTRY_POINT, DMI_TABLE, Scan, scan};
use cairn_proto::{Component, ComponentClass, Report};

/// Pinned: a scanner change that moves these is a deliberate test edit, because every
/// enrolled host's registered fingerprint would move with it. (The last move: the chassis's
/// tamper sensors, here the SMBIOS boot-up state, became a component.)
const BAREMETAL_FINGERPRINT: &str =
    "455a6fd0597ded7452d7e8c355debc87a895fbce27e0055dd21f9444d16f987f";
const VM_NODMI_FINGERPRINT: &str =
    "6f5cb1cfeb525a1b3def6c6189a8acb41051b684d707a38609a6ab653867bbf7";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A writable copy of a fixture, to break in a test.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                copy(&entry.path(), &target);
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&fixture(name), dir.path());
    dir
}

fn keys(report: &Report) -> Vec<String> {
    report.components.iter().map(Component::key).collect()
}

fn get<'a>(report: &'a Report, class: ComponentClass, id: &str) -> &'a Component {
    report
        .components
        .iter()
        .find(|c| c.class == class && c.id == id)
        .unwrap_or_else(|| panic!("no {class}/{id} in {:?}", keys(report)))
}

fn value<'a>(report: &'a Report, class: ComponentClass, id: &str, name: &str) -> Option<&'a str> {
    get(report, class, id).values.get(name).map(String::as_str)
}

fn absent(class: ComponentClass, source: &str, reason: &str) -> Absent {
    Absent {
        class,
        source: source.into(),
        reason: reason.into(),
    }
}

fn has_absent(scan: &Scan, class: ComponentClass, source: &str, reason: &str) -> bool {
    scan.absent.contains(&absent(class, source, reason))
}

#[test]
fn baremetal_components() {
    let scan = scan(&fixture("baremetal"));
    let report = &scan.report;
    assert_eq!(report.validate(), Ok(()));
    assert_eq!(
        keys(report),
        [
            "board/board",
            "cpu/cpu0",
            "cpu/cpu1",
            "memory/A1",
            "memory/A2",
            "memory/B1",
            "memory/B2",
            "nic/0000:01:00.0",
            "nic/0000:01:00.1",
            "nic/0000:3b:00.0",
            "disk/eui.0025388b91c3f1a2",
            "disk/naa.5000c500a1b2c3d4",
            "gpu/0000:03:00.0",
            "gpu/0000:65:00.0",
            "tpm/tpm0",
            "platform/firmware",
            "chassis/chassis",
        ]
    );
    assert_eq!(scan.absent, []);
    assert_eq!(
        get(report, ComponentClass::Chassis, "chassis").values,
        [("smbios.boot_up_state".to_string(), "clear".to_string())].into()
    );

    use ComponentClass::*;
    let board = &get(report, Board, "board").values;
    let expected_board = [
        ("board_name", "0WRPXK"),
        ("board_serial", ".B5RMN42.CNFCP0097A0045."),
        ("board_vendor", "Dell Inc."),
        ("chassis_serial", "B5RMN42"),
        ("product_name", "PowerEdge R740"),
        ("product_serial", "B5RMN42"),
        ("product_uuid", "4c4c4544-0042-3510-8052-b4c04f4d4e32"),
        ("sys_vendor", "Dell Inc."),
    ];
    assert_eq!(
        board
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        expected_board
    );

    // CPUs: one per package, distinct core ids counted, no microcode.
    for id in ["cpu0", "cpu1"] {
        let cpu = &get(report, Cpu, id).values;
        assert_eq!(
            cpu["model_name"],
            "Intel(R) Xeon(R) Gold 6248R CPU @ 3.00GHz"
        );
        assert_eq!(
            (
                cpu["cpu_family"].as_str(),
                cpu["model"].as_str(),
                cpu["stepping"].as_str()
            ),
            ("6", "85", "7")
        );
        assert_eq!(cpu["cores"], "2");
        assert!(!cpu.contains_key("microcode"));
    }

    // DIMMs: four populated (one through the extended size field), the empty B3 slot skipped.
    let dimms: Vec<&Component> = report
        .components
        .iter()
        .filter(|c| c.class == Memory)
        .collect();
    assert_eq!(dimms.len(), 4);
    assert_eq!(value(report, Memory, "A1", "serial"), Some("36A1B2C3"));
    assert_eq!(
        value(report, Memory, "A1", "part_number"),
        Some("HMA82GR7CJR8N-XN")
    );
    assert_eq!(value(report, Memory, "A2", "size_mb"), Some("65536"));
    assert_eq!(value(report, Memory, "B2", "serial"), Some("36A1B2E6"));
    assert!(!keys(report).contains(&"memory/B3".to_string()));

    // NICs: permanent MACs lowercased, none for ens3f0 (assigned MAC); lo, docker0 and the
    // SR-IOV VF excluded; no driver.
    assert_eq!(
        value(report, Nic, "0000:01:00.0", "perm_mac"),
        Some("f4:02:70:b8:5c:1a")
    );
    assert_eq!(
        value(report, Nic, "0000:01:00.1", "perm_mac"),
        Some("f4:02:70:b8:5c:1b")
    );
    assert_eq!(value(report, Nic, "0000:3b:00.0", "perm_mac"), None);
    assert_eq!(value(report, Nic, "0000:3b:00.0", "vendor"), Some("0x8086"));
    assert_eq!(value(report, Nic, "0000:3b:00.0", "device"), Some("0x1572"));
    let all_values = serde_json::to_string(report).unwrap();
    for gone in [
        "docker0",
        "\"lo\"",
        "loop0",
        "ens3f0v0",
        "0000:3b:02.0",
        "tg3",
        "i40e",
        "size_sectors",
    ] {
        assert!(!all_values.contains(gone), "{gone} leaked into the report");
    }

    // Disks: id = wwid; trimmed serial; loop0 skipped (checked above).
    assert_eq!(
        value(report, Disk, "eui.0025388b91c3f1a2", "serial"),
        Some("S4EVNF0M123456")
    );
    assert_eq!(
        value(report, Disk, "eui.0025388b91c3f1a2", "model"),
        Some("Samsung SSD 970 EVO Plus 1TB")
    );
    assert_eq!(
        value(report, Disk, "naa.5000c500a1b2c3d4", "model"),
        Some("ST2000NM0055-1V4")
    );

    assert_eq!(
        value(report, Gpu, "0000:65:00.0", "uuid"),
        Some("GPU-2f1c0b4e-8d3a-4e7b-9c61-0a5b3d2e1f47")
    );
    assert_eq!(value(report, Gpu, "0000:65:00.0", "vendor"), Some("0x10de"));
    assert_eq!(value(report, Gpu, "0000:03:00.0", "uuid"), None);

    assert_eq!(value(report, Tpm, "tpm0", "version_major"), Some("2"));
    assert_eq!(
        value(report, Tpm, "tpm0", "description"),
        Some("TPM 2.0 Device")
    );

    let platform = &get(report, Platform, "firmware").values;
    assert_eq!(platform["bios_version"], "2.19.1");
    assert_eq!(platform["bios_date"], "04/27/2023");
    assert_eq!(platform["microcode"], "0x5003604");

    assert_eq!(report.fingerprint().hex(), BAREMETAL_FINGERPRINT);
}

#[test]
fn scans_are_deterministic() {
    let (a, b) = (scan(&fixture("baremetal")), scan(&fixture("baremetal")));
    assert_eq!(a.report, b.report);
    let copy = copy_fixture("baremetal");
    assert_eq!(
        scan(copy.path()).report.fingerprint().hex(),
        BAREMETAL_FINGERPRINT
    );
}

#[test]
fn vm_without_dmi() {
    let scan = scan(&fixture("vm-nodmi"));
    let report = &scan.report;
    assert_eq!(report.validate(), Ok(()));
    assert_eq!(
        keys(report),
        [
            "cpu/cpu0",
            "nic/0000:00:03.0",
            "disk/vda",
            "platform/firmware"
        ]
    );

    use ComponentClass::*;
    let cpu = &get(report, Cpu, "cpu0").values;
    assert_eq!(cpu["model_name"], "Intel Xeon Processor (Sapphire Rapids)");
    assert_eq!(cpu["cores"], "2");
    assert_eq!(
        value(report, Nic, "0000:00:03.0", "perm_mac"),
        Some("52:54:00:12:34:56")
    );
    assert_eq!(value(report, Nic, "0000:00:03.0", "vendor"), Some("0x1af4"));
    assert_eq!(
        value(report, Disk, "vda", "serial"),
        None,
        "empty serial: identified by name"
    );
    let platform = &get(report, Platform, "firmware").values;
    assert!(
        platform.keys().all(|k| !k.starts_with("bios_")),
        "{platform:?}"
    );

    for (class, source) in [
        (Board, "sys/class/dmi/id"),
        (Board, DMI_TABLE),
        (Memory, DMI_TABLE),
        (Platform, "sys/class/dmi/id"),
        (Tpm, "sys/class/tpm/tpm0"),
    ] {
        assert!(
            has_absent(&scan, class, source, "not present"),
            "{class} {source}: {:?}",
            scan.absent
        );
    }
    assert!(
        scan.absent
            .iter()
            .all(|a| a.class != Cpu && a.class != Nic && a.class != Disk)
    );

    assert_eq!(report.fingerprint().hex(), VM_NODMI_FINGERPRINT);
}

#[test]
fn nonexistent_root_is_empty_not_an_error() {
    let scan = scan(Path::new("/nonexistent/cairn-hfm-root"));
    assert!(scan.report.components.is_empty());
    assert_eq!(scan.report.validate(), Ok(()));
    for class in ComponentClass::ALL {
        assert!(
            scan.absent.iter().any(|a| a.class == class),
            "no absent entry for {class}"
        );
    }
    assert!(scan.absent.iter().all(|a| a.reason == "not present"));
    assert!(has_absent(
        &scan,
        ComponentClass::Cpu,
        "proc/cpuinfo",
        "not present"
    ));
}

#[test]
fn scan_serializes_with_wire_class_names() {
    let scan = scan(&fixture("vm-nodmi"));
    let json = serde_json::to_value(&scan).unwrap();
    assert_eq!(json["report"]["components"][0]["class"], "cpu");
    assert_eq!(
        json["absent"][0],
        serde_json::json!({
            "class": "board", "source": "sys/class/dmi/id", "reason": "not present"
        })
    );
}

/// The SMBIOS fallback decodes the same values the kernel puts in sys/class/dmi/id.
#[test]
fn smbios_fallback_matches_sysfs() {
    let tree = copy_fixture("baremetal");
    fs::remove_dir_all(tree.path().join("sys/class/dmi")).unwrap();
    let scan = scan(tree.path());
    assert_eq!(scan.report.fingerprint().hex(), BAREMETAL_FINGERPRINT);
    assert_eq!(
        scan.absent,
        [
            absent(ComponentClass::Board, "sys/class/dmi/id", "not present"),
            absent(ComponentClass::Platform, "sys/class/dmi/id", "not present"),
        ]
    );

    // Without an entry point the table is taken as modern (little-endian UUID fields) ...
    fs::remove_file(tree.path().join(DMI_ENTRY_POINT)).unwrap();
    assert_eq!(
        cairn_hfm::scan(tree.path()).report.fingerprint().hex(),
        BAREMETAL_FINGERPRINT
    );

    // ... while a pre-2.6 table stores them big-endian.
    let mut ep = b"_SM_".to_vec();
    ep.extend([0, 0x1F, 2, 5]);
    fs::write(tree.path().join(DMI_ENTRY_POINT), ep).unwrap();
    let old = cairn_hfm::scan(tree.path());
    assert_eq!(
        value(&old.report, ComponentClass::Board, "board", "product_uuid"),
        Some("44454c4c-4200-1035-8052-b4c04f4d4e32")
    );
}

#[test]
fn unreadable_file_is_absent_and_falls_back() {
    let tree = copy_fixture("baremetal");
    let serial = tree.path().join("sys/class/dmi/id/board_serial");
    fs::remove_file(&serial).unwrap();
    fs::create_dir(&serial).unwrap(); // reading a directory fails with EISDIR
    let scan = scan(tree.path());
    assert_eq!(scan.absent.len(), 1, "{:?}", scan.absent);
    let a = &scan.absent[0];
    assert_eq!(
        (a.class, a.source.as_str()),
        (ComponentClass::Board, "sys/class/dmi/id/board_serial")
    );
    assert!(a.reason.starts_with("unreadable: "), "{}", a.reason);
    // The SMBIOS table supplies the same serial.
    assert_eq!(scan.report.fingerprint().hex(), BAREMETAL_FINGERPRINT);
}

#[test]
fn permission_denied_is_absent_and_the_rest_still_scans() {
    let tree = copy_fixture("baremetal");
    let serial = tree.path().join("sys/class/dmi/id/product_serial");
    let table = tree.path().join(DMI_TABLE);
    for file in [&serial, &table] {
        fs::set_permissions(file, fs::Permissions::from_mode(0o000)).unwrap();
    }
    if fs::read(&serial).is_ok() {
        eprintln!("skipping permission assertions: this process can read mode-000 files (root)");
        return;
    }
    let scan = scan(tree.path());
    use ComponentClass::*;
    assert!(
        has_absent(
            &scan,
            Board,
            "sys/class/dmi/id/product_serial",
            "permission denied"
        ),
        "{:?}",
        scan.absent
    );
    assert!(has_absent(&scan, Board, DMI_TABLE, "permission denied"));
    assert!(has_absent(&scan, Memory, DMI_TABLE, "permission denied"));
    let report = &scan.report;
    assert_eq!(report.validate(), Ok(()));
    assert_eq!(value(report, Board, "board", "product_serial"), None);
    assert_eq!(
        value(report, Board, "board", "product_uuid"),
        Some("4c4c4544-0042-3510-8052-b4c04f4d4e32")
    );
    assert!(report.components.iter().all(|c| c.class != Memory));
    for class in [Cpu, Nic, Disk, Gpu, Tpm, Platform] {
        assert!(
            report.components.iter().any(|c| c.class == class),
            "{class} missing"
        );
    }
}

#[test]
fn component_without_values_is_absent_not_emitted() {
    let tree = copy_fixture("vm-nodmi");
    fs::remove_file(tree.path().join("sys/block/vda/device/vendor")).unwrap();
    let scan = scan(tree.path());
    assert!(
        scan.report
            .components
            .iter()
            .all(|c| c.class != ComponentClass::Disk)
    );
    assert!(has_absent(
        &scan,
        ComponentClass::Disk,
        "sys/block/vda",
        "no identifying values"
    ));
}

#[test]
fn duplicate_ids_are_disambiguated() {
    let tree = copy_fixture("baremetal");
    // eno2 claims eno1's PCI slot: the later one (by interface name) gets a suffix.
    let uevent = tree.path().join("sys/class/net/eno2/device/uevent");
    fs::write(&uevent, "DRIVER=tg3\nPCI_SLOT_NAME=0000:01:00.0\n").unwrap();
    let scan = scan(tree.path());
    assert_eq!(scan.report.validate(), Ok(()));
    let report = &scan.report;
    assert_eq!(
        value(report, ComponentClass::Nic, "0000:01:00.0", "perm_mac"),
        Some("f4:02:70:b8:5c:1a")
    );
    assert_eq!(
        value(report, ComponentClass::Nic, "0000:01:00.0#2", "perm_mac"),
        Some("f4:02:70:b8:5c:1b")
    );
}

#[test]
fn real_machine_scan_is_valid() {
    let scan = scan(Path::new("/"));
    assert_eq!(scan.report.validate(), Ok(()));
    assert!(
        scan.report
            .components
            .iter()
            .all(|c| !c.id.is_empty() && !c.values.is_empty())
    );
}

/// A captured hwmon tree with a chassis intrusion switch: clear, then tripped once the case
/// was opened (the driver latches `1` until someone writes `0`).
#[test]
fn chassis_intrusion_switches_read_clear_and_tripped() {
    let tree = copy_fixture("baremetal");
    let chip = tree.path().join("sys/class/hwmon/hwmon2");
    fs::create_dir_all(&chip).unwrap();
    fs::write(chip.join("name"), "nct6775\n").unwrap();
    fs::write(chip.join("intrusion0_alarm"), "0\n").unwrap();
    fs::write(chip.join("intrusion1_alarm"), "0\n").unwrap();
    fs::write(chip.join("intrusion0_beep"), "1\n").unwrap();
    // A chip without intrusion switches contributes nothing.
    let other = tree.path().join("sys/class/hwmon/hwmon0");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("name"), "coretemp\n").unwrap();
    fs::write(other.join("temp1_input"), "41000\n").unwrap();

    let clear = scan(tree.path());
    let sensors = &get(&clear.report, ComponentClass::Chassis, "chassis").values;
    assert_eq!(
        sensors.keys().collect::<Vec<_>>(),
        [
            "hwmon.nct6775.intrusion0",
            "hwmon.nct6775.intrusion1",
            "smbios.boot_up_state"
        ]
    );
    assert!(
        sensors.values().all(|state| state == "clear"),
        "{sensors:?}"
    );
    assert!(clear.report.tripped_sensors().is_empty());
    assert_eq!(clear.absent, []);

    fs::write(chip.join("intrusion1_alarm"), "1\n").unwrap();
    let tripped = scan(tree.path());
    assert_eq!(
        tripped.report.tripped_sensors(),
        ["chassis/chassis:hwmon.nct6775.intrusion1"]
    );
    // Only the chassis component moved.
    let drift = cairn_proto::drift::compare(&clear.report, &tripped.report);
    assert_eq!(drift.changed, ["chassis/chassis"]);
    assert!(!drift.immutable);

    // A value the driver never writes is not taken for either state.
    fs::write(chip.join("intrusion1_alarm"), "2\n").unwrap();
    let odd = scan(tree.path());
    assert!(odd.report.tripped_sensors().is_empty());
    assert!(has_absent(
        &odd,
        ComponentClass::Chassis,
        "sys/class/hwmon/hwmon2/intrusion1_alarm",
        "unexpected value \"2\""
    ));
}
