//! `keel::shm::Segment`: lifecycle, bad input, audit, two processes, and Python interop.
//!
//! This test binary has its own small runner (`harness = false`) so that, after every test has
//! run — panicking ones included — it can check that `/dev/shm` holds none of the segments the
//! tests created, and so that it can re-invoke itself as the second process of the two-process
//! tests. `cargo test --test shm [FILTER]` runs it; `-- --list` lists the tests.

#![deny(warnings, clippy::all)]

use keel::shm::{Segment, ShmError};
use std::io::{BufRead, BufReader, Write};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Set in the environment of a child process: which role to play.
const CHILD_ROLE: &str = "KEEL_SHM_TEST_CHILD";
/// Size of the segments handed between processes.
const HANDOFF_LEN: usize = 1 << 20;

/// Every name a test created or was handed, checked for leaks at the end.
static CREATED: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(name: &str) -> String {
    CREATED.lock().unwrap().push(name.to_string());
    name.to_string()
}

/// A name owned by this test process: `keel_t<pid>_<tag>`.
fn owned(tag: &str) -> String {
    record(&format!("keel_t{}_{tag}", std::process::id()))
}

fn create(size: usize) -> Segment {
    let seg = Segment::create(size).expect("create");
    record(seg.name());
    seg
}

/// Whether a segment of that name exists, without `open` (which is audited).
fn exists(name: &str) -> bool {
    if cfg!(target_os = "linux") {
        std::path::Path::new("/dev/shm").join(name).exists()
    } else {
        Segment::open(name).is_ok()
    }
}

fn pattern(i: usize) -> u8 {
    (i % 251) as u8
}

// ------------------------------------------------------------------------------------------
// Lifecycle

fn create_write_open_read() {
    let seg = create(4096);
    assert!(seg.name().starts_with("psm_"), "{}", seg.name());
    assert_eq!(seg.len(), 4096);
    seg.write_at(0, b"hello").unwrap();
    seg.write_at(4091, b"world").unwrap();

    let other = Segment::open(seg.name()).unwrap();
    assert_eq!(other.len(), 4096);
    assert!(!other.is_creator());
    let mut buf = [0u8; 5];
    other.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    other.read_at(4091, &mut buf).unwrap();
    assert_eq!(&buf, b"world");

    // Writes through one mapping are visible through the other.
    other.write_at(10, b"back").unwrap();
    let mut back = [0u8; 4];
    seg.read_at(10, &mut back).unwrap();
    assert_eq!(&back, b"back");

    // SAFETY: nothing writes the segment while `view` and its slices live.
    let view = unsafe { other.into_buffer() };
    let hello = view.slice(0..5);
    assert_eq!(hello, *b"hello");
    assert_eq!(hello.as_ptr(), view.as_ptr(), "zero-copy slice");
    let name = seg.name().to_string();
    drop(seg); // the creator unlinks the name...
    assert!(!exists(&name));
    assert!(matches!(
        Segment::open(&name),
        Err(ShmError::NotFound { .. })
    ));
    assert_eq!(hello, *b"hello", "...but live mappings stay valid");
    assert_eq!(view.len(), 4096);
}

fn open_never_unlinks_and_the_creator_does() {
    let name = owned("lifecycle");
    let creator = Segment::create_named(&name, 100).unwrap();
    assert!(creator.is_creator());
    drop(Segment::open(&name).unwrap());
    drop(Segment::open(&name).unwrap());
    assert!(exists(&name), "dropping an opened segment must not unlink");
    drop(creator);
    assert!(!exists(&name), "dropping the creator unlinks");
}

fn persist_keeps_the_name_until_an_explicit_unlink() {
    let name = owned("persist");
    let seg = Segment::create_named(&name, 64).unwrap();
    seg.write_at(0, b"kept").unwrap();
    seg.persist();
    drop(seg);
    assert!(exists(&name));
    let again = Segment::open(&name).unwrap();
    let mut buf = [0u8; 4];
    again.read_at(0, &mut buf).unwrap();
    assert_eq!(&buf, b"kept");
    again.unlink().unwrap();
    assert!(!exists(&name));
    assert!(matches!(again.unlink(), Err(ShmError::NotFound { .. })));
}

