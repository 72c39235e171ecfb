//! pickle protocol 5 with a real Python: `pickle.dumps(obj, protocol=5, buffer_callback=...)`
//! and `pickle.loads(data, buffers=...)` → `keel::pickle::to_frames` / `from_frames`. A struct
//! with an 8 MiB numpy-compatible column (`NdArray<f64>`) goes to a `python3` process, which
//! unpickles it with numpy and answers: through shared memory (`keel::pickle::shm`, the array
//! built in the segment, nothing copied), as out-of-band bytes over a pipe, and in band (one
//! pickle holding the data, what `pickle.dumps` gives without `buffer_callback`). Skipped, with
//! a notice, when `python3` or its numpy is missing.

use crate::measure::{Table, dur, per_call};
use keel::pickle::shm::{Region, export};
use keel::pickle::{Encoder, Frames, NdArray, Order, to_frames};
use keel::shm::Segment;
use serde::Serialize;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Batch {
    name: &'static str,
    step: u64,
    weights: NdArray<'static, f64>,
}

const ROWS: usize = 1024;
const COLS: usize = 1024;

/// The Python side: answers one line per request with its load time, whether the array shares
/// memory with what it was given, the array's dtype and shape and its sum; then Python's own
/// round trip of the same object, out of band and in band.
const PYTHON: &str = r#"
import pickle, sys, time
try:
    import numpy as np
except ImportError:
    print("absent", flush=True)
    sys.exit(0)
import keel_pickle_shm
print("ready numpy " + np.__version__, flush=True)
inp = sys.stdin.buffer

def answer(batch, bases, elapsed):
    w = batch["weights"]
    shared = any(np.shares_memory(w, np.frombuffer(b, np.uint8)) for b in bases)
    bufs = []
    t = time.perf_counter()
    p = pickle.dumps(batch, protocol=5, buffer_callback=bufs.append)
    pickle.loads(p, buffers=bufs)
    oob = time.perf_counter() - t
    t = time.perf_counter()
    pickle.loads(pickle.dumps(batch, protocol=5))
    inband = time.perf_counter() - t
    shape = "x".join(map(str, w.shape))
    print(f"{elapsed:.9f} {shared} {w.dtype}[{shape}] {float(w.sum())!r} {batch['step']} {oob:.9f} {inband:.9f}", flush=True)

for line in inp:
    cmd = line.decode().split()
    if cmd[0] == "shm":
        t = time.perf_counter()
        batch, handles = keel_pickle_shm.load(cmd[1])
        elapsed = time.perf_counter() - t
        answer(batch, [h.buf for h in handles.values()], elapsed)
        del batch
        for h in handles.values():
            h.close()
    elif cmd[0] == "frames":
        frames = [inp.read(int(n)) for n in cmd[1:]]
        t = time.perf_counter()
        batch = pickle.loads(frames[0], buffers=frames[1:])
        elapsed = time.perf_counter() - t
        answer(batch, frames, elapsed)
"#;

/// What Python answered about one transfer.
struct Answer {
    load: Duration,
    shared: bool,
    array: String,
    sum: f64,
    step: u64,
    python_oob: Duration,
    python_inband: Duration,
}

struct Python {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Python {
    /// `python3` with numpy, or why not.
    fn start() -> Result<(Self, String), String> {
        let helpers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../python");
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(PYTHON)
            .env("PYTHONPATH", &helpers)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("python3 not started ({e})"))?;
        let stdin = child.stdin.take().expect("piped stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).map_err(|e| e.to_string())?;
        match line.trim().strip_prefix("ready ") {
            Some(version) => {
                let version = version.to_string();
                Ok((
                    Self {
                        child,
                        stdin,
                        stdout,
                    },
                    version,
                ))
            }
            None => {
                let _ = child.wait();
                Err("python3 has no numpy (pip install numpy)".to_string())
            }
        }
    }

    fn ask(&mut self, header: &str, payload: &[&[u8]]) -> Answer {
        self.stdin
            .write_all(header.as_bytes())
            .expect("write to python3");
        for part in payload {
            self.stdin.write_all(part).expect("write to python3");
        }
        self.stdin.flush().expect("flush to python3");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read from python3");
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 7, "python3 answered {line:?}");
        let secs = |s: &str| Duration::from_secs_f64(s.parse().expect("seconds"));
        Answer {
            load: secs(f[0]),
            shared: f[1] == "True",
            array: f[2].to_string(),
            sum: f[3].parse().expect("a sum"),
            step: f[4].parse().expect("a step"),
            python_oob: secs(f[5]),
            python_inband: secs(f[6]),
        }
    }

