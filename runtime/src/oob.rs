//! Out-of-band serialization: large [`Buffer`]s travel beside the serialized data, untouched —
//! Python's pickle protocol 5 with `buffer_callback` (PEP 574).
//!
//! [`encode`] serializes any serde value into [`Frames`]: a small in-band byte string (the
//! structure, in [`postcard`](https://docs.rs/postcard) format, with each out-of-band buffer
//! replaced by its index) and the list of out-of-band [`Buffer`]s themselves, shared with the
//! value rather than copied. [`decode`] puts them back together: every `Buffer` field of the
//! result shares memory with the buffer it was given.
//!
//! ```
//! use keel_runtime::buffer::Buffer;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Frame {
//!     id: u64,
//!     pixels: Buffer,
//! }
//!
//! let frame = Frame { id: 7, pixels: Buffer::from(vec![0xAB; 1 << 20]) };
//! let frames = keel_runtime::oob::encode(&frame)?;
//! assert!(frames.inband.len() < 16); // the 1 MiB travels out of band
//! assert_eq!(frames.buffers.len(), 1);
//! assert_eq!(frames.buffers[0].as_ptr(), frame.pixels.as_ptr()); // not copied
//!
//! // ... send `frames.inband` and `frames.buffers` over separate channels ...
//!
//! let back: Frame = keel_runtime::oob::decode(&frames.inband, &frames.buffers)?;
//! assert_eq!(back, frame);
//! assert_eq!(back.pixels.as_ptr(), frames.buffers[0].as_ptr()); // not copied either
//! # Ok::<(), keel_runtime::oob::OobError>(())
//! ```
//!
//! # How a `Buffer` serializes
//!
//! * **Inside [`encode`]/[`decode`]**, a `Buffer` is written as a two-way choice: an index into
//!   [`Frames::buffers`], or (when it is smaller than the [`Encoder::threshold`]) its bytes in
//!   band.
//! * **With any other serde format** (JSON, bincode, postcard used directly, ...), a `Buffer` is
//!   plain bytes: `serialize_bytes` (a JSON array of numbers, a length-prefixed byte string in
//!   binary formats), and it deserializes from bytes or a sequence of `u8`. Such a round trip
//!   copies, as any in-band serialization must.
//!
//! `encode` and `decode` tell a `Buffer` which of the two it is in through a thread-local set
//! for the duration of the call, so a `Serialize` impl that (unusually) serializes a `Buffer`
//! with a *different* non-human-readable serializer while an `encode` is running on the same
//! thread would see the out-of-band form (and likewise a `Buffer` deserialized with another
//! non-human-readable deserializer from inside a `decode`). Human-readable formats always get
//! plain bytes.
//!
//! # Wire format
//!
//! `inband` = one version byte (`1`), the number of out-of-band buffers as a little-endian
//! `u32`, then the value in postcard. A truncated, corrupt or mismatched frame is an
//! [`OobError`] — never a panic — whatever the bytes; `decode` is fuzzed (`fuzz/`).

use core::cell::RefCell;
use core::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, SeqAccess, VariantAccess, Visitor,
};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::buffer::Buffer;

const VERSION: u8 = 1;
const HEADER_LEN: usize = 5;

/// The result of [`encode`]: in-band bytes plus out-of-band buffers, to be sent separately
/// and handed together to [`decode`].
///
/// ```
/// use keel_runtime::buffer::Buffer;
/// let frames = keel_runtime::oob::encode(&(1u8, Buffer::from(vec![0u8; 4096])))?;
/// assert_eq!(frames.out_of_band_len(), 4096);
/// let (n, data): (u8, Buffer) = frames.decode()?;
/// assert_eq!((n, data.len()), (1, 4096));
/// # Ok::<(), keel_runtime::oob::OobError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frames {
    /// The serialized structure; small when the large data travels out of band.
    pub inband: Vec<u8>,
    /// The out-of-band buffers, in the order the in-band data refers to them.
    pub buffers: Vec<Buffer>,
}

