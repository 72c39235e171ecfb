//! The Python original's `producer.py`, with `keel::shm`: put 10 MB in a shared-memory segment
//! and print its name for the consumer (Rust's `shm_consumer`, or Python's `consumer.py`).
//!
//! ```text
//! cargo run --example shm_producer            # prints the name, e.g. psm_1a2b3c4d
//! cargo run --example shm_consumer psm_1a2b3c4d
//! ```
//!
//! As in the original, the consumer unlinks the segment when it is done, so the producer calls
//! `persist()` (without it, dropping the creator would unlink the segment at exit). From
//! Python: `shared_memory.SharedMemory(name="psm_1a2b3c4d")`.

#![deny(warnings, clippy::all)]

use keel::shm::{Segment, ShmError};

fn main() -> Result<(), ShmError> {
    let data = vec![b'A'; 10_000_000];
    let shm = Segment::create(data.len())?;
    shm.write_at(0, &data)?;
    shm.persist(); // the consumer unlinks it, as in the Python original
    eprintln!(
        "wrote {} bytes; now run: cargo run --example shm_consumer {}",
        shm.len(),
        shm.name()
    );
    println!("{}", shm.name()); // pass this to the consumer
    Ok(())
}