    fn send(&mut self, frames: &Frames) -> Answer {
        let mut header = format!("frames {}", frames.inband.len());
        for buffer in &frames.buffers {
            header.push_str(&format!(" {}", buffer.len()));
        }
        header.push('\n');
        let mut payload: Vec<&[u8]> = vec![&frames.inband];
        payload.extend(frames.buffers.iter().map(|b| &b[..]));
        self.ask(&header, &payload)
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mib(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{bytes} B")
    }
}

pub fn run() {
    let (mut python, numpy) = match Python::start() {
        Ok(started) => started,
        Err(why) => {
            println!("skipped: {why}; the section needs python3 with numpy");
            return;
        }
    };

    // The array is built where Python will read it: in a shared-memory segment.
    let len = ROWS * COLS;
    let mut segment = Segment::create(len * 8).expect("an 8 MiB segment");
    // SAFETY: no other process knows the fresh segment's name yet.
    let bytes = unsafe { segment.as_mut_slice() };
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(i as f64).to_ne_bytes());
    }
    // SAFETY: this process writes the segment no more.
    let region = unsafe { Region::from_segment(segment) };
    let batch = Batch {
        name: "weights",
        step: 42,
        weights: NdArray::<f64>::from_buffer(region.view().clone())
            .and_then(|a| a.reshape(&[ROWS, COLS], Order::C))
            .expect("an aligned array"),
    };
    let expected_sum = (len * (len - 1) / 2) as f64;

    // Rust's side of each transfer.
    let encode = per_call(2_000, || to_frames(black_box(&batch)).expect("pickle"));
    let frames = to_frames(&batch).expect("pickle");
    let start = Instant::now();
    let sent = export(&frames, std::slice::from_ref(&region)).expect("export to shared memory");
    let exported = start.elapsed();
    let in_band_encoder = Encoder::new().threshold(usize::MAX);
    let encode_in_band = per_call(5, || {
        in_band_encoder
            .to_frames(black_box(&batch))
            .expect("pickle")
    });
    let in_band = in_band_encoder.to_frames(&batch).expect("pickle");
    assert!(in_band.buffers.is_empty());

    let shm = python.ask(&format!("shm {}\n", sent.name()), &[]);
    drop(sent); // Python has answered: it mapped (and closed) the segments
    let pipe = python.send(&frames);
    let inband = python.send(&in_band);
    drop(python);

    println!(
        "struct Batch {{ name, step, weights: NdArray<f64> {ROWS}x{COLS} (8 MiB) }} -> python3 \
         ({numpy}), which unpickles it and answers:"
    );
    let mut table = Table::new(&[
        "Rust -> Python, 8 MiB float64 column",
        "Rust encodes",
        "bytes copied",
        "Python loads",
        "numpy array is",
    ]);
    let view_or_copy = |a: &Answer, what: &str| {
        if a.shared {
            format!("a view of {what}")
        } else {
            "a copy".to_string()
        }
    };
    table
        .row(&[
            &"keel::pickle::shm::export (array built in a segment)",
            &dur(encode.as_duration() + exported),
            &mib(0),
            &dur(shm.load),
            &view_or_copy(&shm, "the segment"),
        ])
        .row(&[
            &"to_frames, buffers out of band over a pipe",
            &dur(encode.as_duration()),
            &mib(frames.out_of_band_len()),
            &dur(pipe.load),
            &view_or_copy(&pipe, "the bytes read"),
        ])
        .row(&[
            &"in band (Encoder::threshold(usize::MAX))",
            &dur(encode_in_band.as_duration()),
            &mib(in_band.inband.len()),
            &dur(inband.load),
            &view_or_copy(&inband, "the pickle"),
        ]);
    table.print();
    println!(
        "(Python's load through shared memory includes opening and mapping the segments by name; \
         Rust's export includes creating the manifest segment.)"
    );
    println!(
        "Python's own round trip of the same object (dumps + loads, protocol 5): {} with \
         buffer_callback/buffers=, {} in band; what Python saw: {} step {}, sum {} (Rust's: {expected_sum})",
        dur(shm.python_oob),
        dur(shm.python_inband),
        shm.array,
        shm.step,
        shm.sum,
    );
    for answer in [&shm, &pipe, &inband] {
        assert_eq!((answer.sum, answer.step), (expected_sum, 42));
        assert_eq!(answer.array, format!("float64[{ROWS}x{COLS}]"));
    }
    assert!(shm.shared && pipe.shared && !inband.shared);
}
