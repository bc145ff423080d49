//! RFC 8785 JSON Canonicalization Scheme: the bytes that are hashed and signed.

use serde::Serialize;

/// The canonical encoding of `value`. Serializing plain data to JSON cannot fail for the
/// types Cairn signs (string keys, no floats that JSON cannot hold), so this panics only on
/// a programming error.
pub fn canonical<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    serde_jcs::to_vec(value).expect("JCS encoding of plain data")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let v = json!({ "b": 1, "a": { "d": "x", "c": [true, null] } });
        assert_eq!(canonical(&v), br#"{"a":{"c":[true,null],"d":"x"},"b":1}"#);
    }

    #[test]
    fn sorts_keys_by_utf16_code_units() {
        // RFC 8785 section 3.2.3: "\u{e9}" (U+00E9) sorts after "z", and U+1F600 (a surrogate
        // pair, 0xD83D...) sorts before U+FB01.
        let v = json!({ "\u{e9}": 1, "z": 2, "\u{fb01}": 3, "\u{1f600}": 4 });
        let text = String::from_utf8(canonical(&v)).unwrap();
        assert_eq!(
            text,
            "{\"z\":2,\"\u{e9}\":1,\"\u{1f600}\":4,\"\u{fb01}\":3}"
        );
    }
}
