//! [`Segment`]: named POSIX shared memory that other processes — Rust or Python — open by name;
//! Python's `multiprocessing.shared_memory.SharedMemory`.
//!
//! ```
//! use keel_runtime::shm::Segment;
//!
//! let seg = Segment::create(4096)?; // a random name like Python's "psm_1a2b3c4d"
//! seg.write_at(0, b"hello")?;
//!
//! // In another process (here, the same one): open by name.
//! let other = Segment::open(seg.name())?;
//! let mut buf = [0u8; 5];
//! other.read_at(0, &mut buf)?;
//! assert_eq!(&buf, b"hello");
//! # Ok::<(), keel_runtime::shm::ShmError>(())
//! ```
//!
//! # Names and Python
//!
//! A name is what Python's `SharedMemory.name` shows: no leading slash (keel adds it for
//! `shm_open`, as Python does), no other `/`, not empty, at most [`MAX_NAME_LEN`] bytes. A segment
//! keel creates is opened from Python with `SharedMemory(name=seg.name())`, and a segment Python
//! created is opened here with `Segment::open(shm.name)`. Data is raw bytes in both: a numeric
//! array on one side is `numpy.frombuffer(shm.buf, dtype=...)` on the Python side and
//! [`Buffer::cast`] on this one.
//!
//! # Lifecycle
//!
//! * The process that **creates** a segment unlinks its name when the `Segment` is dropped
//!   (including during a panic's unwinding), unless [`Segment::persist`] was called.
//! * A segment obtained with [`Segment::open`] **never** unlinks on drop; call
//!   [`Segment::unlink`] explicitly if this side should remove it.
//! * Unlinking removes the name only: processes that already have it mapped keep using the
//!   memory, which is freed when the last mapping goes away.
//!
//! A process that is killed (SIGKILL, abort) runs no destructors, so a segment it created stays
//! in `/dev/shm` until someone unlinks it or the machine reboots — the same as in Python.
//!
//! # Python's resource-tracker pitfall
//!
//! Before Python 3.13, *every* `SharedMemory(name=...)` registers the segment with
//! `multiprocessing`'s resource tracker, even when merely attaching; when the attaching Python
//! process exits, the tracker unlinks the segment (warning about "leaked shared_memory
//! objects"), pulling it out from under the keel process that created it. The workaround, on the
//! Python side that attaches:
//!
//! ```python
//! from multiprocessing import shared_memory, resource_tracker
//! try:
//!     shm = shared_memory.SharedMemory(name=name, track=False)      # Python >= 3.13
//! except TypeError:
//!     shm = shared_memory.SharedMemory(name=name)
//!     resource_tracker.unregister(shm._name, "shared_memory")       # Python < 3.13
//! ```
//!
//! (From 3.13 on, `track=True` is still the default, so attaching without `track=False` has the
//! same effect.) keel's own processes have no tracker: only the creator unlinks.
//!
//! # Safe and unsafe access
//!
//! [`Segment::read_at`] and [`Segment::write_at`] copy bytes in and out with bounds checks;
//! out-of-range is an error. They never create Rust references into the shared memory, only
//! raw-pointer copies. Other processes (and other `Segment`s of the same name) may write the
//! memory at any moment, and keel does not synchronize anything: a read that races a write may
//! see a mix of old and new bytes. Agree on a protocol (a message over a pipe, a flag written
//! last) to know when data is complete.
//!
//! The zero-copy views — [`Segment::as_slice`], [`Segment::as_mut_slice`],
//! [`Segment::into_buffer`] — hand out Rust references to that memory, which the compiler
//! assumes nobody else changes. They are `unsafe`: the caller promises that no process writes
//! the viewed bytes while a shared view is alive, and that nobody else reads or writes them
//! while a mutable view is alive.
//!
//! # Audit events
//!
//! Before acting, `create` raises `shm.create(name, size)`, `open` raises `shm.open(name)`, and
//! unlinking (explicit or on drop) raises `shm.unlink(name)` through [`crate::audit`]; a hook's
//! denial returns [`ShmError::Denied`] with nothing done (a denied unlink on drop leaves the
//! segment in place).

use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use std::hash::{BuildHasher, Hasher};
use std::io;

use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::Mode;
use rustix::shm::OFlags;

use crate::audit::{self, Denied};
use crate::buffer::Buffer;

