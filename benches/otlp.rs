//! OTLP export (issue 30), against the OpenTelemetry Rust SDK in the same run. Three parts:
//!
//! * `otlp_export`: the export core. 20,000 spans per iteration are made on the benchmark
//!   thread and exported to a local receiver that discards every request unread (this binary,
//!   re-executed as a separate process, so its work is not on this process's clock); the
//!   iteration ends when the exporter says every span was answered for (`OtlpSink::flush`,
//!   `SdkTracerProvider::force_flush`). The time criterion reports is the CPU time of every
//!   thread of this process but the benchmark thread, that is of the export thread(s): keel's
//!   `keel-otlp-export`; the SDK's batch span processor thread plus the runtime thread of
//!   reqwest's blocking client that its OTLP/HTTP exporter posts through. Its throughput is
//!   spans per second of export-core CPU. The wall-clock throughput of the same iterations
//!   (spans made and exported, the two threads sharing the machine's two cores) is printed on
//!   stderr. Rows: `keel_plain` / `opentelemetry_sdk_plain` (spans with `code.file.path`,
//!   `code.line.number` and an `Ok` status), `keel_args` / `opentelemetry_sdk_args` (plus an
//!   integer and a string argument: `id`, `path`). Both exporters batch 512 spans and send
//!   protobuf over HTTP/1.1 to the same receiver; neither compresses.
//! * `otlp_call`: the cost of an instrumented call on the traced thread with the `OtlpSink`
//!   installed, in the thread's CPU time (the export thread works on the other core): `plain`
//!   (`fn(u64)`, nothing recorded), `args` (`#[keel::instrument(args(id, path))]`, an integer
//!   and a `&str` recorded, which the export thread then sends typed). Calls come in chunks of
//!   half the queue, flushed outside the timed region, so every timed span is accepted.
//! * `burst` (not criterion: whole processes): this binary re-executed to make 2,000,000
//!   instrumented calls on one thread as fast as it can, with the default `OtlpSink` sending to
//!   a live receiver (discarding, another process), a dead one (killed after the first
//!   request, so the open connection breaks and new ones are refused) and an absent one (a
//!   port nothing listens on). Each child's CPU (user + system, from `wait4`) and wall time,
//!   the exit flush included, over several rounds with the order rotated; medians and the
//!   ratios to live are printed.
//!
//! ```text
//! cargo bench -p keel-benches --bench otlp -- --warm-up-time 1 --measurement-time 3
//! cargo bench -p keel-benches --bench otlp -- burst      # the burst table alone
//! ```
//!
//! `KEEL_OTLP_BURST_ROUNDS` sets the burst's rounds (default 5).

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use keel::trace::otlp::OtlpSink;
use std::hint::black_box;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Spans per iteration of `otlp_export`.
const SPANS: u64 = 20_000;
/// Both exporters' queues: larger than an iteration, so nothing is dropped (keel's holds
/// records, and a span with recorded arguments takes two: its entry's fields and its exit).
const QUEUE: usize = 65_536;
/// Calls of the burst.
const BURST: u64 = 2_000_000;

const ROLE: &str = "KEEL_OTLP_BENCH_ROLE";

#[keel::instrument]
#[inline(never)]
fn plain(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[keel::instrument(args(id, path))]
#[inline(never)]
fn handle(id: u64, path: &str) -> u64 {
    black_box(id).wrapping_add(path.len() as u64)
}

const PATHS: [&str; 4] = ["/orders/0", "/orders/1", "/cart", "/checkout/confirm"];

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("receiver") => return receiver::serve(),
        Ok("burst") => return burst::child(),
        _ => {}
    }
    let mut criterion = Criterion::default().configure_from_args();
    let receiver = receiver::Process::start();
    export(&mut criterion, &receiver);
    per_call(&mut criterion, &receiver);
    criterion.final_summary();
    drop(receiver);
    if burst::wanted() {
        burst::table();
    }
}

/// CPU time of this process's threads other than the calling one, since `start`.
struct OthersCpu {
    process: cpu_time::ProcessTime,
    thread: cpu_time::ThreadTime,
}

impl OthersCpu {
    fn start() -> Self {
        Self {
            process: cpu_time::ProcessTime::now(),
            thread: cpu_time::ThreadTime::now(),
        }
    }
    fn elapsed(&self) -> Duration {
        let thread = self.thread.elapsed();
        self.process.elapsed().saturating_sub(thread)
    }
}

/// Wall-clock spans per second of each row's iterations, printed after the group.
static WALL: Mutex<Vec<(String, Vec<f64>)>> = Mutex::new(Vec::new());

