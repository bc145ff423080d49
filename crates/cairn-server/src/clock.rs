//! Wall-clock time in the two forms the protocol uses.

use time::OffsetDateTime;

/// Seconds since the epoch (JWT claims, database columns).
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
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

pub fn datetime(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}