fn into_buffer_of_the_creator_unlinks_when_the_last_view_drops() {
    let seg = create(32);
    let name = seg.name().to_string();
    // SAFETY: nothing writes the segment while the buffer lives.
    let view = unsafe { seg.into_buffer() };
    let tail = view.slice(16..);
    drop(view);
    assert!(exists(&name), "a slice still holds the creator's mapping");
    drop(tail);
    assert!(!exists(&name));
}

fn a_panic_while_holding_a_segment_unlinks_it() {
    let name = owned("panicking");
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {})); // this panic is expected: keep the output clean
    let outcome = panic::catch_unwind(|| {
        let seg = Segment::create_named(&name, 4096).unwrap();
        seg.write_at(0, b"about to panic").unwrap();
        assert!(exists(&name));
        panic!("deliberate panic while holding {}", seg.name());
    });
    panic::set_hook(default_hook);
    assert!(outcome.is_err());
    assert!(
        !exists(&name),
        "unwinding dropped the creator, which unlinked"
    );
}

// ------------------------------------------------------------------------------------------
// Bad input

fn bad_input_is_a_clear_error_and_changes_nothing() {
    let message = |r: Result<Segment, ShmError>| r.unwrap_err().to_string();
    assert_eq!(
        message(Segment::create_named("", 10)),
        r#"invalid shared memory name "": a name must not be empty"#
    );
    assert!(message(Segment::open("/psm_abc")).contains("must not contain '/'"));
    assert!(message(Segment::create_named("a/b", 10)).contains("must not contain '/'"));
    let long = "x".repeat(keel::shm::MAX_NAME_LEN + 1);
    assert!(
        message(Segment::create_named(&long, 10)).ends_with(&format!(
            "a name must be at most {} bytes, got {}",
            keel::shm::MAX_NAME_LEN,
            long.len()
        ))
    );

    let zero = owned("zero");
    assert_eq!(
        message(Segment::create_named(&zero, 0)),
        format!("shared memory segment {zero:?} must have a size > 0, got 0")
    );
    assert!(!exists(&zero));
    assert!(matches!(Segment::create(0), Err(ShmError::ZeroSize { .. })));

    let missing = owned("missing");
    assert_eq!(
        message(Segment::open(&missing)),
        format!("no shared memory segment named {missing:?}")
    );

    if cfg!(target_os = "linux") {
        // A segment that exists but was never sized (a crashed creator, say).
        let empty = owned("empty");
        std::fs::File::create(std::path::Path::new("/dev/shm").join(&empty)).unwrap();
        let err = message(Segment::open(&empty));
        std::fs::remove_file(std::path::Path::new("/dev/shm").join(&empty)).unwrap();
        assert_eq!(
            err,
            format!("shared memory segment {empty:?} has size 0: nothing to map")
        );
    }

    let name = owned("sized");
    let seg = Segment::create_named(&name, 100).unwrap();
    assert_eq!(
        message(Segment::open_with_len(&name, 200)),
        format!("shared memory segment {name:?} is 100 bytes, expected 200")
    );
    assert_eq!(Segment::open_with_len(&name, 100).unwrap().len(), 100);
    assert_eq!(
        message(Segment::create_named(&name, 100)),
        format!("shared memory segment {name:?} already exists")
    );

    seg.write_at(0, &[7u8; 100]).unwrap();
    let err = seg.write_at(98, b"xyz").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "write of 3 bytes at offset 98 is out of bounds for shared memory segment {name:?} \
             of 100 bytes"
        )
    );
    assert!(matches!(
        seg.write_at(usize::MAX, b"x"),
        Err(ShmError::OutOfBounds {
            op: "write",
            offset: usize::MAX,
            len: 1,
            size: 100,
            ..
        })
    ));
    let mut all = [0u8; 100];
    seg.read_at(0, &mut all).unwrap();
    assert_eq!(all, [7u8; 100], "failed writes changed nothing");
    let mut two = [0u8; 2];
    assert!(matches!(
        seg.read_at(99, &mut two),
        Err(ShmError::OutOfBounds { op: "read", .. })
    ));
    assert_eq!(two, [0, 0], "failed reads copied nothing");
    seg.read_at(100, &mut []).unwrap(); // an empty range at the end is in bounds
}

