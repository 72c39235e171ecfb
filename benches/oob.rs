//! Round trip (serialize + deserialize) of a struct carrying a 100 MB buffer:
//! `keel::oob` (the buffer travels out of band) next to postcard and bincode serializing the
//! same struct in band, in one criterion group.
//!
//! ```text
//! cargo bench --bench oob --features serde -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use keel::buffer::Buffer;
use serde::{Deserialize, Serialize};
use std::hint::black_box;

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Frame {
    id: u64,
    camera: String,
    width: u32,
    height: u32,
    pixels: Buffer,
}

fn round_trip(c: &mut Criterion) {
    let frame = Frame {
        id: 7,
        camera: "front-left".into(),
        width: 10_000,
        height: 10_000,
        pixels: Buffer::from(vec![0x5A; 100_000_000]),
    };
    let frames = keel::oob::encode(&frame).unwrap();
    println!(
        "keel::oob in-band size: {} bytes, out of band: {} bytes",
        frames.inband.len(),
        frames.out_of_band_len()
    );
    assert!(frames.inband.len() < 1024);

    let mut group = c.benchmark_group("oob_round_trip_100MB");
    group.sample_size(10);
    group.bench_function("keel_oob", |b| {
        b.iter(|| {
            let frames = keel::oob::encode(black_box(&frame)).unwrap();
            let back: Frame = keel::oob::decode(&frames.inband, &frames.buffers).unwrap();
            back
        })
    });
    group.bench_function("postcard_in_band", |b| {
        b.iter(|| {
            let bytes = postcard::to_allocvec(black_box(&frame)).unwrap();
            let back: Frame = postcard::from_bytes(&bytes).unwrap();
            back
        })
    });
    let config = bincode::config::standard();
    group.bench_function("bincode_in_band", |b| {
        b.iter(|| {
            let bytes = bincode::serde::encode_to_vec(black_box(&frame), config).unwrap();
            let (back, _): (Frame, usize) =
                bincode::serde::decode_from_slice(&bytes, config).unwrap();
            back
        })
    });
    group.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
