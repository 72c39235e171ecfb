//! Python's `__slots__` `SensorReading`, as a `#[derive(Compact)]` struct stored by column.
//!
//! ```text
//! cargo run --release --example sensor_readings
//! ```
//!
//! Prints the compile-time layout, the measured bytes per row of a million readings in
//! `SensorReadingVec` next to `Vec<SensorReading>` (and CPython's `__slots__` class when
//! `python3` is on the PATH), the time of `get`, a per-field getter and a column sum, and the
//! rows' Arrow schema with the `timestamp` column handed to Arrow without a copy.

#![deny(warnings, clippy::all)]

#[path = "tour/measure.rs"]
mod measure;

use keel::Compact;
use measure::{ns, per_call};
use std::hint::black_box;
use std::time::Instant;

/// The Python original's fields (`timestamp`, `value`, `unit`) plus the two the keel issue adds:
/// a bounded temperature and a flag.
#[derive(Compact, Clone, Debug, PartialEq)]
#[compact(max_size = 48)]
pub struct SensorReading {
    timestamp: u64,
    #[bounded(-50..=150)]
    celsius: i16,
    value: f64,
    #[compact(intern)]
    unit: String,
    active: bool,
}

fn reading(i: u64) -> SensorReading {
    SensorReading {
        timestamp: 1_719_000_000 + i,
        celsius: (i % 120) as i16 - 20,
        value: 42.5 + (i % 1000) as f64 * 0.01,
        unit: "°C".to_owned(),
        active: !i.is_multiple_of(7),
    }
}

/// Heap bytes a `Vec<SensorReading>` holds: its buffer plus every row's own `String`.
fn vec_heap_bytes(rows: &[SensorReading], capacity: usize) -> usize {
    capacity * size_of::<SensorReading>() + rows.iter().map(|r| r.unit.capacity()).sum::<usize>()
}

fn python_bytes_per_row(rows: usize) -> Option<String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/python/slots_memory.py"
    );
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(rows.to_string())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("python SensorReadingSlotted"))?;
    Some(line.rsplit("bytes_per_row=").next()?.to_owned())
}

fn main() -> Result<(), keel::BoundsError> {
    println!("{}", SensorReading::LAYOUT);

    const N: u64 = 1_000_000;
    let mut rows = SensorReadingVec::new();
    let mut plain = Vec::new();
    for i in 0..N {
        rows.push(reading(i))?;
        plain.push(reading(i));
    }
    let grown = rows.memory_bytes();
    rows.shrink_to_fit();
    println!("{N} readings:");
    println!(
        "  SensorReadingVec        {:>6.2} bytes/row by memory_bytes() ({:.2} before shrink_to_fit)",
        rows.memory_bytes() as f64 / N as f64,
        grown as f64 / N as f64
    );
    println!(
        "  Vec<SensorReading>      {:>6.2} bytes/row (buffer + one heap String per row)",
        vec_heap_bytes(&plain, plain.capacity()) as f64 / N as f64
    );
    match python_bytes_per_row(100_000) {
        Some(bytes) => println!(
            "  CPython __slots__ class {bytes:>6} bytes/object (tracemalloc, 100k objects)"
        ),
        None => println!("  CPython __slots__ class (python3 not found; 124 bytes/object on 3.11)"),
    }

    // Out of range: an error, nothing stored.
    let err = rows
        .push(SensorReading {
            celsius: 151,
            ..reading(0)
        })
        .unwrap_err();
    println!("push(celsius = 151) -> {err}; len still {}", rows.len());

    let n = rows.len();
    let mut i = 0usize;
    let mut next = move || {
        i += 1;
        if i == n {
            i = 0;
        }
        i
    };
    let get = per_call(2_000_000, || rows.get(black_box(next())));
    let mut row = rows.get(0).expect("row 0");
    let get_into = per_call(2_000_000, || rows.get_into(black_box(next()), &mut row));
    let getter = per_call(2_000_000, || rows.timestamp(black_box(next())));
    let vec_get = per_call(2_000_000, || plain.get(black_box(next())).cloned());
    println!("sequential rows:");
    println!(
        "  get(i) {} (decodes every field, allocates the unit String)",
        ns(get)
    );
    println!(
        "  get_into(i, &mut row) {} (same decode, the row's String buffer reused)",
        ns(get_into)
    );
    println!("  timestamp(i) {}", ns(getter));
    println!("  Vec<SensorReading>[i].clone() {}", ns(vec_get));

    drop(plain);
    arrow(rows);
    let mut big = SensorReadingVec::with_capacity(10_000_000);
    big.try_extend((0..10_000_000).map(reading))?;
    let column = big.value_column();
    let start = Instant::now();
    let mut total = 0.0;
    const ROUNDS: u32 = 5;
    for _ in 0..ROUNDS {
        total += black_box(sum(black_box(column)));
    }
    let elapsed = start.elapsed() / ROUNDS;
    println!(
        "sum of value_column() over {} rows: {:.1} ms, {:.1} GB/s (total {:.3e})",
        column.len(),
        elapsed.as_secs_f64() * 1e3,
        (column.len() * 8) as f64 / elapsed.as_secs_f64() / 1e9,
        total
    );
    Ok(())
}

/// The rows as an Arrow `RecordBatch` (keel's `arrow` feature): the schema, and the
/// `timestamp` column handed over without a copy.
fn arrow(rows: SensorReadingVec) {
    let schema = SensorReading::arrow_schema();
    println!("Arrow schema (SensorReading::arrow_schema()):");
    for field in schema.fields() {
        let mut metadata: Vec<_> = field.metadata().iter().collect();
        metadata.sort();
        println!(
            "  {:<10} {:<26} {metadata:?}",
            field.name(),
            field.data_type().to_string()
        );
    }
    let column = rows.timestamp_column().as_ptr();
    let start = Instant::now();
    let batch = rows.into_record_batch().expect("a batch");
    let elapsed = start.elapsed();
    let timestamps = batch.column(0).to_data();
    println!(
        "into_record_batch(): {} rows in {:.2} ms; timestamp column at {:p}, Arrow buffer at {:p} ({})",
        batch.num_rows(),
        elapsed.as_secs_f64() * 1e3,
        column,
        timestamps.buffers()[0].as_ptr(),
        if timestamps.buffers()[0].as_ptr() == column.cast() {
            "the same memory: not copied"
        } else {
            "copied"
        }
    );
}

/// A sum the compiler can vectorise: eight independent accumulators.
fn sum(values: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let rest: f64 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().sum::<f64>() + rest
}
