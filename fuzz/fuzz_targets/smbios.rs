//! The SMBIOS table and entry point as the agent reads them from /sys: a whole hardware scan
//! over a tree whose DMI files are the input (split at a 0xff 0xff 0xff 0xff marker, entry
//! point first). Nothing may panic, and the report it makes is canonical.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (entry, table) = match data.windows(4).position(|w| w == [0xff; 4]) {
        Some(at) => (&data[..at], &data[at + 4..]),
        None => (&[][..], data),
    };
    for s in cairn_hfm::smbios::structures(table) {
        for i in 0..=s.formatted().len().min(255) as u8 {
            let _ = s.string(i);
        }
    }
    let root = tempfile::tempdir().expect("a temporary directory");
    let dmi = root.path().join(cairn_hfm::DMI_TABLE);
    std::fs::create_dir_all(dmi.parent().expect("a parent")).expect("mkdir");
    std::fs::write(&dmi, table).expect("write");
    std::fs::write(root.path().join(cairn_hfm::DMI_ENTRY_POINT), entry).expect("write");
    let scan = cairn_hfm::scan(root.path());
    scan.report
        .validate()
        .expect("a scan's report is canonical");
});
