//! [`Buffer`]: a cheap, shareable, sliceable view of immutable bytes — Python's `memoryview`.
//!
//! A `Buffer` is a window onto bytes that some owner keeps alive: a `Vec<u8>`, a `&'static`
//! slice, a shared-memory segment ([`crate::shm::Segment::into_buffer`]), a memory-mapped file,
//! or anything else that is `AsRef<[u8]> + Send + 'static`. Cloning and slicing never copy the
//! bytes and never allocate: a slice is a pointer, a length and a reference count
//! ([`bytes::Bytes`] underneath).
//!
//! ```
//! use keel_runtime::buffer::Buffer;
//!
//! let packet = Buffer::from(vec![7u8; 1028]);
//! let header = packet.slice(0..12); // no copy: a pointer and a length
//! let payload = packet.slice(12..1024);
//! let checksum = packet.slice(1024..);
//! assert_eq!((header.len(), payload.len(), checksum.len()), (12, 1012, 4));
//! assert_eq!(payload.as_ptr(), packet[12..].as_ptr()); // same memory
//! ```
//!
//! # The "small view pins a big buffer" trap
//!
//! As with `memoryview`, a view keeps its whole parent alive: a 12-byte header sliced out of a
//! 10 MB packet holds on to 10 MB. [`Buffer::retained_len`] says how much a view pins, and
//! [`Buffer::detach`] copies the view into its own exact-size allocation (Python's
//! `bytes(view[0:12])` followed by `view.release()`).
//!
//! ```
//! use keel_runtime::buffer::Buffer;
//!
//! let header = Buffer::from(vec![0u8; 10_000_000]).slice(0..12);
//! assert_eq!(header.retained_len(), 10_000_000); // the whole packet is still alive
//! let header = header.detach();
//! assert_eq!(header.retained_len(), 12); // now only the 12 bytes are
//! ```
//!
//! # Typed views
//!
//! [`Buffer::cast`] views the bytes as a slice of plain-old-data values without copying (the
//! equivalent of `numpy.frombuffer`); misaligned or ragged data is a [`CastError`], never
//! undefined behaviour.

use core::fmt;
use core::ops::{Bound, Deref, RangeBounds};
use std::borrow::Borrow;

use bytes::Bytes;
use zerocopy::{FromBytes, Immutable};

/// An immutable, reference-counted view of bytes: cheap to clone, O(1) and allocation-free to
/// slice, `Send + Sync`, and `Deref<Target = [u8]>`.
///
/// Built on [`bytes::Bytes`]; convert either way for free with `From`. With the `serde`
/// feature it implements `Serialize`/`Deserialize`: plain bytes in any serde format, and an
/// out-of-band reference inside `keel::oob` (see that module).
///
/// ```
/// use keel_runtime::buffer::Buffer;
///
/// let data = Buffer::from(b"hello, world".to_vec());
/// let world = data.slice(7..);
/// assert_eq!(&world[..], b"world");
/// assert!(world.starts_with(b"wor")); // every `[u8]` method through `Deref`
/// let copy = world.clone(); // a reference-count increment, no copy
/// assert_eq!(copy, world);
/// ```
#[derive(Clone, Default)]
pub struct Buffer {
    bytes: Bytes,
    /// Size of the allocation (or owner) that `bytes` keeps alive; 0 for static data.
    retained: usize,
}

impl Buffer {
    /// An empty buffer. Does not allocate.
    ///
    /// ```
    /// assert!(keel_runtime::buffer::Buffer::new().is_empty());
    /// ```
    #[inline]
    pub const fn new() -> Self {
        Self {
            bytes: Bytes::new(),
            retained: 0,
        }
    }

    /// A buffer over static bytes: no allocation, nothing retained.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// let magic = Buffer::from_static(b"\x89PNG");
    /// assert_eq!(magic.len(), 4);
    /// assert_eq!(magic.retained_len(), 0);
    /// ```
    #[inline]
    pub const fn from_static(bytes: &'static [u8]) -> Self {
        Self {
            bytes: Bytes::from_static(bytes),
            retained: 0,
        }
    }

