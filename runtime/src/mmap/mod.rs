//! In-place binary edits through memory maps, and atomic whole-file commits: Python's
//! `mmap` + `struct.pack_into` and its temp-file + `os.replace` recipe, done durably.
//!
//! * [`MappedFile`] maps a file and reads, writes or updates fixed-layout values (any
//!   [`zerocopy`] type that is `FromBytes + IntoBytes + Immutable`) at byte offsets, with bounds
//!   and alignment checked. Patching one `u32` in a 1 GiB file touches one page, not the file.
//! * [`atomic_write`] streams a whole new content into a temp file beside the target, fsyncs it,
//!   renames it over the target and fsyncs the directory: a reader, or a crash, sees exactly the
//!   old or exactly the new content.
//! * [`atomic_patch`] is what Python's recipe admits it cannot do for big files: it copies the
//!   file with the kernel's fast paths (a reflink where the filesystem shares extents, else
//!   `copy_file_range`, else a plain copy), lets you patch the copy through a map, then commits
//!   it the same way.
//! * [`clean_stale_temps`] removes temp files left by a process that died mid-commit.
//!
//! ```
//! use keel_runtime::mmap::{self, MappedFile};
//! use zerocopy::little_endian::U32;
//! # let dir = std::env::temp_dir().join(format!("keel-doc-mmap-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let path = dir.join("counters.bin");
//!
//! // Commit a whole new content atomically (streamed, durable).
//! mmap::atomic_write(&path, |w| {
//!     use std::io::Write;
//!     w.write_all(&[0u8; 16])
//! })?;
//!
//! // Patch one little-endian u32 in place.
//! let mut file = MappedFile::open_rw(&path)?;
//! file.update(4, |v: &mut U32| v.set(v.get() + 7))?;
//! file.flush_range(4, 4)?;
//! assert_eq!(file.read::<U32>(4)?.get(), 7);
//!
//! // Patch a copy and commit it: readers see the old bytes until the rename.
//! mmap::atomic_patch(&path, |bytes| {
//!     bytes[0] = 0xff;
//!     Ok(())
//! })?;
//! assert_eq!(std::fs::read(&path)?[0], 0xff);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Audit events
//!
//! Before acting, [`MappedFile::open`]/[`open_rw`](MappedFile::open_rw) raise `mmap.open`
//! (`path`, `writable`), [`atomic_write`] raises `file.atomic_write` (`path`) and
//! [`atomic_patch`] raises `file.atomic_patch` (`path`) through [`crate::audit::emit`]. A hook
//! that denies makes the call return [`MmapError::Denied`] with nothing opened, created or
//! changed.
//!
//! # Truncation while mapped (SIGBUS)
//!
//! A map is a view of the file's pages. If another process truncates the file while it is
//! mapped, touching a page past the new end raises `SIGBUS`, which kills the process; this is a
//! property of `mmap` itself (Python's `mmap` module has the same hazard). keel does not install
//! a `SIGBUS` handler: recovering from one would need a process-wide signal handler and a jump
//! out of arbitrary code, which cannot be made sound. What keel does instead:
//!
//! * its own writers never truncate or rewrite a file in place: [`atomic_write`] and
//!   [`atomic_patch`] build a new file and rename it over the old name, so a `MappedFile` that is
//!   already open keeps reading the old, intact content (the old inode stays alive until
//!   unmapped) and is never hit by `SIGBUS` from them;
//! * bounds are checked against the length seen at open time, so keel never reads past the
//!   file's end as it was mapped.
//!
//! The rule for applications follows: change files that others map only through
//! [`atomic_write`]/[`atomic_patch`] (or other rename-based writers), never with `truncate`.
//! The same caveat means the bytes of a map may change under you when another process writes
//! the file in place; keel hands them out as `&[u8]`, as `memmap2` does, on that understanding.

mod commit;
mod mapped;

pub use commit::{TEMP_MARKER, atomic_patch, atomic_write, clean_stale_temps};
pub use mapped::{MappedBytes, MappedFile};

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in [`keel::mmap`](self). Each message names the file and, for
/// access errors, the offset, the size and the file's length.
///
/// ```
/// use keel_runtime::mmap::{MappedFile, MmapError};
/// # let path = std::env::temp_dir().join(format!("keel-doc-err-{}", std::process::id()));
/// std::fs::write(&path, [0u8; 8])?;
/// let file = MappedFile::open(&path)?;
/// let err = file.read::<u64>(4).unwrap_err();
/// assert!(matches!(err, MmapError::OutOfBounds { offset: 4, size: 8, len: 8, .. }));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MmapError {
    /// An audit hook refused the operation; nothing was done.
    #[error(transparent)]
    Denied(#[from] crate::audit::Denied),

    /// A system call failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What keel was doing (`"open"`, `"map"`, `"fsync"`, `"rename onto"`, ...).
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// A read or write of `size` bytes at `offset` does not fit in the file.
    #[error(
        "{type_name} at offset {offset} needs {size} bytes, past the end of {} ({len} bytes); nothing was accessed",
        path.display()
    )]
    OutOfBounds {
        /// The file.
        path: PathBuf,
        /// The requested byte offset.
        offset: usize,
        /// The size of the value, in bytes.
        size: usize,
        /// The length of the file as mapped.
        len: usize,
        /// The Rust type of the value.
        type_name: &'static str,
    },

    /// The offset is not a multiple of the value type's alignment.
    #[error(
        "{type_name} at offset {offset} of {} must be {align}-byte aligned (use an `Unaligned` type, such as zerocopy's byte-order types, for any offset); nothing was accessed",
        path.display()
    )]
    Misaligned {
        /// The file.
        path: PathBuf,
        /// The requested byte offset.
        offset: usize,
        /// The alignment the type needs.
        align: usize,
        /// The Rust type of the value.
        type_name: &'static str,
    },

    /// A write was attempted through a map opened with [`MappedFile::open`].
    #[error("{} is mapped read-only; open it with MappedFile::open_rw to {action}", path.display())]
    ReadOnly {
        /// The file.
        path: PathBuf,
        /// What was attempted.
        action: &'static str,
    },

    /// The callback given to [`atomic_write`] or [`atomic_patch`] returned an error; the target
    /// is unchanged and the temp file removed.
    #[error("{operation} of {} was abandoned by its callback, target unchanged: {source}", path.display())]
    Callback {
        /// `"atomic_write"` or `"atomic_patch"`.
        operation: &'static str,
        /// The target file.
        path: PathBuf,
        /// The callback's error.
        #[source]
        source: io::Error,
    },
}

impl MmapError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
