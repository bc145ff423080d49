//! Wall-clock time in the two forms the protocol uses.

use time::OffsetDateTime;

/// Seconds since the epoch (JWT claims, database columns).
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub fn datetime(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
