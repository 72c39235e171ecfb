//! `keel::pickle` (issue 28), with CPython's figures from `benches/python/pickle_bench.py` run
//! in the same sitting (printed first, one line per figure).
//!
//! * `pickle_array_100MB`: a 100 MB float64 array handed over as pickle 5 — through shared
//!   memory (`to_frames` + `shm::export` + `shm::import` + `from_frames`, the array built in
//!   a segment), as frames in one process, against `keel::oob` (the floor) and in band.
//! * `pickle_records_10k`: 10,000 records `{id, name, score, tags: [2 str], active, parent}`
//!   written and read by keel, by serde-pickle (protocol 3, in band), and read by keel from
//!   CPython's own pickle of the same data.
//!
//! The CPython half of the shared-memory round trip (`python_shm_dump_load`) is printed with
//! what opening a segment costs through `multiprocessing`'s `SharedMemory` and through
//! `keel_pickle_shm`'s own mapping (`python_attach_*`).
//!
//! ```text
//! cargo bench -p keel-benches --bench pickle -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use keel::buffer::Buffer;
use keel::pickle::shm::{Region, export, import};
use keel::pickle::{Encoder, NdArray, from_frames, to_frames};
use keel::shm::Segment;
use serde::{Deserialize, Serialize};

const ARRAY_BYTES: usize = 100_000_000;

/// Runs the CPython half of one group (`array` or `records`) and prints its figures.
fn python_part(part: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(root.join("python/pickle_bench.py"))
        .arg((ARRAY_BYTES / 1_000_000).to_string())
        .arg(part)
        .output();
    match out {
        Ok(out) if out.status.success() => {
            println!("CPython figures, {part} (median seconds, runs):");
            print!("{}", String::from_utf8_lossy(&out.stdout));
        }
        _ => println!("notice: python3 with numpy not available; CPython figures skipped"),
    }
}

fn python_figures() -> Option<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    python_part("array");
    // CPython's own pickle of the records, for keel to read.
    let code = format!(
        "import sys, pickle; sys.path.insert(0, {dir:?}); import pickle_bench as b; \
         sys.stdout.buffer.write(pickle.dumps(b.records(10_000), protocol=5))",
        dir = root.join("python").display().to_string()
    );
    let out = Command::new("python3").args(["-c", &code]).output().ok()?;
    out.status.success().then_some(out.stdout)
}

fn array(c: &mut Criterion) {
    let cpython_records = python_figures();
    RECORDS_BLOB.with(|b| *b.borrow_mut() = cpython_records);

    let n = ARRAY_BYTES / 8;
    let mut segment = Segment::create(ARRAY_BYTES).unwrap();
    // SAFETY: no other process knows the fresh segment's name.
    for (i, chunk) in unsafe { segment.as_mut_slice() }
        .chunks_exact_mut(8)
        .enumerate()
    {
        chunk.copy_from_slice(&(i as f64).to_ne_bytes());
    }
    // SAFETY: nothing writes the segment from here on.
    let region = unsafe { Region::from_segment(segment) };
    let in_shm = NdArray::<f64>::from_buffer(region.view().clone()).unwrap();
    let on_heap = NdArray::from_vec((0..n).map(|i| i as f64).collect::<Vec<f64>>());
    let heap_buffer = on_heap.buffer().unwrap().clone();

    let mut group = c.benchmark_group("pickle_array_100MB");
    group.sample_size(20);
    group.bench_function("keel_pickle_shm_export_import", |b| {
        b.iter(|| {
            let frames = to_frames(black_box(&in_shm)).unwrap();
            let sent = export(&frames, std::slice::from_ref(&region)).unwrap();
            // SAFETY: nothing writes the manifest or the region.
            let got = unsafe { import(sent.name()) }.unwrap();
            let back: NdArray<'static, f64> = got.frames.load().unwrap();
            assert_eq!(back.as_slice().len(), n);
            back
        })
    });
    group.bench_function("keel_pickle_frames", |b| {
        b.iter(|| {
            let frames = to_frames(black_box(&on_heap)).unwrap();
            let back: NdArray<'static, f64> = from_frames(&frames.inband, &frames.buffers).unwrap();
            back
        })
    });
    group.bench_function("keel_oob_floor", |b| {
        b.iter(|| {
            let frames = keel::oob::encode(black_box(&heap_buffer)).unwrap();
            let back: Buffer = keel::oob::decode(&frames.inband, &frames.buffers).unwrap();
            back
        })
    });
    group.sample_size(10);
    let in_band = Encoder::new().threshold(usize::MAX);
    group.bench_function("keel_pickle_in_band", |b| {
        b.iter(|| {
            let frames = in_band.to_frames(black_box(&on_heap)).unwrap();
            let back: NdArray<'static, f64> = from_frames(&frames.inband, &frames.buffers).unwrap();
            back
        })
    });
    group.finish();
}

thread_local! {
    static RECORDS_BLOB: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Record {
    id: u64,
    name: String,
    score: f64,
    tags: Vec<String>,
    active: bool,
    parent: Option<u64>,
}

fn records_data() -> Vec<Record> {
    (0..10_000u64)
        .map(|i| Record {
            id: i,
            name: format!("record-{i}"),
            score: i as f64 * 0.5,
            tags: vec!["alpha".into(), format!("t{}", i % 7)],
            active: i % 2 == 0,
            parent: (i % 3 == 0).then_some(i / 3),
        })
        .collect()
}

fn records(c: &mut Criterion) {
    let data = records_data();
    let keel_bytes = to_frames(&data).unwrap().inband;
    let sp_bytes = serde_pickle::to_vec(&data, serde_pickle::SerOptions::new()).unwrap();
    println!(
        "records pickle sizes: keel {} bytes, serde-pickle {} bytes",
        keel_bytes.len(),
        sp_bytes.len()
    );
    python_part("records"); // just before the Rust side, and again just after
    let mut group = c.benchmark_group("pickle_records_10k");
    group.bench_function("keel_write", |b| {
        b.iter(|| to_frames(black_box(&data)).unwrap())
    });
    group.bench_function("serde_pickle_write", |b| {
        b.iter(|| serde_pickle::to_vec(black_box(&data), serde_pickle::SerOptions::new()).unwrap())
    });
    group.bench_function("keel_read", |b| {
        b.iter(|| from_frames::<Vec<Record>>(black_box(&keel_bytes), &[]).unwrap())
    });
    group.bench_function("serde_pickle_read", |b| {
        b.iter(|| {
            serde_pickle::from_slice::<Vec<Record>>(
                black_box(&sp_bytes),
                serde_pickle::DeOptions::new(),
            )
            .unwrap()
        })
    });
    if let Some(blob) = RECORDS_BLOB.with(|b| b.borrow_mut().take()) {
        let read: Vec<Record> = from_frames(&blob, &[]).unwrap();
        assert_eq!(read, data);
        group.bench_function("keel_read_cpython_pickle", |b| {
            b.iter(|| from_frames::<Vec<Record>>(black_box(&blob), &[]).unwrap())
        });
    }
    group.finish();
    python_part("records");
}

criterion_group!(benches, array, records);
criterion_main!(benches);
