//! `#[derive(Bounded)]` setter cost on the in-bounds path, next to the same check written by
//! hand and to `nutype`'s `try_new` for the same range, in one criterion group.
//!
//! Each iteration sets 1024 different in-bounds ports read from a `black_box`ed slice, and the
//! target goes through `black_box` before every set, so the compiler can neither fold the checks
//! away nor keep only the last store. (One `black_box` per set, not two: with two, the register
//! allocator sometimes gives both the same stack slot in one loop and not in the other, and the
//! harness, not the code under test, decides the ratio.)
//! `set_port` is criterion's usual estimate; `set_port_fastest_pass` alternates the contenders
//! pass by pass and keeps each one's fastest pass, which compares the code itself when other
//! work shares the machine.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel::{Bounded, Bounds, BoundsError};
use nutype::nutype;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// The keel version: the derive writes `set_port`.
#[derive(Bounded, Debug)]
pub struct NetworkConfig {
    #[bounded(1..=65535)]
    port: u32,
    #[bounded(0..=300)]
    timeout: u32,
}

/// The same struct with the setter written by hand: an `if` and an assignment, the error built
/// out of line.
#[derive(Debug)]
pub struct HandConfig {
    port: u32,
    timeout: u32,
}

const HAND_PORT: Bounds<u32> = Bounds::inclusive(1, 65535);

impl HandConfig {
    #[inline]
    pub fn set_port(&mut self, port: u32) -> Result<(), BoundsError> {
        if !(1..=65535).contains(&port) {
            return Err(hand_error(port));
        }
        self.port = port;
        Ok(())
    }
}

#[cold]
#[inline(never)]
fn hand_error(port: u32) -> BoundsError {
    match HAND_PORT.check(port, "HandConfig", Some("port")) {
        Err(error) => error,
        Ok(_) => unreachable!("only called for a port out of bounds"),
    }
}

/// nutype's validated newtype for the same range.
#[nutype(
    validate(greater_or_equal = 1, less_or_equal = 65535),
    derive(Debug, Clone, Copy)
)]
pub struct NutypePort(u32);

/// A struct holding nutype's port, set through `try_new` (nutype's equivalent of a setter).
pub struct NutypeConfig {
    port: NutypePort,
}

/// keel's bounded newtype for the same range.
#[derive(Bounded, Clone, Copy, Debug)]
#[bounded(1..=65535)]
pub struct Port(u32);

fn ports() -> Vec<u32> {
    // Deterministic spread over the whole range; every value is in bounds.
    (0..1024u32)
        .map(|i| 1 + (i.wrapping_mul(2_654_435_761) % 65535))
        .collect()
}

fn set_port(c: &mut Criterion) {
    let values = ports();
    let mut group = c.benchmark_group("set_port");
    group.throughput(Throughput::Elements(values.len() as u64));

    let mut keel_cfg = NetworkConfig::try_new(8080, 30).unwrap();
    group.bench_function("keel_derive_set_port", |b| {
        b.iter(|| {
            let mut accepted = 0u32;
            for &v in black_box(values.as_slice()) {
                accepted += black_box(&mut keel_cfg).set_port(v).is_ok() as u32;
            }
            accepted
        })
    });

    let mut hand_cfg = HandConfig {
        port: 8080,
        timeout: 30,
    };
    group.bench_function("hand_written_if", |b| {
        b.iter(|| {
            let mut accepted = 0u32;
            for &v in black_box(values.as_slice()) {
                accepted += black_box(&mut hand_cfg).set_port(v).is_ok() as u32;
            }
            accepted
        })
    });

    let mut nutype_cfg = NutypeConfig {
        port: NutypePort::try_new(8080).unwrap(),
    };
    group.bench_function("nutype_try_new", |b| {
        b.iter(|| {
            let mut accepted = 0u32;
            for &v in black_box(values.as_slice()) {
                let target = black_box(&mut nutype_cfg);
                if let Ok(port) = NutypePort::try_new(v) {
                    target.port = port;
                    accepted += 1;
                }
            }
            accepted
        })
    });

    let mut newtype_slot = Port::new_const(8080);
    group.bench_function("keel_newtype_try_new", |b| {
        b.iter(|| {
            let mut accepted = 0u32;
            for &v in black_box(values.as_slice()) {
                let target = black_box(&mut newtype_slot);
                if let Ok(port) = Port::try_new(v) {
                    *target = port;
                    accepted += 1;
                }
            }
            accepted
        })
    });
    group.finish();

    // Keep the unused fields honest and the final states observable.
    black_box((
        &keel_cfg,
        keel_cfg.timeout(),
        &hand_cfg.timeout,
        nutype_cfg.port,
    ));
    assert_eq!(keel_cfg.port(), hand_cfg.port);
    assert_eq!(nutype_cfg.port.into_inner(), newtype_slot.get());
}