impl Frames {
    /// Decodes these frames; same as [`decode`]`(&self.inband, &self.buffers)`.
    ///
    /// ```
    /// let frames = keel_runtime::oob::encode(&"hi")?;
    /// assert_eq!(frames.decode::<String>()?, "hi");
    /// # Ok::<(), keel_runtime::oob::OobError>(())
    /// ```
    pub fn decode<'de, T: Deserialize<'de>>(&'de self) -> Result<T, OobError> {
        decode(&self.inband, &self.buffers)
    }

    /// The total length of the out-of-band buffers.
    ///
    /// ```
    /// assert_eq!(keel_runtime::oob::encode(&7u32)?.out_of_band_len(), 0);
    /// # Ok::<(), keel_runtime::oob::OobError>(())
    /// ```
    pub fn out_of_band_len(&self) -> usize {
        self.buffers.iter().map(|b| b.len()).sum()
    }
}

/// Why [`encode`] or [`decode`] failed. Every malformed input maps to one of these; none panics.
///
/// ```
/// use keel_runtime::oob::{decode, OobError};
/// let err = decode::<u32>(&[1, 0], &[]).unwrap_err();
/// assert_eq!(err, OobError::Truncated { len: 2 });
/// assert_eq!(err.to_string(), "in-band data is 2 bytes, shorter than its 5-byte header");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OobError {
    /// The value's `Serialize` impl failed.
    #[error("cannot encode the value: {0}")]
    Encode(String),
    /// More out-of-band buffers than the format can count.
    #[error("cannot encode more than {max} out-of-band buffers, got {got}", max = u32::MAX)]
    TooManyBuffers {
        /// How many there were.
        got: usize,
    },
    /// The in-band data is shorter than its header.
    #[error("in-band data is {len} bytes, shorter than its {HEADER_LEN}-byte header")]
    Truncated {
        /// Its length.
        len: usize,
    },
    /// The in-band data does not start with a known format version.
    #[error("in-band data has format version {found}, expected {VERSION}")]
    Version {
        /// The version byte found.
        found: u8,
    },
    /// The number of buffers given differs from the number the in-band data was encoded with.
    #[error("in-band data was encoded with {expected} out-of-band buffers, got {got}")]
    BufferCount {
        /// The count recorded in the in-band header.
        expected: u32,
        /// `buffers.len()`.
        got: usize,
    },
    /// The in-band data refers to a buffer that does not exist.
    #[error("in-band data refers to out-of-band buffer {index}, but only {count} were given")]
    BufferIndex {
        /// The index found.
        index: u32,
        /// `buffers.len()`.
        count: usize,
    },
    /// The in-band data refers to the same buffer twice (the encoder never does).
    #[error("in-band data refers to out-of-band buffer {index} more than once")]
    BufferReused {
        /// The index found twice.
        index: u32,
    },
    /// A given buffer is never referred to (the encoder refers to each exactly once).
    #[error("out-of-band buffer {index} of {count} is never referred to by the in-band data")]
    BufferUnused {
        /// The first unused index.
        index: usize,
        /// `buffers.len()`.
        count: usize,
    },
    /// The in-band data is corrupt or does not match the type being decoded.
    #[error("corrupt in-band data: {0}")]
    Decode(String),
    /// Bytes remain after the value.
    #[error("{count} unexpected bytes after the value in the in-band data")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
}

/// Serializes `value` with every [`Buffer`] in it out of band. Same as
/// [`Encoder::new()`](Encoder::new)`.encode(value)`.
///
/// ```
/// use keel_runtime::buffer::Buffer;
/// let payload = Buffer::from(vec![b'x'; 5_000_000]);
/// let frames = keel_runtime::oob::encode(&vec![("payload", payload.clone())])?;
/// assert!(frames.inband.len() < 32);
/// assert_eq!(frames.buffers, vec![payload]);
/// # Ok::<(), keel_runtime::oob::OobError>(())
/// ```
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Frames, OobError> {
    Encoder::new().encode(value)
}