// ------------------------------------------------------------------------------------------
// Audit

static DENY_UNLINK: AtomicBool = AtomicBool::new(false);
/// (event, name, did the segment exist when the hook ran)
static AUDITED: Mutex<Vec<(String, String, bool)>> = Mutex::new(Vec::new());

fn audit_events_come_first_and_a_denial_does_nothing() {
    let prefix = format!("keel_t{}_audit_", std::process::id());
    let hook_prefix = prefix.clone();
    keel::audit::add_hook(move |event| {
        if !event.name().starts_with("shm.") {
            return Ok(());
        }
        let Some(arg) = event.arg("name") else {
            return Ok(());
        };
        let name = format!("{arg:?}").trim_matches('"').to_string();
        if !name.starts_with(&hook_prefix) {
            return Ok(()); // not a segment this test owns
        }
        AUDITED
            .lock()
            .unwrap()
            .push((event.name().into(), name.clone(), exists(&name)));
        match event.name() {
            "shm.create" if name.ends_with("denied") => {
                Err(keel::audit::Denied::new("no new segments"))
            }
            "shm.open" if name.ends_with("noopen") => Err(keel::audit::Denied::new("no opening")),
            "shm.unlink" if DENY_UNLINK.load(Ordering::SeqCst) => {
                Err(keel::audit::Denied::new("keep it"))
            }
            _ => Ok(()),
        }
    })
    .unwrap();

    let denied = owned("audit_denied");
    let err = Segment::create_named(&denied, 4096).unwrap_err();
    assert!(matches!(err, ShmError::Denied(_)));
    assert_eq!(
        err.to_string(),
        "audit hook denied `shm.create`: no new segments"
    );
    assert!(!exists(&denied), "a denied create creates nothing");

    let allowed = owned("audit_ok");
    let seg = Segment::create_named(&allowed, 4096).unwrap();
    drop(Segment::open(&allowed).unwrap());

    let noopen = owned("audit_noopen");
    let other = Segment::create_named(&noopen, 10).unwrap();
    let err = Segment::open(&noopen).unwrap_err();
    assert_eq!(err.to_string(), "audit hook denied `shm.open`: no opening");

    DENY_UNLINK.store(true, Ordering::SeqCst);
    let err = seg.unlink().unwrap_err();
    assert_eq!(err.to_string(), "audit hook denied `shm.unlink`: keep it");
    assert!(exists(&allowed), "a denied unlink removes nothing");
    DENY_UNLINK.store(false, Ordering::SeqCst);
    drop(seg);
    drop(other);
    assert!(!exists(&allowed));
    assert!(!exists(&noopen));

    let events = AUDITED.lock().unwrap().clone();
    let expect = |e: &str, n: &str, existed: bool| (e.to_string(), n.to_string(), existed);
    assert_eq!(
        events,
        vec![
            expect("shm.create", &denied, false),
            expect("shm.create", &allowed, false), // raised before the segment exists
            expect("shm.open", &allowed, true),
            expect("shm.create", &noopen, false),
            expect("shm.open", &noopen, true),
            expect("shm.unlink", &allowed, true), // denied
            expect("shm.unlink", &allowed, true), // on drop: raised before it is removed
            expect("shm.unlink", &noopen, true),
        ]
    );
}

// ------------------------------------------------------------------------------------------
// Two processes: this binary re-invoked as the child.

fn child_command(role: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    cmd.env(CHILD_ROLE, role);
    cmd
}

