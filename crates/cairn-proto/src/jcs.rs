//! RFC 8785 JSON Canonicalization Scheme: the bytes that are hashed and signed.
//!
//! JSON text is canonicalized in one pass as it is parsed, into one buffer: object members
//! sorted by the UTF-16 code units of their names (section 3.2.3), strings escaped as
//! ECMAScript's `JSON.stringify` does, which is what serde_json's compact form does (section
//! 3.2.2.2), and numbers as ECMAScript's `Number.prototype.toString` prints IEEE-754 doubles
//! (section 3.2.2.3, via `ryu-js`). No tree of values is built: every signed statement is
//! canonicalized by its signer and its verifier, on the attestation hot path.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt;
use std::io::Write;
use std::ops::Range;

use serde::Serialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The canonical encoding of `value`. Serializing plain data to JSON cannot fail for the
/// types Cairn signs (string keys, no floats that JSON cannot hold, unique member names), so
/// this panics only on a programming error.
pub fn canonical<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let text = serde_json::to_string(value).expect("plain data serializes to JSON");
    canonical_text(&text).expect("serialized data is JSON with unique member names")
}

/// The canonical encoding of JSON text, such as a signed payload as received. A member name
/// repeated within an object is an error, not resolved one way or the other: RFC 8785 takes
/// I-JSON (RFC 7493), which forbids it, and a verifier that kept the last of two names while
/// an application read the first would check one document and act on another.
pub fn canonical_text(text: &str) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(text.len());
    let mut parser = serde_json::Deserializer::from_str(text);
    Canonicalize { out: &mut out }.deserialize(&mut parser)?;
    parser.end()?;
    Ok(out)
}

/// Writes the canonical form of the next JSON value to `out`.
struct Canonicalize<'o> {
    out: &'o mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for Canonicalize<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Canonicalize<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out
            .extend_from_slice(if b { b"true" } else { b"false" });
        Ok(())
    }

    /// Integers up to 2^53 print as themselves, as their doubles do; larger ones print as
    /// the double a JSON parser reads them as.
    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        match n <= EXACT {
            true => write!(self.out, "{n}").expect("writing to memory cannot fail"),
            false => write_double(self.out, n as f64),
        }
        Ok(())
    }

    fn visit_i64<E>(self, n: i64) -> Result<(), E> {
        match n.unsigned_abs() <= EXACT {
            true => write!(self.out, "{n}").expect("writing to memory cannot fail"),
            false => write_double(self.out, n as f64),
        }
        Ok(())
    }

    fn visit_f64<E>(self, n: f64) -> Result<(), E> {
        write_double(self.out, n);
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        write_string(self.out, s);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        self.out.push(b'[');
        let mut first = true;
        loop {
            let before = self.out.len();
            if !first {
                self.out.push(b',');
            }
            if items
                .next_element_seed(Canonicalize { out: self.out })?
                .is_none()
            {
                self.out.truncate(before);
                break;
            }
            first = false;
        }
        self.out.push(b']');
        Ok(())
    }

    /// Members are written as they come, then reordered if they came out of order (senders
    /// that canonicalize, as Cairn's agents do, never need it).
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push(b'{');
        let start = self.out.len();
        let mut members: Vec<(Cow<'de, str>, Range<usize>)> = Vec::new();
        while let Some(name) = map.next_key_seed(Name)? {
            if !members.is_empty() {
                self.out.push(b',');
            }
            let begin = self.out.len();
            write_string(self.out, &name);
            self.out.push(b':');
            map.next_value_seed(Canonicalize { out: self.out })?;
            members.push((name, begin..self.out.len()));
        }
        let in_order = members
            .windows(2)
            .all(|pair| utf16_cmp(&pair[0].0, &pair[1].0) == Ordering::Less);
        if !in_order {
            members.sort_by(|a, b| utf16_cmp(&a.0, &b.0));
            if let Some(pair) = members.windows(2).find(|pair| pair[0].0 == pair[1].0) {
                return Err(de::Error::custom(format_args!(
                    "duplicate member name {:?}",
                    pair[0].0
                )));
            }
            let written = self.out.split_off(start);
            for (i, (_, range)) in members.iter().enumerate() {
                if i > 0 {
                    self.out.push(b',');
                }
                self.out
                    .extend_from_slice(&written[range.start - start..range.end - start]);
            }
        }
        self.out.push(b'}');
        Ok(())
    }
}

