//! Python's reusable `Bounded` descriptor, as `#[derive(keel::Bounded)]`.
//!
//! ```text
//! cargo run --release --example network_config
//! ```
//!
//! The Python original validates every assignment at run time through `__set__`:
//!
//! ```python
//! class NetworkConfig:
//!     port = Bounded(min_val=1, max_val=65535)
//!     timeout = Bounded(min_val=0, max_val=300)
//!     max_retries = Bounded(min_val=0, max_val=50)
//!
//! config = NetworkConfig(port=8080, timeout=30, max_retries=3)
//! config.port = 99999   # ValueError: '_bounded_port' must be <= 65535, got 99999
//! ```
//!
//! Here the same checks are two comparisons the compiler writes into each setter, a bad value in
//! a `const` fails the build, and a bounded newtype carries its range into every struct that
//! uses it.

#![deny(warnings, clippy::all)]
// Every generated public item is documented: this holds under `missing_docs` too.
#![warn(missing_docs)]

use keel::{Bounded, BoundsError};
use std::hint::black_box;
use std::time::Instant;

/// The Python original's `NetworkConfig`, with its three bounded attributes.
#[derive(Bounded, Debug)]
pub struct NetworkConfig {
    #[bounded(1..=65535)]
    port: u32,
    #[bounded(0..=300)]
    timeout: u32,
    #[bounded(..=50)]
    max_retries: u8,
    name: String,
}

/// A port, valid wherever it goes.
#[derive(Bounded, Clone, Copy, Debug, PartialEq)]
#[bounded(1..=65535)]
pub struct Port(u16);

/// An optional setting, as pydantic's `Optional[conint(ge=1, le=100)]`: `None` is accepted,
/// `Some(v)` is checked.
#[derive(Bounded, Debug)]
pub struct PoolLimits {
    #[bounded(1..=100)]
    max_conns: Option<u32>,
}

/// Built when compiling: `NetworkConfig::new_const(0, ..)` here would not compile.
const DEFAULTS: NetworkConfig = NetworkConfig::new_const(8080, 30, 3, String::new());

fn main() -> Result<(), BoundsError> {
    let mut config = NetworkConfig::try_new(8080, 30, 3, "edge".into())?;
    println!("config = {config:?} (name {:?}, unbounded)", config.name);

    match config.set_port(99999) {
        Ok(()) => println!("set_port(99999) accepted (unexpected)"),
        Err(err) => println!("set_port(99999) -> Err: {err}"),
    }
    println!("port is still {}", config.port());
    if let Err(err) = NetworkConfig::try_new(80, 301, 3, "x".into()) {
        println!(
            "try_new(timeout = 301) -> Err: {err}  [type {}, field {:?}, value {}, bounds {}]",
            err.type_name(),
            err.field(),
            err.value(),
            err.bounds()
        );
    }
    println!(
        "bounds as data: PORT_BOUNDS = {}, TIMEOUT_BOUNDS = {}, MAX_RETRIES_BOUNDS = {}",
        NetworkConfig::PORT_BOUNDS,
        NetworkConfig::TIMEOUT_BOUNDS,
        NetworkConfig::MAX_RETRIES_BOUNDS
    );
    println!(
        "compile-time DEFAULTS: port {}, timeout {}",
        DEFAULTS.port(),
        DEFAULTS.timeout()
    );

    let http = Port::try_new(80)?;
    println!(
        "Port::try_new(80) = {http:?}; Port::try_new(0) -> {}",
        Port::try_new(0).unwrap_err()
    );
    println!("Port::MIN..=Port::MAX = {:?}..={:?}", Port::MIN, Port::MAX);

    let mut limits = PoolLimits::try_new(None)?;
    limits.set_max_conns(Some(20))?;
    println!(
        "PoolLimits: max_conns {:?}; set_max_conns(Some(101)) -> Err: {}; still {:?}; None is \
         allowed: {:?}",
        limits.max_conns(),
        limits.set_max_conns(Some(101)).unwrap_err(),
        limits.max_conns(),
        limits.set_max_conns(None)
    );

    // Measured: the derived setter next to the same `if` written by hand.
    const CALLS: u32 = 50_000_000;
    let values: Vec<u32> = (0..1024u32).map(|i| 1 + i * 61).collect();
    let derived = time_per_call(CALLS, &values, |v| {
        black_box(&mut config).set_port(v).is_ok()
    });
    let mut hand_port = 8080u32;
    let by_hand = time_per_call(CALLS, &values, |v| {
        let slot = black_box(&mut hand_port);
        if (1..=65535).contains(&v) {
            *slot = v;
            true
        } else {
            false
        }
    });
    println!(
        "set_port, in bounds: {derived:.2} ns per call; the same `if` + assignment by hand: \
         {by_hand:.2} ns ({:.2}x)",
        derived / by_hand
    );
    let rejected = time_per_call(1_000_000, &[99999], |v| {
        black_box(&mut config).set_port(v).is_ok()
    });
    println!(
        "set_port, rejected (builds the error message): {rejected:.1} ns per call; port keeps \
         its last accepted value, {}",
        config.port()
    );
    Ok(())
}

/// Median nanoseconds per call of `f` over 5 rounds of about `calls` calls, cycling through
/// `values`.
fn time_per_call(calls: u32, values: &[u32], mut f: impl FnMut(u32) -> bool) -> f64 {
    let mut rounds: Vec<f64> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let mut accepted = 0u32;
            let passes = (calls as usize / values.len()).max(1);
            for _ in 0..passes {
                for &v in values {
                    accepted += f(black_box(v)) as u32;
                }
            }
            black_box(accepted);
            start.elapsed().as_secs_f64() * 1e9 / (passes * values.len()) as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}
