//! Python's `Bounded(min, max)` descriptor → `#[derive(keel::Bounded)]`: range checks written
//! into each setter at compile time, bounds kept as data, bounded newtypes.

use crate::measure::{Table, ns, per_call, ratio};
use keel::Bounded;
use std::hint::black_box;

#[derive(Bounded, Debug)]
struct NetworkConfig {
    #[bounded(1..=65535)]
    port: u32,
    #[bounded(0..=300)]
    timeout: u32,
    #[bounded(..=50)]
    max_retries: u8,
}

#[derive(Bounded, Clone, Copy, Debug)]
#[bounded(0.0..=1.0)]
struct Ratio(f64);

const DEFAULTS: NetworkConfig = NetworkConfig::new_const(8080, 30, 3);

pub fn run() {
    let mut cfg = NetworkConfig::try_new(8080, 30, 3).expect("in bounds");
    println!("python: config.port = 99999  ->  ValueError: '_bounded_port' must be <= 65535");
    match cfg.set_port(99999) {
        Ok(()) => println!("keel:   set_port(99999) accepted (unexpected)"),
        Err(err) => println!(
            "keel:   cfg.set_port(99999) -> Err({err}); port still {}",
            cfg.port()
        ),
    }
    println!(
        "bounds are consts: PORT_BOUNDS = {}, TIMEOUT_BOUNDS = {}; DEFAULTS checked at compile time (max_retries {})",
        NetworkConfig::PORT_BOUNDS,
        NetworkConfig::TIMEOUT_BOUNDS,
        DEFAULTS.max_retries()
    );
    println!(
        "newtype: Ratio::try_new(f64::NAN) -> Err({})",
        Ratio::try_new(f64::NAN).unwrap_err()
    );

    let mut i = 0u32;
    let derived = per_call(5_000_000, || {
        i = i.wrapping_add(1);
        black_box(&mut cfg)
            .set_port(1 + (black_box(i) & 0x7fff))
            .is_ok()
    });
    let mut port = 8080u32;
    let by_hand = per_call(5_000_000, || {
        i = i.wrapping_add(1);
        let v = 1 + (black_box(i) & 0x7fff);
        let slot = black_box(&mut port);
        if (1..=65535).contains(&v) {
            *slot = v;
            true
        } else {
            false
        }
    });
    let rejected = per_call(20_000, || {
        black_box(&mut cfg).set_port(black_box(99999)).is_ok()
    });
    let mut table = Table::new(&[
        "per call (median of 7 rounds)",
        "keel",
        "hand-written",
        "ratio",
    ]);
    table
        .row(&[
            &"set_port(v) in bounds  |  `if` + assignment",
            &ns(derived),
            &ns(by_hand),
            &ratio(derived, by_hand),
        ])
        .row(&[
            &"set_port(99999) rejected (message formatted)",
            &ns(rejected),
            &"-",
            &"-",
        ]);
    table.print();
}