fn note_wall(row: &str, spans_per_second: f64) {
    let mut wall = WALL.lock().unwrap();
    match wall.iter_mut().find(|(name, _)| name == row) {
        Some((_, runs)) => runs.push(spans_per_second),
        None => wall.push((row.to_string(), vec![spans_per_second])),
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn export(c: &mut Criterion, receiver: &receiver::Process) {
    let mut group = c.benchmark_group("otlp_export");
    group
        .throughput(Throughput::Elements(SPANS))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10);
    keel_export(&mut group, receiver, "keel_plain", false);
    keel_export(&mut group, receiver, "keel_args", true);
    sdk_export(&mut group, receiver, "opentelemetry_sdk_plain", false);
    sdk_export(&mut group, receiver, "opentelemetry_sdk_args", true);
    group.finish();
    let mut wall = WALL.lock().unwrap();
    for (row, runs) in wall.iter_mut() {
        let (low, high) = runs
            .iter()
            .fold((f64::INFINITY, 0f64), |(l, h), v| (l.min(*v), h.max(*v)));
        eprintln!(
            "otlp_export/{row}: wall {:.0} spans/s median over {} iterations ({low:.0}–{high:.0})",
            median(runs),
            runs.len()
        );
    }
}

fn keel_sink(receiver: &receiver::Process) -> OtlpSink {
    OtlpSink::builder()
        .endpoint(receiver.endpoint())
        .service_name("bench")
        .queue_capacity(QUEUE)
        .build()
        .expect("an OTLP sink")
}

fn keel_export(
    group: &mut BenchmarkGroup<'_, WallTime>,
    receiver: &receiver::Process,
    row: &str,
    args: bool,
) {
    let sink = keel_sink(receiver);
    keel::trace::clear_sinks();
    keel::trace::add_sink(sink.clone());
    keel::trace::enable();
    let mut ran = false;
    group.bench_function(row, |b| {
        ran = true;
        b.iter_custom(|iters| {
            let mut cpu = Duration::ZERO;
            for _ in 0..iters {
                let before = sink.stats().exported;
                let wall = Instant::now();
                let others = OthersCpu::start();
                for i in 0..SPANS {
                    if args {
                        black_box(handle(black_box(i), PATHS[i as usize & 3]));
                    } else {
                        black_box(plain(black_box(i)));
                    }
                }
                let stats = sink.flush().expect("the receiver answers");
                cpu += others.elapsed();
                note_wall(row, SPANS as f64 / wall.elapsed().as_secs_f64());
                assert_eq!(stats.exported - before, SPANS, "{stats}");
            }
            cpu
        })
    });
    keel::trace::disable();
    keel::trace::clear_sinks();
    if ran {
        let stats = sink.stats();
        eprintln!("otlp_export/{row}: {stats}");
        assert!(stats.dropped == 0 && stats.failed == 0, "{stats}");
    }
}

fn sdk_export(
    group: &mut BenchmarkGroup<'_, WallTime>,
    receiver: &receiver::Process,
    row: &str,
    args: bool,
) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
    use opentelemetry_otlp::{Protocol, WithExportConfig as _};
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};

    let mut provider = None;
    group.bench_function(row, |b| {
        let provider = provider.get_or_insert_with(|| {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(receiver.endpoint())
                .build()
                .expect("an OTLP/HTTP span exporter");
            let processor = BatchSpanProcessor::builder(exporter)
                .with_batch_config(
                    BatchConfigBuilder::default()
                        .with_max_queue_size(QUEUE)
                        .with_max_export_batch_size(512)
                        .with_scheduled_delay(Duration::from_millis(200))
                        .build(),
                )
                .build();
            SdkTracerProvider::builder()
                .with_span_processor(processor)
                .with_resource(
                    opentelemetry_sdk::Resource::builder_empty()
                        .with_service_name("bench")
                        .build(),
                )
                .build()
        });
        let tracer = provider.tracer("bench");
        b.iter_custom(|iters| {
            let mut cpu = Duration::ZERO;
            for _ in 0..iters {
                let wall = Instant::now();
                let others = OthersCpu::start();
                for i in 0..SPANS {
                    let mut attributes = vec![
                        KeyValue::new("code.file.path", file!()),
                        KeyValue::new("code.line.number", i64::from(line!())),
                    ];
                    if args {
                        attributes.push(KeyValue::new("id", i as i64));
                        attributes.push(KeyValue::new("path", PATHS[i as usize & 3]));
                    }
                    let mut span = tracer
                        .span_builder("otlp::handle")
                        .with_kind(SpanKind::Internal)
                        .with_attributes(attributes)
                        .start(&tracer);
                    span.set_status(Status::Ok);
                    span.end();
                }
                provider.force_flush().expect("the receiver answers");
                cpu += others.elapsed();
                note_wall(row, SPANS as f64 / wall.elapsed().as_secs_f64());
            }
            cpu
        })
    });
    if let Some(provider) = provider {
        provider.shutdown().expect("the provider shuts down");
    }
}

