#![deny(warnings, clippy::all)]
//! Python's "in-place binary edits with mmap + atomic commit (os.replace)", with keel.
//!
//! ```text
//! cargo run --release --example patch_file
//! ```
//!
//! The Python original patches a little-endian u32 through `mmap` + `struct.pack_into`, and
//! commits whole-file changes with a temp file + `os.replace`. Here: the same patch through
//! `MappedFile::update`, an atomic whole-file rewrite with `atomic_write`, and the case the
//! Python recipe cannot do for big files, an atomic patch of a copy with `atomic_patch`.

use keel::mmap::{self, MappedFile};
use std::io::Write;
use std::time::Instant;
use zerocopy::little_endian::U32;

/// `patch_file_atomic(path, offset, delta)` from the Python original.
fn patch_in_place(
    path: &std::path::Path,
    offset: usize,
    delta: u32,
) -> Result<u32, mmap::MmapError> {
    let mut file = MappedFile::open_rw(path)?;
    let new = file.update(offset, |v: &mut U32| {
        v.set(v.get() + delta);
        v.get()
    })?;
    file.flush_range(offset, 4)?; // one page made durable, not the file
    Ok(new)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("keel-example-patch-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("counters.bin");
    let size = 64 << 20; // 64 MiB

    let start = Instant::now();
    mmap::atomic_write(&path, |w| {
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..size >> 20 {
            w.write_all(&chunk)?;
        }
        Ok(())
    })?;
    println!(
        "atomic_write: {} MiB committed (temp file, fsync, rename, fsync dir) in {:.1} ms",
        size >> 20,
        start.elapsed().as_secs_f64() * 1e3
    );

    let offset = 40 << 20;
    let start = Instant::now();
    let value = patch_in_place(&path, offset, 5)?;
    println!(
        "update + flush_range: u32 at offset {offset} is now {value} ({:.1} µs, one page written)",
        start.elapsed().as_secs_f64() * 1e6
    );
    let value = patch_in_place(&path, offset, 5)?;
    println!("patched again: {value}");

    match patch_in_place(&path, size - 2, 1) {
        Ok(_) => println!("unexpected: a patch past the end succeeded"),
        Err(e) => println!("a patch past the end is refused: {e}"),
    }

    let start = Instant::now();
    let old = mmap::atomic_patch(&path, |bytes| {
        let old = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap());
        bytes[offset..offset + 4].copy_from_slice(&(old * 10).to_le_bytes());
        Ok(old)
    })?;
    println!(
        "atomic_patch: {old} -> {} on a copy, committed atomically ({:.1} ms for {} MiB)",
        MappedFile::open(&path)?.read::<U32>(offset)?.get(),
        start.elapsed().as_secs_f64() * 1e3,
        size >> 20
    );

    let failed = mmap::atomic_patch(&path, |bytes| -> std::io::Result<()> {
        bytes.fill(0xff);
        Err(std::io::Error::other("validation failed"))
    });
    println!(
        "a failing patch changes nothing: {} (value still {})",
        failed.unwrap_err(),
        MappedFile::open(&path)?.read::<U32>(offset)?.get()
    );

    println!(
        "stale temp files removed: {}",
        mmap::clean_stale_temps(&dir)?
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