/// Rebuilds a value from [`encode`]'s in-band bytes and out-of-band buffers. Every `Buffer` in
/// the result that travelled out of band shares memory with the corresponding `buffers[i]`.
///
/// ```
/// use keel_runtime::buffer::Buffer;
/// use keel_runtime::oob::{decode, encode, OobError};
///
/// let frames = encode(&Buffer::from(vec![1u8, 2, 3]))?;
/// let back: Buffer = decode(&frames.inband, &frames.buffers)?;
/// assert_eq!(back, [1u8, 2, 3]);
///
/// // A missing buffer is an error, not a panic.
/// let err = decode::<Buffer>(&frames.inband, &[]).unwrap_err();
/// assert_eq!(err, OobError::BufferCount { expected: 1, got: 0 });
/// # Ok::<(), OobError>(())
/// ```
pub fn decode<'de, T: Deserialize<'de>>(
    inband: &'de [u8],
    buffers: &[Buffer],
) -> Result<T, OobError> {
    if inband.len() < HEADER_LEN {
        return Err(OobError::Truncated { len: inband.len() });
    }
    if inband[0] != VERSION {
        return Err(OobError::Version { found: inband[0] });
    }
    let expected = u32::from_le_bytes([inband[1], inband[2], inband[3], inband[4]]);
    if usize::try_from(expected).ok() != Some(buffers.len()) {
        return Err(OobError::BufferCount {
            expected,
            got: buffers.len(),
        });
    }
    let scope = DecodeScope::enter(buffers);
    let result = postcard::take_from_bytes::<T>(&inband[HEADER_LEN..]);
    let state = scope.exit();
    if let Some(error) = state.error {
        return Err(error);
    }
    let (value, rest) = result.map_err(|e| OobError::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(OobError::TrailingBytes { count: rest.len() });
    }
    if let Some(index) = state.used.iter().position(|used| !used) {
        return Err(OobError::BufferUnused {
            index,
            count: buffers.len(),
        });
    }
    Ok(value)
}

/// Configures [`encode`]: which buffers are small enough to stay in band.
///
/// ```
/// use keel_runtime::buffer::Buffer;
/// use keel_runtime::oob::Encoder;
///
/// let small = Buffer::from(vec![1u8; 100]);
/// let large = Buffer::from(vec![2u8; 100_000]);
/// let frames = Encoder::new().threshold(64 * 1024).encode(&(small, large))?;
/// assert_eq!(frames.buffers.len(), 1); // only the large one
/// assert!(frames.inband.len() > 100); // the small one is in band
/// let (small, large): (Buffer, Buffer) = frames.decode()?;
/// assert_eq!((small.len(), large.len()), (100, 100_000));
/// # Ok::<(), keel_runtime::oob::OobError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Encoder {
    threshold: usize,
}

impl Encoder {
    /// An encoder that sends every `Buffer` out of band, like pickle with a `buffer_callback`.
    ///
    /// ```
    /// let frames = keel_runtime::oob::Encoder::new()
    ///     .encode(&keel_runtime::buffer::Buffer::from_static(b"x"))?;
    /// assert_eq!(frames.buffers.len(), 1);
    /// # Ok::<(), keel_runtime::oob::OobError>(())
    /// ```
    pub const fn new() -> Self {
        Self { threshold: 0 }
    }

    /// Buffers shorter than `bytes` are copied in band; the rest travel out of band.
    ///
    /// ```
    /// let enc = keel_runtime::oob::Encoder::new().threshold(4096);
    /// let frames = enc.encode(&keel_runtime::buffer::Buffer::from_static(b"tiny"))?;
    /// assert!(frames.buffers.is_empty());
    /// # Ok::<(), keel_runtime::oob::OobError>(())
    /// ```
    pub const fn threshold(self, bytes: usize) -> Self {
        Self { threshold: bytes }
    }

    /// Serializes `value` into [`Frames`].
    ///
    /// ```
    /// let frames = keel_runtime::oob::Encoder::new().encode(&[1u16, 2, 3])?;
    /// assert_eq!(frames.decode::<[u16; 3]>()?, [1, 2, 3]);
    /// # Ok::<(), keel_runtime::oob::OobError>(())
    /// ```
    pub fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Frames, OobError> {
        let scope = EncodeScope::enter(self.threshold);
        let header = vec![VERSION, 0, 0, 0, 0];
        let result = postcard::to_extend(value, header);
        let buffers = scope.exit();
        let mut inband = result.map_err(|e| OobError::Encode(e.to_string()))?;
        let count = u32::try_from(buffers.len())
            .map_err(|_| OobError::TooManyBuffers { got: buffers.len() })?;
        inband[1..HEADER_LEN].copy_from_slice(&count.to_le_bytes());
        Ok(Frames { inband, buffers })
    }
}

