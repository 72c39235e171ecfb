//! Tiny timing helpers for the tour (criterion does the careful measuring in `benches/`).

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Median time per call of `f`, over several rounds of `iters` calls.
pub fn per_call<R>(iters: u32, mut f: impl FnMut() -> R) -> Duration {
    let mut rounds: Vec<Duration> = (0..7)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(f());
            }
            start.elapsed() / iters
        })
        .collect();
    rounds.sort();
    rounds[rounds.len() / 2]
}

/// `Duration` as nanoseconds with one decimal, for tables.
pub fn ns(d: Duration) -> String {
    format!("{:.1} ns", d.as_secs_f64() * 1e9)
}
