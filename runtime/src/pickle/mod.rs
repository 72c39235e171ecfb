//! Pickle protocol 5 that CPython and numpy read and write: serde values to and from
//! `pickle.loads(inband, buffers=buffers)` / `pickle.dumps(obj, protocol=5,
//! buffer_callback=buffers.append)`, with large buffers and numpy arrays out of band and never
//! copied (PEP 574).
//!
//! [`keel::oob`](crate::oob) is the Rust ⇄ Rust fast path (postcard in band); this module is
//! the same idea in the format the Python process on the other side reads.
//!
//! ```
//! use keel_runtime::buffer::Buffer;
//! use keel_runtime::pickle::{from_frames, to_frames, NdArray};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Batch {
//!     id: u64,
//!     labels: Vec<String>,
//!     image: Buffer,               // Python: a read-only memoryview
//!     scores: NdArray<'static, f32>, // Python: a numpy.ndarray over the same memory
//! }
//!
//! let batch = Batch {
//!     id: 7,
//!     labels: vec!["cat".into(), "dog".into()],
//!     image: Buffer::from(vec![0u8; 1 << 20]),
//!     scores: NdArray::from_vec(vec![0.25f32, 0.75]),
//! };
//! let frames = to_frames(&batch)?;
//! assert_eq!(frames.buffers.len(), 2); // the image and the scores, out of band
//! assert!(frames.inband.len() < 256); // the rest: a small pickle
//! assert_eq!(frames.buffers[0].as_ptr(), batch.image.as_ptr()); // not copied
//!
//! // Python: pickle.loads(frames.inband, buffers=frames.buffers) gives
//! // {'id': 7, 'labels': ['cat', 'dog'], 'image': <memory>, 'scores': array([0.25, 0.75], dtype=float32)}
//!
//! let back: Batch = from_frames(&frames.inband, &frames.buffers)?;
//! assert_eq!(back.image.as_ptr(), batch.image.as_ptr()); // not copied either
//! assert_eq!(back.scores.as_slice(), [0.25, 0.75]);
//! # Ok::<(), keel_runtime::pickle::PickleError>(())
//! ```
//!
//! # The data model
//!
//! | Rust (serde) | Python |
//! |---|---|
//! | `bool`, integers of any width (`u64`, `i128`: `LONG1`), `f32`/`f64` | `bool`, `int`, `float` |
//! | `str`/`String`/`char`, bytes (`serde_bytes`, [`Buffer`] below the threshold) | `str`, `bytes` |
//! | `Option::None`, `()`, unit structs | `None` |
//! | sequences (`Vec`, slices, sets) | `list` |
//! | tuples, tuple structs | `tuple` |
//! | maps and structs | `dict` (a struct's field names as `str` keys) |
//! | enum variants | `"Variant"`, or `{"Variant": value}` (serde's external tagging, as JSON) |
//! | [`Buffer`] (at or above [`Encoder::threshold`]) | out of band: `NEXT_BUFFER` + `READONLY_BUFFER` |
//! | [`NdArray<T>`](NdArray) | `numpy.ndarray` (numpy's own `_frombuffer` reduction), data out of band |
//!
//! Reading accepts what CPython's pickler writes for `dict`, `list`, `tuple`, `set`,
//! `frozenset` (as sequences), `str`, `bytes`, `bytearray`, `int` of any size (into the
//! integer types it fits), `float`, `bool`, `None`, `PickleBuffer`s out of band and numpy
//! arrays of `bool`, `(u)int8..64`, `float32/64` — in protocols 2 to 5 (and the binary
//! opcodes of 0 and 1). A numpy array reads into an [`NdArray`] (sharing the buffer), a
//! [`Buffer`] (its bytes, shared) or any sequence (`Vec<f64>`, element by element).
//!
//! # Safety: nothing is ever imported or called
//!
//! Unpickling in Python runs whatever the stream names. This reader is a small machine that
//! knows a fixed list of reconstructors — numpy's `_frombuffer`, `_reconstruct` and `dtype`,
//! and the built-ins' `bytearray`, `bytes`, `set`, `frozenset` and `_codecs.encode` that
//! protocols 2–4 use — and *interprets* them. Any other `GLOBAL`/`STACK_GLOBAL`/`INST` is a
//! [`PickleError::Forbidden`] naming the module and attribute, raised at that opcode, before
//! anything is built; object construction (`NEWOBJ`, `OBJ`), persistent ids and the extension
//! registry are errors too. Truncated or corrupt input is an error, never a panic (fuzzed:
//! `fuzz/`), and shared references that would expand without bound, nesting deeper than
//! [`MAX_DEPTH`] and copies beyond 16× the input's size are errors as well.
//!
//! # How it reads
//!
//! [`from_frames`] deserializes straight from the opcodes into `T`, with no value tree in
//! between; the memo records only where each memoized value starts, and a `GET` reads it again
//! from there. The forms this direct reader does not stream — protocols 0 and 1, sets and bytes
//! built through `REDUCE`, a tuple where `T` has none, a memo slot written twice — go to a
//! general pickle machine that builds the tree first; its answer, value or error, is the one
//! returned, so the two never disagree on what they both read (fuzzed).
//!
//! # numpy arrays that are not contiguous
//!
//! Rust never has one: an [`NdArray`] is contiguous in C or Fortran order. On the Python side,
//! numpy pickles a non-contiguous array (`a[::2]`) in band through `_reconstruct`, copying its
//! elements into bytes; keel reads that form too (the one copy is numpy's, made when pickling).
//!
//! # Which numpy reads it
//!
//! The writer names `numpy._core.numeric._frombuffer`, which numpy 2.x and numpy ≥ 1.26 import
//! without a warning; the reader accepts that name and numpy 1.x's `numpy.core.numeric`.
//!
//! # Shared memory
//!
//! With the `shm` feature, [`shm`] puts a value's out-of-band buffers in `keel::shm` segments
//! that a Python process maps, so an array crosses processes without a copy on either side.