    /// A buffer over the bytes of `owner`, without copying them. The owner is dropped when the
    /// last view of it is dropped.
    ///
    /// This is how memory-mapped files, shared-memory segments and foreign allocations become
    /// `Buffer`s. `owner.as_ref()` is called once; the owner must return the same bytes for as
    /// long as it lives (every sane `AsRef` does).
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    ///
    /// struct Frame {
    ///     pixels: Box<[u8]>,
    /// }
    /// impl AsRef<[u8]> for Frame {
    ///     fn as_ref(&self) -> &[u8] {
    ///         &self.pixels
    ///     }
    /// }
    ///
    /// let frame = Frame { pixels: vec![1, 2, 3, 4].into_boxed_slice() };
    /// let at = frame.pixels.as_ptr();
    /// let buffer = Buffer::from_owner(frame);
    /// assert_eq!(buffer.as_ptr(), at); // not copied
    /// assert_eq!(buffer.retained_len(), 4);
    /// ```
    #[inline]
    pub fn from_owner<T>(owner: T) -> Self
    where
        T: AsRef<[u8]> + Send + 'static,
    {
        let retained = owner.as_ref().len();
        Self {
            bytes: Bytes::from_owner(owner),
            retained,
        }
    }

    /// A buffer holding a copy of `data` in its own exact-size allocation.
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::copy_from_slice(b"abc");
    /// assert_eq!(&b[..], b"abc");
    /// ```
    #[inline]
    pub fn copy_from_slice(data: &[u8]) -> Self {
        Self {
            bytes: Bytes::copy_from_slice(data),
            retained: data.len(),
        }
    }

    /// The view of `range`, sharing memory with `self`. O(1), no allocation.
    ///
    /// # Panics
    ///
    /// When the range is out of bounds or decreasing, like slicing a `[u8]`. Use
    /// [`Buffer::get`] for ranges that come from untrusted input.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// let b = Buffer::from(b"0123456789".to_vec());
    /// assert_eq!(&b.slice(2..5)[..], b"234");
    /// assert_eq!(&b.slice(..3)[..], b"012");
    /// assert_eq!(&b.slice(8..)[..], b"89");
    /// ```
    #[inline]
    #[track_caller]
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Self {
        Self {
            bytes: self.bytes.slice(range),
            retained: self.retained,
        }
    }

