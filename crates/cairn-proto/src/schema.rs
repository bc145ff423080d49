//! JSON Schemas of the wire types, for the server's generated OpenAPI document.
//!
//! Each schema says exactly what its type's deserializer accepts, no more and no less: a
//! value the schema allows is never refused for its shape, and one it forbids always is.
//! Derived schemas (`utoipa::ToSchema`) cover plain structs; the types with their own serde
//! (base64url bytes, hex digests, ids, secrets, signed statements) state theirs here.

use std::borrow::Cow;

pub use utoipa;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::schema::{
    ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::secret::Secret;
use crate::statement::{Payload, Signed};
use crate::{Digest, HostId, Nonce, Signature};

/// The base64url alphabet, and the last characters whose unused low bits are zero (2 or 4
/// of them), which is all a strict decoder accepts.
const B64: &str = "[A-Za-z0-9_-]";
const LAST_OF_TWO_BYTES: &str = "[AEIMQUYcgkosw048]";
const LAST_OF_ONE_BYTE: &str = "[AQgw]";

/// Base64url without padding of exactly `n` bytes, as [`crate::b64::decode_array`] reads it.
pub fn b64_exact(n: usize) -> ObjectBuilder {
    let chars = (n * 8).div_ceil(6);
    let pattern = match n % 3 {
        0 => format!("^{B64}{{{chars}}}$"),
        1 => format!("^{B64}{{{}}}{LAST_OF_ONE_BYTE}$", chars - 1),
        _ => format!("^{B64}{{{}}}{LAST_OF_TWO_BYTES}$", chars - 1),
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .content_encoding("base64url")
        .min_length(Some(chars))
        .max_length(Some(chars))
        .pattern(Some(pattern))
        .description(Some(format!("{n} bytes, base64url without padding")))
}

/// Base64url without padding of any length, as [`crate::b64::decode`] reads it.
pub fn b64_bytes() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .content_encoding("base64url")
        .pattern(Some(format!(
            "^(?:{B64}{{4}})*(?:{B64}{LAST_OF_ONE_BYTE}|{B64}{{2}}{LAST_OF_TWO_BYTES})?$"
        )))
        .description(Some("bytes, base64url without padding"))
}

/// 32 bytes (an X25519 public key), base64url.
pub fn b64_32() -> ObjectBuilder {
    b64_exact(32)
}

/// An instance or volume id, as [`crate::api::check_id`] accepts it.
pub fn resource_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(128))
        .pattern(Some(crate::api::ID_PATTERN))
        .description(Some("1 to 128 characters of `A-Z a-z 0-9 . _ : -`"))
}

/// A host's name, as [`crate::api::check_host_name`] accepts it.
pub fn host_name() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(253))
        .pattern(Some(crate::api::HOST_NAME_PATTERN))
        .description(Some(
            "1 to 253 characters, no control characters, no space at either end",
        ))
}

/// One or more resource ids.
pub fn resource_ids() -> ArrayBuilder {
    ArrayBuilder::new().items(resource_id()).min_items(Some(1))
}

/// An ERoT id: `e_` and 32 lower-case hex digits.
pub fn erot_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(34))
        .max_length(Some(34))
        .pattern(Some("^e_[0-9a-f]{32}$"))
}

/// A token id: `t_` and 16 lower-case hex digits (of the token's SHA-256).
pub fn token_id() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(18))
        .max_length(Some(18))
        .pattern(Some("^t_[0-9a-f]{16}$"))
}

/// An RFC 3339 date and time, as `time::serde::rfc3339` reads and writes it.
pub fn date_time() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
}

/// An integer within `min..=max`, stated so that no generator strays outside what the
/// field's Rust type holds.
pub fn integer(min: i64, max: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as isize))
        .maximum(Some(max as usize))
}

/// One of `words`, for the enums [`crate::words!`] declares.
pub fn words(kind: &str, words: &[&str]) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(words.iter().copied()))
        .description(Some(format!("a {kind}")))
        .into()
}

