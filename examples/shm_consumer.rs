//! The Python original's `consumer.py`, with `keel::shm`: open the producer's segment by name,
//! view it without copying, then unlink it.
//!
//! ```text
//! cargo run --example shm_consumer psm_1a2b3c4d   # or give the name on stdin
//! ```
//!
//! Works with a segment from Python's `producer.py` too (`shm.name` there). A Python producer
//! that has exited has already unlinked its segment through its resource tracker, so keep it
//! running (or, on Python >= 3.13, create with `track=False`) until the consumer has opened it.

#![deny(warnings, clippy::all)]

use keel::shm::{Segment, ShmError};

fn main() -> Result<(), ShmError> {
    let name = match std::env::args().nth(1) {
        Some(name) => name,
        None => {
            eprint!("shm name: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .expect("read the name");
            line.trim().to_string()
        }
    };
    let shm = Segment::open(&name)?;
    shm.unlink()?; // as the original's `shm.unlink()`: our mapping stays valid
    // SAFETY: the producer wrote everything before printing the name and never writes again.
    let view = unsafe { shm.into_buffer() };
    println!("{}", view.len()); // large buffer available without copying
    let a = view.iter().filter(|&&b| b == b'A').count();
    println!(
        "{a} of {} bytes are b'A'; segment {name} unlinked",
        view.len()
    );
    Ok(())
}
