//! Integers as JSON has them: `5` and `5.0` are the same number (RFC 8259 leaves the
//! distinction to parsers; JSON Schema's `integer` admits both), so integer members accept a
//! number with a zero fraction too, while refusing one that is not whole or out of range.
//!
//! `#[serde(deserialize_with = "crate::integer::exact")]`, or `crate::integer::optional` with
//! `#[serde(default)]` for an `Option`.

use serde::de::Error;
use serde::{Deserialize, Deserializer};

fn whole<E: Error, T: TryFrom<i128>>(number: serde_json::Number) -> Result<T, E> {
    let value = match (number.as_i64(), number.as_u64(), number.as_f64()) {
        (Some(i), _, _) => Some(i128::from(i)),
        (_, Some(u), _) => Some(i128::from(u)),
        // Beyond 2^64 no integer member fits anyway; the bound keeps the cast exact.
        (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 1.9e19 => Some(f as i128),
        _ => None,
    };
    value
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| E::custom(format!("expected an integer in range, not {number}")))
}

pub fn exact<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<T, D::Error> {
    whole(serde_json::Number::deserialize(d)?)
}

pub fn optional<'de, D: Deserializer<'de>, T: TryFrom<i128>>(d: D) -> Result<Option<T>, D::Error> {
    Option::<serde_json::Number>::deserialize(d)?
        .map(whole)
        .transpose()
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Probe {
        #[serde(deserialize_with = "super::exact")]
        status: i32,
        #[serde(default, deserialize_with = "super::optional")]
        ttl: Option<u64>,
    }

    fn parse(json: &str) -> Option<(i32, Option<u64>)> {
        serde_json::from_str::<Probe>(json)
            .ok()
            .map(|p| (p.status, p.ttl))
    }

    #[test]
    fn whole_numbers_in_range_only() {
        assert_eq!(parse(r#"{"status":-3}"#), Some((-3, None)));
        assert_eq!(
            parse(r#"{"status":9207.0,"ttl":1048576.0}"#),
            Some((9207, Some(1048576)))
        );
        assert_eq!(parse(r#"{"status":1e3,"ttl":null}"#), Some((1000, None)));
        assert_eq!(
            parse(r#"{"status":0,"ttl":18446744073709551615}"#),
            Some((0, Some(u64::MAX)))
        );
        for bad in [
            r#"{"status":1.5}"#,
            r#"{"status":2147483648}"#,
            r#"{"status":0,"ttl":-1}"#,
            r#"{"status":0,"ttl":1e20}"#,
            r#"{"status":"1"}"#,
            r#"{"status":0,"ttl":18446744073709551616}"#,
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
