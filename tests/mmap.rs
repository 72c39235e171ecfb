#![deny(warnings, clippy::all)]
//! `keel::mmap`: typed access through maps, atomic commits, audit events.

use keel::mmap::{self, MappedFile, MmapError};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Mutex;
use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A directory of its own per test, removed when the test ends.
struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("keel-mmap-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Debug, PartialEq, Clone, Copy)]
#[repr(C)]
struct Header {
    magic: [u8; 4],
    version: U16,
    flags: U16,
    count: U64,
}

#[test]
fn read_write_update_round_trip_through_the_file() {
    let dir = TestDir::new("round-trip");
    let path = dir.path("data.bin");
    std::fs::write(&path, [0u8; 64]).unwrap();

    let mut file = MappedFile::open_rw(&path).unwrap();
    assert_eq!(file.len(), 64);
    let header = Header {
        magic: *b"KEEL",
        version: U16::new(3),
        flags: U16::new(0),
        count: U64::new(10),
    };
    file.write(0, &header).unwrap();
    let before = file
        .update(0, |h: &mut Header| {
            let before = h.count.get();
            h.count.set(before + 5);
            before
        })
        .unwrap();
    assert_eq!(before, 10);
    file.write(33, &U32::new(0x0102_0304)).unwrap(); // unaligned type, odd offset
    file.write(40, &0xaabb_ccdd_u32).unwrap(); // native u32 at an aligned offset
    file.flush().unwrap();

    let on_disk = std::fs::read(&path).unwrap();
    assert_eq!(&on_disk[..4], b"KEEL");
    assert_eq!(on_disk[8..16], 15u64.to_le_bytes()); // count follows 4 + 2 + 2 bytes
    assert_eq!(on_disk[33..37], [4, 3, 2, 1]);
    assert_eq!(on_disk[40..44], 0xaabb_ccdd_u32.to_ne_bytes());

    let reader = MappedFile::open(&path).unwrap();
    assert_eq!(reader.read::<Header>(0).unwrap().count.get(), 15);
    assert_eq!(reader.read::<U32>(33).unwrap().get(), 0x0102_0304);
    assert_eq!(reader.as_bytes(), on_disk);
}

#[test]
fn out_of_bounds_names_offset_size_and_length_and_writes_nothing() {
    let dir = TestDir::new("bounds");
    let path = dir.path("small.bin");
    std::fs::write(&path, [7u8; 10]).unwrap();
    let mut file = MappedFile::open_rw(&path).unwrap();

    let err = file.write(8, &U32::new(0)).unwrap_err();
    match &err {
        MmapError::OutOfBounds {
            offset, size, len, ..
        } => assert_eq!((*offset, *size, *len), (8, 4, 10)),
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
    let message = err.to_string();
    assert!(message.contains("offset 8"), "{message}");
    assert!(message.contains("4 bytes"), "{message}");
    assert!(message.contains("(10 bytes)"), "{message}");
    assert!(message.contains("small.bin"), "{message}");

    assert!(matches!(
        file.update(usize::MAX - 1, |v: &mut U16| v.set(1)),
        Err(MmapError::OutOfBounds { .. })
    ));
    let mut called = false;
    let _ = file.update(9, |v: &mut U16| {
        called = true;
        v.set(0)
    });
    assert!(!called, "the closure must not run when the check fails");
    assert!(matches!(
        file.read::<U64>(3),
        Err(MmapError::OutOfBounds { size: 8, .. })
    ));
    assert!(file.flush_range(5, 6).is_err());
    file.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), [7u8; 10]);
}

