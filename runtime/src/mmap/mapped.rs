//! `MappedFile`: a file's bytes through a memory map, with checked typed access.

use super::MmapError;
use core::fmt;
use memmap2::{Mmap, MmapMut};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use zerocopy::{FromBytes, Immutable, IntoBytes};

enum Map {
    ReadOnly(Mmap),
    ReadWrite(MmapMut),
}

impl Map {
    fn bytes(&self) -> &[u8] {
        match self {
            Map::ReadOnly(m) => m,
            Map::ReadWrite(m) => m,
        }
    }
}

/// A whole file mapped into memory, read-only ([`open`](Self::open)) or read-write
/// ([`open_rw`](Self::open_rw)).
///
/// Typed access goes through [`read`](Self::read), [`write`](Self::write) and
/// [`update`](Self::update), for any type that is zerocopy's `FromBytes + IntoBytes + Immutable`
/// (integers, byte-order types such as `zerocopy::little_endian::U32`, `#[repr(C)]` structs
/// deriving those traits). Each checks that the value lies inside the file and, unless the type
/// is `Unaligned` (alignment 1), that the offset is a multiple of its alignment; a failed check
/// is an error naming the offset, the size and the file's length, and nothing is read or written.
///
/// Writes land in the page cache at once (other maps of the file see them); [`flush`](Self::flush)
/// or [`flush_range`](Self::flush_range) make them durable. The length is fixed at open time; see
/// the [module documentation](super#truncation-while-mapped-sigbus) about truncation.
///
/// ```
/// use keel_runtime::mmap::MappedFile;
/// use zerocopy::little_endian::{U16, U32};
/// # let path = std::env::temp_dir().join(format!("keel-doc-mapped-{}", std::process::id()));
/// std::fs::write(&path, [0u8; 10])?;
///
/// let mut file = MappedFile::open_rw(&path)?;
/// file.write(1, &U32::new(0xdead_beef))?;           // byte-order types: any offset
/// file.update(6, |v: &mut U16| v.set(v.get() + 1))?;
/// file.flush()?;
/// assert_eq!(file.read::<U32>(1)?.get(), 0xdead_beef);
/// assert!(file.write(8, &U32::new(1)).is_err());    // past the end: nothing written
/// assert_eq!(std::fs::read(&path)?, [0, 0xef, 0xbe, 0xad, 0xde, 0, 1, 0, 0, 0]);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MappedFile {
    path: PathBuf,
    map: Map,
}

