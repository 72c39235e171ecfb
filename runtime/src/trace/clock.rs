//! The clock spans read: the CPU's time-stamp counter through `quanta` (a few nanoseconds per
//! reading where `Instant::now()` costs ~25), scaled to nanoseconds once per call.
//!
//! Under Miri, which cannot run the `cpuid` instruction quanta calibrates with, the clock is
//! `Instant` and a raw reading is nanoseconds since the first one.

use std::sync::OnceLock;

#[cfg(not(miri))]
type Clock = quanta::Clock;
#[cfg(miri)]
type Clock = std::time::Instant;

static CLOCK: OnceLock<Clock> = OnceLock::new();

/// The process-wide clock; the first call calibrates the TSC against the OS clock (about a
/// millisecond), so [`enable`](super::enable) does it up front.
#[inline]
pub(crate) fn clock() -> &'static Clock {
    #[cfg(not(miri))]
    return CLOCK.get_or_init(quanta::Clock::new);
    #[cfg(miri)]
    return CLOCK.get_or_init(std::time::Instant::now);
}

/// A raw counter reading (not nanoseconds; see [`elapsed`]).
#[inline]
pub(crate) fn now() -> u64 {
    #[cfg(not(miri))]
    return clock().raw();
    #[cfg(miri)]
    return u64::try_from(clock().elapsed().as_nanos()).unwrap_or(u64::MAX);
}

/// Nanoseconds between two raw readings.
#[inline]
pub(crate) fn elapsed_nanos(start: u64, end: u64) -> u64 {
    #[cfg(not(miri))]
    return clock().delta_as_nanos(start, end);
    #[cfg(miri)]
    return end.saturating_sub(start);
}

/// Time between two raw readings.
#[inline]
pub(crate) fn elapsed(start: u64, end: u64) -> core::time::Duration {
    core::time::Duration::from_nanos(elapsed_nanos(start, end))
}