/// The child's side. `consume:<name>`: open, verify, answer. `produce`: create, announce, wait.
fn child(role: &str) -> ExitCode {
    if let Some(name) = role.strip_prefix("consume:") {
        let seg = Segment::open_with_len(name, HANDOFF_LEN).expect("child: open");
        let writer = Segment::open(name).expect("child: open again");
        // SAFETY: the parent wrote everything before starting this process and writes no more;
        // this process writes only after dropping the view.
        let view = unsafe { seg.into_buffer() };
        let ok = view.iter().enumerate().all(|(i, &b)| b == pattern(i));
        let sum: u64 = view.iter().map(|&b| u64::from(b)).sum();
        drop(view);
        writer
            .write_at(0, &sum.to_le_bytes())
            .expect("child: write");
        writer.write_at(8, if ok { b"ok" } else { b"no" }).unwrap();
        ExitCode::SUCCESS
    } else if role == "produce" {
        let seg = Segment::create(HANDOFF_LEN).expect("child: create");
        for start in (0..HANDOFF_LEN).step_by(4096) {
            let chunk: Vec<u8> = (start..start + 4096).map(pattern).collect();
            seg.write_at(start, &chunk).unwrap();
        }
        println!("{}", seg.name());
        std::io::stdout().flush().unwrap();
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).unwrap();
        // Dropping the creator here unlinks the segment.
        ExitCode::SUCCESS
    } else {
        eprintln!("unknown child role {role:?}");
        ExitCode::FAILURE
    }
}

fn another_process_reads_what_this_one_wrote() {
    let seg = create(HANDOFF_LEN);
    let data: Vec<u8> = (0..HANDOFF_LEN).map(pattern).collect();
    seg.write_at(0, &data).unwrap();
    let status = child_command(&format!("consume:{}", seg.name()))
        .status()
        .unwrap();
    assert!(status.success(), "child failed: {status}");
    let mut answer = [0u8; 10];
    seg.read_at(0, &mut answer).unwrap();
    let sum = u64::from_le_bytes(answer[..8].try_into().unwrap());
    assert_eq!(sum, data.iter().map(|&b| u64::from(b)).sum::<u64>());
    assert_eq!(&answer[8..], b"ok");
    assert!(exists(seg.name()), "the child's opens never unlink");
}

