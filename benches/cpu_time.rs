//! A criterion clock that counts this thread's CPU time instead of wall time.
//!
//! On a shared machine (many engineers, two cores) a wall-clock benchmark also times the
//! moments its thread waits for a core, which inflates nanosecond figures several times over.
//! CPU time counts only the time the thread actually ran. Select it with
//! `KEEL_BENCH_CLOCK=cpu`; the default stays criterion's wall clock.

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use std::time::Duration;

/// Thread CPU time (`CLOCK_THREAD_CPUTIME_ID`, through the `cpu-time` crate).
pub struct ThreadCpuTime;

/// Lends its duration formatting (ns/µs/ms) to [`ThreadCpuTime`].
static WALL: WallTime = WallTime;

impl Measurement for ThreadCpuTime {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }
    fn end(&self, start: Self::Intermediate) -> Self::Value {
        start.elapsed()
    }
    fn add(&self, a: &Self::Value, b: &Self::Value) -> Self::Value {
        *a + *b
    }
    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }
    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        WALL.formatter()
    }
}

/// True when `KEEL_BENCH_CLOCK=cpu` asks for [`ThreadCpuTime`].
pub fn cpu_clock_requested() -> bool {
    std::env::var_os("KEEL_BENCH_CLOCK").is_some_and(|v| v == "cpu")
}

/// Runs `benches` with the clock the environment asks for, then prints criterion's summary.
macro_rules! main_with_clock {
    ($($bench:path),+ $(,)?) => {
        fn main() {
            if $crate::cpu_time::cpu_clock_requested() {
                let mut c = criterion::Criterion::default()
                    .with_measurement($crate::cpu_time::ThreadCpuTime)
                    .configure_from_args();
                $($bench(&mut c);)+
                c.final_summary();
            } else {
                let mut c = criterion::Criterion::default().configure_from_args();
                $($bench(&mut c);)+
                c.final_summary();
            }
        }
    };
}
pub(crate) use main_with_clock;