#[test]
fn alignment_is_checked_for_aligned_types_only() {
    let dir = TestDir::new("align");
    let path = dir.path("a.bin");
    std::fs::write(&path, [0u8; 16]).unwrap();
    let mut file = MappedFile::open_rw(&path).unwrap();
    let err = file.write(2, &1u32).unwrap_err();
    assert!(
        matches!(
            err,
            MmapError::Misaligned {
                offset: 2,
                align: 4,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("4-byte aligned"), "{err}");
    assert!(file.read::<u64>(4).is_err());
    assert_eq!(file.read::<u64>(8).unwrap(), 0);
    for offset in 0..12 {
        file.write(offset, &U32::new(offset as u32)).unwrap();
    }
    assert_eq!(file.as_bytes()[..4], [0, 1, 2, 3]);
}

#[test]
fn read_only_maps_refuse_writes() {
    let dir = TestDir::new("read-only");
    let path = dir.path("ro.bin");
    std::fs::write(&path, [1u8; 8]).unwrap();
    let mut file = MappedFile::open(&path).unwrap();
    assert!(!file.is_writable());
    assert!(matches!(
        file.write(0, &0u8),
        Err(MmapError::ReadOnly { .. })
    ));
    assert!(matches!(
        file.update(0, |v: &mut u8| *v = 0),
        Err(MmapError::ReadOnly { .. })
    ));
    file.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), [1u8; 8]);
}

#[test]
fn zero_length_files_work_everywhere() {
    let dir = TestDir::new("empty");
    let path = dir.path("empty.bin");
    std::fs::write(&path, b"").unwrap();
    let mut file = MappedFile::open_rw(&path).unwrap();
    assert!(file.is_empty());
    assert_eq!(file.as_bytes(), b"");
    assert!(matches!(
        file.read::<u8>(0),
        Err(MmapError::OutOfBounds { len: 0, .. })
    ));
    assert!(file.write(0, &0u8).is_err());
    file.flush().unwrap();
    file.flush_range(0, 0).unwrap();
    assert!(MappedFile::open(&path).unwrap().into_bytes().is_empty());

    let seen = mmap::atomic_patch(&path, |bytes| Ok(bytes.len())).unwrap();
    assert_eq!(seen, 0);
    mmap::atomic_write(&path, |_| Ok(())).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"");
    assert_eq!(dir.names(), ["empty.bin"]);
}

#[test]
fn missing_files_are_errors_naming_the_path() {
    let dir = TestDir::new("missing");
    let path = dir.path("nope.bin");
    let err = MappedFile::open(&path).unwrap_err();
    assert!(matches!(err, MmapError::Io { action: "open", .. }));
    assert!(err.to_string().contains("nope.bin"), "{err}");
    assert!(MappedFile::open_rw(&path).is_err());
    assert!(mmap::atomic_patch(&path, |_| Ok(())).is_err());
    assert!(dir.names().is_empty());
}

#[test]
fn into_bytes_is_a_send_static_owner_of_the_map() {
    fn owner_len(owner: impl AsRef<[u8]> + Send + 'static) -> usize {
        std::thread::spawn(move || owner.as_ref().len())
            .join()
            .unwrap()
    }
    let dir = TestDir::new("owner");
    let path = dir.path("o.bin");
    std::fs::write(&path, b"hello world").unwrap();
    let mut rw = MappedFile::open_rw(&path).unwrap();
    rw.write(0, &b'j').unwrap();
    let bytes = rw.into_bytes();
    assert_eq!(&bytes[..], b"jello world");
    assert_eq!(owner_len(bytes), 11);
}

