//! `keel::oob`: PEP 574 out-of-band serialization of `Buffer` fields.
//! Miri-sized: runs under `cargo +nightly miri test --test oob --features serde`.

#![deny(warnings, clippy::all)]

use keel::buffer::Buffer;
use keel::oob::{self, Encoder, Frames, OobError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Frame {
    id: u64,
    label: String,
    pixels: Buffer,
    thumbnails: Vec<Buffer>,
    depth: Option<Buffer>,
}

fn frame() -> Frame {
    Frame {
        id: 42,
        label: "camera-3".into(),
        pixels: Buffer::from((0..=255u8).cycle().take(4096).collect::<Vec<u8>>()),
        thumbnails: vec![Buffer::from(vec![1u8; 64]), Buffer::from(vec![2u8; 300])],
        depth: None,
    }
}

#[test]
fn buffers_travel_out_of_band_and_come_back_without_copies() {
    let original = frame();
    let frames = oob::encode(&original).unwrap();

    assert_eq!(frames.buffers.len(), 3);
    assert_eq!(frames.buffers[0].as_ptr(), original.pixels.as_ptr());
    assert_eq!(frames.buffers[1].as_ptr(), original.thumbnails[0].as_ptr());
    assert_eq!(frames.buffers[2].as_ptr(), original.thumbnails[1].as_ptr());
    assert_eq!(frames.out_of_band_len(), 4096 + 64 + 300);
    assert!(
        frames.inband.len() < 32,
        "in band: {} bytes",
        frames.inband.len()
    );

    let back: Frame = oob::decode(&frames.inband, &frames.buffers).unwrap();
    assert_eq!(back, original);
    assert_eq!(back.pixels.as_ptr(), frames.buffers[0].as_ptr());
    assert_eq!(back.thumbnails[1].as_ptr(), frames.buffers[2].as_ptr());
}

#[test]
fn threshold_keeps_small_buffers_in_band() {
    let original = frame();
    let frames = Encoder::new().threshold(300).encode(&original).unwrap();
    // 4096 and 300 are >= 300: out of band; 64 stays in band.
    assert_eq!(frames.buffers.len(), 2);
    assert_eq!(frames.buffers[0].len(), 4096);
    assert_eq!(frames.buffers[1].len(), 300);
    assert!(frames.inband.len() > 64);
    let back: Frame = frames.decode().unwrap();
    assert_eq!(back, original);
    assert_eq!(back.thumbnails[1].as_ptr(), original.thumbnails[1].as_ptr());
    assert_ne!(back.thumbnails[0].as_ptr(), original.thumbnails[0].as_ptr());

    let all_in_band = Encoder::new()
        .threshold(usize::MAX)
        .encode(&original)
        .unwrap();
    assert!(all_in_band.buffers.is_empty());
    assert!(all_in_band.inband.len() > 4096 + 64 + 300);
    assert_eq!(all_in_band.decode::<Frame>().unwrap(), original);
}

#[test]
fn values_without_buffers_and_borrowed_data_round_trip() {
    let frames = oob::encode(&("text", 7u32, vec![1.5f64, -2.0])).unwrap();
    assert!(frames.buffers.is_empty());
    let (s, n, v): (&str, u32, Vec<f64>) = frames.decode().unwrap();
    assert_eq!((s, n, v), ("text", 7, vec![1.5, -2.0]));
}

#[test]
fn nested_encode_inside_a_serialize_impl_is_independent() {
    /// Serializes its buffer as an embedded, separately encoded oob frame.
    struct Nested(Buffer);
    impl Serialize for Nested {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let inner = oob::encode(&self.0).map_err(serde::ser::Error::custom)?;
            (inner.inband, inner.buffers.len()).serialize(s)
        }
    }
    let outer = (
        Buffer::from(vec![1u8; 10]),
        Nested(Buffer::from(vec![2u8; 20])),
    );
    let frames = oob::encode(&outer).unwrap();
    assert_eq!(
        frames.buffers.len(),
        1,
        "the inner buffer went to the inner frames"
    );
    assert_eq!(frames.buffers[0], [1u8; 10]);
}

#[test]
fn outside_oob_a_buffer_is_plain_bytes() {
    let b = Buffer::from(vec![1u8, 2, 3]);
    // JSON: a sequence of numbers, and back.
    let json = serde_json::to_string(&b).unwrap();
    assert_eq!(json, "[1,2,3]");
    assert_eq!(serde_json::from_str::<Buffer>(&json).unwrap(), b);
    // postcard used directly: a length-prefixed byte string, and back.
    let bin = postcard::to_allocvec(&b).unwrap();
    assert_eq!(bin, [3, 1, 2, 3]);
    assert_eq!(postcard::from_bytes::<Buffer>(&bin).unwrap(), b);
    // A struct with a buffer, in band: the bytes are all there.
    let f = frame();
    let bin = postcard::to_allocvec(&f).unwrap();
    assert!(bin.len() > 4096 + 64 + 300);
    assert_eq!(postcard::from_bytes::<Frame>(&bin).unwrap(), f);
}

