//! `memoryview` / pickle protocol 5 / `multiprocessing.shared_memory` → `keel::buffer`,
//! `keel::oob`, `keel::shm`: zero-copy slices, out-of-band serialization, shared memory.

use crate::measure::{Table, ns, per_call};
use keel::buffer::Buffer;
use std::hint::black_box;
use std::time::Instant;

#[derive(serde::Serialize, serde::Deserialize)]
struct Frame {
    id: u64,
    pixels: Buffer,
}

pub fn run() {
    // memoryview: the Python original's 10,000 slices of 5 MB out of 10 MB.
    let packet = Buffer::from(vec![0u8; 10_000_000]);
    let slice = per_call(10_000, || packet.slice(0..black_box(5_000_000)));
    let copy = per_call(20, || packet[0..black_box(5_000_000)].to_vec());
    let mut table = Table::new(&[
        "take 5 MB of a 10 MB buffer (median of 7)",
        "keel::buffer view",
        "copy (to_vec)",
        "copy / view",
    ]);
    table.row(&[
        &"Buffer::slice  |  packet[..].to_vec()",
        &ns(slice),
        &format!("{:.3} ms", copy.as_secs_f64() * 1e3),
        &format!("{:.0}x", copy.as_secs_f64() / slice.as_secs_f64()),
    ]);
    table.print();
    println!(
        "the Python original's 10,000 slices: {:.3} ms as views, {:.1} s as copies (extrapolated) \
         (Python: 0.003 s memoryview, 1.2 s bytes)",
        slice.as_secs_f64() * 1e4 * 1e3,
        copy.as_secs_f64() * 1e4
    );
    let header = packet.slice(0..12);
    println!(
        "a 12-byte view retains {} bytes; header.detach() retains {}",
        header.retained_len(),
        header.clone().detach().retained_len()
    );

    out_of_band();
    #[cfg(unix)]
    shared_memory();
}

/// pickle protocol 5: a 100 MB buffer out of band vs postcard in band.
fn out_of_band() {
    let frame = Frame {
        id: 1,
        pixels: Buffer::from(vec![7u8; 100_000_000]),
    };
    let oob = per_call(1_000, || {
        let frames = keel::oob::encode(black_box(&frame)).unwrap();
        keel::oob::decode::<Frame>(&frames.inband, &frames.buffers).unwrap()
    });
    let start = Instant::now();
    let bytes = postcard::to_allocvec(&frame).unwrap();
    let back: Frame = postcard::from_bytes(&bytes).unwrap();
    let in_band = start.elapsed();
    let frames = keel::oob::encode(&frame).unwrap();
    let mut table = Table::new(&[
        "round trip of a struct holding 100 MB",
        "time",
        "bytes in band",
        "vs keel::oob",
    ]);
    table
        .row(&[
            &"keel::oob encode + decode (buffer out of band)",
            &ns(oob),
            &frames.inband.len(),
            &"1x",
        ])
        .row(&[
            &"postcard to_allocvec + from_bytes (one run)",
            &format!("{:.1} ms", in_band.as_secs_f64() * 1e3),
            &bytes.len(),
            &format!("{:.0}x", in_band.as_secs_f64() / oob.as_secs_f64()),
        ]);
    table.print();
    drop((back, bytes));
}

/// multiprocessing.shared_memory: a named segment another process (or Python) opens.
#[cfg(unix)]
fn shared_memory() {
    let seg = keel::shm::Segment::create(64 << 20).expect("create a 64 MiB segment");
    let data = vec![b'A'; 64 << 20];
    seg.write_at(0, &data).unwrap(); // the first write also allocates the pages
    let start = Instant::now();
    seg.write_at(0, &data).unwrap();
    let write = start.elapsed();
    let other = keel::shm::Segment::open(seg.name()).expect("open by name");
    // SAFETY: nothing writes the segment while the view lives.
    let view = unsafe { other.into_buffer() };
    let all_a = view.iter().all(|&b| b == b'A');
    println!(
        "shm segment {} (64 MiB): write_at {:.1} GB/s (pages already allocated); opened by name and viewed in place: {} (Python: SharedMemory(name={:?}))",
        seg.name(),
        data.len() as f64 / write.as_secs_f64() / 1e9,
        if all_a { "all b'A'" } else { "MISMATCH" },
        seg.name()
    );
    drop(view);
    let name = seg.name().to_string();
    drop(seg);
    println!(
        "creator dropped -> name unlinked: {}",
        keel::shm::Segment::open(&name).is_err()
    );
}