    /// The view of `range`, or `None` when it is out of bounds or decreasing. Never panics.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// let b = Buffer::from(b"0123456789".to_vec());
    /// assert_eq!(b.get(2..5).as_deref(), Some(&b"234"[..]));
    /// assert!(b.get(5..11).is_none());
    /// assert!(b.get(6..5).is_none());
    /// assert!(b.get(..=usize::MAX).is_none());
    /// ```
    pub fn get(&self, range: impl RangeBounds<usize>) -> Option<Self> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.checked_add(1)?,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.checked_add(1)?,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => self.len(),
        };
        (start <= end && end <= self.len()).then(|| self.slice(start..end))
    }

    /// Splits into the views `[0, mid)` and `[mid, len)`, both sharing memory with `self`.
    ///
    /// # Panics
    ///
    /// When `mid > self.len()`, like `<[u8]>::split_at`.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// let (head, tail) = Buffer::from(b"headtail".to_vec()).split_at(4);
    /// assert_eq!((&head[..], &tail[..]), (&b"head"[..], &b"tail"[..]));
    /// ```
    #[inline]
    #[track_caller]
    pub fn split_at(&self, mid: usize) -> (Self, Self) {
        assert!(
            mid <= self.len(),
            "Buffer::split_at: mid must be <= {}, got {mid}",
            self.len()
        );
        (self.slice(..mid), self.slice(mid..))
    }

    /// A copy of the bytes in a new `Vec` (what slicing a Python `bytes` does).
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from_static(b"abc");
    /// assert_eq!(b.to_vec(), vec![b'a', b'b', b'c']);
    /// ```
    #[inline]
    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes.to_vec()
    }

    /// The bytes as a slice (also available through `Deref`).
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from_static(b"abc");
    /// assert_eq!(b.as_slice(), b"abc");
    /// ```
    #[inline]
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// How many bytes this view keeps alive: the size of the whole allocation or owner it was
    /// sliced from (its capacity, for a `Vec`), or 0 for static data. A 12-byte view of a
    /// 10 MB packet retains 10 MB.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// let packet = Buffer::from(vec![0u8; 4096]);
    /// assert_eq!(packet.slice(0..12).retained_len(), 4096);
    /// ```
    #[inline]
    pub fn retained_len(&self) -> usize {
        self.retained
    }

    /// This view in its own exact-size allocation, releasing its hold on the parent.
    ///
    /// Copies `self.len()` bytes, unless the view already retains no more than its own length
    /// (then it is returned as is). Use it for small views that outlive a large parent.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// let packet = Buffer::from(vec![9u8; 1 << 20]);
    /// let header = packet.slice(0..12).detach();
    /// drop(packet); // the 1 MiB allocation is freed here: `header` no longer pins it
    /// assert_eq!((header.len(), header.retained_len()), (12, 12));
    /// assert_eq!(&header[..], &[9u8; 12]);
    /// ```
    pub fn detach(self) -> Self {
        if self.retained <= self.len() {
            self
        } else {
            Self::copy_from_slice(&self.bytes)
        }
    }

    /// Views the bytes as a slice of `T` without copying (`numpy.frombuffer`).
    ///
    /// The data must start at an address aligned for `T` and its length must be a multiple of
    /// `size_of::<T>()`; otherwise the error says which, with the offset, alignment and length.
    /// `T: FromBytes` guarantees that every bit pattern is a valid `T`, so this is safe.
    /// A zero-sized `T` (whose element count would be meaningless) is a compile-time error.
    /// Multi-byte values are read in native byte order; use `zerocopy::byteorder` types
    /// (`U32<LittleEndian>`, ...) for data with a defined order.
    ///
    /// ```
    /// use keel_runtime::buffer::Buffer;
    /// use zerocopy::{LittleEndian, U16};
    ///
    /// let b = Buffer::from(vec![1u8, 0, 2, 0, 3, 0]);
    /// let values: &[U16<LittleEndian>] = b.cast().unwrap();
    /// assert_eq!(values.iter().map(|v| v.get()).collect::<Vec<_>>(), [1, 2, 3]);
    ///
    /// let err = b.slice(..5).cast::<U16<LittleEndian>>().unwrap_err();
    /// assert!(err.to_string().contains("5 bytes"), "{err}");
    /// ```
    pub fn cast<T>(&self) -> Result<&[T], CastError>
    where
        T: FromBytes + Immutable,
    {
        let len = self.len();
        let size = core::mem::size_of::<T>();
        let align = core::mem::align_of::<T>();
        let type_name = core::any::type_name::<T>();
        let misalignment = (self.bytes.as_ptr() as usize) % align;
        if misalignment != 0 {
            return Err(CastError::Misaligned {
                type_name,
                align,
                offset: misalignment,
                len,
            });
        }
        if !len.is_multiple_of(size) {
            return Err(CastError::Ragged {
                type_name,
                size,
                len,
                remainder: len % size,
            });
        }
        // The checks above are exactly zerocopy's; it re-checks them, so a mismatch here would
        // be a bug in this function, reported as the generic error rather than a panic.
        <[T]>::ref_from_bytes(&self.bytes).map_err(|_| CastError::Ragged {
            type_name,
            size,
            len,
            remainder: len % size,
        })
    }

    /// The underlying [`bytes::Bytes`], for APIs that speak `bytes`.
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from_static(b"abc");
    /// assert_eq!(b.as_bytes(), &bytes::Bytes::from_static(b"abc"));
    /// ```
    #[inline]
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }
}

/// Why [`Buffer::cast`] could not view the bytes as `[T]`.
///
/// ```
/// use keel_runtime::buffer::{Buffer, CastError};
/// let b = Buffer::from(vec![0u8; 7]);
/// match b.cast::<u8>() {
///     Ok(bytes) => assert_eq!(bytes.len(), 7),
///     Err(e) => unreachable!("u8 always fits: {e}"),
/// }
/// let ragged = Buffer::from(vec![0u8; 10]).slice(..7);
/// assert!(matches!(ragged.cast::<[u8; 2]>(), Err(CastError::Ragged { remainder: 1, .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CastError {
    /// The data does not start on a multiple of `align_of::<T>()`.
    #[error(
        "cannot view {len} bytes as [{type_name}]: its address is {offset} past a multiple \
         of align_of::<{type_name}>() = {align}"
    )]
    Misaligned {
        /// The element type asked for.
        type_name: &'static str,
        /// Its alignment.
        align: usize,
        /// How many bytes past the previous aligned address the data starts (1..align).
        offset: usize,
        /// The length of the view.
        len: usize,
    },
    /// The length is not a multiple of `size_of::<T>()`.
    #[error(
        "cannot view {len} bytes as [{type_name}]: the length must be a multiple of \
         size_of::<{type_name}>() = {size} ({remainder} left over)"
    )]
    Ragged {
        /// The element type asked for.
        type_name: &'static str,
        /// Its size.
        size: usize,
        /// The length of the view.
        len: usize,
        /// `len % size`.
        remainder: usize,
    },
}