#[test]
fn atomic_write_creates_replaces_and_keeps_permissions() {
    let dir = TestDir::new("write");
    let path = dir.path("config.json");
    mmap::atomic_write(&path, |w| w.write_all(b"v1")).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"v1");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    mmap::atomic_write(&path, |w| {
        for _ in 0..1000 {
            w.write_all(b"0123456789")?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len(), 10_000);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    assert_eq!(dir.names(), ["config.json"]);
}

#[test]
fn a_failing_or_panicking_writer_leaves_the_target_and_no_temp() {
    let dir = TestDir::new("write-fail");
    let path = dir.path("t.txt");
    std::fs::write(&path, b"old").unwrap();
    let err = mmap::atomic_write(&path, |w| {
        w.write_all(&[b'x'; 1 << 20])?;
        Err(std::io::Error::other("encoder broke"))
    })
    .unwrap_err();
    assert!(matches!(
        err,
        MmapError::Callback {
            operation: "atomic_write",
            ..
        }
    ));
    assert!(err.to_string().contains("encoder broke"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(dir.names(), ["t.txt"]);

    let panicked = std::panic::catch_unwind(|| {
        let _ = mmap::atomic_write(&path, |w| {
            w.write_all(b"half")?;
            panic!("writer panicked");
        });
    });
    assert!(panicked.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(dir.names(), ["t.txt"]);

    // A target that never existed stays absent.
    let fresh = dir.path("fresh.txt");
    assert!(mmap::atomic_write(&fresh, |_| Err(std::io::Error::other("no"))).is_err());
    assert_eq!(dir.names(), ["t.txt"]);
}

#[test]
fn symlinks_are_followed_and_stay_links() {
    let dir = TestDir::new("symlink");
    std::fs::create_dir(dir.path("real")).unwrap();
    let real = dir.path("real/data.txt");
    std::fs::write(&real, b"old").unwrap();
    let link = dir.path("link.txt");
    std::os::unix::fs::symlink("real/data.txt", &link).unwrap(); // relative link
    let chain = dir.path("chain.txt");
    std::os::unix::fs::symlink(&link, &chain).unwrap(); // absolute link to a link

    mmap::atomic_write(&chain, |w| w.write_all(b"new")).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::symlink_metadata(&chain)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&real).unwrap(), b"new");

    mmap::atomic_patch(&link, |b| {
        b[0] = b'N';
        Ok(())
    })
    .unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&real).unwrap(), b"New");
    // The temp file was made beside the real file, and is gone.
    assert_eq!(dir.names(), ["chain.txt", "link.txt", "real"]);
    assert_eq!(std::fs::read_dir(dir.path("real")).unwrap().count(), 1);

    // A dangling link gets its target created.
    let dangling = dir.path("dangling.txt");
    std::os::unix::fs::symlink("real/created.txt", &dangling).unwrap();
    mmap::atomic_write(&dangling, |w| w.write_all(b"made")).unwrap();
    assert_eq!(
        std::fs::read(dir.path("real/created.txt")).unwrap(),
        b"made"
    );

    // A loop is an error, not a hang.
    std::os::unix::fs::symlink("loop-b", dir.path("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", dir.path("loop-b")).unwrap();
    assert!(mmap::atomic_write(dir.path("loop-a"), |_| Ok(())).is_err());
}

#[test]
fn atomic_patch_changes_a_copy_and_commits_it() {
    let dir = TestDir::new("patch");
    let path = dir.path("big.db");
    let original: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    std::fs::write(&path, &original).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();

    // A reader mapped before the commit keeps the old inode: no SIGBUS, old bytes.
    let before = MappedFile::open(&path).unwrap();

    let old = mmap::atomic_patch(&path, |bytes| {
        assert_eq!(bytes, &original[..], "the patch sees an exact copy");
        let old = bytes[200_000];
        bytes[200_000] = old.wrapping_add(1);
        Ok(old)
    })
    .unwrap();
    let mut expected = original.clone();
    expected[200_000] = old.wrapping_add(1);
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o604
    );
    assert_eq!(before.as_bytes(), &original[..]);
    assert_eq!(dir.names(), ["big.db"]);

    // Errors and panics change nothing.
    let err = mmap::atomic_patch(&path, |bytes| -> std::io::Result<()> {
        bytes.fill(0);
        Err(std::io::Error::other("checksum mismatch"))
    })
    .unwrap_err();
    assert!(matches!(
        err,
        MmapError::Callback {
            operation: "atomic_patch",
            ..
        }
    ));
    let panicked = std::panic::catch_unwind(|| {
        let _ = mmap::atomic_patch(&path, |bytes| -> std::io::Result<()> {
            bytes.fill(0);
            panic!("patch panicked")
        });
    });
    assert!(panicked.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), expected);
    assert_eq!(dir.names(), ["big.db"]);
}

