//! The Python original's test: slices of 5 MB out of a 10 MB packet. `keel::buffer::Buffer`
//! slicing next to `bytes::Bytes::slice` (the floor it is built on) and copying the slice
//! (`to_vec`, what slicing a Python `bytes` does), in one criterion group.
//!
//! ```text
//! cargo bench --bench buffer -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use keel::buffer::Buffer;
use std::hint::black_box;

const PACKET: usize = 10_000_000;
const SLICE: usize = 5_000_000;

fn one_slice(c: &mut Criterion) {
    let data = vec![0u8; PACKET];
    let buffer = Buffer::from(data.clone());
    let bytes = bytes::Bytes::from(data.clone());
    // The first clone of a `Bytes` made from a `Vec` promotes it to shared; do it outside.
    drop((buffer.clone(), bytes.clone()));

    let mut group = c.benchmark_group("slice_5MB_of_10MB");
    group.bench_function("keel_buffer_slice", |b| {
        b.iter(|| black_box(&buffer).slice(0..black_box(SLICE)))
    });
    group.bench_function("bytes_slice", |b| {
        b.iter(|| black_box(&bytes).slice(0..black_box(SLICE)))
    });
    group.bench_function("copy_to_vec", |b| {
        b.iter(|| black_box(&data)[0..black_box(SLICE)].to_vec())
    });
    group.finish();
}

fn ten_thousand_slices(c: &mut Criterion) {
    let buffer = Buffer::from(vec![0u8; PACKET]);
    let bytes = bytes::Bytes::from(vec![0u8; PACKET]);
    drop((buffer.clone(), bytes.clone()));

    // The Python original's loop, for the views; copying 10,000 x 5 MB (50 GB) per iteration
    // would take seconds, so `copy_to_vec` above gives the per-slice copy cost.
    let mut group = c.benchmark_group("10000_slices_of_5MB");
    group.bench_function("keel_buffer_slice", |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(10_000),
            |out: &mut Vec<Buffer>| {
                for _ in 0..10_000 {
                    out.push(buffer.slice(0..black_box(SLICE)));
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.bench_function("bytes_slice", |b| {
        b.iter_batched_ref(
            || Vec::with_capacity(10_000),
            |out: &mut Vec<bytes::Bytes>| {
                for _ in 0..10_000 {
                    out.push(bytes.slice(0..black_box(SLICE)));
                }
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, one_slice, ten_thousand_slices);
criterion_main!(benches);