fn a_segment_created_by_another_process_goes_when_it_exits() {
    let mut producer = child_command("produce")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(producer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let name = record(line.trim());
    {
        let seg = Segment::open_with_len(&name, HANDOFF_LEN).unwrap();
        let mut data = vec![0u8; HANDOFF_LEN];
        seg.read_at(0, &mut data).unwrap();
        assert!(data.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    }
    assert!(exists(&name), "dropping our open did not unlink");
    writeln!(producer.stdin.take().unwrap()).unwrap();
    assert!(producer.wait().unwrap().success());
    assert!(!exists(&name), "the creating process unlinked on exit");
}

// ------------------------------------------------------------------------------------------
// Python interop

fn python() -> Option<&'static str> {
    let ok = Command::new("python3")
        .args(["-c", "import multiprocessing.shared_memory"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some("python3")
    } else {
        println!("    notice: python3 with multiprocessing.shared_memory not found; skipped");
        None
    }
}

fn run_python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed: {}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Attaches the way the module docs recommend: without the resource tracker.
const PY_ATTACH: &str = r#"
import sys
from multiprocessing import shared_memory, resource_tracker
name = sys.argv[1]
try:
    shm = shared_memory.SharedMemory(name=name, track=False)  # Python >= 3.13
except TypeError:
    shm = shared_memory.SharedMemory(name=name)
    resource_tracker.unregister(shm._name, "shared_memory")  # Python < 3.13
print("name", shm.name)
print("size", shm.size)
print("greeting", bytes(shm.buf[:9]).decode())
shm.buf[100:111] = b"from python"
try:
    import numpy
except ImportError:
    print("numpy absent")
else:
    values = numpy.frombuffer(shm.buf, dtype=numpy.uint32, count=4, offset=16)
    print("numpy", values.tolist())
    values *= 10  # in place: the shared memory itself
    del values
shm.close()
"#;

fn python_opens_a_segment_keel_created() {
    if python().is_none() {
        return;
    }
    let seg = create(4096);
    seg.write_at(0, b"from keel").unwrap();
    let words: Vec<u8> = [1u32, 2, 3, 4]
        .iter()
        .flat_map(|w| w.to_ne_bytes())
        .collect();
    seg.write_at(16, &words).unwrap();

    let out = run_python(PY_ATTACH, &[seg.name()]);
    assert!(out.contains(&format!("name {}\n", seg.name())), "{out}");
    assert!(out.contains("size 4096\n"), "{out}");
    assert!(out.contains("greeting from keel\n"), "{out}");
    let mut reply = [0u8; 11];
    seg.read_at(100, &mut reply).unwrap();
    assert_eq!(&reply, b"from python");

    assert!(
        exists(seg.name()),
        "with the workaround, Python's exit leaves our segment alone"
    );
    if out.contains("numpy absent") {
        println!("    notice: numpy not importable; numpy.frombuffer check skipped");
    } else {
        assert!(out.contains("numpy [1, 2, 3, 4]\n"), "{out}");
        let again = Segment::open(seg.name()).unwrap();
        // SAFETY: Python has exited; nothing writes the segment while the view lives.
        let view = unsafe { again.into_buffer() };
        let words = view.slice(16..32);
        let values: &[u32] = words.cast().unwrap();
        assert_eq!(values, [10, 20, 30, 40], "numpy multiplied in place");
    }
}

/// Creates a segment, announces its name, waits for a line, checks keel's reply, unlinks.
const PY_CREATE: &str = r#"
import sys
from multiprocessing import shared_memory
shm = shared_memory.SharedMemory(create=True, size=4096)
shm.buf[:11] = b"from python"
try:
    import numpy
except ImportError:
    pass
else:
    numpy.ndarray((3,), dtype=numpy.float64, buffer=shm.buf, offset=64)[:] = [0.5, 1.5, 2.5]
print(shm.name, flush=True)
sys.stdin.readline()
print("reply", bytes(shm.buf[200:209]).decode(), flush=True)
shm.close()
shm.unlink()  # raises FileNotFoundError if keel had unlinked it
"#;

fn keel_opens_a_segment_python_created() {
    if python().is_none() {
        return;
    }
    let mut py = Command::new("python3")
        .args(["-c", PY_CREATE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(py.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let name = record(line.trim());
    assert!(name.starts_with("psm_"), "{name}");
    {
        let seg = Segment::open(&name).unwrap();
        assert_eq!(seg.len(), 4096);
        assert!(!seg.is_creator());
        let mut greeting = [0u8; 11];
        seg.read_at(0, &mut greeting).unwrap();
        assert_eq!(&greeting, b"from python");
        let mut floats = [0u8; 24];
        seg.read_at(64, &mut floats).unwrap();
        if floats != [0; 24] {
            let values: Vec<f64> = floats
                .chunks_exact(8)
                .map(|c| f64::from_ne_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(values, [0.5, 1.5, 2.5], "written by numpy");
        } else {
            println!("    notice: numpy not importable; the numpy-written floats were not checked");
        }
        seg.write_at(200, b"from keel").unwrap();
    } // dropped: an opened segment does not unlink
    writeln!(py.stdin.take().unwrap()).unwrap();
    line.clear();
    stdout.read_line(&mut line).unwrap();
    assert_eq!(line, "reply from keel\n");
    assert!(py.wait().unwrap().success(), "Python's unlink failed");
    assert!(!exists(&name), "Python, the creator, unlinked it");
}

/// The pitfall the module docs describe: a Python process that merely attaches (default
/// tracking, Python < 3.13 or `track=True`) unlinks the segment when it exits.
fn python_resource_tracker_pitfall_is_real() {
    if python().is_none() {
        return;
    }
    let seg = create(4096);
    let script = "import sys\nfrom multiprocessing import shared_memory\n\
                  shm = shared_memory.SharedMemory(name=sys.argv[1])\nshm.close()\n";
    let out = Command::new("python3")
        .args(["-c", script, seg.name()])
        .output()
        .unwrap();
    assert!(out.status.success());
    // The tracker runs in its own process and cleans up just after Python exits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while exists(seg.name()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !exists(seg.name()),
        "the attaching Python process's resource tracker unlinked keel's segment"
    );
    seg.write_at(0, b"mapping still valid").unwrap();
    // Dropping `seg` now finds the name gone, which is fine.
}

// ------------------------------------------------------------------------------------------
// The runner

fn main() -> ExitCode {
    if let Ok(role) = std::env::var(CHILD_ROLE) {
        return child(&role);
    }
    let tests: &[(&str, fn())] = &[
        ("create_write_open_read", create_write_open_read),
        (
            "open_never_unlinks_and_the_creator_does",
            open_never_unlinks_and_the_creator_does,
        ),
        (
            "persist_keeps_the_name_until_an_explicit_unlink",
            persist_keeps_the_name_until_an_explicit_unlink,
        ),
        (
            "into_buffer_of_the_creator_unlinks_when_the_last_view_drops",
            into_buffer_of_the_creator_unlinks_when_the_last_view_drops,
        ),
        (
            "a_panic_while_holding_a_segment_unlinks_it",
            a_panic_while_holding_a_segment_unlinks_it,
        ),
        (
            "bad_input_is_a_clear_error_and_changes_nothing",
            bad_input_is_a_clear_error_and_changes_nothing,
        ),
        (
            "audit_events_come_first_and_a_denial_does_nothing",
            audit_events_come_first_and_a_denial_does_nothing,
        ),
        (
            "another_process_reads_what_this_one_wrote",
            another_process_reads_what_this_one_wrote,
        ),
        (
            "a_segment_created_by_another_process_goes_when_it_exits",
            a_segment_created_by_another_process_goes_when_it_exits,
        ),
        (
            "python_opens_a_segment_keel_created",
            python_opens_a_segment_keel_created,
        ),
        (
            "keel_opens_a_segment_python_created",
            keel_opens_a_segment_python_created,
        ),
        (
            "python_resource_tracker_pitfall_is_real",
            python_resource_tracker_pitfall_is_real,
        ),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        return ExitCode::SUCCESS;
    }
    let filter = args.iter().find(|a| !a.starts_with('-'));
    let selected: Vec<_> = tests
        .iter()
        .filter(|(name, _)| filter.is_none_or(|f| name.contains(f.as_str())))
        .collect();

    println!("\nrunning {} tests", selected.len());
    let mut failed = Vec::new();
    for (name, test) in &selected {
        match panic::catch_unwind(AssertUnwindSafe(test)) {
            Ok(()) => println!("test {name} ... ok"),
            Err(_) => {
                println!("test {name} ... FAILED");
                failed.push(*name);
            }
        }
    }

    // No leaks: every segment any test created or was handed is gone, panics included.
    let leaked: Vec<String> = CREATED
        .lock()
        .unwrap()
        .iter()
        .filter(|name| exists(name))
        .cloned()
        .collect();
    let mut stray = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        let prefix = format!("keel_t{}_", std::process::id());
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && !leaked.contains(&name) {
                stray.push(name);
            }
        }
    }
    if !leaked.is_empty() || !stray.is_empty() {
        println!("leaked shared memory segments: {leaked:?} {stray:?}");
        failed.push("no_leaks_in_dev_shm");
    } else {
        println!("test no_leaks_in_dev_shm ... ok");
    }

    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        selected.len() + 1 - failed.len(),
        failed.len()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failures: {failed:?}");
        ExitCode::FAILURE
    }
}