impl Deref for Buffer {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl AsRef<[u8]> for Buffer {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Borrow<[u8]> for Buffer {
    #[inline]
    fn borrow(&self) -> &[u8] {
        &self.bytes
    }
}

impl From<Vec<u8>> for Buffer {
    /// Takes ownership of the vector's allocation; no copy.
    ///
    /// ```
    /// let v = vec![1u8, 2, 3];
    /// let at = v.as_ptr();
    /// let b = keel_runtime::buffer::Buffer::from(v);
    /// assert_eq!(b.as_ptr(), at);
    /// ```
    #[inline]
    fn from(vec: Vec<u8>) -> Self {
        let retained = vec.capacity();
        Self {
            bytes: Bytes::from(vec),
            retained,
        }
    }
}

impl From<Box<[u8]>> for Buffer {
    /// Takes ownership of the allocation; no copy.
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from(vec![1u8, 2].into_boxed_slice());
    /// assert_eq!(b.retained_len(), 2);
    /// ```
    #[inline]
    fn from(boxed: Box<[u8]>) -> Self {
        let retained = boxed.len();
        Self {
            bytes: Bytes::from(boxed),
            retained,
        }
    }
}

impl From<&'static [u8]> for Buffer {
    /// Same as [`Buffer::from_static`].
    ///
    /// ```
    /// let b: keel_runtime::buffer::Buffer = (&b"abc"[..]).into();
    /// assert_eq!(b.retained_len(), 0);
    /// ```
    #[inline]
    fn from(bytes: &'static [u8]) -> Self {
        Self::from_static(bytes)
    }
}

impl From<Bytes> for Buffer {
    /// Wraps `bytes` without copying. `Bytes` does not reveal the size of its allocation, so
    /// [`Buffer::retained_len`] reports the view's length.
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from(bytes::Bytes::from_static(b"abc"));
    /// assert_eq!(&b[..], b"abc");
    /// ```
    #[inline]
    fn from(bytes: Bytes) -> Self {
        let retained = bytes.len();
        Self { bytes, retained }
    }
}

impl From<Buffer> for Bytes {
    /// Unwraps into [`bytes::Bytes`] without copying.
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from_static(b"abc");
    /// let bytes: bytes::Bytes = b.into();
    /// assert_eq!(&bytes[..], b"abc");
    /// ```
    #[inline]
    fn from(buffer: Buffer) -> Self {
        buffer.bytes
    }
}

impl PartialEq for Buffer {
    /// Compares the bytes; how much each view retains does not matter.
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for Buffer {}

impl PartialEq<[u8]> for Buffer {
    #[inline]
    fn eq(&self, other: &[u8]) -> bool {
        self.bytes == other
    }
}

impl PartialEq<&[u8]> for Buffer {
    #[inline]
    fn eq(&self, other: &&[u8]) -> bool {
        self.bytes == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Buffer {
    #[inline]
    fn eq(&self, other: &[u8; N]) -> bool {
        self.bytes == other[..]
    }
}

impl PartialOrd for Buffer {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Buffer {
    #[inline]
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl core::hash::Hash for Buffer {
    #[inline]
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Debug for Buffer {
    /// Shows the length, what the view retains, and at most the first 32 bytes, so that
    /// debugging a 100 MB buffer does not print 100 MB.
    ///
    /// ```
    /// let b = keel_runtime::buffer::Buffer::from(b"hi".to_vec());
    /// assert_eq!(format!("{b:?}"), r#"Buffer { len: 2, retained: 2, bytes: b"hi" }"#);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 32;
        let mut s = f.debug_struct("Buffer");
        s.field("len", &self.len())
            .field("retained", &self.retained);
        if self.len() <= SHOWN {
            s.field("bytes", &self.bytes);
        } else {
            s.field("head", &self.bytes.slice(..SHOWN));
        }
        s.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn buffer_is_send_and_sync() {
        assert_send_sync::<Buffer>();
    }

    #[test]
    fn owner_is_dropped_with_the_last_view() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        struct Owner(Vec<u8>, Arc<AtomicBool>);
        impl AsRef<[u8]> for Owner {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }
        impl Drop for Owner {
            fn drop(&mut self) {
                self.1.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let b = Buffer::from_owner(Owner(vec![1, 2, 3], Arc::clone(&dropped)));
        let tail = b.slice(1..);
        drop(b);
        assert!(!dropped.load(Ordering::SeqCst));
        assert_eq!(tail, [2u8, 3]);
        drop(tail);
        assert!(dropped.load(Ordering::SeqCst));
    }
}