/// One pass over the values, as a dyn closure so passes of different contenders can alternate.
type Pass<'a> = &'a mut dyn FnMut() -> u32;

/// Runs `iters` rounds; each round first runs every pass in `others` (untimed), then times one
/// pass of `timed`; returns `iters` times the fastest timed pass.
///
/// Preemption on a shared machine only ever adds time, so the fastest pass is the code's own
/// cost; and because every contender runs in every round, all of them see the same machine
/// state (caches, frequency, neighbours) whatever order criterion measures them in.
fn fastest_pass(iters: u64, timed: Pass<'_>, others: &mut [Pass<'_>]) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..iters {
        for other in others.iter_mut() {
            black_box(other());
        }
        let start = Instant::now();
        black_box(timed());
        best = best.min(start.elapsed());
    }
    best * u32::try_from(iters).unwrap_or(u32::MAX)
}

fn set_port_fastest_pass(c: &mut Criterion) {
    let values = ports();
    let mut group = c.benchmark_group("set_port_fastest_pass");
    group.throughput(Throughput::Elements(values.len() as u64));

    let mut keel_cfg = NetworkConfig::try_new(8080, 30).unwrap();
    let mut keel_pass = || {
        let mut accepted = 0u32;
        for &v in black_box(values.as_slice()) {
            accepted += black_box(&mut keel_cfg).set_port(v).is_ok() as u32;
        }
        accepted
    };
    let mut hand_cfg = HandConfig {
        port: 8080,
        timeout: 30,
    };
    let mut hand_pass = || {
        let mut accepted = 0u32;
        for &v in black_box(values.as_slice()) {
            accepted += black_box(&mut hand_cfg).set_port(v).is_ok() as u32;
        }
        accepted
    };
    let mut nutype_cfg = NutypeConfig {
        port: NutypePort::try_new(8080).unwrap(),
    };
    let mut nutype_pass = || {
        let mut accepted = 0u32;
        for &v in black_box(values.as_slice()) {
            let target = black_box(&mut nutype_cfg);
            if let Ok(port) = NutypePort::try_new(v) {
                target.port = port;
                accepted += 1;
            }
        }
        accepted
    };

    group.bench_function("keel_derive_set_port", |b| {
        b.iter_custom(|iters| {
            fastest_pass(
                iters,
                &mut keel_pass,
                &mut [&mut hand_pass, &mut nutype_pass],
            )
        })
    });
    group.bench_function("hand_written_if", |b| {
        b.iter_custom(|iters| {
            fastest_pass(
                iters,
                &mut hand_pass,
                &mut [&mut keel_pass, &mut nutype_pass],
            )
        })
    });
    group.bench_function("nutype_try_new", |b| {
        b.iter_custom(|iters| {
            fastest_pass(
                iters,
                &mut nutype_pass,
                &mut [&mut keel_pass, &mut hand_pass],
            )
        })
    });
    group.finish();
    black_box((keel_cfg.port(), hand_cfg.port, nutype_cfg.port));
}

criterion_group!(benches, set_port);
criterion_group! {
    name = fastest;
    // The fastest-pass samples can be all alike, which the plotting backend cannot draw.
    config = Criterion::default().without_plots();
    targets = set_port_fastest_pass
}
criterion_main!(benches, fastest);
