//! Import-time AST transform (log every function entry) → `#[keel::instrument]`, a compile-time
//! rewrite reporting to `keel::trace`.

use crate::measure::{ns, per_call};
use keel::trace::{self, Outcome, Stats};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The fastest of many short rounds: on a shared machine this filters out time the thread spent
/// descheduled, which the few-nanosecond differences measured here would drown in.
fn fastest_per_call<R>(mut f: impl FnMut() -> R) -> Duration {
    const CALLS: u32 = 20_000;
    (0..100)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CALLS {
                black_box(f());
            }
            Duration::from_secs_f64(start.elapsed().as_secs_f64() / f64::from(CALLS))
        })
        .min()
        .unwrap_or_default()
}

#[inline(never)]
fn bare(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[keel::instrument]
#[inline(never)]
fn traced(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// Every function in here is rewritten, like a module loaded through Python's `InstrumentLoader`.
#[keel::instrument]
mod shop {
    pub fn checkout(items: &[u32]) -> Result<u32, String> {
        let mut total = 0;
        for &item in items {
            total += price(item)?;
        }
        Ok(total)
    }

    fn price(item: u32) -> Result<u32, String> {
        match item {
            0 => Err("item 0 is not for sale".into()),
            n => Ok(n * 100),
        }
    }
}

pub fn run() {
    trace::enable();
    let (total, events) = trace::capture(|| shop::checkout(&[1, 2]));
    println!("checkout(&[1, 2]) = {total:?}; its events, as the Python loader would print them:");
    for event in events.iter().filter(|e| e.is_enter()) {
        println!("  {event}");
    }
    let (_, events) = trace::capture(|| shop::checkout(&[3, 0]));
    let last = events.last().and_then(|e| e.outcome()).cloned();
    assert_eq!(last, Some(Outcome::Err("item 0 is not for sale".into())));
    println!(
        "checkout(&[3, 0]) exits with outcome `{}`",
        last.unwrap_or(Outcome::Ok)
    );

    trace::disable();
    let floor = fastest_per_call(|| bare(black_box(7)));
    let off = fastest_per_call(|| traced(black_box(7)));
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    trace::enable();
    let on = fastest_per_call(|| traced(black_box(7)));
    let on_median = per_call(200_000, || traced(black_box(7)));
    for _ in 0..1000 {
        let _ = shop::checkout(&[1, 2, 0]);
    }
    trace::disable();
    println!(
        "per call (fastest of 100 rounds): bare fn {}, instrumented + tracing off {}, \
         tracing on into Stats {} (median round: {})",
        ns(floor),
        ns(off),
        ns(on),
        ns(on_median)
    );
    let report = stats.report();
    println!("Stats (a small APM):");
    for line in report.to_string().lines() {
        println!("  {line}");
    }
}