impl MappedFile {
    /// Maps the whole file read-only. Raises the audit event `mmap.open` (`path`,
    /// `writable=false`) first. A zero-length file gives an empty map.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-open-{}", std::process::id()));
    /// std::fs::write(&path, b"hello")?;
    /// let file = keel_runtime::mmap::MappedFile::open(&path)?;
    /// assert_eq!(file.as_bytes(), b"hello");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MmapError> {
        let path = path.as_ref();
        crate::audit::emit("mmap.open", &[("path", &path), ("writable", &false)])?;
        let file = File::open(path).map_err(|e| MmapError::io("open", path, e))?;
        // SAFETY: memmap2 requires that the file is not changed by others in a way that makes
        // the mapped bytes invalid while the map lives. Bytes are plain `u8` (any value is
        // valid), and truncation by another process is the documented SIGBUS caveat of the
        // module; keel's own writers never modify a file in place.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| MmapError::io("map", path, e))?;
        Ok(Self {
            path: path.to_path_buf(),
            map: Map::ReadOnly(map),
        })
    }

    /// Maps the whole, existing file read-write (shared: writes reach the file). Raises the
    /// audit event `mmap.open` (`path`, `writable=true`) first.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-open-rw-{}", std::process::id()));
    /// std::fs::write(&path, b"hello")?;
    /// let mut file = keel_runtime::mmap::MappedFile::open_rw(&path)?;
    /// file.as_bytes_mut()?[0] = b'j';
    /// file.flush()?;
    /// assert_eq!(std::fs::read(&path)?, b"jello");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_rw(path: impl AsRef<Path>) -> Result<Self, MmapError> {
        let path = path.as_ref();
        crate::audit::emit("mmap.open", &[("path", &path), ("writable", &true)])?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| MmapError::io("open for writing", path, e))?;
        // SAFETY: as in `open`; the mapping is shared, so writes through it reach the file,
        // and all bytes are plain `u8`.
        let map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| MmapError::io("map", path, e))?;
        Ok(Self::from_map_mut(path.to_path_buf(), map))
    }

    pub(super) fn from_map_mut(path: PathBuf, map: MmapMut) -> Self {
        Self {
            path,
            map: Map::ReadWrite(map),
        }
    }

    /// The path the file was opened with.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-path-{}", std::process::id()));
    /// # std::fs::write(&path, b"x")?;
    /// let file = keel_runtime::mmap::MappedFile::open(&path)?;
    /// assert_eq!(file.path(), path);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The length of the file, in bytes, as mapped.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-len-{}", std::process::id()));
    /// std::fs::write(&path, [0u8; 3])?;
    /// assert_eq!(keel_runtime::mmap::MappedFile::open(&path)?.len(), 3);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> usize {
        self.map.bytes().len()
    }

    /// True for a zero-length file.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-empty-{}", std::process::id()));
    /// std::fs::write(&path, b"")?;
    /// let file = keel_runtime::mmap::MappedFile::open(&path)?;
    /// assert!(file.is_empty());
    /// assert_eq!(file.as_bytes(), b"");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True when opened with [`open_rw`](Self::open_rw).
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-writable-{}", std::process::id()));
    /// # std::fs::write(&path, b"x")?;
    /// assert!(!keel_runtime::mmap::MappedFile::open(&path)?.is_writable());
    /// assert!(keel_runtime::mmap::MappedFile::open_rw(&path)?.is_writable());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_writable(&self) -> bool {
        matches!(self.map, Map::ReadWrite(_))
    }

    /// The whole file as bytes.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-as-bytes-{}", std::process::id()));
    /// std::fs::write(&path, b"abc")?;
    /// assert_eq!(keel_runtime::mmap::MappedFile::open(&path)?.as_bytes(), b"abc");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    /// The whole file as mutable bytes; an error for a read-only map.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-as-bytes-mut-{}", std::process::id()));
    /// std::fs::write(&path, b"abc")?;
    /// let mut file = keel_runtime::mmap::MappedFile::open_rw(&path)?;
    /// file.as_bytes_mut()?.make_ascii_uppercase();
    /// assert_eq!(file.as_bytes(), b"ABC");
    /// assert!(keel_runtime::mmap::MappedFile::open(&path)?.as_bytes_mut().is_err());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_bytes_mut(&mut self) -> Result<&mut [u8], MmapError> {
        match &mut self.map {
            Map::ReadWrite(m) => Ok(m),
            Map::ReadOnly(_) => Err(MmapError::ReadOnly {
                path: self.path.clone(),
                action: "write",
            }),
        }
    }

    /// Copies the `T` stored at `offset` out of the file.
    ///
    /// Errors, with nothing read, when `offset + size_of::<T>()` is past the end or `offset` is
    /// not a multiple of `T`'s alignment.
    ///
    /// ```
    /// use zerocopy::big_endian::U16;
    /// # let path = std::env::temp_dir().join(format!("keel-doc-read-{}", std::process::id()));
    /// std::fs::write(&path, [0x12, 0x34, 0x56])?;
    /// let file = keel_runtime::mmap::MappedFile::open(&path)?;
    /// assert_eq!(file.read::<U16>(1)?.get(), 0x3456);
    /// assert_eq!(file.read::<u8>(0)?, 0x12);
    /// assert!(file.read::<U16>(2).is_err());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn read<T>(&self, offset: usize) -> Result<T, MmapError>
    where
        T: FromBytes + IntoBytes + Immutable,
    {
        let range = self.check::<T>(offset)?;
        T::read_from_bytes(&self.map.bytes()[range]).map_err(|_| self.out_of_bounds::<T>(offset))
    }

    /// Stores `value` at `offset`. Errors, with nothing written, when the value does not fit,
    /// the offset is misaligned for `T`, or the map is read-only.
    ///
    /// ```
    /// use zerocopy::little_endian::U64;
    /// # let path = std::env::temp_dir().join(format!("keel-doc-write-{}", std::process::id()));
    /// std::fs::write(&path, [0u8; 9])?;
    /// let mut file = keel_runtime::mmap::MappedFile::open_rw(&path)?;
    /// file.write(1, &U64::new(u64::MAX))?;
    /// assert_eq!(file.as_bytes(), [0, 255, 255, 255, 255, 255, 255, 255, 255]);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn write<T>(&mut self, offset: usize, value: &T) -> Result<(), MmapError>
    where
        T: FromBytes + IntoBytes + Immutable,
    {
        let range = self.check::<T>(offset)?;
        self.as_bytes_mut()?[range].copy_from_slice(value.as_bytes());
        Ok(())
    }

    /// Reads the `T` at `offset`, lets `f` change it, and stores it back; returns what `f`
    /// returns. The same checks as [`write`](Self::write) run first; on error `f` is not called.
    ///
    /// This is a read-modify-write of the mapped bytes, not an atomic operation against other
    /// processes writing the same bytes.
    ///
    /// ```
    /// use zerocopy::little_endian::U32;
    /// # let path = std::env::temp_dir().join(format!("keel-doc-update-{}", std::process::id()));
    /// std::fs::write(&path, [41, 0, 0, 0])?;
    /// let mut file = keel_runtime::mmap::MappedFile::open_rw(&path)?;
    /// let old = file.update(0, |v: &mut U32| {
    ///     let old = v.get();
    ///     v.set(old + 1);
    ///     old
    /// })?;
    /// assert_eq!((old, file.read::<U32>(0)?.get()), (41, 42));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update<T, R>(
        &mut self,
        offset: usize,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, MmapError>
    where
        T: FromBytes + IntoBytes + Immutable,
    {
        if !self.is_writable() {
            return Err(MmapError::ReadOnly {
                path: self.path.clone(),
                action: "update",
            });
        }
        let mut value = self.read::<T>(offset)?;
        let result = f(&mut value);
        self.write(offset, &value)?;
        Ok(result)
    }

    /// Writes every changed page of the file to storage and waits (`msync(MS_SYNC)`). A no-op
    /// for a read-only map.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-flush-{}", std::process::id()));
    /// # std::fs::write(&path, [0u8; 4])?;
    /// let mut file = keel_runtime::mmap::MappedFile::open_rw(&path)?;
    /// file.write(0, &7u8)?;
    /// file.flush()?; // durable now
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush(&self) -> Result<(), MmapError> {
        match &self.map {
            Map::ReadWrite(m) => m.flush().map_err(|e| MmapError::io("msync", &self.path, e)),
            Map::ReadOnly(_) => Ok(()),
        }
    }

    /// Like [`flush`](Self::flush), for the `len` bytes at `offset` only (the pages that hold
    /// them): patching one value in a huge file makes one page durable, not the file.
    ///
    /// ```
    /// use zerocopy::little_endian::U32;
    /// # let path = std::env::temp_dir().join(format!("keel-doc-flush-range-{}", std::process::id()));
    /// # std::fs::write(&path, [0u8; 64])?;
    /// let mut file = keel_runtime::mmap::MappedFile::open_rw(&path)?;
    /// file.write(32, &U32::new(5))?;
    /// file.flush_range(32, 4)?;
    /// assert!(file.flush_range(62, 4).is_err());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flush_range(&self, offset: usize, len: usize) -> Result<(), MmapError> {
        if offset.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(MmapError::OutOfBounds {
                path: self.path.clone(),
                offset,
                size: len,
                len: self.len(),
                type_name: "flush range",
            });
        }
        match &self.map {
            Map::ReadWrite(m) if len > 0 => m
                .flush_range(offset, len)
                .map_err(|e| MmapError::io("msync", &self.path, e)),
            _ => Ok(()),
        }
    }

    /// Gives up mutable access and returns the map as a read-only, owned byte view that is
    /// `AsRef<[u8]> + Send + Sync + 'static`: the owner to put behind a zero-copy buffer.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-into-bytes-{}", std::process::id()));
    /// std::fs::write(&path, b"shared")?;
    /// let bytes = keel_runtime::mmap::MappedFile::open(&path)?.into_bytes();
    /// let handle = std::thread::spawn(move || bytes.as_ref().len());
    /// assert_eq!(handle.join().unwrap(), 6);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_bytes(self) -> MappedBytes {
        MappedBytes { map: self.map }
    }

    /// The whole mapping as a [`Buffer`](crate::buffer::Buffer), without copying: the buffer
    /// (and every slice of it) keeps the mapping alive, and the file can be closed and even
    /// replaced by [`atomic_write`](super::atomic_write) meanwhile, since keel never truncates a
    /// file in place. The same caveats as [`as_bytes`](Self::as_bytes) apply to writers outside
    /// keel.
    ///
    /// ```
    /// # let path = std::env::temp_dir().join(format!("keel-doc-into-buffer-{}", std::process::id()));
    /// std::fs::write(&path, b"header:payload")?;
    /// let buffer = keel_runtime::mmap::MappedFile::open(&path)?.into_buffer();
    /// let payload = buffer.slice(7..);
    /// assert_eq!(&payload[..], b"payload");
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_buffer(self) -> crate::buffer::Buffer {
        crate::buffer::Buffer::from_owner(self.into_bytes())
    }

    fn check<T>(&self, offset: usize) -> Result<core::ops::Range<usize>, MmapError> {
        let size = size_of::<T>();
        let end = match offset.checked_add(size) {
            Some(end) if end <= self.len() => end,
            _ => return Err(self.out_of_bounds::<T>(offset)),
        };
        let align = align_of::<T>();
        // The map starts on a page boundary, so the address is aligned iff the offset is.
        if !(self.map.bytes().as_ptr() as usize)
            .wrapping_add(offset)
            .is_multiple_of(align)
        {
            return Err(MmapError::Misaligned {
                path: self.path.clone(),
                offset,
                align,
                type_name: core::any::type_name::<T>(),
            });
        }
        Ok(offset..end)
    }

    fn out_of_bounds<T>(&self, offset: usize) -> MmapError {
        MmapError::OutOfBounds {
            path: self.path.clone(),
            offset,
            size: size_of::<T>(),
            len: self.len(),
            type_name: core::any::type_name::<T>(),
        }
    }
}

