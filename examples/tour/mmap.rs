//! `mmap` + `struct.pack_into` and temp-file + `os.replace`  ->  `keel::mmap`.

use crate::measure::{Table, per_call};
use keel::mmap::{self, MappedFile};
use std::io::Write;
use std::time::Instant;
use zerocopy::little_endian::U32;

pub fn run() {
    let dir = std::env::temp_dir().join(format!("keel-tour-mmap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("data.bin");
    let size = 16usize << 20; // 16 MiB keeps the tour fast; benches/mmap.rs does 1 GiB
    let offset = 10usize << 20;
    mmap::atomic_write(&path, |w| w.write_all(&vec![0u8; size])).expect("atomic_write");

    let mut file = MappedFile::open_rw(&path).expect("open_rw");
    let patch = per_call(50, || {
        file.update(offset, |v: &mut U32| v.set(v.get() + 1))
            .expect("in bounds");
        file.flush_range(offset, 4).expect("msync")
    });
    let value = file.read::<U32>(offset).expect("in bounds").get();
    drop(file);
    let rewrite = per_call(3, || {
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[offset] = bytes[offset].wrapping_add(1);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.write_all(&bytes).expect("write");
        f.sync_data().expect("fsync")
    });
    let heading = format!("patch one u32 in {} MiB, durably (median of 7)", size >> 20);
    let mut table = Table::new(&[heading.as_str(), "time", "vs keel"]);
    table
        .row(&[
            &"MappedFile::update + flush_range",
            &format!("{:.1} µs", patch.as_secs_f64() * 1e6),
            &"1x",
        ])
        .row(&[
            &"read the file, modify, write back + fsync",
            &format!("{:.1} ms", rewrite.as_secs_f64() * 1e3),
            &format!("{:.0}x", rewrite.as_secs_f64() / patch.as_secs_f64()),
        ]);
    table.print();
    println!("the patched u32 now reads {value}: 7 rounds x 50 patches, none lost");

    let mut file = MappedFile::open_rw(&path).expect("open_rw");
    match file.write(size - 2, &U32::new(1)) {
        Ok(()) => println!("unexpected: a write past the end succeeded"),
        Err(e) => println!("past the end, refused with nothing written: {e}"),
    }
    drop(file);

    let start = Instant::now();
    mmap::atomic_patch(&path, |bytes| {
        bytes[0] = 1;
        Ok(())
    })
    .expect("atomic_patch");
    let patched = start.elapsed();
    let start = Instant::now();
    mmap::atomic_write(&path, |w| w.write_all(&vec![1u8; size])).expect("atomic_write");
    println!(
        "atomic commit of {} MiB: atomic_patch {:.1} ms, atomic_write {:.1} ms (both fsync + rename + fsync dir)",
        size >> 20,
        patched.as_secs_f64() * 1e3,
        start.elapsed().as_secs_f64() * 1e3
    );

    let before = std::fs::read(&path).expect("read");
    let failed = mmap::atomic_write(&path, |w| {
        w.write_all(b"half a file")?;
        Err(std::io::Error::other("serializer failed"))
    });
    let unchanged = std::fs::read(&path).expect("read") == before;
    println!(
        "a failing writer: {} -> target unchanged: {unchanged}",
        failed.expect_err("the callback failed")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
