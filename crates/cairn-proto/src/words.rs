//! Enums whose values are words on the wire, in the database and on the command line.

/// Gives a field-less enum its words, each spelled once: `ALL`, `WORDS`, `as_str`, `FromStr`
/// (whose error lists the words) and `Display`.
#[macro_export]
macro_rules! words {
    ($kind:literal, $ty:ident { $($variant:ident = $word:literal),+ $(,)? }) => {
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
    };
}