/// `otlp_call`: an instrumented call's cost on the traced thread, the OTLP sink installed.
fn per_call(c: &mut Criterion, receiver: &receiver::Process) {
    let sink = keel_sink(receiver);
    keel::trace::clear_sinks();
    keel::trace::add_sink(sink.clone());
    keel::trace::enable();
    let mut group = c.benchmark_group("otlp_call");
    let mut ran = false;
    for (row, args) in [("plain", false), ("args", true)] {
        group.bench_function(row, |b| {
            ran = true;
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                let mut i = 0u64;
                while left > 0 {
                    let chunk = left.min(QUEUE as u64 / 2);
                    left -= chunk;
                    let start = cpu_time::ThreadTime::now();
                    for _ in 0..chunk {
                        i += 1;
                        if args {
                            black_box(handle(black_box(i), PATHS[i as usize & 3]));
                        } else {
                            black_box(plain(black_box(i)));
                        }
                    }
                    elapsed += start.elapsed();
                    sink.flush().expect("the receiver answers");
                }
                elapsed
            })
        });
    }
    group.finish();
    keel::trace::disable();
    keel::trace::clear_sinks();
    if ran {
        let stats = sink.flush().expect("the receiver answers");
        eprintln!("otlp_call: {stats}");
        assert!(stats.dropped == 0 && stats.failed == 0, "{stats}");
    }
}

/// A receiver that reads each request and answers 200 with an empty body, run as a child
/// process (this binary with [`ROLE`] `receiver`).
mod receiver {
    use super::*;

    pub(super) struct Process {
        child: Child,
        port: u16,
    }

    impl Process {
        pub(super) fn start() -> Self {
            let mut child = Command::new(std::env::current_exe().expect("this binary"))
                .env(ROLE, "receiver")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .spawn()
                .expect("the receiver process starts");
            let mut line = String::new();
            BufReader::new(child.stdout.take().expect("its stdout"))
                .read_line(&mut line)
                .expect("the receiver prints its port");
            let port = line.trim().parse().expect("a port number");
            Self { child, port }
        }

        pub(super) fn endpoint(&self) -> String {
            format!("http://127.0.0.1:{}/v1/traces", self.port)
        }

        pub(super) fn pid(&self) -> u32 {
            self.child.id()
        }
    }

    impl Drop for Process {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    pub(super) fn serve() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("an address").port();
        println!("{port}");
        let _ = std::io::stdout().flush();
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = connection(stream);
            });
        }
    }

    fn connection(stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut reader = BufReader::with_capacity(1 << 16, stream.try_clone()?);
        let mut writer = stream;
        let mut line = String::new();
        loop {
            let mut length = 0u64;
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line.trim_end().is_empty() {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.trim().eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink())?;
            writer.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
            )?;
        }
    }
}

/// The burst with live, dead and absent receivers, each run a process of its own.
mod burst {
    use super::*;

    const MODES: [&str; 3] = ["live", "dead", "absent"];

    /// Whether the command line's filter (if any) asks for the burst.
    pub(super) fn wanted() -> bool {
        let mut args = std::env::args().skip(1);
        let mut filters = Vec::new();
        while let Some(arg) = args.next() {
            if matches!(
                arg.as_str(),
                "--warm-up-time"
                    | "--measurement-time"
                    | "--sample-size"
                    | "--save-baseline"
                    | "--baseline"
                    | "--profile-time"
                    | "--output-format"
                    | "--color"
                    | "--noise-threshold"
                    | "--confidence-level"
                    | "--significance-level"
                    | "--nresamples"
                    | "--plotting-backend"
            ) {
                args.next();
            } else if !arg.starts_with('-') {
                filters.push(arg);
            }
        }
        filters.is_empty()
            || filters
                .iter()
                .any(|filter| "burst".contains(filter.as_str()))
    }

    struct Run {
        cpu: Duration,
        wall: Duration,
        report: String,
    }