impl fmt::Debug for MappedFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedFile")
            .field("path", &self.path)
            .field("len", &self.len())
            .field("writable", &self.is_writable())
            .finish()
    }
}

/// A read-only memory map that owns itself: `AsRef<[u8]> + Deref<Target = [u8]> + Send + Sync +
/// 'static`, made by [`MappedFile::into_bytes`]. Dropping it unmaps the file.
///
/// It is the owner type for zero-copy buffers over a file: anything that accepts an
/// `impl AsRef<[u8]> + Send + 'static` owner can hold a `MappedBytes` without copying.
///
/// ```
/// # let path = std::env::temp_dir().join(format!("keel-doc-mapped-bytes-{}", std::process::id()));
/// std::fs::write(&path, b"0123456789")?;
/// let bytes: keel_runtime::mmap::MappedBytes = keel_runtime::mmap::MappedFile::open(&path)?.into_bytes();
/// fn owner(o: impl AsRef<[u8]> + Send + 'static) -> usize { o.as_ref().len() }
/// assert_eq!(&bytes[2..4], b"23");
/// assert_eq!(owner(bytes), 10);
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct MappedBytes {
    map: Map,
}

impl AsRef<[u8]> for MappedBytes {
    fn as_ref(&self) -> &[u8] {
        self.map.bytes()
    }
}

impl core::ops::Deref for MappedBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.map.bytes()
    }
}

impl fmt::Debug for MappedBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedBytes")
            .field("len", &self.map.bytes().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync_static<T: Send + Sync + 'static>() {}

    #[test]
    fn owner_types_are_send_sync_static() {
        assert_send_sync_static::<MappedFile>();
        assert_send_sync_static::<MappedBytes>();
    }
}