#[test]
fn human_readable_serializers_get_bytes_even_during_an_encode() {
    struct AsJson(Buffer);
    impl Serialize for AsJson {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let json = serde_json::to_string(&self.0).map_err(serde::ser::Error::custom)?;
            json.serialize(s)
        }
    }
    let frames = oob::encode(&AsJson(Buffer::from(vec![9u8, 8]))).unwrap();
    assert!(frames.buffers.is_empty());
    assert_eq!(frames.decode::<String>().unwrap(), "[9,8]");
}

fn encoded_pair() -> Frames {
    oob::encode(&(Buffer::from(vec![1u8; 8]), Buffer::from(vec![2u8; 8]))).unwrap()
}

type Pair = (Buffer, Buffer);

#[test]
fn a_buffer_count_mismatch_is_an_error() {
    let frames = encoded_pair();
    let err = oob::decode::<Pair>(&frames.inband, &frames.buffers[..1]).unwrap_err();
    assert_eq!(
        err,
        OobError::BufferCount {
            expected: 2,
            got: 1
        }
    );
    assert_eq!(
        err.to_string(),
        "in-band data was encoded with 2 out-of-band buffers, got 1"
    );
    let mut three = frames.buffers.clone();
    three.push(Buffer::new());
    let err = oob::decode::<Pair>(&frames.inband, &three).unwrap_err();
    assert!(matches!(
        err,
        OobError::BufferCount {
            expected: 2,
            got: 3
        }
    ));
}

/// Frames in the documented format: version, count, then postcard of the value.
fn raw_frames(count: u32, body: &[u8]) -> Vec<u8> {
    let mut inband = vec![1];
    inband.extend_from_slice(&count.to_le_bytes());
    inband.extend_from_slice(body);
    inband
}

#[test]
fn a_wrong_index_is_an_error_naming_it() {
    let buffers = [Buffer::from(vec![0u8; 4]), Buffer::from(vec![1u8; 4])];
    // Variant 1 (out of band), index 5.
    let inband = raw_frames(2, &[1, 5, 1, 0]);
    let err = oob::decode::<Pair>(&inband, &buffers).unwrap_err();
    assert_eq!(err, OobError::BufferIndex { index: 5, count: 2 });
    assert_eq!(
        err.to_string(),
        "in-band data refers to out-of-band buffer 5, but only 2 were given"
    );
    // The same buffer twice.
    let inband = raw_frames(2, &[1, 0, 1, 0]);
    let err = oob::decode::<Pair>(&inband, &buffers).unwrap_err();
    assert_eq!(err, OobError::BufferReused { index: 0 });
    // One buffer never referred to.
    let inband = raw_frames(2, &[1, 1]);
    let err = oob::decode::<Buffer>(&inband, &buffers).unwrap_err();
    assert_eq!(err, OobError::BufferUnused { index: 0, count: 2 });
    // An unknown variant.
    let inband = raw_frames(0, &[7, 0]);
    let err = oob::decode::<Buffer>(&inband, &[]).unwrap_err();
    assert!(matches!(err, OobError::Decode(_)), "{err:?}");
}

#[test]
fn truncated_or_corrupt_in_band_data_is_an_error() {
    let frames = oob::encode(&frame()).unwrap();
    for cut in 0..frames.inband.len() {
        let err = oob::decode::<Frame>(&frames.inband[..cut], &frames.buffers).unwrap_err();
        if cut < 5 {
            assert_eq!(err, OobError::Truncated { len: cut });
        } else {
            assert!(
                matches!(err, OobError::Decode(_) | OobError::BufferUnused { .. }),
                "cut at {cut}: {err:?}"
            );
        }
    }
    let mut bad_version = frames.inband.clone();
    bad_version[0] = 9;
    assert_eq!(
        oob::decode::<Frame>(&bad_version, &frames.buffers).unwrap_err(),
        OobError::Version { found: 9 }
    );
    let mut trailing = frames.inband.clone();
    trailing.extend_from_slice(&[0, 0]);
    assert_eq!(
        oob::decode::<Frame>(&trailing, &frames.buffers).unwrap_err(),
        OobError::TrailingBytes { count: 2 }
    );
    // Every single-byte corruption decodes to something or fails cleanly; never panics.
    for i in 5..frames.inband.len() {
        for flip in [0x01u8, 0x80, 0xFF] {
            let mut corrupt = frames.inband.clone();
            corrupt[i] ^= flip;
            let _ = oob::decode::<Frame>(&corrupt, &frames.buffers);
        }
    }
}

#[test]
fn a_failed_decode_leaves_later_decodes_unaffected() {
    let frames = encoded_pair();
    assert!(oob::decode::<Pair>(&raw_frames(2, &[1, 9]), &frames.buffers).is_err());
    let (a, b): Pair = frames.decode().unwrap();
    assert_eq!(
        (a, b),
        (Buffer::from(vec![1u8; 8]), Buffer::from(vec![2u8; 8]))
    );
    // And a plain deserializer after a decode sees plain bytes again.
    assert_eq!(
        postcard::from_bytes::<Buffer>(&[1, 7]).unwrap(),
        Buffer::from(vec![7u8])
    );
}

#[test]
fn decoded_buffers_outlive_the_frames() {
    let frames = oob::encode(&frame()).unwrap();
    let back: Frame = frames.decode().unwrap();
    let expected = frames.buffers[0].to_vec();
    drop(frames);
    assert_eq!(back.pixels.to_vec(), expected);
}
