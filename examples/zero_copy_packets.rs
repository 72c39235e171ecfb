//! `memoryview` → `keel::buffer::Buffer`: parse packets without copying, the Python original's
//! 10,000 slices of 5 MB out of a 10 MB packet, the "small view pins a big buffer" trap, and
//! `numpy.frombuffer`'s typed view.
//!
//! ```text
//! cargo run --release --example zero_copy_packets
//! ```

#![deny(warnings, clippy::all)]

use keel::buffer::Buffer;
use std::hint::black_box;
use std::time::Instant;

/// Python's `parse_packet_naive`: every slice is a copy.
fn parse_packet_naive(data: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    (
        data[0..12].to_vec(),
        data[12..1024].to_vec(),
        data[1024..1028].to_vec(),
    )
}

/// Python's `parse_packet_zero_copy`: slices are views into the packet.
fn parse_packet_zero_copy(data: &Buffer) -> (Buffer, Buffer, Buffer) {
    (
        data.slice(0..12),
        data.slice(12..1024),
        data.slice(1024..1028),
    )
}

fn main() {
    let packet = Buffer::from((0..1028u32).map(|i| i as u8).collect::<Vec<u8>>());
    let (header, payload, checksum) = parse_packet_zero_copy(&packet);
    let (h2, p2, c2) = parse_packet_naive(&packet);
    assert_eq!(
        (&header[..], &payload[..], &checksum[..]),
        (&h2[..], &p2[..], &c2[..])
    );
    println!(
        "packet of {} bytes -> header {} + payload {} + checksum {} bytes; payload shares the \
         packet's memory: {}",
        packet.len(),
        header.len(),
        payload.len(),
        checksum.len(),
        payload.as_ptr() == packet[12..].as_ptr()
    );

    // The Python original's benchmark: 10,000 slices of 5 MB out of a 10 MB packet.
    let data = Buffer::from(vec![0u8; 10_000_000]);
    let start = Instant::now();
    for _ in 0..10_000 {
        black_box(data.slice(0..black_box(5_000_000)));
    }
    let views = start.elapsed();
    // Copying 10,000 x 5 MB is 50 GB of memcpy; time 100 copies and scale.
    let start = Instant::now();
    for _ in 0..100 {
        black_box(data[0..black_box(5_000_000)].to_vec());
    }
    let copies = start.elapsed() * 100;
    println!(
        "10,000 slices of 5 MB: copying (to_vec) {:.3} s | Buffer::slice {:.6} s (~{:.0}x faster)",
        copies.as_secs_f64(),
        views.as_secs_f64(),
        copies.as_secs_f64() / views.as_secs_f64()
    );
    println!("  (Python's article: bytes slicing 1.200 s | memoryview 0.003 s, ~400x)");

    // The trap: a 12-byte view keeps the whole 10 MB alive, until detached.
    let header = data.slice(0..12);
    drop(data);
    println!(
        "a 12-byte header view retains {} bytes; after detach() it retains {}",
        header.retained_len(),
        header.clone().detach().retained_len()
    );

    // numpy.frombuffer: view little-endian u32 samples in place.
    let raw: Vec<u8> = [10u32, 20, 30, 40]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let raw = Buffer::from(raw);
    match raw.cast::<zerocopy::little_endian::U32>() {
        Ok(samples) => println!(
            "typed view of {} bytes as u32: {:?}",
            raw.len(),
            samples.iter().map(|s| s.get()).collect::<Vec<_>>()
        ),
        Err(e) => println!("cannot view: {e}"),
    }
    match raw.slice(1..).cast::<u32>() {
        Ok(_) => println!("unexpected: a misaligned view was accepted"),
        Err(e) => println!("a misaligned view is an error, not UB: {e}"),
    }
}
