//! `keel::buffer::Buffer`: zero-copy slicing, owners, typed views, the retention trap.
//! Miri-sized: runs under `cargo +nightly miri test --test buffer`.

#![deny(warnings, clippy::all)]

use keel::buffer::{Buffer, CastError};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// An owner whose drop is observable.
struct Tracked {
    data: Vec<u8>,
    drops: Arc<AtomicUsize>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// An owner with 8-byte-aligned storage, so alignment tests do not depend on the allocator.
struct Aligned(Vec<u64>);

impl AsRef<[u8]> for Aligned {
    fn as_ref(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

#[test]
fn slices_share_memory_with_the_parent() {
    let data: Vec<u8> = (0..=255).collect();
    let base = data.as_ptr();
    let buf = Buffer::from(data);
    assert_eq!(buf.as_ptr(), base, "From<Vec<u8>> must not copy");

    let header = buf.slice(0..12);
    let payload = buf.slice(12..200);
    let trailer = buf.slice(200..);
    assert_eq!(header.as_ptr(), base);
    assert_eq!(payload.as_ptr(), base.wrapping_add(12));
    assert_eq!(trailer.as_ptr(), base.wrapping_add(200));
    assert_eq!(&header[..], &(0..12).collect::<Vec<u8>>()[..]);
    assert_eq!(trailer.len(), 56);
    assert_eq!(payload[0], 12);

    // Slices of slices stay relative to the view.
    let inner = payload.slice(3..5);
    assert_eq!(&inner[..], &[15, 16]);
    assert_eq!(inner.as_ptr(), base.wrapping_add(15));

    let clone = buf.clone();
    assert_eq!(clone.as_ptr(), base);
    assert_eq!(clone, buf);
}

#[test]
fn get_rejects_every_out_of_range_form_without_panicking() {
    let buf = Buffer::from(b"0123456789".to_vec());
    assert_eq!(buf.get(2..5).unwrap(), *b"234");
    assert_eq!(buf.get(..).unwrap().len(), 10);
    assert_eq!(buf.get(10..).unwrap().len(), 0);
    assert_eq!(buf.get(..=9).unwrap().len(), 10);
    assert!(buf.get(..=10).is_none());
    assert!(buf.get(11..).is_none());
    let (start, end) = (4, 3);
    assert!(buf.get(start..end).is_none());
    assert!(buf.get(0..usize::MAX).is_none());
    assert!(buf.get(..=usize::MAX).is_none());
    use std::ops::Bound::{Excluded, Unbounded};
    assert!(buf.get((Excluded(usize::MAX), Unbounded)).is_none());
    assert_eq!(buf.get((Excluded(0), Unbounded)).unwrap(), *b"123456789");
}

#[test]
#[should_panic(expected = "range end out of bounds")]
fn slice_panics_out_of_range_like_a_slice() {
    let _ = Buffer::from(vec![0u8; 4]).slice(0..5);
}

#[test]
fn split_at_and_to_vec() {
    let buf = Buffer::from(b"headtail".to_vec());
    let (head, tail) = buf.split_at(4);
    assert_eq!(head, *b"head");
    assert_eq!(tail, *b"tail");
    assert_eq!(tail.as_ptr(), buf.as_ptr().wrapping_add(4));
    let copy = tail.to_vec();
    assert_eq!(copy, b"tail");
    assert_ne!(copy.as_ptr(), tail.as_ptr());
    let (all, none) = buf.split_at(8);
    assert_eq!((all.len(), none.len()), (8, 0));
}

#[test]
#[should_panic(expected = "Buffer::split_at: mid must be <= 8, got 9")]
fn split_at_past_the_end_panics_with_the_numbers() {
    let _ = Buffer::from(b"headtail".to_vec()).split_at(9);
}

#[test]
fn from_owner_keeps_the_owner_alive_until_the_last_view_drops() {
    let drops = Arc::new(AtomicUsize::new(0));
    let owner = Tracked {
        data: vec![1, 2, 3, 4, 5],
        drops: Arc::clone(&drops),
    };
    let at = owner.data.as_ptr();
    let buf = Buffer::from_owner(owner);
    assert_eq!(buf.as_ptr(), at, "from_owner must not copy");
    assert_eq!(buf.retained_len(), 5);

    let view = buf.slice(3..);
    let other_thread = {
        let view = view.clone();
        std::thread::spawn(move || view.iter().map(|&b| u32::from(b)).sum::<u32>())
    };
    drop(buf);
    assert_eq!(drops.load(Ordering::SeqCst), 0, "a view is still alive");
    assert_eq!(other_thread.join().unwrap(), 9);
    assert_eq!(view, [4u8, 5]);
    drop(view);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "dropped exactly once");
}

#[test]
fn static_buffers_retain_nothing() {
    let buf = Buffer::from_static(b"static data");
    assert_eq!(buf.retained_len(), 0);
    let word = buf.slice(7..);
    assert_eq!(word, *b"data");
    let detached = word.clone().detach();
    assert_eq!(
        detached.as_ptr(),
        word.as_ptr(),
        "static views need no copy"
    );
}

#[test]
fn a_small_view_retains_its_parent_until_detached() {
    let drops = Arc::new(AtomicUsize::new(0));
    let packet = Buffer::from_owner(Tracked {
        data: vec![7u8; 4096],
        drops: Arc::clone(&drops),
    });
    let header = packet.slice(0..12);
    drop(packet);
    assert_eq!(header.retained_len(), 4096, "the 12-byte view pins 4 KiB");
    assert_eq!(drops.load(Ordering::SeqCst), 0);

    let header = header.detach();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "detach released the parent"
    );
    assert_eq!(header.retained_len(), 12);
    assert_eq!(header, [7u8; 12]);

