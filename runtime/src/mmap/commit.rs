//! Atomic, durable whole-file commits: write or patch a temp file beside the target, fsync it,
//! rename it over the target, fsync the directory.

use super::MmapError;
use memmap2::MmapMut;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The marker in the name of every temp file keel creates while committing: a temp file for
/// `dir/name` is `dir/.name.keel-tmp.<pid>-<n>`. [`clean_stale_temps`] looks for it.
///
/// ```
/// assert_eq!(keel_runtime::mmap::TEMP_MARKER, ".keel-tmp.");
/// ```
pub const TEMP_MARKER: &str = ".keel-tmp.";

/// How many symlinks [`atomic_write`]/[`atomic_patch`] follow before giving up (as `ELOOP`).
const MAX_SYMLINK_HOPS: usize = 40;

/// Replaces the content of `path` atomically and durably with what `write` writes.
///
/// Raises the audit event `file.atomic_write` (`path`) first. Then: creates a temp file in the
/// target's directory (named with [`TEMP_MARKER`], so the rename cannot cross filesystems),
/// gives it the target's permissions (and, where allowed, owner), lets `write` stream the new
/// content into it through a buffered writer, flushes and fsyncs it, renames it over the target
/// and fsyncs the directory so the rename itself survives a crash.
///
/// * A reader, or the file after a crash at any moment, sees exactly the old content or exactly
///   the new one, never a mix and never an empty file.
/// * If `write` returns an error ([`MmapError::Callback`]) or panics, or any step before the
///   rename fails, the temp file is removed and the target is untouched.
/// * The target need not exist; it is created with the usual `0o666 & !umask` mode.
/// * **Symlinks are followed**: when `path` is a symlink (or a chain of them), the file it
///   finally points to is replaced, in that file's directory, and the link stays a link. This
///   is what editors do and what keeps links made by the user working; replacing the link
///   itself would silently detach it from the file others see. A dangling link's target is
///   created.
/// * Concurrent commits to one path each complete; the last rename wins and the file holds one
///   whole version.
///
/// ```
/// use std::io::Write;
/// # let dir = std::env::temp_dir().join(format!("keel-doc-atomic-write-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("config.json");
/// keel_runtime::mmap::atomic_write(&path, |w| w.write_all(br#"{"port": 8080}"#))?;
/// assert_eq!(std::fs::read(&path)?, br#"{"port": 8080}"#);
///
/// // A failing writer leaves the old content in place.
/// let err = keel_runtime::mmap::atomic_write(&path, |w| {
///     w.write_all(b"{\"po")?;
///     Err(std::io::Error::other("serializer failed"))
/// });
/// assert!(err.is_err());
/// assert_eq!(std::fs::read(&path)?, br#"{"port": 8080}"#);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn atomic_write<F>(path: impl AsRef<Path>, write: F) -> Result<(), MmapError>
where
    F: FnOnce(&mut BufWriter<File>) -> io::Result<()>,
{
    let path = path.as_ref();
    crate::audit::emit("file.atomic_write", &[("path", &path)])?;
    let target = resolve_symlinks(path)?;
    let existing = match fs::metadata(&target) {
        Ok(meta) => Some(meta),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(MmapError::io("stat", &target, e)),
    };
    let (mut temp, file) = TempFile::create(&target, existing.as_ref())?;
    let mut writer = BufWriter::with_capacity(256 * 1024, file);
    write(&mut writer).map_err(|source| MmapError::Callback {
        operation: "atomic_write",
        path: path.to_path_buf(),
        source,
    })?;
    let file = writer
        .into_inner()
        .map_err(|e| MmapError::io("write", &temp.path, e.into_error()))?;
    temp.commit(file, &target)
}

