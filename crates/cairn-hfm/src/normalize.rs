//! Value normalization shared by every component class.
//!
//! Firmware is full of strings that look like identifiers but identify nothing
//! ("To Be Filled By O.E.M.", all-zero UUIDs, "XXXXXXXX" serials). Keeping them would make two
//! different machines share values, and a firmware update that fills them in would look like
//! a hardware change, so [`ident`] drops them. Numeric fields (CPU stepping, TPM version) go
//! through [`clean`] only, because there `0` is a real value.

/// Placeholders firmware vendors leave in identification strings, compared case-insensitively.
const PLACEHOLDERS: &[&str] = &[
    "not specified",
    "not available",
    "not applicable",
    "not provided",
    "not present",
    "not set",
    "unspecified",
    "unknown",
    "undefined",
    "invalid",
    "empty",
    "none",
    "null",
    "n/a",
    "na",
    "default string",
    "to be filled by o.e.m.",
    "to be filled by oem",
    "o.e.m.",
    "oem",
    "system manufacturer",
    "system product name",
    "system version",
    "system serial number",
    "base board serial number",
    "chassis serial number",
    "serial number",
    "0123456789",
    "123456789",
    "1234567890",
];

/// Placeholder words some BIOSes number per slot: "SerNum0", "PartNum3", "Manufacturer1".
const NUMBERED_PLACEHOLDERS: &[&str] = &["sernum", "partnum", "manufacturer", "assettagnum"];

/// Trims whitespace and NULs; `None` when nothing is left.
pub fn clean(raw: &str) -> Option<String> {
    let s = raw.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!s.is_empty()).then(|| s.to_owned())
}

/// [`clean`], then drops placeholder junk.
pub fn ident(raw: &str) -> Option<String> {
    clean(raw).filter(|s| !is_placeholder(s))
}

/// A MAC address: [`ident`] (which drops all-zero and all-F addresses), lowercased.
pub fn mac(raw: &str) -> Option<String> {
    ident(raw).map(|s| s.to_ascii_lowercase())
}

/// A UUID: [`ident`] (which drops all-zero and all-F UUIDs), lowercased.
pub fn uuid(raw: &str) -> Option<String> {
    ident(raw).map(|s| s.to_ascii_lowercase())
}

/// A hexadecimal id such as a PCI vendor (`0x8086`): [`clean`], lowercased.
pub fn hex_id(raw: &str) -> Option<String> {
    clean(raw).map(|s| s.to_ascii_lowercase())
}

/// True for strings that carry no identity. `s` is already trimmed.
pub fn is_placeholder(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if PLACEHOLDERS.contains(&lower.as_str()) {
        return true;
    }
    if NUMBERED_PLACEHOLDERS.iter().any(|word| {
        lower
            .strip_prefix(word)
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }) {
        return true;
    }
    // Only zeros, X's and separators: "0", "00000000", "XXXXXXXXXX", "0x0", zero UUIDs/MACs.
    if lower
        .chars()
        .all(|c| matches!(c, '0' | 'x' | ' ' | '-' | ':' | '.' | '_'))
    {
        return true;
    }
    // All-F UUIDs, MACs and erased-EEPROM serials: "ffffffff-ffff-...", "FF:FF:...".
    let significant: Vec<char> = lower
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | ':' | '.'))
        .collect();
    significant.len() >= 4 && significant.iter().all(|&c| c == 'f')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_whitespace_and_nuls() {
        assert_eq!(
            clean("  S4EVNF0M123456   \n").as_deref(),
            Some("S4EVNF0M123456")
        );
        assert_eq!(clean("\0abc\0\0").as_deref(), Some("abc"));
        assert_eq!(clean(" \t\n\0"), None);
        assert_eq!(clean(""), None);
    }

    #[test]
    fn drops_placeholders_case_insensitively() {
        for junk in [
            "Not Specified",
            "NOT AVAILABLE",
            "To Be Filled By O.E.M.",
            "to be filled by o.e.m.",
            "Default string",
            "None",
            "0",
            "00000000",
            "0123456789",
            "XXXXXXXXXXXX",
            "xxxx xxxx",
            "0x0",
            "00000000-0000-0000-0000-000000000000",
            "ffffffff-ffff-ffff-ffff-ffffffffffff",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
            "FFFFFFFF",
            "00:00:00:00:00:00",
            "ff:ff:ff:ff:ff:ff",
            "System Serial Number",
            "SerNum0",
            "PartNum12",
            "Manufacturer3",
            "  Not Specified  \0",
        ] {
            assert_eq!(ident(junk), None, "{junk:?} should be dropped");
        }
    }

    #[test]
    fn keeps_real_identifiers() {
        for real in [
            "4C4C4544-0042-3510-8052-B4C04F4D4E32",
            "CN7016379A0045",
            "Dell Inc.",
            "36A1B2C3",
            "0x8086",
            "F00D",
            "Manufacturer",
            "A1",
            "X710",
            "10",
        ] {
            assert_eq!(
                ident(real).as_deref(),
                Some(real),
                "{real:?} should be kept"
            );
        }
    }

    #[test]
    fn numeric_fields_keep_zero() {
        assert_eq!(clean("0").as_deref(), Some("0"));
        assert_eq!(hex_id(" 0x0000\n").as_deref(), Some("0x0000"));
    }

    #[test]
    fn lowercases_macs_uuids_and_hex_ids() {
        assert_eq!(
            mac("F4:8E:38:C1:22:10\n").as_deref(),
            Some("f4:8e:38:c1:22:10")
        );
        assert_eq!(
            uuid("4C4C4544-0042-3510-8052-B4C04F4D4E32").as_deref(),
            Some("4c4c4544-0042-3510-8052-b4c04f4d4e32")
        );
        assert_eq!(hex_id("0x10DE").as_deref(), Some("0x10de"));
        assert_eq!(mac("00:00:00:00:00:00"), None);
    }
}