// ---------------------------------------------------------------------------------------------
// The thread-local scopes that tell `Buffer`'s serde impls they are inside encode/decode.

struct EncodeState {
    threshold: usize,
    buffers: Vec<Buffer>,
}

struct DecodeState {
    buffers: Vec<Buffer>,
    used: Vec<bool>,
    /// The first precise error found by `Buffer::deserialize`; postcard would only keep a
    /// generic "custom error".
    error: Option<OobError>,
}

thread_local! {
    static ENCODING: RefCell<Option<EncodeState>> = const { RefCell::new(None) };
    static DECODING: RefCell<Option<DecodeState>> = const { RefCell::new(None) };
}

/// Installs an encode state for this thread; restores the previous one (nested `encode` from
/// inside a `Serialize` impl) on exit or unwind.
struct EncodeScope {
    previous: Option<Option<EncodeState>>,
}

impl EncodeScope {
    fn enter(threshold: usize) -> Self {
        let state = EncodeState {
            threshold,
            buffers: Vec::new(),
        };
        let previous = ENCODING.with(|cell| cell.replace(Some(state)));
        Self {
            previous: Some(previous),
        }
    }

    fn exit(mut self) -> Vec<Buffer> {
        let previous = self.previous.take().unwrap_or_default();
        ENCODING
            .with(|cell| cell.replace(previous))
            .map(|state| state.buffers)
            .unwrap_or_default()
    }
}

impl Drop for EncodeScope {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            ENCODING.with(|cell| cell.replace(previous));
        }
    }
}

struct DecodeScope {
    previous: Option<Option<DecodeState>>,
}

impl DecodeScope {
    fn enter(buffers: &[Buffer]) -> Self {
        let state = DecodeState {
            buffers: buffers.to_vec(),
            used: vec![false; buffers.len()],
            error: None,
        };
        let previous = DECODING.with(|cell| cell.replace(Some(state)));
        Self {
            previous: Some(previous),
        }
    }

    fn exit(mut self) -> DecodeState {
        let previous = self.previous.take().unwrap_or_default();
        DECODING
            .with(|cell| cell.replace(previous))
            .expect("decode state is present until its scope exits")
    }
}

impl Drop for DecodeScope {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            DECODING.with(|cell| cell.replace(previous));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Buffer's serde impls.

const NAME: &str = "Buffer";
const VARIANTS: &[&str] = &["InBand", "OutOfBand"];

/// Whether a `deserialize_enum` call is [`Buffer`]'s own (its name and variants), which the
/// pickle readers answer with the buffer itself.
#[cfg(feature = "pickle")]
pub(crate) fn is_buffer_enum(name: &str, variants: &[&str]) -> bool {
    name == NAME && variants == VARIANTS
}

/// `&[u8]` serialized with `serialize_bytes`.
struct RawBytes<'a>(&'a [u8]);

impl Serialize for RawBytes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

impl Serialize for Buffer {
    /// Plain bytes (`serialize_bytes`) in any format; inside [`encode`], an out-of-band index
    /// (see the [module docs](self)).
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from_static(b"\x01\x02");
    /// assert_eq!(postcard::to_allocvec(&b).unwrap(), [2, 1, 2]); // length, then the bytes
    /// ```
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return serializer.serialize_bytes(self);
        }
        let index = ENCODING.with(|cell| {
            let mut state = cell.borrow_mut();
            let state = state.as_mut()?;
            if self.len() < state.threshold {
                return Some(None);
            }
            let index = u32::try_from(state.buffers.len()).ok()?;
            state.buffers.push(self.clone());
            Some(Some(index))
        });
        match index {
            None => serializer.serialize_bytes(self),
            Some(None) => {
                serializer.serialize_newtype_variant(NAME, 0, VARIANTS[0], &RawBytes(self))
            }
            Some(Some(index)) => serializer.serialize_newtype_variant(NAME, 1, VARIANTS[1], &index),
        }
    }
}

