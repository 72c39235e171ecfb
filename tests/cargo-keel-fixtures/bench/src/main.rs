//! `keel-fixture-bench <variant> <calls> <off|stats> [time]`: calls one variant of the same
//! function `calls` times, with tracing off or on with a `Stats` sink. Variants: `dep` (the
//! dependency's `work`, instrumented by `cargo keel`), `local` (this crate's copy with
//! `#[keel::instrument]`), `plain` (the dependency's uninstrumented twin), `local_plain` (this
//! crate's uninstrumented copy), `regex` (`Regex::is_match`, for `--instrument regex`). With
//! `time`, the first four are timed in the same run instead (the best of 15 rounds of `calls`
//! calls, ns per call) and the ratios printed.
use keel::trace::{self, Stats};
use std::hint::black_box;
use std::time::Instant;

#[keel::instrument]
#[inline(never)]
fn work_local(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ x
}

#[inline(never)]
fn work_local_plain(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) ^ x
}

/// `calls` calls of `function` (a function item: each loop makes a direct call, as a caller
/// compiles it).
fn calls_of(function: impl Fn(u64) -> u64, calls: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..calls {
        acc = acc.wrapping_add(function(black_box(i)));
    }
    acc
}

fn run(variant: &str, calls: u64) -> u64 {
    match variant {
        "dep" => calls_of(dep::work, calls),
        "local" => calls_of(work_local, calls),
        "plain" => calls_of(dep::work_plain, calls),
        "local_plain" => calls_of(work_local_plain, calls),
        "regex" => {
            let word = regex::Regex::new(r"^[a-z]+[0-9]*$").unwrap();
            calls_of(|i| u64::from(word.is_match(&format!("call{i}"))), calls)
        }
        other => panic!("unknown variant {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let variant = args.first().map_or("dep", String::as_str);
    let calls: u64 = args
        .get(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let stats = Stats::new();
    if args.get(2).is_some_and(|m| m == "stats") {
        trace::add_sink(stats.clone());
        trace::enable();
    } else {
        trace::disable();
    }
    if args.get(3).is_some_and(|t| t == "time") {
        let variants = ["plain", "local_plain", "dep", "local"];
        let mut best = [f64::MAX; 4];
        for _ in 0..15 {
            for (i, variant) in variants.iter().enumerate() {
                let start = Instant::now();
                black_box(run(variant, calls));
                let ns = start.elapsed().as_nanos() as f64 / calls as f64;
                best[i] = best[i].min(ns);
            }
        }
        for (variant, ns) in variants.iter().zip(best) {
            println!("{variant:12} {ns:7.2} ns/call");
        }
        println!(
            "dep/local {:.3}x  dep-plain {:+.2} ns  local-local_plain {:+.2} ns",
            best[2] / best[3],
            best[2] - best[0],
            best[3] - best[1]
        );
    } else {
        println!("{}", run(variant, calls));
    }
}
