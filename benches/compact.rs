//! `#[derive(Compact)]`: reading rows and columns of `SensorReadingVec` next to a plain
//! `Vec<SensorReading>`, and the memory each holds (printed before the timings, with CPython's
//! `__slots__` class measured by `benches/python/slots_memory.py` when `python3` exists).
//!
//! `cargo bench --bench compact -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use keel::Compact;
use std::hint::black_box;

#[derive(Compact, Clone, Debug, PartialEq)]
pub struct SensorReading {
    timestamp: u64,
    #[bounded(-50..=150)]
    celsius: i16,
    value: f64,
    #[compact(intern)]
    unit: String,
    active: bool,
}

/// The same row without a string: `get` then decodes without allocating.
#[derive(Compact, Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    timestamp: u64,
    #[bounded(-50..=150)]
    celsius: i16,
    value: f64,
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

/// Every field of a row, folded into one word (so no field can be skipped).
fn digest(s: Sample) -> u64 {
    s.timestamp ^ s.value.to_bits() ^ (s.celsius as u64) << 48 ^ u64::from(s.active)
}

fn sample(i: u64) -> Sample {
    let r = reading(i);
    Sample {
        timestamp: r.timestamp,
        celsius: r.celsius,
        value: r.value,
        active: r.active,
    }
}

const ROWS: u64 = 1_000_000;

fn memory_report() {
    let mut rows = SensorReadingVec::new();
    let mut plain = Vec::new();
    for i in 0..ROWS {
        rows.push(reading(i)).unwrap();
        plain.push(reading(i));
    }
    let per_row = |bytes: usize| bytes as f64 / ROWS as f64;
    println!("memory, {ROWS} rows (heap bytes held):");
    println!(
        "  SensorReadingVec::memory_bytes()  {:.2} B/row (after push growth), target <= 20",
        per_row(rows.memory_bytes())
    );
    rows.shrink_to_fit();
    println!(
        "  SensorReadingVec after shrink     {:.2} B/row",
        per_row(rows.memory_bytes())
    );
    let vec_bytes = plain.capacity() * size_of::<SensorReading>()
        + plain.iter().map(|r| r.unit.capacity()).sum::<usize>();
    println!(
        "  Vec<SensorReading> + Strings      {:.2} B/row",
        per_row(vec_bytes)
    );
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/slots_memory.py");
    match std::process::Command::new("python3")
        .arg(script)
        .arg(ROWS.to_string())
        .output()
    {
        Ok(out) => {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                println!("  {line}");
            }
        }
        Err(_) => println!("  python3 not found: CPython __slots__ figure skipped"),
    }
}

fn get(c: &mut Criterion) {
    memory_report();
    let rows: SensorReadingVec = (0..ROWS).map(reading).collect();
    let plain: Vec<SensorReading> = (0..ROWS).map(reading).collect();
    let samples: SampleVec = (0..ROWS).map(sample).collect();
    let plain_samples: Vec<Sample> = (0..ROWS).map(sample).collect();
    let n = ROWS as usize;
    let mut group = c.benchmark_group("compact_get");
    // Sequential rows: the decode cost itself (the columns stream through the cache).
    let mut i = 0usize;
    let mut next = move || {
        i += 1;
        if i == n {
            i = 0;
        }
        i
    };
    group.bench_function("keel_get_with_string", |b| {
        b.iter(|| rows.get(black_box(next())))
    });
    group.bench_function("vec_index_clone_with_string", |b| {
        b.iter(|| plain.get(black_box(next())).cloned())
    });
    // The same row decoded into a reused value: the `String` keeps its buffer.
    let mut row = reading(0);
    group.bench_function("keel_get_into_with_string", |b| {
        b.iter(|| rows.get_into(black_box(next()), black_box(&mut row)))
    });
    // What any owned row with a `String` pays on top of decoding: one allocation and one free.
    group.bench_function("floor_string_from_str", |b| {
        b.iter(|| String::from(black_box("°C")))
    });
    group.bench_function("keel_get_no_string", |b| {
        b.iter(|| samples.get(black_box(next())))
    });
    // The row's fields folded into one word, so the harness does not move the 32-byte
    // `Option<Sample>` through memory (a store-forwarding stall that both layouts pay above).
    group.bench_function("keel_get_no_string_fields", |b| {
        b.iter(|| samples.get(black_box(next())).map(digest))
    });
    group.bench_function("vec_index_copy_no_string_fields", |b| {
        b.iter(|| plain_samples.get(black_box(next())).copied().map(digest))
    });
    group.bench_function("vec_index_copy_no_string", |b| {
        b.iter(|| plain_samples.get(black_box(next())).copied())
    });
    group.bench_function("keel_field_timestamp", |b| {
        b.iter(|| rows.timestamp(black_box(next())))
    });
    group.bench_function("keel_field_celsius_packed", |b| {
        b.iter(|| rows.celsius(black_box(next())))
    });
    group.bench_function("keel_field_unit_interned", |b| {
        b.iter(|| rows.unit(black_box(next())).map(str::len))
    });
    // Hot rows: the first 4096 rows over and over, so the columns stay in L1/L2 and the
    // figure is the decoding itself rather than the memory system.
    let mut h = 0usize;
    let mut hot = move || {
        h = (h + 1) & 4095;
        h
    };
    group.bench_function("keel_get_with_string_hot", |b| {
        b.iter(|| rows.get(black_box(hot())))
    });
    group.bench_function("keel_get_into_with_string_hot", |b| {
        b.iter(|| rows.get_into(black_box(hot()), black_box(&mut row)))
    });
    group.bench_function("keel_get_no_string_hot", |b| {
        b.iter(|| samples.get(black_box(hot())))
    });
    group.bench_function("keel_get_no_string_fields_hot", |b| {
        b.iter(|| samples.get(black_box(hot())).map(digest))
    });
    group.bench_function("vec_index_copy_no_string_fields_hot", |b| {
        b.iter(|| plain_samples.get(black_box(hot())).copied().map(digest))
    });
    group.bench_function("vec_index_copy_no_string_hot", |b| {
        b.iter(|| plain_samples.get(black_box(hot())).copied())
    });
    // Scattered rows (stride 7919): every access misses the cache, in both layouts.
    let mut j = 0usize;
    let mut scattered = move || {
        j += 7919;
        if j >= n {
            j -= n;
        }
        j
    };
    group.bench_function("keel_get_no_string_scattered", |b| {
        b.iter(|| samples.get(black_box(scattered())))
    });
    group.bench_function("vec_index_copy_no_string_scattered", |b| {
        b.iter(|| plain_samples.get(black_box(scattered())).copied())
    });
    group.finish();
}

