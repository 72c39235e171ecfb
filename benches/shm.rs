//! Handing 256 MB from one process to another: through a `keel::shm::Segment` next to a pipe,
//! in one criterion group (throughput in bytes per second).
//!
//! Each iteration, the parent hands its 256 MB `Vec` to a long-lived child process (this bench
//! binary re-invoked) and waits for the child's one-byte acknowledgement:
//! * `pipe`: the parent writes the bytes into the child's stdin; the child reads all of them
//!   into its own buffer.
//! * `keel_shm`: the parent copies the bytes into a segment the child has mapped, then writes a
//!   one-byte "ready"; the child views the segment in place.
//! * `keel_shm_in_place`: the data is produced directly in the segment (nothing to copy), so
//!   handing it over is the signal alone.
//!
//! In every case the child then reads one byte per 4 KiB page of what it received (so each
//! page is really touched on the receiving side) before acknowledging.
//!
//! ```text
//! cargo bench --bench shm -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{Criterion, Throughput, criterion_group};
use keel::shm::Segment;
use std::hint::black_box;
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const LEN: usize = 256 << 20;
const CHILD_ROLE: &str = "KEEL_BENCH_SHM_CHILD";

/// One byte per page of what was received, so the receiving side touches every page.
fn touch(data: &[u8]) -> u8 {
    data.iter().step_by(4096).fold(0u8, |acc, &b| acc ^ b)
}

fn child(role: &str) {
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    if role == "pipe" {
        let mut buf = vec![0u8; LEN];
        while stdin.read_exact(&mut buf).is_ok() {
            stdout.write_all(&[touch(&buf)]).unwrap();
            stdout.flush().unwrap();
        }
    } else if let Some(name) = role.strip_prefix("shm:") {
        let seg = Segment::open_with_len(name, LEN).expect("child: open");
        let mut signal = [0u8; 1];
        while stdin.read_exact(&mut signal).is_ok() {
            // SAFETY: the parent finished writing before it sent the signal and writes again
            // only after our acknowledgement; the view does not outlive this iteration.
            let view = unsafe { seg.as_slice() };
            stdout.write_all(&[touch(view)]).unwrap();
            stdout.flush().unwrap();
        }
    }
}

struct Peer {
    child: Child,
    to: ChildStdin,
    from: ChildStdout,
}

impl Peer {
    fn spawn(role: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_ROLE, role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let to = child.stdin.take().unwrap();
        let from = child.stdout.take().unwrap();
        Self { child, to, from }
    }

    fn ack(&mut self) -> u8 {
        let mut ack = [0u8; 1];
        self.from.read_exact(&mut ack).unwrap();
        ack[0]
    }

    fn finish(self) {
        let Peer { mut child, to, .. } = self;
        drop(to);
        child.wait().unwrap();
    }
}

fn handoff(c: &mut Criterion) {
    let data: Vec<u8> = (0..LEN).map(|i| (i / 4096) as u8).collect();
    let expected = touch(&data);

    let mut group = c.benchmark_group("handoff_256MB");
    group.throughput(Throughput::Bytes(LEN as u64));
    group.sample_size(10);

    let mut pipe = Peer::spawn("pipe");
    group.bench_function("pipe", |b| {
        b.iter(|| {
            pipe.to.write_all(black_box(&data)).unwrap();
            assert_eq!(pipe.ack(), expected);
        })
    });
    pipe.finish();

    let seg = Segment::create(LEN).unwrap();
    let mut shm = Peer::spawn(&format!("shm:{}", seg.name()));
    group.bench_function("keel_shm", |b| {
        b.iter(|| {
            seg.write_at(0, black_box(&data)).unwrap();
            shm.to.write_all(&[1]).unwrap();
            assert_eq!(shm.ack(), expected);
        })
    });
    group.bench_function("keel_shm_in_place", |b| {
        b.iter(|| {
            shm.to.write_all(&[1]).unwrap();
            assert_eq!(shm.ack(), expected);
        })
    });
    shm.finish();
    group.finish();
}

criterion_group!(benches, handoff);

fn main() {
    if let Ok(role) = std::env::var(CHILD_ROLE) {
        child(&role);
        return;
    }
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