/// Changes part of a file atomically without reading it into memory: copies `path` to a temp
/// file beside it, maps the copy read-write, lets `patch` change the bytes, then commits the
/// copy as [`atomic_write`] does. Returns what `patch` returns.
///
/// Raises the audit event `file.atomic_patch` (`path`) first. The copy uses the kernel's fast
/// paths: a reflink (`FICLONE`, near-constant time and no extra space on Btrfs, XFS, bcachefs,
/// ...), else `copy_file_range` (an in-kernel copy, no user-space buffers), else a plain
/// read/write copy. The file length cannot change (use [`atomic_write`] for that).
///
/// On an error from `patch` ([`MmapError::Callback`]), a panic, or a failure of any step before
/// the rename, the temp file is removed and the target is untouched. Symlinks are followed as in
/// [`atomic_write`]; permissions are kept. The target must exist.
///
/// The commit is atomic, not isolated: a commit by someone else between this call's copy and
/// its rename is overwritten. Serialize patchers of one file if that matters.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("keel-doc-atomic-patch-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let path = dir.join("big.db");
/// std::fs::write(&path, vec![0u8; 1 << 20])?;
/// let old = keel_runtime::mmap::atomic_patch(&path, |bytes| {
///     let old = bytes[4096];
///     bytes[4096] = 42;
///     Ok(old)
/// })?;
/// assert_eq!(old, 0);
/// assert_eq!(std::fs::read(&path)?[4096], 42);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn atomic_patch<F, R>(path: impl AsRef<Path>, patch: F) -> Result<R, MmapError>
where
    F: FnOnce(&mut [u8]) -> io::Result<R>,
{
    let path = path.as_ref();
    crate::audit::emit("file.atomic_patch", &[("path", &path)])?;
    let target = resolve_symlinks(path)?;
    let source = File::open(&target).map_err(|e| MmapError::io("open", &target, e))?;
    let meta = source
        .metadata()
        .map_err(|e| MmapError::io("stat", &target, e))?;
    let (mut temp, file) = TempFile::create(&target, Some(&meta))?;
    copy_contents(&source, &file, meta.len())
        .map_err(|e| MmapError::io("copy into", &temp.path, e))?;
    drop(source);
    // SAFETY: the temp file was created by this call with O_EXCL and a name no other keel
    // writer uses; only a foreign process deliberately truncating it could invalidate the
    // map, which is the module's documented SIGBUS caveat. Bytes are plain `u8`.
    let mut map =
        unsafe { MmapMut::map_mut(&file) }.map_err(|e| MmapError::io("map", &temp.path, e))?;
    let result = patch(&mut map).map_err(|source| MmapError::Callback {
        operation: "atomic_patch",
        path: path.to_path_buf(),
        source,
    })?;
    if !map.is_empty() {
        map.flush()
            .map_err(|e| MmapError::io("msync", &temp.path, e))?;
    }
    drop(map);
    temp.commit(file, &target)?;
    Ok(result)
}

/// Removes the temp files that commits in `dir` left behind when their process died (they are
/// named with [`TEMP_MARKER`]); returns how many were removed.
///
/// A temp file that a live commit is still writing is locked (`flock`) by its writer and is
/// left alone, so this is safe to run at any time, for instance at program start. (A commit
/// caught in the microseconds between creating its temp file and locking it would fail with an
/// error and leave its target untouched.)
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("keel-doc-clean-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join(".data.bin.keel-tmp.999999-0"), b"half-written")?; // a dead writer's
/// std::fs::write(dir.join("data.bin"), b"kept")?;
/// assert_eq!(keel_runtime::mmap::clean_stale_temps(&dir)?, 1);
/// assert!(dir.join("data.bin").exists());
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn clean_stale_temps(dir: impl AsRef<Path>) -> Result<usize, MmapError> {
    let dir = dir.as_ref();
    let entries = fs::read_dir(dir).map_err(|e| MmapError::io("list", dir, e))?;
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(|e| MmapError::io("list", dir, e))?;
        if !is_temp_name(entry.file_name().as_bytes()) {
            continue;
        }
        let path = entry.path();
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(MmapError::io("open", &path, e)),
        };
        if !file.metadata().is_ok_and(|m| m.is_file()) || !try_lock(&file) {
            continue; // not ours, or a live commit holds it
        }
        match fs::remove_file(&path) {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(MmapError::io("remove", &path, e)),
        }
    }
    Ok(removed)
}

fn is_temp_name(name: &[u8]) -> bool {
    name.first() == Some(&b'.')
        && name
            .windows(TEMP_MARKER.len())
            .any(|w| w == TEMP_MARKER.as_bytes())
}

/// Takes an exclusive `flock` without waiting; false if another open file description holds it.
fn try_lock(file: &File) -> bool {
    // SAFETY: `flock` on a file descriptor that `file` owns and keeps open for the call.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

/// Follows `path` through symlinks to the file that would be written (which may not exist).
fn resolve_symlinks(path: &Path) -> Result<PathBuf, MmapError> {
    let mut current = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link =
                    fs::read_link(&current).map_err(|e| MmapError::io("read link", &current, e))?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(MmapError::io("stat", &current, e)),
        }
    }
    Err(MmapError::io(
        "follow symlinks of",
        path,
        io::Error::from_raw_os_error(libc::ELOOP),
    ))
}