/// Eight independent accumulators, so the sum is bound by memory, not by add latency.
fn sum_lanes(values: &[f64]) -> f64 {
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

fn column_sum(c: &mut Criterion) {
    const BIG: u64 = 10_000_000;
    let mut rows = SensorReadingVec::with_capacity(BIG as usize);
    rows.try_extend((0..BIG).map(reading)).unwrap();
    let plain: Vec<Sample> = (0..BIG).map(sample).collect();
    let mut group = c.benchmark_group("compact_sum_value_10M");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(BIG * 8));
    group.bench_function("keel_value_column_lanes", |b| {
        b.iter(|| sum_lanes(black_box(rows.value_column())))
    });
    group.bench_function("keel_value_column_iter_sum", |b| {
        b.iter(|| black_box(rows.value_column()).iter().sum::<f64>())
    });
    group.bench_function("vec_of_structs_field_sum", |b| {
        b.iter(|| black_box(&plain).iter().map(|s| s.value).sum::<f64>())
    });
    // Memory-bandwidth reference: the same 80 MB (the column itself) streamed through an
    // integer XOR fold, which no CPU limit holds back. On this VM the speed of a buffer depends
    // on the host pages behind it (two 80 MB vectors can differ by 2x), so the reference must
    // read the very memory the sum reads.
    group.bench_function("bandwidth_reference_xor_same_memory", |b| {
        b.iter(|| {
            black_box(rows.value_column())
                .iter()
                .fold(0u64, |acc, v| acc ^ v.to_bits())
        })
    });
    group.finish();
}

/// Appending rows (bounds checked, every column written), 4096 at a time into a container that
/// is cleared and refilled, so the figure is the push itself rather than growth.
fn push(c: &mut Criterion) {
    let source: Vec<Sample> = (0..4096).map(sample).collect();
    let mut group = c.benchmark_group("compact_push");
    let mut rows = SampleVec::with_capacity(4096);
    let mut k = 0usize;
    group.bench_function("keel_push_no_string", |b| {
        b.iter(|| {
            if k == 4096 {
                rows.clear();
                k = 0;
            }
            let result = rows.push(black_box(source[k]));
            k += 1;
            result
        })
    });
    let mut plain: Vec<Sample> = Vec::with_capacity(4096);
    let mut k = 0usize;
    group.bench_function("vec_push_no_string", |b| {
        b.iter(|| {
            if k == 4096 {
                plain.clear();
                k = 0;
            }
            plain.push(black_box(source[k]));
            k += 1;
        })
    });
    group.finish();
}

criterion_group!(benches, get, push, column_sum);
criterion_main!(benches);