/// A member name, borrowed from the text unless it had escapes to decode.
struct Name;

impl<'de> DeserializeSeed<'de> for Name {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(s.to_owned()))
    }
}

/// Integers beyond this are not all exact as doubles.
const EXACT: u64 = 1 << 53;

fn write_double(out: &mut Vec<u8>, n: f64) {
    // serde_json refuses numbers beyond the double range, so `n` is finite.
    out.extend_from_slice(ryu_js::Buffer::new().format_finite(n).as_bytes());
}

/// Writes an object whose members come from `members`, in canonical order, each value by
/// `write`: for typed encoders that skip the text (see `Report::fingerprint`).
pub(crate) fn write_object<'a, V>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a String, V)> + Clone,
    write: impl Fn(&mut Vec<u8>, V),
) {
    // Maps iterate in UTF-8 byte order, which is UTF-16 order unless names mix characters
    // from U+E000..U+FFFF with ones beyond U+FFFF; only then is a reorder needed.
    let names = members.clone().map(|(name, _)| name);
    let in_order = names
        .clone()
        .zip(names.skip(1))
        .all(|(a, b)| utf16_cmp(a, b) == Ordering::Less);
    out.push(b'{');
    if in_order {
        write_members(out, members, write);
    } else {
        let mut sorted: Vec<_> = members.collect();
        sorted.sort_by(|a, b| utf16_cmp(a.0, b.0));
        write_members(out, sorted.into_iter(), write);
    }
    out.push(b'}');
}