fn directory_of(target: &Path) -> &Path {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A temp file beside the target; removed on drop unless committed (also while unwinding from
/// a panic in the caller's callback).
struct TempFile {
    path: PathBuf,
    committed: bool,
}

impl TempFile {
    fn create(target: &Path, like: Option<&fs::Metadata>) -> Result<(Self, File), MmapError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let name = target.file_name().ok_or_else(|| {
            MmapError::io(
                "commit to",
                target,
                io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"),
            )
        })?;
        let dir = directory_of(target);
        let mode = like.map_or(0o666, |m| m.mode() & 0o7777);
        loop {
            let mut temp_name = OsString::from(".");
            temp_name.push(name);
            temp_name.push(format!(
                "{TEMP_MARKER}{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let path = dir.join(temp_name);
            let file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(MmapError::io("create a temp file in", dir, e)),
            };
            let temp = TempFile {
                path,
                committed: false,
            };
            // Mark the temp file as in use for `clean_stale_temps`; released when the process
            // closes it or dies.
            try_lock(&file);
            if let Some(meta) = like {
                file.set_permissions(meta.permissions())
                    .map_err(|e| MmapError::io("set permissions of", &temp.path, e))?;
                let own = file
                    .metadata()
                    .map_err(|e| MmapError::io("stat", &temp.path, e))?;
                if (own.uid(), own.gid()) != (meta.uid(), meta.gid()) {
                    // Keeping the owner needs privileges; without them the file becomes ours,
                    // as with any rewrite.
                    let _ = std::os::unix::fs::fchown(&file, Some(meta.uid()), Some(meta.gid()));
                }
            }
            return Ok((temp, file));
        }
    }

    /// fsync the content, rename over `target`, fsync the directory.
    fn commit(&mut self, file: File, target: &Path) -> Result<(), MmapError> {
        file.sync_all()
            .map_err(|e| MmapError::io("fsync", &self.path, e))?;
        fs::rename(&self.path, target).map_err(|e| MmapError::io("rename onto", target, e))?;
        self.committed = true;
        drop(file);
        let dir = directory_of(target);
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| MmapError::io("fsync directory", dir, e))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Copies `len` bytes from the start of `src` into the empty `dst`: reflink, else
/// `copy_file_range`, else read/write.
fn copy_contents(src: &File, dst: &File, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: FICLONE takes the source descriptor as its argument; both descriptors are
        // owned by open `File`s for the duration of the call.
        if unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) } == 0 {
            return Ok(());
        }
        let mut copied = 0u64;
        while copied < len {
            let chunk = usize::try_from(len - copied)
                .unwrap_or(usize::MAX)
                .min(1 << 30);
            // SAFETY: null offsets make the kernel use and advance both files' own offsets;
            // the descriptors are valid for the call.
            let n = unsafe {
                libc::copy_file_range(
                    src.as_raw_fd(),
                    core::ptr::null_mut(),
                    dst.as_raw_fd(),
                    core::ptr::null_mut(),
                    chunk,
                    0,
                )
            };
            match n {
                n if n > 0 => copied += n as u64,
                0 => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the source file shrank while being copied",
                    ));
                }
                _ => {
                    let err = io::Error::last_os_error();
                    match err.raw_os_error() {
                        Some(libc::EINTR) => continue,
                        Some(libc::ENOSYS | libc::EXDEV | libc::EINVAL | libc::EOPNOTSUPP)
                            if copied == 0 =>
                        {
                            break;
                        }
                        _ => return Err(err),
                    }
                }
            }
        }
        if copied == len {
            return Ok(());
        }
    }
    let mut reader = io::Read::take(src, len);
    let mut writer = dst;
    let copied = io::copy(&mut reader, &mut writer)?;
    if copied != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the source file shrank while being copied",
        ));
    }
    writer.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_recognized_and_others_are_not() {
        assert!(is_temp_name(b".data.bin.keel-tmp.123-0"));
        assert!(!is_temp_name(b"data.bin.keel-tmp.123-0"));
        assert!(!is_temp_name(b".data.bin"));
        assert!(!is_temp_name(b"keel-tmp"));
    }

    #[test]
    fn directory_of_a_bare_name_is_the_current_directory() {
        assert_eq!(directory_of(Path::new("x.bin")), Path::new("."));
        assert_eq!(directory_of(Path::new("/a/x.bin")), Path::new("/a"));
    }
}