mod de;
mod error;
mod numpy;
mod opcodes;
mod reader;
#[cfg(all(unix, feature = "shm"))]
pub mod shm;
mod stream;
mod value;
mod writer;

use serde::{Deserialize, Serialize};

pub use error::PickleError;
pub use numpy::{Element, NdArray, Order};

use crate::buffer::Buffer;

/// How deep containers may nest in a value read by [`from_frames`] (CPython's own recursion
/// limit is 1000 frames; serde_json's default is 128).
pub const MAX_DEPTH: usize = 256;

/// A pickle: the in-band bytes (`pickle.loads`'s first argument) and the out-of-band buffers
/// (its `buffers=`), in the order the in-band bytes refer to them.
///
/// ```
/// use keel_runtime::buffer::Buffer;
/// let frames = keel_runtime::pickle::to_frames(&(1u8, Buffer::from(vec![0u8; 4096])))?;
/// assert_eq!(frames.out_of_band_len(), 4096);
/// let (n, data): (u8, Buffer) = frames.load()?;
/// assert_eq!((n, data.len()), (1, 4096));
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frames {
    /// A protocol-5 pickle.
    pub inband: Vec<u8>,
    /// The out-of-band buffers, shared with the value they came from.
    pub buffers: Vec<Buffer>,
}

impl Frames {
    /// Reads these frames; same as [`from_frames`]`(&self.inband, &self.buffers)`.
    ///
    /// ```
    /// let frames = keel_runtime::pickle::to_frames(&"hi")?;
    /// assert_eq!(frames.load::<String>()?, "hi");
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn load<'de, T: Deserialize<'de>>(&'de self) -> Result<T, PickleError> {
        from_frames(&self.inband, &self.buffers)
    }

    /// The total length of the out-of-band buffers.
    ///
    /// ```
    /// assert_eq!(keel_runtime::pickle::to_frames(&7u32)?.out_of_band_len(), 0);
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn out_of_band_len(&self) -> usize {
        self.buffers.iter().map(|b| b.len()).sum()
    }
}

/// Pickles `value` with protocol 5, every [`Buffer`] and [`NdArray`] out of band. Same as
/// [`Encoder::new()`](Encoder::new)`.to_frames(value)`.
///
/// ```
/// let frames = keel_runtime::pickle::to_frames(&vec![(1u8, "a")])?;
/// assert!(frames.inband.starts_with(b"\x80\x05")); // PROTO 5
/// assert!(frames.buffers.is_empty());
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
pub fn to_frames<T: Serialize + ?Sized>(value: &T) -> Result<Frames, PickleError> {
    Encoder::new().to_frames(value)
}

/// Reads a pickle (protocols 0–5 as CPython writes them for built-ins and numpy arrays) into
/// `T`, with `buffers` as `pickle.loads`'s `buffers=`. A [`Buffer`] or [`NdArray`] in `T`
/// shares the memory of the buffer it was given.
///
/// ```
/// use std::collections::BTreeMap;
/// // pickle.dumps({'a': [1, 2**64], 'b': None}, protocol=5)
/// let p = b"\x80\x05\x95\x1f\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01\x8a\
/// \x09\x00\x00\x00\x00\x00\x00\x00\x00\x01e\x8c\x01b\x94Nu.";
/// let v: BTreeMap<String, Option<Vec<u128>>> = keel_runtime::pickle::from_frames(p, &[])?;
/// assert_eq!(v["a"], Some(vec![1, 1 << 64]));
/// assert_eq!(v["b"], None);
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
pub fn from_frames<'de, T: Deserialize<'de>>(
    inband: &'de [u8],
    buffers: &[Buffer],
) -> Result<T, PickleError> {
    // The direct reader first; anything it does not read (or any error) goes to the general
    // machine, whose answer is the one returned (see stream.rs).
    match stream::Stream::read_all::<T>(inband, buffers) {
        Ok(value) => Ok(value),
        Err(_) => read_tree(inband, buffers),
    }
}