/// The longest name accepted, in bytes (the leading `/` keel adds makes it the platform's
/// limit: 255 on Linux, 31 on macOS).
///
/// ```
/// use keel_runtime::shm::{Segment, MAX_NAME_LEN};
/// let long = "x".repeat(MAX_NAME_LEN + 1);
/// assert!(Segment::open(&long).is_err());
/// ```
#[cfg(target_vendor = "apple")]
pub const MAX_NAME_LEN: usize = 30;
/// The longest name accepted, in bytes (the leading `/` keel adds makes it the platform's
/// limit: 255 on Linux, 31 on macOS).
///
/// ```
/// use keel_runtime::shm::{Segment, MAX_NAME_LEN};
/// let long = "x".repeat(MAX_NAME_LEN + 1);
/// assert!(Segment::open(&long).is_err());
/// ```
#[cfg(not(target_vendor = "apple"))]
pub const MAX_NAME_LEN: usize = 254;

/// How many random names [`Segment::create`] tries before giving up on collisions.
const CREATE_ATTEMPTS: usize = 64;

/// Errors from [`Segment`]; each names the segment and the numbers involved.
///
/// ```
/// use keel_runtime::shm::{Segment, ShmError};
/// let err = Segment::create_named("keel_doc_zero", 0).unwrap_err();
/// assert!(matches!(err, ShmError::ZeroSize { .. }));
/// assert_eq!(
///     err.to_string(),
///     r#"shared memory segment "keel_doc_zero" must have a size > 0, got 0"#
/// );
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// The name cannot be a shared-memory name.
    #[error("invalid shared memory name {name:?}: {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `create` was asked for zero bytes.
    #[error("shared memory segment {name:?} must have a size > 0, got 0")]
    ZeroSize {
        /// The name (random for `create`).
        name: String,
    },
    /// `create` was asked for more than the address space can map.
    #[error("shared memory segment {name:?} must have a size <= {max}, got {size}", max = isize::MAX)]
    TooLarge {
        /// The name.
        name: String,
        /// The size asked for.
        size: usize,
    },
    /// No segment has this name.
    #[error("no shared memory segment named {name:?}")]
    NotFound {
        /// The name.
        name: String,
    },
    /// `create_named` found the name taken.
    #[error("shared memory segment {name:?} already exists")]
    AlreadyExists {
        /// The name.
        name: String,
    },
    /// `open` found a segment of size 0 (created but never sized).
    #[error("shared memory segment {name:?} has size 0: nothing to map")]
    Empty {
        /// The name.
        name: String,
    },
    /// `open_with_len` found a segment of a different size.
    #[error("shared memory segment {name:?} is {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The name.
        name: String,
        /// The size asked for.
        expected: usize,
        /// The segment's size.
        actual: usize,
    },
    /// A `read_at`/`write_at` range does not fit in the segment.
    #[error(
        "{op} of {len} bytes at offset {offset} is out of bounds for shared memory segment \
         {name:?} of {size} bytes"
    )]
    OutOfBounds {
        /// `"read"` or `"write"`.
        op: &'static str,
        /// The name.
        name: String,
        /// The offset asked for.
        offset: usize,
        /// The number of bytes.
        len: usize,
        /// The segment's size.
        size: usize,
    },
    /// An audit hook refused the operation; nothing was done.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// The operating system refused.
    #[error("{op} of shared memory segment {name:?} failed: {source}")]
    Io {
        /// What was being done (`"shm_open"`, `"ftruncate"`, `"mmap"`, `"shm_unlink"`, ...).
        op: &'static str,
        /// The name.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A mapped POSIX shared-memory segment. See the [module docs](self) for names, lifecycle and
/// the safety contract of the zero-copy views.
///
/// `Send + Sync`: the safe methods take `&self` and copy with raw pointers.
///
/// ```
/// use keel_runtime::shm::Segment;
///
/// let seg = Segment::create_named("keel_doc_segment", 1 << 16)?;
/// assert_eq!(seg.name(), "keel_doc_segment");
/// assert_eq!(seg.len(), 1 << 16);
/// assert!(seg.is_creator());
/// drop(seg); // the creator unlinks
/// assert!(Segment::open("keel_doc_segment").is_err());
/// # Ok::<(), keel_runtime::shm::ShmError>(())
/// ```
pub struct Segment {
    name: String,
    map: MmapRaw,
    len: usize,
    /// Created by this `Segment` (so it unlinks on drop unless persisted).
    creator: bool,
    persisted: AtomicBool,
    unlinked: AtomicBool,
}

impl Segment {
    /// Creates a segment of `size` bytes (zero-filled) under a fresh random name of Python's
    /// form (`psm_` and 8 hex digits), retrying on the unlikely collision.
    ///
    /// ```
    /// let seg = keel_runtime::shm::Segment::create(10_000)?;
    /// assert!(seg.name().starts_with("psm_") && seg.name().len() == 12);
    /// let mut zero = [1u8; 4];
    /// seg.read_at(9_996, &mut zero)?;
    /// assert_eq!(zero, [0; 4]);
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    pub fn create(size: usize) -> Result<Self, ShmError> {
        let mut last = None;
        for _ in 0..CREATE_ATTEMPTS {
            let name = random_name();
            match Self::create_named(&name, size) {
                Err(ShmError::AlreadyExists { name }) => last = Some(name),
                other => return other,
            }
        }
        Err(ShmError::AlreadyExists {
            name: last.unwrap_or_default(),
        })
    }

    /// Creates a segment of `size` bytes (zero-filled) called `name`; fails if the name exists.
    ///
    /// ```
    /// use keel_runtime::shm::{Segment, ShmError};
    /// let seg = Segment::create_named("keel_doc_frames", 1 << 20)?;
    /// let again = Segment::create_named("keel_doc_frames", 1 << 20);
    /// assert!(matches!(again, Err(ShmError::AlreadyExists { .. })));
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn create_named(name: &str, size: usize) -> Result<Self, ShmError> {
        validate_name(name)?;
        if size == 0 {
            return Err(ShmError::ZeroSize { name: name.into() });
        }
        if size > isize::MAX as usize {
            return Err(ShmError::TooLarge {
                name: name.into(),
                size,
            });
        }
        audit::emit("shm.create", &[("name", &name), ("size", &size)])?;
        let os_name = os_name(name);
        let fd = rustix::shm::open(
            os_name.as_str(),
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::RUSR | Mode::WUSR,
        )
        .map_err(|e| match e {
            rustix::io::Errno::EXIST => ShmError::AlreadyExists { name: name.into() },
            e => io_error("shm_open", name, e.into()),
        })?;
        let mapped = rustix::fs::ftruncate(&fd, size as u64)
            .map_err(|e| io_error("ftruncate", name, e.into()))
            .and_then(|()| {
                MmapOptions::new()
                    .len(size)
                    .map_raw(&fd)
                    .map_err(|e| io_error("mmap", name, e))
            });
        match mapped {
            Ok(map) => Ok(Self {
                name: name.into(),
                map,
                len: size,
                creator: true,
                persisted: AtomicBool::new(false),
                unlinked: AtomicBool::new(false),
            }),
            Err(error) => {
                // Half-made: remove the name again so nothing leaks.
                let _ = rustix::shm::unlink(os_name.as_str());
                Err(error)
            }
        }
    }

    /// Opens and maps the existing segment `name`, whatever its size. Never unlinks on drop.
    ///
    /// ```
    /// use keel_runtime::shm::{Segment, ShmError};
    /// let created = Segment::create(100)?;
    /// let opened = Segment::open(created.name())?;
    /// assert_eq!(opened.len(), 100);
    /// assert!(!opened.is_creator());
    /// assert!(matches!(Segment::open("keel_doc_missing"), Err(ShmError::NotFound { .. })));
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn open(name: &str) -> Result<Self, ShmError> {
        Self::open_inner(name, None)
    }

    /// Like [`Segment::open`], but fails with [`ShmError::SizeMismatch`] unless the segment is
    /// exactly `len` bytes — for protocols where both sides know the size.
    ///
    /// ```
    /// use keel_runtime::shm::{Segment, ShmError};
    /// let created = Segment::create(100)?;
    /// assert!(Segment::open_with_len(created.name(), 100).is_ok());
    /// let err = Segment::open_with_len(created.name(), 64).unwrap_err();
    /// assert!(matches!(err, ShmError::SizeMismatch { expected: 64, actual: 100, .. }));
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn open_with_len(name: &str, len: usize) -> Result<Self, ShmError> {
        Self::open_inner(name, Some(len))
    }

    fn open_inner(name: &str, expected: Option<usize>) -> Result<Self, ShmError> {
        validate_name(name)?;
        audit::emit("shm.open", &[("name", &name)])?;
        let fd = rustix::shm::open(os_name(name).as_str(), OFlags::RDWR, Mode::empty()).map_err(
            |e| match e {
                rustix::io::Errno::NOENT => ShmError::NotFound { name: name.into() },
                e => io_error("shm_open", name, e.into()),
            },
        )?;
        let stat = rustix::fs::fstat(&fd).map_err(|e| io_error("fstat", name, e.into()))?;
        let actual = usize::try_from(stat.st_size).map_err(|_| {
            io_error(
                "fstat",
                name,
                io::Error::other(format!("size {} does not fit in usize", stat.st_size)),
            )
        })?;
        if let Some(expected) = expected
            && expected != actual
        {
            return Err(ShmError::SizeMismatch {
                name: name.into(),
                expected,
                actual,
            });
        }
        if actual == 0 {
            return Err(ShmError::Empty { name: name.into() });
        }
        let map = MmapOptions::new()
            .len(actual)
            .map_raw(&fd)
            .map_err(|e| io_error("mmap", name, e))?;
        Ok(Self {
            name: name.into(),
            map,
            len: actual,
            creator: false,
            persisted: AtomicBool::new(false),
            unlinked: AtomicBool::new(false),
        })
    }

    /// The name, as Python's `SharedMemory.name` shows it (no leading slash).
    ///
    /// ```
    /// let seg = keel_runtime::shm::Segment::create_named("keel_doc_name", 1)?;
    /// assert_eq!(seg.name(), "keel_doc_name");
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The size in bytes (what was mapped).
    ///
    /// ```
    /// assert_eq!(keel_runtime::shm::Segment::create(3)?.len(), 3);
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    #[allow(clippy::len_without_is_empty)] // a segment is never empty
    pub fn len(&self) -> usize {
        self.len
    }

    /// True if this `Segment` created the segment (and so unlinks it on drop unless persisted).
    ///
    /// ```
    /// let seg = keel_runtime::shm::Segment::create(1)?;
    /// assert!(seg.is_creator());
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    pub fn is_creator(&self) -> bool {
        self.creator
    }

    /// Copies `buf.len()` bytes starting at `offset` out of the segment.
    ///
    /// Fails with [`ShmError::OutOfBounds`] (copying nothing) if the range does not fit. A
    /// concurrent writer can make the copy see a mix of old and new bytes (see the module docs).
    ///
    /// ```
    /// use keel_runtime::shm::{Segment, ShmError};
    /// let seg = Segment::create(8)?;
    /// seg.write_at(4, b"abcd")?;
    /// let mut out = [0u8; 2];
    /// seg.read_at(5, &mut out)?;
    /// assert_eq!(&out, b"bc");
    /// let mut big = [0u8; 5];
    /// assert!(matches!(seg.read_at(4, &mut big), Err(ShmError::OutOfBounds { .. })));
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn read_at(&self, offset: usize, buf: &mut [u8]) -> Result<(), ShmError> {
        self.check_range("read", offset, buf.len())?;
        // SAFETY: `offset + buf.len() <= self.len` (checked above), and the mapping is
        // `self.len` bytes and lives as long as `self`, so the source range is valid for reads.
        // `buf` is a valid exclusive destination. `ptr::copy` tolerates overlap (possible only if
        // `buf` came from an unsafe view of this same memory). No reference into the shared
        // memory is created.
        unsafe {
            core::ptr::copy(self.map.as_ptr().add(offset), buf.as_mut_ptr(), buf.len());
        }
        Ok(())
    }

    /// Copies `data` into the segment starting at `offset`.
    ///
    /// Fails with [`ShmError::OutOfBounds`] (writing nothing) if the range does not fit.
    ///
    /// ```
    /// use keel_runtime::shm::{Segment, ShmError};
    /// let seg = Segment::create(4)?;
    /// seg.write_at(0, b"four")?;
    /// let err = seg.write_at(1, b"four").unwrap_err();
    /// assert!(err.to_string().starts_with("write of 4 bytes at offset 1 is out of bounds"));
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<(), ShmError> {
        self.check_range("write", offset, data.len())?;
        // SAFETY: the destination range is inside the mapping (checked above), which is mapped
        // read-write and lives as long as `self`; `data` is valid for reads. Raw-pointer copy,
        // no reference into the shared memory; `ptr::copy` tolerates overlap.
        unsafe {
            core::ptr::copy(data.as_ptr(), self.map.as_mut_ptr().add(offset), data.len());
        }
        Ok(())
    }

    fn check_range(&self, op: &'static str, offset: usize, len: usize) -> Result<(), ShmError> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(ShmError::OutOfBounds {
                op,
                name: self.name.clone(),
                offset,
                len,
                size: self.len,
            }),
        }
    }

    /// The whole segment as a byte slice, without copying.
    ///
    /// # Safety
    ///
    /// While the returned slice is alive, no one — no other process, no other `Segment` of the
    /// same name, no `write_at` on this one — may write the segment. (Rust assumes the bytes
    /// behind a `&[u8]` do not change; shared memory makes that a promise only the program's
    /// protocol can keep, e.g. "the producer writes, then signals, then never writes again".)
    ///
    /// ```
    /// let seg = keel_runtime::shm::Segment::create(4)?;
    /// seg.write_at(0, b"data")?;
    /// // SAFETY: this process created the segment and nothing else writes it while `view` lives.
    /// let view = unsafe { seg.as_slice() };
    /// assert_eq!(view, b"data");
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    pub unsafe fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `self.len` readable bytes, alive as long as `&self`; the caller
        // promises no concurrent writes while the slice lives.
        unsafe { core::slice::from_raw_parts(self.map.as_ptr(), self.len) }
    }

    /// The whole segment as a mutable byte slice, without copying.
    ///
    /// # Safety
    ///
    /// While the returned slice is alive, no one else — no other process, no other `Segment` of
    /// the same name, no view obtained from this one — may read or write the segment.
    ///
    /// ```
    /// let mut seg = keel_runtime::shm::Segment::create(4)?;
    /// // SAFETY: no other process or mapping knows this fresh segment's name yet.
    /// unsafe { seg.as_mut_slice() }.copy_from_slice(b"abcd");
    /// let mut out = [0u8; 4];
    /// seg.read_at(0, &mut out)?;
    /// assert_eq!(&out, b"abcd");
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    pub unsafe fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `self.len` read-write bytes, alive as long as `&mut self`, which
        // also excludes other views from this `Segment`; the caller promises no one else
        // accesses the segment while the slice lives.
        unsafe { core::slice::from_raw_parts_mut(self.map.as_mut_ptr(), self.len) }
    }

    /// A zero-copy, read-only [`Buffer`] of the whole segment that keeps the mapping alive (and,
    /// for the creator, the name too: it is unlinked when the last view drops, unless persisted).
    ///
    /// # Safety
    ///
    /// The same promise as [`Segment::as_slice`], for as long as the `Buffer` or any slice or
    /// clone of it lives: nobody writes the segment. Typical use: the producer writes, signals
    /// "done", and never writes that segment again; the consumer then takes the buffer.
    ///
    /// ```
    /// use keel_runtime::shm::Segment;
    /// let producer = Segment::create(8)?;
    /// producer.write_at(0, &[1, 0, 0, 0, 2, 0, 0, 0])?;
    /// let consumer = Segment::open(producer.name())?;
    /// // SAFETY: the producer has finished writing and writes no more.
    /// let view = unsafe { consumer.into_buffer() };
    /// let words: &[u32] = view.cast().unwrap(); // the mapping is page-aligned
    /// assert_eq!(words, [u32::from_le(1), u32::from_le(2)]);
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    pub unsafe fn into_buffer(self) -> Buffer {
        Buffer::from_owner(MappedSegment(self))
    }

    /// Keeps the segment's name after this creator drops it, for another process to open and
    /// unlink later. Has no effect on a `Segment` from `open` (which never unlinks on drop).
    ///
    /// ```
    /// use keel_runtime::shm::Segment;
    /// let seg = Segment::create_named("keel_doc_persist", 16)?;
    /// seg.persist();
    /// drop(seg);
    /// let reopened = Segment::open("keel_doc_persist")?; // still there
    /// reopened.unlink()?; // someone has to remove it
    /// # Ok::<(), keel_runtime::shm::ShmError>(())
    /// ```
    pub fn persist(&self) {
        self.persisted.store(true, Ordering::Relaxed);
    }

    /// Removes the segment's name now. Mappings (this one and other processes') stay valid;
    /// nobody can `open` the name any more. A creator does not unlink again on drop.
    ///
    /// Fails with [`ShmError::NotFound`] if the name is already gone, or [`ShmError::Denied`]
    /// if an audit hook refuses (then nothing is removed).
    ///
    /// ```
    /// use keel_runtime::shm::{Segment, ShmError};
    /// let seg = Segment::create(5)?;
    /// seg.unlink()?;
    /// seg.write_at(0, b"still")?; // the mapping is still valid
    /// assert!(matches!(Segment::open(seg.name()), Err(ShmError::NotFound { .. })));
    /// assert!(matches!(seg.unlink(), Err(ShmError::NotFound { .. })));
    /// # Ok::<(), ShmError>(())
    /// ```
    pub fn unlink(&self) -> Result<(), ShmError> {
        audit::emit("shm.unlink", &[("name", &self.name.as_str())])?;
        let result = rustix::shm::unlink(os_name(&self.name).as_str());
        self.unlinked.store(true, Ordering::Relaxed);
        result.map_err(|e| match e {
            rustix::io::Errno::NOENT => ShmError::NotFound {
                name: self.name.clone(),
            },
            e => io_error("shm_unlink", &self.name, e.into()),
        })
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        if self.creator
            && !self.persisted.load(Ordering::Relaxed)
            && !self.unlinked.load(Ordering::Relaxed)
        {
            // Errors cannot be returned from drop: a denied unlink leaves the segment (as the
            // hook asked), and an already-removed name (say, by a Python resource tracker) is
            // fine.
            let _ = self.unlink();
        }
    }
}