fn write_members<'a, V>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a String, V)>,
    write: impl Fn(&mut Vec<u8>, V),
) {
    for (i, (name, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        write(out, value);
    }
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("writing a string to memory cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn text(v: &Value) -> String {
        String::from_utf8(canonical(v)).unwrap()
    }

    fn of_text(json: &str) -> String {
        String::from_utf8(canonical_text(json).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_and_drops_whitespace() {
        let v = json!({ "b": 1, "a": { "d": "x", "c": [true, null] } });
        assert_eq!(text(&v), r#"{"a":{"c":[true,null],"d":"x"},"b":1}"#);
        assert_eq!(
            of_text(" { \"b\" : 1 ,\n \"a\": {\"d\":\"x\", \"c\": [ true , null ] } } "),
            r#"{"a":{"c":[true,null],"d":"x"},"b":1}"#
        );
    }

    #[test]
    fn sorts_keys_by_utf16_code_units() {
        // RFC 8785 section 3.2.3: "\u{e9}" (U+00E9) sorts after "z", and U+1F600 (a surrogate
        // pair, 0xD83D...) sorts before U+FB01.
        let v = json!({ "\u{e9}": 1, "z": 2, "\u{fb01}": 3, "\u{1f600}": 4 });
        assert_eq!(
            text(&v),
            "{\"z\":2,\"\u{e9}\":1,\"\u{1f600}\":4,\"\u{fb01}\":3}"
        );
    }

    #[test]
    fn rfc8785_sorting_example() {
        // RFC 8785 section 3.2.3's example, whose names sort differently by UTF-8, UTF-16
        // and code point.
        let input = r#"{"\u20ac":"Euro Sign","\r":"Carriage Return","\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\ud83d\ude00":"Emoji: Grinning Face","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis"}"#;
        assert_eq!(
            of_text(input),
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\
             \"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\
             \"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        );
    }

    #[test]
    fn escapes_strings_as_ecmascript() {
        // RFC 8785 section 3.2.2.2: two-character escapes where they exist, lowercase \u00xx
        // for other controls, and everything else (DEL, U+2028, non-ASCII) as itself.
        let v = json!("\u{8}\t\n\u{c}\r\"\\/\u{1f}\u{7f}\u{2028}é");
        assert_eq!(
            text(&v),
            "\"\\b\\t\\n\\f\\r\\\"\\\\/\\u001f\u{7f}\u{2028}é\""
        );
    }

    #[test]
    fn rfc8785_numbers() {
        // RFC 8785 appendix B: IEEE-754 doubles as ECMAScript prints them.
        let cases = [
            ("0", "0"),
            ("-0.0", "0"),
            ("1e-7", "1e-7"),
            ("123e-7", "0.0000123"),
            ("1e21", "1e+21"),
            ("1e20", "100000000000000000000"),
            ("4.50", "4.5"),
            ("2e-3", "0.002"),
            ("0.000001", "0.000001"),
            ("9007199254740992", "9007199254740992"),
            ("9007199254740993", "9007199254740992"),
            ("-9007199254740993", "-9007199254740992"),
            ("18446744073709551615", "18446744073709552000"),
            ("295147905179352830000", "295147905179352830000"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("5e-324", "5e-324"),
            ("333333333.3333333", "333333333.3333333"),
        ];
        for (input, expected) in cases {
            assert_eq!(of_text(input), expected, "{input}");
        }
    }

    /// Found by the `jcs` fuzz target: serde_json's default float parsing is not correctly
    /// rounded, so `0.1623157e308` read as the double after 1.623157e307 and canonicalized
    /// as `1.6231570000000001e+307`, which an implementation that parses exactly (every
    /// ECMAScript one) does not produce: the same text, two canonical forms, no signature
    /// that verifies across them. `float_roundtrip` (cairn-proto's Cargo.toml) reads them
    /// exactly. This test alone cannot catch its loss (a dev-dependency enables it for tests);
    /// the input is in the fuzz corpus (`fuzz/corpus/jcs/regression-float-rounding`), which
    /// CI replays in a build without dev-dependencies.
    #[test]
    fn numbers_are_read_correctly_rounded() {
        for (input, expected) in [
            ("0.1623157e308", "1.623157e+307"),
            (
                "[1e21, 1E-7, -0, 0.1623157e308]",
                "[1e+21,1e-7,0,1.623157e+307]",
            ),
            ("2.2250738585072011e-308", "2.225073858507201e-308"),
            ("0.3e-320", "3e-321"),
        ] {
            assert_eq!(of_text(input), expected, "{input}");
            assert_eq!(of_text(expected), expected, "{expected}");
        }
    }

    #[test]
    fn refuses_repeated_names_and_what_is_not_json() {
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#"{"b":1,"a":2,"b":1}"#,
            r#"[{"x":{"a":1,"\u0061":2}}]"#,
            "{} x",
            "{",
            "",
            "[1,]",
            "1e400",
        ] {
            assert!(canonical_text(bad).is_err(), "{bad}");
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-(1i64 << 53)..=(1i64 << 53)).prop_map(|i| json!(i)),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(any::<String>(), inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Agrees with serde_jcs, an independent implementation, wherever that one follows the
        /// RFC (it prints integers beyond 2^53 exactly, so those are left out).
        #[test]
        fn agrees_with_serde_jcs(v in json_value()) {
            prop_assert_eq!(canonical(&v), serde_jcs::to_vec(&v).unwrap());
        }

        /// Layout is not content: indented text canonicalizes as the compact form does.
        #[test]
        fn ignores_layout(v in json_value()) {
            let pretty = serde_json::to_string_pretty(&v).unwrap();
            prop_assert_eq!(canonical_text(&pretty).unwrap(), canonical(&v));
        }

        /// The canonical form is a fixed point: parsing and re-encoding changes nothing.
        #[test]
        fn is_idempotent(v in json_value()) {
            let once = canonical(&v);
            let again = canonical_text(std::str::from_utf8(&once).unwrap()).unwrap();
            prop_assert_eq!(again, once);
        }
    }
}
