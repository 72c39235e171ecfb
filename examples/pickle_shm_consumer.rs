//! Python produces, Rust consumes: a numpy array Python built in shared memory is read by Rust
//! as a [`keel::pickle::NdArray`] over the same memory — pickle protocol 5, no copy on either
//! side (`keel::pickle::shm`).
//!
//! ```text
//! cargo run --example pickle_shm_consumer            # 64 MiB of float64
//! cargo run --example pickle_shm_consumer -- 1024    # 1 GiB
//! ```
//!
//! It starts `examples/python/pickle_shm_producer.py`, which builds the array in a
//! `SharedMemory`, publishes it with `keel_pickle_shm.dump` and prints the manifest's name;
//! this side maps it, reads it, and tells the producer it may unlink. The reverse direction is
//! the `pickle_shm_producer` example.

#![deny(warnings, clippy::all)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use keel::pickle::NdArray;
use keel::pickle::shm::import;
use serde::Deserialize;

#[derive(Deserialize)]
struct Batch {
    name: String,
    step: u64,
    weights: NdArray<'static, f64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: usize = std::env::args().nth(1).map_or(Ok(64), |a| a.parse())?;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python/pickle_shm_producer.py");
    let mut producer = Command::new("python3")
        .arg(&script)
        .arg(mib.to_string())
        .env("PYTHONPATH", script.parent().unwrap_or(Path::new(".")))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(producer.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    let manifest = line.trim();

    {
        let start = Instant::now();
        // SAFETY: the producer writes nothing after it printed the manifest's name, and
        // unlinks only after our reply below, when these views are gone.
        let received = unsafe { import(manifest)? };
        let batch: Batch = received.frames.load()?;
        let elapsed = start.elapsed();
        let at = batch.weights.as_slice().as_ptr().cast::<u8>();
        let shared = received
            .segments
            .iter()
            .any(|(_, mapping)| mapping.as_ptr_range().contains(&at));
        println!(
            "rust: {} step {}: {:?} f64, read in {elapsed:?}, inside the shared mapping: {shared}",
            batch.name,
            batch.step,
            batch.weights.shape()
        );
        let last = batch.weights.as_slice().last().copied().unwrap_or_default();
        if !shared || last != (batch.weights.as_slice().len() - 1) as f64 {
            return Err("the array was copied or is wrong".into());
        }
    }
    producer
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(b"done\n")?;
    if !producer.wait()?.success() {
        return Err("the Python producer failed".into());
    }
    Ok(())
}