/// [`from_frames`] through the general machine alone (what it falls back to for the forms its
/// direct reader does not stream): the stream run into a value tree, then deserialized from it.
/// For differential tests and the fuzzer; use [`from_frames`].
///
/// ```
/// let frames = keel_runtime::pickle::to_frames(&vec![1u8, 2])?;
/// let v: Vec<u8> = keel_runtime::pickle::from_frames_by_machine(&frames.inband, &[])?;
/// assert_eq!(v, [1, 2]);
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
#[doc(hidden)]
pub fn from_frames_by_machine<'de, T: Deserialize<'de>>(
    inband: &'de [u8],
    buffers: &[Buffer],
) -> Result<T, PickleError> {
    read_tree(inband, buffers)
}

/// [`from_frames`] through the general machine: the stream run into a value tree, then
/// deserialized from it.
pub(crate) fn read_tree<'de, T: Deserialize<'de>>(
    inband: &'de [u8],
    buffers: &[Buffer],
) -> Result<T, PickleError> {
    let parsed = reader::Machine::new(inband, buffers.len()).run()?;
    let cx = de::Ctx {
        memo: &parsed.memo,
        buffers,
        budget: core::cell::Cell::new(inband.len().saturating_mul(64).saturating_add(1 << 16)),
    };
    let (result, buffer_error) = crate::oob::with_decode_scope(|| {
        T::deserialize(de::De {
            v: &parsed.root,
            cx: &cx,
            depth: 0,
        })
    });
    match (result, buffer_error) {
        (Err(_), Some(e)) => Err(PickleError::Type(e.to_string())),
        (result, _) => result,
    }
}

/// Configures [`to_frames`]: which buffers are small enough to stay in band.
///
/// ```
/// use keel_runtime::buffer::Buffer;
/// use keel_runtime::pickle::Encoder;
/// let frames = Encoder::new()
///     .threshold(1024)
///     .to_frames(&(Buffer::from(vec![1u8; 10]), Buffer::from(vec![2u8; 4096])))?;
/// assert_eq!(frames.buffers.len(), 1); // only the large one
/// # Ok::<(), keel_runtime::pickle::PickleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Encoder {
    threshold: usize,
}

impl Encoder {
    /// An encoder that sends every `Buffer` out of band, like `pickle.dumps` with a
    /// `buffer_callback` that keeps them all.
    ///
    /// ```
    /// let frames = keel_runtime::pickle::Encoder::new()
    ///     .to_frames(&keel_runtime::buffer::Buffer::from_static(b"x"))?;
    /// assert_eq!(frames.buffers.len(), 1);
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub const fn new() -> Self {
        Self { threshold: 0 }
    }

    /// Buffers (and arrays' data) shorter than `bytes` are written in band as `bytes`.
    ///
    /// ```
    /// let enc = keel_runtime::pickle::Encoder::new().threshold(4096);
    /// let frames = enc.to_frames(&keel_runtime::buffer::Buffer::from_static(b"tiny"))?;
    /// assert!(frames.buffers.is_empty());
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub const fn threshold(self, bytes: usize) -> Self {
        Self { threshold: bytes }
    }

    /// Pickles `value` into [`Frames`].
    ///
    /// ```
    /// let frames = keel_runtime::pickle::Encoder::new().to_frames(&[1u16, 2, 3])?;
    /// assert_eq!(frames.load::<[u16; 3]>()?, [1, 2, 3]);
    /// # Ok::<(), keel_runtime::pickle::PickleError>(())
    /// ```
    pub fn to_frames<T: Serialize + ?Sized>(&self, value: &T) -> Result<Frames, PickleError> {
        // PROTO 5, then one FRAME around everything up to and including STOP.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(&[opcodes::PROTO, opcodes::HIGHEST_PROTOCOL, opcodes::FRAME]);
        out.extend_from_slice(&[0; 8]);
        let (result, buffers) = crate::oob::with_encode_scope(self.threshold, || {
            let mut w = writer::Writer::new(out);
            value.serialize(&mut w).map(|()| w.out)
        });
        let mut inband = result.map_err(|e| *e)?;
        inband.push(opcodes::STOP);
        let frame = (inband.len() - 11) as u64;
        inband[3..11].copy_from_slice(&frame.to_le_bytes());
        Ok(Frames { inband, buffers })
    }
}

#[cfg(test)]
mod tests;
