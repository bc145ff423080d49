//! The ids of Cairn's resources as types. Each is parsed, and so checked, once where it comes
//! in (a request's path, a command-line argument), and is passed around as itself after.

use std::fmt;
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};

use crate::api::check_id;

/// `prefix` and exactly `digits` lower-case hex digits.
fn hex_id(s: &str, prefix: &str, digits: usize, what: &str) -> Result<(), String> {
    let ok = s.strip_prefix(prefix).is_some_and(|hex| {
        hex.len() == digits && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{what} is {prefix} followed by {digits} lower-case hex digits"
        )),
    }
}

macro_rules! id {
    ($(#[$doc:meta])* $name:ident, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                let check: fn(&str) -> Result<(), String> = $check;
                check(s)?;
                Ok($name(s.to_string()))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                String::deserialize(d)?.parse().map_err(D::Error::custom)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id!(
    /// An ERoT's: `e_` and 32 lower-case hex digits.
    ErotId,
    |s| hex_id(s, "e_", 32, "an ERoT id")
);
impl ErotId {
    /// A fresh one, of 128 random bits.
    pub fn random() -> Self {
        ErotId(format!("e_{}", hex::encode(crate::random_bytes::<16>())))
    }
}

id!(
    /// A token's: `t_` and the first 16 hex digits of its SHA-256.
    TokenId,
    |s| hex_id(s, "t_", 16, "a token id")
);
id!(
    /// An instance's, as its control plane names it (1-128 of `A-Z a-z 0-9 . _ : -`).
    InstanceId,
    |s| check_id("instance", s)
);
id!(
    /// A volume's (1-128 of `A-Z a-z 0-9 . _ : -`).
    VolumeId,
    |s| check_id("volume", s)
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_random_erot_id_is_one() {
        let id = ErotId::random();
        assert_eq!(id.as_str().parse::<ErotId>().unwrap(), id);
        assert_ne!(ErotId::random(), id);
    }

    #[test]
    fn ids_parse_only_their_form() {
        assert!(
            "e_0123456789abcdef0123456789abcdef"
                .parse::<ErotId>()
                .is_ok()
        );
        for bad in [
            "e_0123",
            "E_0123456789abcdef0123456789abcdef",
            "e_0123456789ABCDEF0123456789abcdef",
            "",
        ] {
            assert!(bad.parse::<ErotId>().is_err(), "{bad}");
        }
        assert!("t_0123456789abcdef".parse::<TokenId>().is_ok());
        assert!("t_0123456789abcdefa".parse::<TokenId>().is_err());
        assert!("vol-1.a:b_c".parse::<VolumeId>().is_ok());
        for bad in ["", "a b", "a/b", &"v".repeat(129)] {
            assert!(bad.parse::<VolumeId>().is_err(), "{bad:?}");
            assert!(bad.parse::<InstanceId>().is_err(), "{bad:?}");
        }
        let id: InstanceId = serde_json::from_str("\"i-1\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"i-1\"");
        assert!(serde_json::from_str::<InstanceId>("\"i 1\"").is_err());
    }
}