    /// One burst process against `mode`'s receiver.
    fn run(mode: &str) -> Run {
        let receiver = (mode != "absent").then(receiver::Process::start);
        let endpoint = match &receiver {
            Some(receiver) => receiver.endpoint(),
            None => {
                let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
                let port = listener.local_addr().expect("an address").port();
                drop(listener);
                format!("http://127.0.0.1:{port}/v1/traces")
            }
        };
        let mut command = Command::new(std::env::current_exe().expect("this binary"));
        command
            .env(ROLE, "burst")
            .env("KEEL_OTLP_BENCH_ENDPOINT", &endpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        for (name, _) in std::env::vars() {
            if name.starts_with("OTEL_") {
                command.env_remove(name);
            }
        }
        if mode == "dead" {
            command.env(
                "KEEL_OTLP_BENCH_KILL",
                receiver.as_ref().expect("a receiver").pid().to_string(),
            );
        }
        let start = Instant::now();
        let mut child = command.spawn().expect("the burst process starts");
        let mut report = String::new();
        child
            .stdout
            .take()
            .expect("its stdout")
            .read_to_string(&mut report)
            .expect("its report");
        let (status, usage) = wait4(&child);
        let wall = start.elapsed();
        std::mem::forget(child); // reaped by wait4
        assert!(status == 0, "the burst process failed ({status}): {report}");
        let cpu = timeval(usage.ru_utime) + timeval(usage.ru_stime);
        drop(receiver);
        Run {
            cpu,
            wall,
            report: report.trim().to_string(),
        }
    }

    fn timeval(time: libc::timeval) -> Duration {
        Duration::from_secs(time.tv_sec as u64) + Duration::from_micros(time.tv_usec as u64)
    }

    /// Waits for `child` to exit: its exit status and resource usage.
    fn wait4(child: &Child) -> (i32, libc::rusage) {
        let mut status = 0;
        // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: the pid is our own un-reaped child; both pointers are valid for writes.
        let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
        assert_eq!(pid, child.id() as libc::pid_t, "wait4");
        (status, usage)
    }

    pub(super) fn table() {
        let rounds: usize = std::env::var("KEEL_OTLP_BURST_ROUNDS")
            .ok()
            .and_then(|rounds| rounds.parse().ok())
            .unwrap_or(5);
        let mut runs: Vec<Vec<Run>> = MODES.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            for offset in 0..MODES.len() {
                let index = (round + offset) % MODES.len();
                let run = run(MODES[index]);
                eprintln!(
                    "burst round {round} {:>6}: cpu {:>7.1} ms, wall {:>7.1} ms; {}",
                    MODES[index],
                    run.cpu.as_secs_f64() * 1e3,
                    run.wall.as_secs_f64() * 1e3,
                    run.report
                );
                runs[index].push(run);
            }
        }
        let medians: Vec<(f64, f64)> = runs
            .iter()
            .map(|runs| {
                let mut cpu: Vec<f64> = runs.iter().map(|r| r.cpu.as_secs_f64()).collect();
                let mut wall: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
                (median(&mut cpu), median(&mut wall))
            })
            .collect();
        eprintln!("burst of {BURST} calls, {rounds} rounds, medians:");
        for (mode, (cpu, wall)) in MODES.iter().zip(&medians) {
            eprintln!(
                "  {mode:>6}: cpu {:>7.1} ms ({:.2}x live), wall {:>7.1} ms ({:.2}x live)",
                cpu * 1e3,
                cpu / medians[0].0,
                wall * 1e3,
                wall / medians[0].1
            );
        }
    }

    /// The burst process: the default sink, one request answered (or not), the burst, exit.
    pub(super) fn child() {
        let endpoint = std::env::var("KEEL_OTLP_BENCH_ENDPOINT").expect("an endpoint");
        let sink = OtlpSink::builder()
            .endpoint(endpoint.clone())
            .service_name("burst")
            .build()
            .expect("an OTLP sink");
        keel::trace::add_sink(sink.clone());
        keel::trace::enable();
        black_box(handle(0, PATHS[0]));
        let _ = sink.flush();
        if let Ok(pid) = std::env::var("KEEL_OTLP_BENCH_KILL") {
            let pid: libc::pid_t = pid.parse().expect("a pid");
            // SAFETY: sends a signal; no memory is involved.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let address = endpoint
                .trim_start_matches("http://")
                .split('/')
                .next()
                .expect("host:port")
                .to_string();
            let deadline = Instant::now() + Duration::from_secs(2);
            while TcpStream::connect(&address).is_ok() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let start = Instant::now();
        for i in 0..BURST {
            black_box(handle(black_box(i), PATHS[i as usize & 3]));
        }
        let burst = start.elapsed();
        let stats = sink.stats();
        println!(
            "burst {:.0} ms; {} queued, {} exported so far, {} dropped (queue full), {} failed ({} shed)",
            burst.as_secs_f64() * 1e3,
            stats.queued,
            stats.exported,
            stats.dropped,
            stats.failed,
            stats.shed
        );
    }
}