#[test]
fn clean_stale_temps_spares_a_commit_in_progress() {
    let dir = TestDir::new("clean");
    let path = dir.path("d.bin");
    std::fs::write(dir.path(".d.bin.keel-tmp.1-1"), b"dead writer").unwrap();
    std::fs::write(dir.path(".other.keel-tmp.2-7"), b"dead writer").unwrap();
    std::fs::write(dir.path("keep.keel-tmp.txt"), b"not a temp name").unwrap();
    let mut removed_during = None;
    mmap::atomic_write(&path, |w| {
        w.write_all(b"live")?;
        // Our own temp file is locked by this commit and must survive.
        removed_during = Some(mmap::clean_stale_temps(&dir.0).unwrap());
        Ok(())
    })
    .unwrap();
    assert_eq!(removed_during, Some(2));
    assert_eq!(std::fs::read(&path).unwrap(), b"live");
    assert_eq!(dir.names(), ["d.bin", "keep.keel-tmp.txt"]);
    assert_eq!(mmap::clean_stale_temps(&dir.0).unwrap(), 0);
}

/// Audit hooks are process-wide: this hook only reacts to paths under this test's directory.
#[test]
fn audit_events_come_first_and_a_denial_does_nothing() {
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let dir = TestDir::new("audit");
    let marker = dir.0.to_string_lossy().into_owned();
    let deny = format!("{marker}/denied");
    keel::audit::add_hook(move |event| {
        let Some(path) = event.arg("path") else {
            return Ok(());
        };
        let path = format!("{path:?}");
        if path.contains(&marker) {
            SEEN.lock().unwrap().push(event.to_string());
            if path.contains(&deny) {
                return Err(keel::audit::Denied::new("read-only test area"));
            }
        }
        Ok(())
    })
    .unwrap();

    let allowed = dir.path("allowed.bin");
    mmap::atomic_write(&allowed, |w| w.write_all(&[0; 8])).unwrap();
    mmap::atomic_patch(&allowed, |_| Ok(())).unwrap();
    MappedFile::open(&allowed).unwrap();
    MappedFile::open_rw(&allowed).unwrap();
    let seen = SEEN.lock().unwrap().clone();
    let quoted = format!("{allowed:?}");
    assert_eq!(
        seen,
        [
            format!("file.atomic_write(path={quoted})"),
            format!("file.atomic_patch(path={quoted})"),
            format!("mmap.open(path={quoted}, writable=false)"),
            format!("mmap.open(path={quoted}, writable=true)"),
        ]
    );

    std::fs::create_dir(dir.path("denied")).unwrap();
    let denied = dir.path("denied/x.bin");
    let err = mmap::atomic_write(&denied, |w| w.write_all(b"no")).unwrap_err();
    assert!(matches!(&err, MmapError::Denied(d) if d.event() == "file.atomic_write"));
    assert!(err.to_string().contains("read-only test area"), "{err}");
    assert!(!denied.exists(), "a denied write creates nothing");

    std::fs::write(&denied, b"kept").unwrap();
    let mut ran = false;
    let err = mmap::atomic_patch(&denied, |_| {
        ran = true;
        Ok(())
    })
    .unwrap_err();
    assert!(matches!(&err, MmapError::Denied(d) if d.event() == "file.atomic_patch"));
    assert!(!ran);
    let err = MappedFile::open_rw(&denied).unwrap_err();
    assert!(matches!(&err, MmapError::Denied(d) if d.event() == "mmap.open"));
    assert!(MappedFile::open(&denied).is_err());
    assert_eq!(std::fs::read(&denied).unwrap(), b"kept");
    assert_eq!(std::fs::read_dir(dir.path("denied")).unwrap().count(), 1);
}

#[test]
fn into_buffer_is_a_zero_copy_view_that_outlives_a_commit() {
    let dir = TestDir::new("into_buffer");
    let path = dir.path("frames.bin");
    std::fs::write(&path, b"old-header|old-payload").unwrap();
    let map = MappedFile::open(&path).unwrap();
    let mapped_at = map.as_bytes().as_ptr();
    let buffer = map.into_buffer();
    // Zero-copy: the buffer's bytes are the mapping's bytes.
    assert_eq!(buffer.as_ptr(), mapped_at);
    let payload = buffer.slice(11..);
    drop(buffer);
    // Replacing the file (keel never truncates in place) leaves the old view intact.
    mmap::atomic_write(&path, |w| w.write_all(b"new")).unwrap();
    assert_eq!(&payload[..], b"old-payload");
    assert_eq!(std::fs::read(&path).unwrap(), b"new");
}
