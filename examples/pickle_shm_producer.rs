//! Rust produces, Python consumes: a numpy array built in shared memory by Rust reaches a
//! Python process as an `ndarray` over the same memory — pickle protocol 5, no copy on either
//! side (`keel::pickle::shm`).
//!
//! ```text
//! cargo run --example pickle_shm_producer            # 64 MiB of float64
//! cargo run --example pickle_shm_producer -- 1024    # 1 GiB
//! ```
//!
//! It starts `examples/python/pickle_shm_consumer.py` with the manifest's name; the consumer
//! maps the segments, `pickle.loads` the frames with the shared-memory views as `buffers=`,
//! checks `np.shares_memory` and the values, and replies. The reverse direction is the
//! `pickle_shm_consumer` example.

#![deny(warnings, clippy::all)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use keel::pickle::shm::{Region, export};
use keel::pickle::{NdArray, Order, to_frames};
use keel::shm::Segment;
use serde::Serialize;

#[derive(Serialize)]
struct Batch {
    name: &'static str,
    step: u64,
    weights: NdArray<'static, f64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args().nth(1).map_or(Ok(64), |a| a.parse())?;
    let rows = mib * 1024 * 1024 / 8 / 1024;

    // Build the data where it will be read: in a shared-memory segment.
    let mut segment = Segment::create(rows * 1024 * 8)?;
    // SAFETY: no other process knows the fresh segment's name yet.
    let bytes = unsafe { segment.as_mut_slice() };
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i as f64).to_ne_bytes());
    }
    // SAFETY: this process writes the segment no more.
    let region = unsafe { Region::from_segment(segment) };
    let weights =
        NdArray::<f64>::from_buffer(region.view().clone())?.reshape(&[rows, 1024], Order::C)?;

    let start = Instant::now();
    let frames = to_frames(&Batch {
        name: "weights",
        step: 42,
        weights,
    })?;
    let sent = export(&frames, &[region])?;
    println!(
        "published {mib} MiB as {} in {:?} ({} in-band bytes, {} bytes copied)",
        sent.name(),
        start.elapsed(),
        frames.inband.len(),
        sent.copied_len()
    );

    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/pickle_shm_consumer.py");
    let status = Command::new("python3")
        .arg(&script)
        .arg(sent.name())
        .env("PYTHONPATH", script.parent().unwrap_or(Path::new(".")))
        .status()?;
    // `sent` (and the segments) live until here, after the consumer has mapped them.
    if !status.success() {
        return Err(format!("the Python consumer failed: {status}").into());
    }
    Ok(())
}
