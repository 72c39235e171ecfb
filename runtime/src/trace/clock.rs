//! The clock spans read: the CPU's time-stamp counter through `quanta` (a few nanoseconds per
//! reading where `Instant::now()` costs ~25), scaled to nanoseconds once per call.
//!
//! quanta decides once, when the clock is made, whether the counter is usable (an invariant TSC)
//! and calibrates it; its raw reading is then the `rdtsc` instruction. Where that is so, a span
//! reads the counter itself, inline, instead of through quanta's out-of-line `raw()` (a call and a
//! match on the clock's kind, twice per call); the readings are the same numbers, scaled by
//! quanta's calibration.
//!
//! Under Miri, which cannot run the `cpuid` instruction quanta calibrates with, the clock is
//! `Instant` and a raw reading is nanoseconds since the first one.

use std::sync::OnceLock;
#[cfg(all(target_arch = "x86_64", not(miri)))]
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(not(miri))]
type Clock = quanta::Clock;
#[cfg(miri)]
type Clock = std::time::Instant;

static CLOCK: OnceLock<Clock> = OnceLock::new();

/// Set once the clock is made, if its raw readings are the time-stamp counter's.
#[cfg(all(target_arch = "x86_64", not(miri)))]
static READS_TSC: AtomicBool = AtomicBool::new(false);

/// The process-wide clock; the first call calibrates the TSC against the OS clock (about a
/// millisecond), so [`enable`](super::enable) does it up front.
#[inline]
pub(crate) fn clock() -> &'static Clock {
    #[cfg(not(miri))]
    return CLOCK.get_or_init(|| {
        let clock = quanta::Clock::new();
        #[cfg(target_arch = "x86_64")]
        READS_TSC.store(raw_is_tsc(&clock), Ordering::Relaxed);
        clock
    });
    #[cfg(miri)]
    return CLOCK.get_or_init(std::time::Instant::now);
}

/// Whether `clock`'s raw readings are the time-stamp counter: each of three falls between two
/// `rdtsc` readings taken around it. (quanta's other raw sources, the OS's monotonic nanoseconds
/// and a mock, are never sandwiched so, three times, by a counter ticking at GHz since boot.)
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn raw_is_tsc(clock: &quanta::Clock) -> bool {
    (0..3).all(|_| {
        let before = rdtsc();
        let raw = clock.raw();
        let after = rdtsc();
        before <= raw && raw <= after
    })
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` reads a register; it has no memory effects and exists on every x86_64 CPU
    // (the intrinsic is `unsafe` only by the convention of `core::arch`).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// A raw counter reading (not nanoseconds; see [`elapsed`]).
#[inline]
pub(crate) fn now() -> u64 {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if READS_TSC.load(Ordering::Relaxed) {
        return rdtsc();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_increase_and_scale_to_the_time_between_them() {
        let start = now();
        std::thread::sleep(core::time::Duration::from_millis(20));
        let end = now();
        assert!(end > start);
        let nanos = elapsed_nanos(start, end);
        assert!(
            (15_000_000..2_000_000_000).contains(&nanos),
            "a 20 ms sleep measured {nanos} ns"
        );
    }

    #[cfg(all(target_arch = "x86_64", not(miri)))]
    #[test]
    fn the_inline_counter_is_read_only_when_it_is_quantas_raw_source() {
        let clock = clock();
        assert_eq!(READS_TSC.load(Ordering::Relaxed), raw_is_tsc(clock));
        // A monotonic-nanosecond source (a mock here) is never taken for the counter.
        let (mock, _handle) = quanta::Clock::mock();
        assert!(!raw_is_tsc(&mock));
    }
}
