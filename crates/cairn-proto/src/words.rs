//! Enums whose values are words on the wire, in the database and on the command line.

/// Declares a field-less enum whose variants are words, each word spelled once: the enum,
/// `ALL`, `WORDS`, `as_str`, `FromStr` (whose error lists the words), `Display`, serde as the
/// word itself, and its JSON Schema (the words).
#[macro_export]
macro_rules! words {
    (
        $kind:literal,
        $(#[$meta:meta])*
        $vis:vis enum $ty:ident {
            $($(#[doc = $doc:literal])* $variant:ident = $word:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $ty {
            $($(#[doc = $doc])* $variant,)+
        }

        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $word,)+
                }
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok($ty::$variant),)+
                    other => Err(format!(
                        "unknown {} {other:?} (one of: {})",
                        $kind,
                        Self::WORDS.join(", ")
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $crate::schema::utoipa::PartialSchema for $ty {
            fn schema() -> $crate::schema::utoipa::openapi::RefOr<
                $crate::schema::utoipa::openapi::schema::Schema,
            > {
                $crate::schema::words($kind, Self::WORDS)
            }
        }

        impl $crate::schema::utoipa::ToSchema for $ty {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed(stringify!($ty))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let word = <::std::borrow::Cow<'de, str>>::deserialize(d)?;
                word.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}