impl<'de> Deserialize<'de> for Buffer {
    /// From bytes, a byte buffer (taken without copying) or a sequence of `u8` in any format;
    /// inside [`decode`], from the out-of-band form.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// let b: Buffer = postcard::from_bytes(&[2, 1, 2]).unwrap();
    /// assert_eq!(b, [1u8, 2]);
    /// ```
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let decoding =
            !deserializer.is_human_readable() && DECODING.with(|cell| cell.borrow().is_some());
        if decoding {
            deserializer.deserialize_enum(NAME, VARIANTS, OutOfBandVisitor)
        } else {
            deserializer.deserialize_byte_buf(BytesVisitor)
        }
    }
}

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Buffer;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bytes")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Buffer, E> {
        Ok(Buffer::copy_from_slice(v))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Buffer, E> {
        Ok(Buffer::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Buffer, A::Error> {
        let mut bytes = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        Ok(Buffer::from(bytes))
    }
}

/// Reads the bytes of an in-band `Buffer` inside `decode`.
struct InBandSeed;

impl<'de> DeserializeSeed<'de> for InBandSeed {
    type Value = Buffer;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Buffer, D::Error> {
        deserializer.deserialize_byte_buf(BytesVisitor)
    }
}

struct OutOfBandVisitor;

impl<'de> Visitor<'de> for OutOfBandVisitor {
    type Value = Buffer;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an in-band or out-of-band buffer")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Buffer, A::Error> {
        let (variant, access) = data.variant::<u32>()?;
        match variant {
            0 => access.newtype_variant_seed(InBandSeed),
            1 => {
                let index = access.newtype_variant::<u32>()?;
                take_out_of_band(index).map_err(|error| {
                    let message = error.to_string();
                    DECODING.with(|cell| {
                        if let Some(state) = cell.borrow_mut().as_mut() {
                            state.error.get_or_insert(error);
                        }
                    });
                    de::Error::custom(message)
                })
            }
            other => Err(de::Error::invalid_value(
                de::Unexpected::Unsigned(u64::from(other)),
                &"buffer variant 0 (in band) or 1 (out of band)",
            )),
        }
    }
}

fn take_out_of_band(index: u32) -> Result<Buffer, OobError> {
    DECODING.with(|cell| {
        let mut state = cell.borrow_mut();
        let state = state
            .as_mut()
            .ok_or_else(|| OobError::Decode("no decode in progress".into()))?;
        let count = state.buffers.len();
        let slot = usize::try_from(index).ok().filter(|&i| i < count);
        let i = slot.ok_or(OobError::BufferIndex { index, count })?;
        if core::mem::replace(&mut state.used[i], true) {
            return Err(OobError::BufferReused { index });
        }
        Ok(state.buffers[i].clone())
    })
}

// ---------------------------------------------------------------------------------------------
// Hooks for `keel::pickle`, which writes and reads its own format but sends `Buffer`s out of
// band through the same serde form (the `Buffer` enum above) and the same thread-local scopes.

/// Runs `f` with `Buffer`'s out-of-band serialization on; returns what `f` returned and the
/// buffers it sent out of band, in order.
#[cfg(feature = "pickle")]
pub(crate) fn with_encode_scope<R>(threshold: usize, f: impl FnOnce() -> R) -> (R, Vec<Buffer>) {
    let scope = EncodeScope::enter(threshold);
    let result = f();
    (result, scope.exit())
}

/// Runs `f` with `Buffer`'s out-of-band deserialization on, over an initially empty buffer list
/// that [`push_decode_buffer`] extends; returns what `f` returned and the first precise error a
/// `Buffer` reported.
#[cfg(feature = "pickle")]
pub(crate) fn with_decode_scope<R>(f: impl FnOnce() -> R) -> (R, Option<OobError>) {
    let scope = DecodeScope::enter(&[]);
    let result = f();
    (result, scope.exit().error)
}

/// Adds `buffer` to the running decode scope; returns the index a `Buffer` deserializes it by.
#[cfg(feature = "pickle")]
pub(crate) fn push_decode_buffer(buffer: Buffer) -> Option<u32> {
    DECODING.with(|cell| {
        let mut state = cell.borrow_mut();
        let state = state.as_mut()?;
        let index = u32::try_from(state.buffers.len()).ok()?;
        state.buffers.push(buffer);
        state.used.push(false);
        Some(index)
    })
}
