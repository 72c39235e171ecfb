//! `keel::oob::decode` on arbitrary in-band bytes and buffer lists: it must return a value or an
//! `OobError`, never panic, hang or allocate without bound; and whatever it accepts must survive
//! an encode/decode round trip unchanged.
//!
//! ```text
//! cargo +nightly fuzz run decode -- -max_total_time=30
//! ```

#![no_main]

use keel::buffer::Buffer;
use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Payload {
    Empty,
    One(Buffer),
    Many(Vec<Buffer>),
    Tagged { tag: String, data: Option<Buffer> },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Frame {
    id: u64,
    pixels: Buffer,
    payload: Payload,
    extra: Vec<(u8, Buffer)>,
}

fn check<T>(inband: &[u8], buffers: &[Buffer])
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = keel::oob::decode::<T>(inband, buffers) {
        let frames = keel::oob::encode(&value).expect("a decoded value encodes");
        let again: T = frames.decode().expect("an encoded value decodes");
        assert_eq!(again, value);
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many out-of-band buffers (0..=3) and which type to decode into.
    let Some((&control, inband)) = data.split_first() else {
        return;
    };
    let buffers: Vec<Buffer> = (0..(control & 3))
        .map(|i| Buffer::from(vec![i; usize::from(i) * 3]))
        .collect();
    match control >> 2 & 3 {
        0 => check::<Frame>(inband, &buffers),
        1 => check::<Vec<Buffer>>(inband, &buffers),
        2 => check::<(Buffer, Option<Buffer>)>(inband, &buffers),
        _ => check::<Payload>(inband, &buffers),
    }
});