/// A 32-bit signed integer.
pub fn int32() -> ObjectBuilder {
    integer(i32::MIN.into(), i32::MAX as u64)
}

/// Lower-case hex of `n` bytes.
fn hex(n: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(2 * n))
        .max_length(Some(2 * n))
        .pattern(Some(format!("^[0-9a-f]{{{}}}$", 2 * n)))
}

/// Implements `ToSchema` for a type whose schema is `$schema` (an `ObjectBuilder`).
macro_rules! schema {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }
        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

schema!(
    Nonce,
    "Nonce",
    b64_exact(32).description(Some("a challenge nonce: 32 bytes, base64url"))
);
schema!(
    Digest,
    "Digest",
    hex(32).description(Some("a SHA-256 digest, 64 lower-case hex digits"))
);
schema!(
    HostId,
    "HostId",
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(34))
        .max_length(Some(34))
        .pattern(Some("^h_[0-9a-f]{32}$"))
        .description(Some(
            "`h_` and the first 32 hex digits of SHA-256(hardware public key)"
        ))
);

schema!(crate::ErotId, "ErotId", erot_id());
schema!(crate::TokenId, "TokenId", token_id());
schema!(crate::InstanceId, "InstanceId", resource_id());
schema!(crate::VolumeId, "VolumeId", resource_id());

impl<const N: usize> PartialSchema for Secret<N> {
    fn schema() -> RefOr<Schema> {
        b64_exact(N)
            .description(Some(format!("a {N}-byte secret, base64url")))
            .into()
    }
}

impl<const N: usize> ToSchema for Secret<N> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Secret{N}"))
    }
}

/// `{ "<payload name>": {...}, "signature": {...} }`, both required and nothing else.
impl<T: Payload + ToSchema> PartialSchema for Signed<T> {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .property(T::NAME, T::schema_ref())
            .required(T::NAME)
            .property("signature", Signature::schema_ref())
            .required("signature")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(format!(
                "a signed {}: the signature is over the JCS bytes of `{}`",
                T::NAME,
                T::NAME
            )))
            .into()
    }
}

impl<T: Payload + ToSchema> ToSchema for Signed<T> {
    fn name() -> Cow<'static, str> {
        Cow::Owned(format!("Signed{}", T::name()))
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((T::name().into(), T::schema()));
        T::schemas(schemas);
        schemas.push((Signature::name().into(), Signature::schema()));
        Signature::schemas(schemas);
    }
}

/// A `$ref` to a named schema.
pub trait SchemaRef: ToSchema {
    fn schema_ref() -> RefOr<Schema> {
        RefOr::Ref(utoipa::openapi::Ref::from_schema_name(Self::name()))
    }
}

impl<T: ToSchema> SchemaRef for T {}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(schema: ObjectBuilder) -> regex::Regex {
        let RefOr::T(Schema::Object(object)) = schema.into() else {
            unreachable!()
        };
        regex::Regex::new(&object.pattern.unwrap()).unwrap()
    }

    /// The patterns accept exactly what the decoder accepts, at every length near a boundary.
    #[test]
    fn base64url_patterns_match_the_decoder() {
        let any = pattern(b64_bytes());
        for n in 0..40usize {
            let exact = pattern(b64_exact(n));
            let text = crate::b64::encode(vec![0xA5; n]);
            assert!(exact.is_match(&text) && any.is_match(&text), "{n}: {text}");
            // Every one-character change to the last character, and a longer or shorter text.
            for c in "AQgwBEZx-_9".chars() {
                let mut other = text.clone();
                if other.pop().is_none() {
                    continue;
                }
                other.push(c);
                let decodes = crate::b64::decode(&other).is_ok_and(|b| b.len() == n);
                assert_eq!(exact.is_match(&other), decodes, "{n}: {other}");
                assert_eq!(any.is_match(&other), crate::b64::decode(&other).is_ok());
            }
            for other in [format!("{text}A"), format!("{text}="), format!("{text}+")] {
                assert_eq!(any.is_match(&other), crate::b64::decode(&other).is_ok());
                assert!(!exact.is_match(&other));
            }
        }
    }
}
