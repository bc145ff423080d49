//! Wall-clock time in the two forms the protocol uses.

use cairn_proto::UnixTime;
use time::OffsetDateTime;

/// Seconds since the epoch (token claims; database columns take its `secs()`).
pub fn now() -> UnixTime {
    UnixTime::now()
}

/// Nanoseconds since the epoch, never less than the last answer in this process (the wall
/// clock may step back): log entries are ordered by it.
pub fn stamp() -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = OffsetDateTime::now_utc().unix_timestamp_nanos() as i64;
    let next = |last: i64| now.max(last + 1);
    let last = LAST
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(next(last))
        })
        .unwrap_or_else(|last| last);
    next(last)
}

/// A database column's seconds as a calendar time.
pub fn datetime(secs: i64) -> OffsetDateTime {
    UnixTime::from_secs(secs).datetime()
}