impl fmt::Debug for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Segment")
            .field("name", &self.name)
            .field("len", &self.len)
            .field("creator", &self.creator)
            .field("persisted", &self.persisted.load(Ordering::Relaxed))
            .field("unlinked", &self.unlinked.load(Ordering::Relaxed))
            .finish()
    }
}

/// The owner behind [`Segment::into_buffer`].
struct MappedSegment(Segment);

impl AsRef<[u8]> for MappedSegment {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: only reachable through `Segment::into_buffer`, whose caller promised that the
        // segment is not written while the resulting `Buffer` lives; the mapping lives as long
        // as `self`, which the `Buffer` keeps alive.
        unsafe { self.0.as_slice() }
    }
}

fn validate_name(name: &str) -> Result<(), ShmError> {
    let reason = if name.is_empty() {
        "a name must not be empty".to_string()
    } else if name.contains('/') {
        "a name must not contain '/' (give it as Python's SharedMemory.name shows it, \
         without the leading slash)"
            .to_string()
    } else if name.contains('\0') {
        "a name must not contain NUL".to_string()
    } else if name == "." || name == ".." {
        "\".\" and \"..\" are not names".to_string()
    } else if name.len() > MAX_NAME_LEN {
        format!(
            "a name must be at most {MAX_NAME_LEN} bytes, got {}",
            name.len()
        )
    } else {
        return Ok(());
    };
    Err(ShmError::InvalidName {
        name: name.into(),
        reason,
    })
}

