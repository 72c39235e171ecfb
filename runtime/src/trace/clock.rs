//! The clock spans read: the CPU's time-stamp counter through `quanta` (a few nanoseconds per
//! reading where `Instant::now()` costs ~25), scaled to nanoseconds once per call.

use std::sync::OnceLock;

static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

/// The process-wide clock; the first call calibrates the TSC against the OS clock (about a
/// millisecond), so [`enable`](super::enable) does it up front.
#[inline]
pub(crate) fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw counter reading (not nanoseconds; see [`elapsed`]).
#[inline]
pub(crate) fn now() -> u64 {
    clock().raw()
}

/// Nanoseconds between two raw readings.
#[inline]
pub(crate) fn elapsed_nanos(start: u64, end: u64) -> u64 {
    clock().delta_as_nanos(start, end)
}

/// Time between two raw readings.
#[inline]
pub(crate) fn elapsed(start: u64, end: u64) -> core::time::Duration {
    core::time::Duration::from_nanos(elapsed_nanos(start, end))
}