    // Already exact: detach returns the same allocation.
    let at = header.as_ptr();
    assert_eq!(header.detach().as_ptr(), at);
}

#[test]
fn vec_capacity_counts_as_retained() {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(b"abc");
    let buf = Buffer::from(v);
    assert_eq!(buf.len(), 3);
    assert_eq!(buf.retained_len(), 64);
    assert_eq!(buf.detach().retained_len(), 3);
}

#[derive(FromBytes, Immutable, KnownLayout, IntoBytes, Debug, PartialEq, Clone, Copy)]
#[repr(C)]
struct Sample {
    t: u32,
    value: u32,
}

#[test]
fn cast_views_plain_data_in_place() {
    let words: Vec<u64> = vec![1, 2, 3];
    let buf = Buffer::from_owner(Aligned(words));
    let as_u32: &[u32] = buf.cast().unwrap();
    assert_eq!(as_u32.len(), 6);
    assert_eq!(as_u32.as_ptr().cast::<u8>(), buf.as_ptr(), "no copy");
    let as_u64: &[u64] = buf.cast().unwrap();
    assert_eq!(as_u64, &[1, 2, 3]);

    let samples = Buffer::from_owner(Aligned(vec![0; 2]));
    let s: &[Sample] = samples.cast().unwrap();
    assert_eq!(s, &[Sample { t: 0, value: 0 }; 2]);

    let empty = buf.slice(8..8);
    assert_eq!(empty.cast::<u64>().unwrap().len(), 0);
}

#[test]
fn cast_reports_misalignment_with_offset_alignment_and_length() {
    let buf = Buffer::from_owner(Aligned(vec![0; 4])); // 32 bytes, 8-aligned
    let view = buf.slice(2..18); // 16 bytes starting 2 past an 8-byte boundary
    let err = view.cast::<u64>().unwrap_err();
    assert_eq!(
        err,
        CastError::Misaligned {
            type_name: "u64",
            align: 8,
            offset: 2,
            len: 16
        }
    );
    assert_eq!(
        err.to_string(),
        "cannot view 16 bytes as [u64]: its address is 2 past a multiple of \
         align_of::<u64>() = 8"
    );
    // Bytes never misalign, and a u16 view at offset 2 is fine.
    assert_eq!(view.cast::<u8>().unwrap().len(), 16);
    assert_eq!(view.cast::<u16>().unwrap().len(), 8);
}

#[test]
fn cast_reports_ragged_lengths() {
    let buf = Buffer::from_owner(Aligned(vec![0; 2]));
    let err = buf.slice(..13).cast::<u32>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot view 13 bytes as [u32]: the length must be a multiple of size_of::<u32>() = 4 \
         (1 left over)"
    );
    assert!(matches!(
        buf.slice(..13).cast::<Sample>(),
        Err(CastError::Ragged {
            size: 8,
            len: 13,
            remainder: 5,
            ..
        })
    ));
}

#[test]
fn equality_ignores_retention_and_debug_is_bounded() {
    let big = Buffer::from(vec![b'x'; 1000]);
    let small = Buffer::copy_from_slice(&[b'x'; 3]);
    assert_eq!(big.slice(..3), small);
    assert!(big.slice(..3) < big.slice(..4));
    let shown = format!("{big:?}");
    assert!(shown.starts_with("Buffer { len: 1000, retained: 1000, head: b\"xxxx"));
    assert!(shown.len() < 120, "{shown}");
    assert_eq!(
        format!("{:?}", Buffer::from_static(b"ab")),
        r#"Buffer { len: 2, retained: 0, bytes: b"ab" }"#
    );
}

#[test]
fn converts_to_and_from_bytes_without_copying() {
    let bytes = bytes::Bytes::from(vec![1u8, 2, 3]);
    let at = bytes.as_ptr();
    let buf = Buffer::from(bytes);
    assert_eq!(buf.as_ptr(), at);
    let back: bytes::Bytes = buf.into();
    assert_eq!(back.as_ptr(), at);
}
