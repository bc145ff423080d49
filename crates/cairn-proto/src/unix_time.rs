//! Seconds since the Unix epoch: the one form of time in tokens, events and the registry.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// A moment, in whole seconds since 1970-01-01T00:00:00Z (a JWT's `NumericDate`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixTime(i64);

impl UnixTime {
    pub const EPOCH: UnixTime = UnixTime(0);

    pub const fn from_secs(secs: i64) -> Self {
        UnixTime(secs)
    }

    /// The wall clock's time now.
    pub fn now() -> Self {
        UnixTime(OffsetDateTime::now_utc().unix_timestamp())
    }

    pub const fn secs(self) -> i64 {
        self.0
    }

    /// `duration` later, or the last representable moment.
    pub fn after(self, duration: Duration) -> Self {
        UnixTime(self.0.saturating_add_unsigned(duration.as_secs()))
    }

    /// As a calendar time (a moment out of its range reads as the epoch).
    pub fn datetime(self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(self.0).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl std::fmt::Display for UnixTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_and_serializes_as_a_number() {
        let t = UnixTime::from_secs(100);
        assert_eq!(t.after(Duration::from_secs(5)).secs(), 105);
        assert_eq!(
            UnixTime::from_secs(i64::MAX).after(Duration::from_secs(5)),
            UnixTime::from_secs(i64::MAX)
        );
        assert_eq!(serde_json::to_string(&t).unwrap(), "100");
        assert_eq!(serde_json::from_str::<UnixTime>("7").unwrap().secs(), 7);
        assert_eq!(
            UnixTime::from_secs(i64::MAX).datetime(),
            OffsetDateTime::UNIX_EPOCH
        );
    }
}
