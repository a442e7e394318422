//! The time seam: the only place Petrel's library code reads a clock.
//!
//! Under `--cfg madsim` both clocks are the simulator's (madsim-tokio's `Instant` is virtual,
//! and madsim answers `clock_gettime` with simulated time inside a simulation), so a seed
//! replays time exactly. Pure logic never calls these: it takes a `now` from its caller.

use std::time::{Duration, SystemTime};

/// Milliseconds since the Unix epoch (RocketMQ's timestamps: born, store, index times).
pub fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis()
        .try_into()
        .unwrap_or(i64::MAX)
}

/// The runtime's monotonic clock, for timeouts and intervals.
pub fn monotonic() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// The real wall clock, for measuring how long a whole simulation took from outside it (the
/// runner's simulated-seconds-per-wall-second). Inside a running simulation madsim answers
/// this with simulated time too, so only call it between runs.
pub fn wall_now() -> std::time::Instant {
    std::time::Instant::now()
}
