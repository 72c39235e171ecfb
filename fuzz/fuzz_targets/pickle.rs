//! `keel::pickle::from_frames` on arbitrary bytes and buffer lists: it must return a value or a
//! `PickleError`, never panic, hang, overflow the stack or allocate without bound; whatever it
//! accepts must survive a `to_frames`/`from_frames` round trip unchanged; and its direct reader
//! and its general machine must agree on every stream both read.
//!
//! ```text
//! cargo +nightly fuzz run pickle -- -max_total_time=30
//! ```

#![no_main]

use std::collections::BTreeMap;

use keel::buffer::Buffer;
use keel::pickle::{NdArray, from_frames, from_frames_by_machine, to_frames};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Shape {
    Empty,
    Circle(u32),
    Rect { w: i64, h: i64 },
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Frame {
    id: u64,
    name: String,
    data: Buffer,
    column: Option<NdArray<'static, i32>>,
    shapes: Vec<Shape>,
    extra: BTreeMap<String, Vec<i128>>,
}

fn check<T>(inband: &[u8], buffers: &[Buffer])
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = from_frames::<T>(inband, buffers) {
        // The direct reader and the general machine agree whenever both read the stream
        // (their work limits differ, so only one may refuse it).
        if let Ok(machine) = from_frames_by_machine::<T>(inband, buffers) {
            assert_eq!(machine, value);
        }
        let frames = to_frames(&value).expect("a read value pickles");
        let again: T = frames.load().expect("a pickled value reads");
        assert_eq!(again, value);
    }
}

fuzz_target!(|data: &[u8]| {
    // First byte: how many out-of-band buffers (0..=3) and which type to read into.
    let Some((&control, inband)) = data.split_first() else {
        return;
    };
    let buffers: Vec<Buffer> = (0..(control & 3))
        .map(|i| Buffer::from(vec![i; usize::from(i) * 8]))
        .collect();
    match control >> 2 & 7 {
        0 => check::<Frame>(inband, &buffers),
        1 => check::<Vec<(u8, String)>>(inband, &buffers),
        2 => check::<BTreeMap<String, Vec<i128>>>(inband, &buffers),
        3 => check::<Vec<Buffer>>(inband, &buffers),
        4 => check::<(Option<bool>, Vec<u64>, Shape)>(inband, &buffers),
        5 => check::<Vec<NdArray<'static, u16>>>(inband, &buffers),
        _ => {
            let _ = from_frames::<IgnoredAny>(inband, &buffers);
        }
    }
});