/// The name `shm_open` wants: Python's `_prepend_leading_slash`.
fn os_name(name: &str) -> String {
    format!("/{name}")
}

fn io_error(op: &'static str, name: &str, source: io::Error) -> ShmError {
    ShmError::Io {
        op,
        name: name.into(),
        source,
    }
}

/// `psm_` and 8 hex digits, like Python's `secrets.token_hex(4)` names.
fn random_name() -> String {
    // std's `RandomState` is seeded from the OS's randomness once per process and then varies
    // per instance; hashing a counter and the time keeps successive names distinct.
    static COUNTER: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    format!("psm_{:08x}", hasher.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_before_anything_happens() {
        for (name, needle) in [
            ("", "must not be empty"),
            ("/x", "must not contain '/'"),
            ("a/b", "must not contain '/'"),
            ("a\0b", "NUL"),
            ("..", "are not names"),
        ] {
            let err = Segment::open(name).unwrap_err();
            assert!(err.to_string().contains(needle), "{name:?}: {err}");
        }
        let long = "n".repeat(MAX_NAME_LEN + 1);
        let err = Segment::create_named(&long, 1).unwrap_err();
        assert!(
            err.to_string().ends_with(&format!(
                "at most {MAX_NAME_LEN} bytes, got {}",
                MAX_NAME_LEN + 1
            )),
            "{err}"
        );
    }

    #[test]
    fn random_names_look_like_pythons() {
        let a = random_name();
        let b = random_name();
        assert_ne!(a, b);
        assert!(a.starts_with("psm_") && a.len() == 12, "{a}");
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()), "{a}");
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn segment_is_send_and_sync() {
        assert_send_sync::<Segment>();
    }
}
