//! `keel::mmap` on a 1 GiB file (in a temp dir; deleted at the end):
//!
//! * `patch_u32_1GiB`: patch one little-endian u32 durably. keel: `MappedFile::open_rw` +
//!   `update` + `flush_range` (everything the Python `patch_file_atomic` does, per call). Peer:
//!   the read-whole-file-modify-write-back approach (`read`, change 4 bytes, `write`, `fsync`).
//! * `commit_1GiB`: atomically commit a one-byte change. `atomic_patch` (kernel copy + map +
//!   patch + fsync + rename) vs `atomic_write` streaming the same 1 GiB content from memory.
//!
//! `cargo bench --bench mmap -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use keel::mmap::{self, MappedFile};
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use zerocopy::little_endian::U32;

const SIZE: usize = 1 << 30;
const OFFSET: usize = 700 << 20;

struct BenchDir(PathBuf);

impl Drop for BenchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn make_file(path: &Path) {
    let mut chunk = vec![0u8; 1 << 20];
    for (i, b) in chunk.iter_mut().enumerate() {
        *b = (i * 7 + 3) as u8;
    }
    mmap::atomic_write(path, |w| {
        for _ in 0..SIZE >> 20 {
            w.write_all(&chunk)?;
        }
        Ok(())
    })
    .unwrap();
}

fn keel_patch(path: &Path) -> u32 {
    let mut file = MappedFile::open_rw(path).unwrap();
    let v = file
        .update(OFFSET, |v: &mut U32| {
            v.set(v.get().wrapping_add(1));
            v.get()
        })
        .unwrap();
    file.flush_range(OFFSET, 4).unwrap();
    v
}

fn read_modify_write_back(path: &Path) -> u32 {
    let mut bytes = std::fs::read(path).unwrap();
    let v = u32::from_le_bytes(bytes[OFFSET..OFFSET + 4].try_into().unwrap()).wrapping_add(1);
    bytes[OFFSET..OFFSET + 4].copy_from_slice(&v.to_le_bytes());
    let mut file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all(&bytes).unwrap();
    file.sync_data().unwrap();
    v
}

fn benches(c: &mut Criterion) {
    let dir =
        BenchDir(std::env::temp_dir().join(format!("keel-bench-mmap-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let path = dir.0.join("big.bin");
    make_file(&path);

    let mut group = c.benchmark_group("patch_u32_1GiB");
    group.sample_size(10);
    group.bench_function("keel_update_flush_range", |b| {
        b.iter(|| black_box(keel_patch(&path)))
    });
    group.bench_function("read_modify_write_back", |b| {
        b.iter(|| black_box(read_modify_write_back(&path)))
    });
    group.finish();

    let content = std::fs::read(&path).unwrap();
    let mut group = c.benchmark_group("commit_1GiB");
    group.sample_size(10);
    group.bench_function("keel_atomic_patch", |b| {
        b.iter(|| {
            mmap::atomic_patch(&path, |bytes| {
                bytes[OFFSET] = bytes[OFFSET].wrapping_add(1);
                Ok(())
            })
            .unwrap()
        })
    });
    group.bench_function("keel_atomic_write", |b| {
        b.iter(|| mmap::atomic_write(&path, |w| w.write_all(&content)).unwrap())
    });
    group.finish();
}

criterion_group!(mmap_benches, benches);
criterion_main!(mmap_benches);
