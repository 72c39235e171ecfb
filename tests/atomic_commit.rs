#![deny(warnings, clippy::all)]
//! Crash safety and concurrency of `keel::mmap::atomic_write` / `atomic_patch`.
//!
//! The kill test re-invokes this test binary as a child process (the ignored test
//! `commit_child_process`, steered by environment variables) that commits new versions of a file
//! in a loop, and SIGKILLs it at random moments.

use keel::mmap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const SIZE: usize = 128 * 1024;
const ENV_TARGET: &str = "KEEL_COMMIT_CHILD_TARGET";
const ENV_ROUNDS: &str = "KEEL_COMMIT_CHILD_ROUNDS";
const ENV_TAG: &str = "KEEL_COMMIT_CHILD_TAG";

/// The full content of version `v`: `v` at both ends, a `v`-dependent pattern between, so any
/// mix of two versions, any truncation and any empty file fail `parse`.
fn content(v: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; SIZE];
    fill(&mut bytes, v);
    bytes
}

fn fill(bytes: &mut [u8], v: u64) {
    let n = bytes.len();
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = (i as u64)
            .wrapping_mul(31)
            .wrapping_add(v.wrapping_mul(0x9e37_79b9)) as u8
            ^ (i >> 9) as u8;
    }
    bytes[..8].copy_from_slice(&v.to_le_bytes());
    bytes[n - 8..].copy_from_slice(&v.to_le_bytes());
}

/// The version `bytes` is exactly the content of, if any.
fn parse(bytes: &[u8]) -> Option<u64> {
    if bytes.len() != SIZE {
        return None;
    }
    let v = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    (content(v) == bytes).then_some(v)
}

/// Commits versions to the file: atomic_write and atomic_patch alternately.
fn commit_next(path: &Path, tag: u64, round: u64) {
    let current = parse(&std::fs::read(path).unwrap()).expect("a valid version before committing");
    let next = if tag == 0 {
        current + 1
    } else {
        (tag << 32) | round
    };
    if next % 2 == 0 {
        mmap::atomic_write(path, |w| w.write_all(&content(next))).unwrap();
    } else {
        mmap::atomic_patch(path, |bytes| {
            fill(bytes, next);
            Ok(())
        })
        .unwrap();
    }
}

/// The child side: not a test of its own (ignored); only does work when started by a test below.
#[test]
#[ignore = "child process of the kill and concurrency tests"]
fn commit_child_process() {
    let Some(target) = std::env::var_os(ENV_TARGET) else {
        return;
    };
    let target = PathBuf::from(target);
    let tag: u64 = std::env::var(ENV_TAG).map_or(0, |t| t.parse().unwrap());
    let rounds: u64 = std::env::var(ENV_ROUNDS).map_or(u64::MAX, |r| r.parse().unwrap());
    for round in 0..rounds {
        commit_next(&target, tag, round);
    }
}

fn spawn_child(target: &Path, tag: u64, rounds: Option<u64>) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "commit_child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV_TARGET, target)
        .env(ENV_TAG, tag.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(rounds) = rounds {
        command.env(ENV_ROUNDS, rounds.to_string());
    }
    command.spawn().unwrap()
}

struct TestDir(PathBuf);

impl TestDir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("keel-commit-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }
    fn entries(&self) -> Vec<String> {
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

/// xorshift64*: enough randomness for kill timing, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn sigkill_at_random_moments_leaves_old_or_new_never_a_mix() {
    const KILLS: usize = 200;
    let dir = TestDir::new("kill");
    let target = dir.0.join("state.bin");
    std::fs::write(&target, content(0)).unwrap();

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut rng = Rng(seed);
    let mut last = 0u64;
    let mut kills_with_leftovers = 0;
    for kill in 0..KILLS {
        let mut child = spawn_child(&target, 0, None);
        // Child start-up takes a few milliseconds; each commit a few more (two fsyncs).
        std::thread::sleep(Duration::from_micros(rng.next() % 25_000));
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        assert!(
            !status.success(),
            "the child must have died from the kill, not exited"
        );

        let bytes = std::fs::read(&target).unwrap();
        let version = parse(&bytes).unwrap_or_else(|| {
            panic!(
                "kill {kill} (seed {seed}): target is not one whole version ({} bytes)",
                bytes.len()
            )
        });
        assert!(
            version >= last,
            "kill {kill} (seed {seed}): version went back"
        );
        last = version;
        if dir.entries().len() > 1 {
            kills_with_leftovers += 1;
        }
        // Clean up now and then so leftovers from many kills are exercised at once, too.
        if kill % 50 == 49 {
            mmap::clean_stale_temps(&dir.0).unwrap();
            assert_eq!(dir.entries(), ["state.bin"]);
        }
    }
    eprintln!(
        "{KILLS} kills: {last} versions committed, {kills_with_leftovers} kills landed mid-commit (seed {seed})"
    );
    assert!(
        last > 0,
        "the children never committed: the test exercised nothing"
    );
    assert!(
        kills_with_leftovers > 0,
        "no kill landed mid-commit: the test exercised nothing (seed {seed})"
    );
    mmap::clean_stale_temps(&dir.0).unwrap();
    assert_eq!(dir.entries(), ["state.bin"]);
    assert!(parse(&std::fs::read(&target).unwrap()).is_some());
}

#[test]
fn two_threads_committing_to_one_path_leave_one_whole_version() {
    let dir = TestDir::new("threads");
    let target = dir.0.join("shared.bin");
    std::fs::write(&target, content(0)).unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let writers: Vec<_> = (1..=2u64)
            .map(|tag| {
                let target = &target;
                s.spawn(move || {
                    for round in 0..60 {
                        commit_next(target, tag, round);
                    }
                })
            })
            .collect();
        // A reader racing the writers never sees a torn, empty or missing file.
        let reader = s.spawn(|| {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let bytes = std::fs::read(&target).expect("the path always exists");
                assert!(parse(&bytes).is_some(), "reader saw a partial version");
                reads += 1;
            }
            reads
        });
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    });
    let final_version = parse(&std::fs::read(&target).unwrap()).expect("one whole version");
    assert!([1, 2].contains(&(final_version >> 32)));
    assert_eq!(dir.entries(), ["shared.bin"], "no temp file left behind");
}

#[test]
fn two_processes_committing_to_one_path_leave_one_whole_version() {
    let dir = TestDir::new("processes");
    let target = dir.0.join("shared.bin");
    std::fs::write(&target, content(0)).unwrap();
    let children: Vec<Child> = (1..=2)
        .map(|tag| spawn_child(&target, tag, Some(40)))
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a writer process failed");
    }
    let final_version = parse(&std::fs::read(&target).unwrap()).expect("one whole version");
    assert_eq!(
        final_version & 0xffff_ffff,
        39,
        "the last commit of one of the writers"
    );
    assert!([1, 2].contains(&(final_version >> 32)));
    assert_eq!(dir.entries(), ["shared.bin"]);
}
