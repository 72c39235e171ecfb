//! `#[keel::instrument]` per-call overhead, side by side in one criterion group:
//!
//! * `bare_fn`: the function without instrumentation (the floor);
//! * `keel_disabled`: instrumented, tracing switched off (target: ≤ floor + 1 ns);
//! * `keel_stats`: instrumented, tracing on, the `Stats` sink recording every call
//!   (target: ≤ 40 ns, and ≥ 5× cheaper than the next row);
//! * `tracing_registry_timings`: `#[tracing::instrument]` with a `tracing-subscriber` registry
//!   and a layer that times every span (start on new span, elapsed on close);
//! * `fastrace_trace`: `#[fastrace::trace]` under a local root span (a fresh root every 1000
//!   calls, so the collector stays bounded), with a reporter that drops the records;
//! * `floor_two_tsc_reads`: two reads of the time-stamp counter through `quanta` (the clock
//!   keel's spans read), the part of every timed call no code of ours can remove.
//!
//! Issue 17 (span ids, OpenTelemetry export) adds, in the same group:
//!
//! * `keel_stats_unsampled`: `keel_stats` with `set_sampler(0.0)` (the sampling decision made at
//!   every root; `Stats` still counts the call);
//! * `fastrace_trace_reported`: `fastrace_trace` with the end of each root (which hands its
//!   1000 spans to fastrace's collector) inside the timed region, so every span's hand-off to the
//!   reporter is paid on the traced thread as keel's is;
//! * `keel_otlp`: `#[keel::instrument]` with only the `OtlpSink` installed,
//!   exporting to an OTLP/HTTP receiver on 127.0.0.1 (`tests/support/otlp_receiver.rs`); the
//!   cost of a span on the traced thread, every span accepted into the queue (the timed calls
//!   come in chunks of half the queue, and each chunk is flushed out of the timed region);
//! * `tracing_opentelemetry`: `#[tracing::instrument(skip_all)]` under a `tracing-subscriber`
//!   registry with `tracing-opentelemetry`'s layer (inactivity tracking, thread and location
//!   attributes off: its cheapest setting) on an `opentelemetry_sdk` tracer provider with the
//!   batch span processor (its defaults: a 2,048-span queue, batches of 512) and an exporter that
//!   drops every batch, the cheapest exporter there is.
//!
//! and a group of its own, `otlp_export`: spans per second drained by the
//! `OtlpSink`'s background thread into that receiver, with the queue's bound shown on stderr.
//!
//! ```text
//! cargo bench --bench instrument -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! `KEEL_BENCH_CALLGRIND=<calls>` in front runs no criterion group: it makes that many calls of
//! `bare_fn`, of `keel_fn` under `Stats` and of the two clock reads, for callgrind to count
//! instructions per call (see `callgrind_driver`).
//!
//! `KEEL_BENCH_CLOCK=cpu` in front times the `instrument` group in the benchmark thread's CPU
//! time (`benches/cpu_time.rs`): the cost on the traced thread alone, without the moments it
//! waits for a core while the export thread and the in-process receiver work (two cores here,
//! three busy threads). `otlp_export` measures the export thread, so its drains are timed on
//! the wall clock whichever clock is asked for.

mod cpu_time;

use criterion::Criterion;
use criterion::measurement::Measurement;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The clock of the timed regions of `iter_custom` rows: the wall, or this thread's CPU time
/// under `KEEL_BENCH_CLOCK=cpu` (the clock criterion measures the other rows with).
enum Stopwatch {
    Wall(Instant),
    Cpu(::cpu_time::ThreadTime),
}

impl Stopwatch {
    fn start() -> Self {
        if cpu_time::cpu_clock_requested() {
            Self::Cpu(::cpu_time::ThreadTime::now())
        } else {
            Self::Wall(Instant::now())
        }
    }

    fn elapsed(&self) -> Duration {
        match self {
            Self::Wall(start) => start.elapsed(),
            Self::Cpu(start) => start.elapsed(),
        }
    }
}

#[inline(never)]
fn bare_fn(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[keel::instrument]
#[inline(never)]
fn keel_fn(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tracing_fn(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[tracing::instrument(skip_all)]
#[inline(never)]
fn tracing_otel_fn(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

#[fastrace::trace]
#[inline(never)]
fn fastrace_fn(x: u64) -> u64 {
    black_box(x).wrapping_mul(3)
}

/// A `tracing` layer that records span timings, as a latency-recording subscriber does.
struct SpanTimings {
    total_ns: AtomicU64,
}

struct Started(Instant);

impl<S> tracing_subscriber::Layer<S> for SpanTimings
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(Started(start)) = span.extensions().get::<Started>()
        {
            let nanos = start.elapsed().as_nanos() as u64;
            self.total_ns.fetch_add(nanos, Ordering::Relaxed);
        }
    }
}

/// Drops fastrace's finished spans.
struct DiscardReporter;

impl fastrace::collector::Reporter for DiscardReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

/// An OpenTelemetry span exporter that drops every batch: the cheapest exporter there is.
#[derive(Debug)]
struct DiscardExporter;

impl opentelemetry_sdk::trace::SpanExporter for DiscardExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// A `tracing` subscriber that turns spans into OpenTelemetry spans, exported in batches to
/// [`DiscardExporter`].
fn tracing_opentelemetry_subscriber() -> (
    impl tracing::Subscriber + Send + Sync,
    opentelemetry_sdk::trace::SdkTracerProvider,
) {
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt;
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(DiscardExporter).build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("bench"))
        .with_tracked_inactivity(false)
        .with_threads(false)
        .with_location(false);
    (tracing_subscriber::registry().with(layer), provider)
}

/// Times `iters` calls of `fastrace_fn`, each under a local root span renewed every 1000 calls;
/// with `report_timed`, the end of each root (the hand-off of its spans to the collector) is
/// timed too.
fn fastrace_calls(iters: u64, report_timed: bool) -> Duration {
    let mut elapsed = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let batch = left.min(1000);
        left -= batch;
        let root = fastrace::Span::root("bench", fastrace::prelude::SpanContext::random());
        let parent = root.set_local_parent();
        let start = Stopwatch::start();
        for _ in 0..batch {
            black_box(fastrace_fn(black_box(7)));
        }
        if report_timed {
            drop(parent);
            drop(root);
            elapsed += start.elapsed();
        } else {
            elapsed += start.elapsed();
            drop(parent);
            drop(root);
        }
    }
    elapsed
}

/// `KEEL_BENCH_CALLGRIND=<calls>`: instead of the criterion groups, make that many calls of
/// `bare_fn`, of `keel_fn` with only `Stats` installed, and of two clock reads, each loop in a
/// function of its own, for callgrind to count instructions per call (stable under load, where
/// the machine's timings are not):
///
/// ```text
/// cargo bench -p keel-benches --bench instrument --no-run
/// KEEL_BENCH_CALLGRIND=100000 valgrind --tool=callgrind --collect-atstart=no \
///   --toggle-collect='instrument::calls_*' target/release/deps/instrument-<hash>
/// callgrind_annotate --inclusive=yes callgrind.out.<pid> | grep calls_
/// ```
fn callgrind_driver() -> bool {
    let Some(calls) = std::env::var("KEEL_BENCH_CALLGRIND")
        .ok()
        .and_then(|calls| calls.parse::<u64>().ok())
    else {
        return false;
    };
    let stats = keel::trace::Stats::new();
    keel::trace::add_sink(stats.clone());
    keel::trace::enable();
    // First calls outside the counted loops: the clock's calibration, the site's cells.
    black_box(keel_fn(black_box(7)));
    let clock = quanta::Clock::new();
    calls_bare_fn(calls);
    calls_keel_stats(calls);
    calls_floor_two_tsc_reads(calls, &clock);
    keel::trace::disable();
    keel::trace::clear_sinks();
    let recorded = stats
        .function("instrument::keel_fn")
        .map_or(0, |f| f.calls());
    assert_eq!(recorded, calls + 1, "the Stats sink saw every call");
    eprintln!("{calls} calls of each loop");
    true
}

#[inline(never)]
fn calls_bare_fn(calls: u64) {
    for _ in 0..calls {
        black_box(bare_fn(black_box(7)));
    }
}

#[inline(never)]
fn calls_keel_stats(calls: u64) {
    for _ in 0..calls {
        black_box(keel_fn(black_box(7)));
    }
}

#[inline(never)]
fn calls_floor_two_tsc_reads(calls: u64, clock: &quanta::Clock) {
    for _ in 0..calls {
        let start = black_box(clock.raw());
        black_box(clock.raw().wrapping_sub(start));
    }
}

fn instrument<M: Measurement<Value = Duration>>(c: &mut Criterion<M>) {
    if callgrind_driver() {
        std::process::exit(0);
    }
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(SpanTimings {
        total_ns: AtomicU64::new(0),
    });
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
    fastrace::set_reporter(DiscardReporter, fastrace::collector::Config::default());

    let mut group = c.benchmark_group("instrument");
    group.bench_function("bare_fn", |b| b.iter(|| bare_fn(black_box(7))));

    keel::trace::disable();
    group.bench_function("keel_disabled", |b| b.iter(|| keel_fn(black_box(7))));

    let stats = keel::trace::Stats::new();
    keel::trace::add_sink(stats.clone());
    keel::trace::enable();
    let stats_ran = std::cell::Cell::new(false);
    group.bench_function("keel_stats", |b| {
        stats_ran.set(true);
        b.iter(|| keel_fn(black_box(7)))
    });
    keel::trace::disable();
    keel::trace::set_sampler(0.0);
    keel::trace::enable();
    group.bench_function("keel_stats_unsampled", |b| b.iter(|| keel_fn(black_box(7))));
    keel::trace::disable();
    keel::trace::set_sampler(1.0);
    let recorded = stats
        .function("instrument::keel_fn")
        .map_or(0, |f| f.calls());
    assert!(
        !stats_ran.get() || recorded > 0,
        "the Stats sink saw no call"
    );
    keel::trace::clear_sinks();

    group.bench_function("tracing_registry_timings", |b| {
        b.iter(|| tracing_fn(black_box(7)))
    });

    group.bench_function("fastrace_trace", |b| {
        b.iter_custom(|iters| fastrace_calls(iters, false))
    });
    group.bench_function("fastrace_trace_reported", |b| {
        b.iter_custom(|iters| fastrace_calls(iters, true))
    });

    otlp::per_span(&mut group);

    let (otel_subscriber, provider) = tracing_opentelemetry_subscriber();
    tracing::subscriber::with_default(otel_subscriber, || {
        group.bench_function("tracing_opentelemetry", |b| {
            b.iter(|| tracing_otel_fn(black_box(7)))
        });
    });
    provider.shutdown().expect("the tracer provider shuts down");

    let clock = quanta::Clock::new();
    group.bench_function("floor_two_tsc_reads", |b| {
        b.iter(|| {
            let start = black_box(clock.raw());
            clock.raw().wrapping_sub(start)
        })
    });
    group.finish();
    fastrace::flush();
}

#[path = "../tests/support/otlp_receiver.rs"]
mod otlp_receiver;

/// The OTLP sink's rows.
mod otlp {
    use super::Stopwatch;
    use super::otlp_receiver::Receiver;
    use super::{black_box, keel_fn};
    use criterion::measurement::Measurement;
    use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
    use keel::trace::otlp::{ExportStats, OtlpSink};
    use std::time::{Duration, Instant};

    /// The sink's queue (its default).
    const QUEUE: usize = 16_384;
    /// Spans per iteration of `otlp_export`.
    const SPANS: u64 = 20_000;

    fn sink(receiver: &Receiver) -> OtlpSink {
        OtlpSink::builder()
            .endpoint(receiver.endpoint())
            .service_name("bench")
            .queue_capacity(QUEUE)
            .build()
            .expect("an OTLP sink")
    }

    /// Spans queued and not yet answered for.
    fn backlog(stats: &ExportStats) -> u64 {
        stats.queued.saturating_sub(stats.exported + stats.failed)
    }

    /// `keel_otlp`: one span per call on the traced thread, every span accepted.
    pub(super) fn per_span<M: Measurement<Value = Duration>>(group: &mut BenchmarkGroup<'_, M>) {
        let receiver = Receiver::counting();
        let sink = sink(&receiver);
        keel::trace::add_sink(sink.clone());
        keel::trace::enable();
        let mut ran = false;
        group.bench_function("keel_otlp", |b| {
            ran = true;
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let chunk = left.min(QUEUE as u64 / 2);
                    left -= chunk;
                    let start = Stopwatch::start();
                    for _ in 0..chunk {
                        black_box(keel_fn(black_box(7)));
                    }
                    elapsed += start.elapsed();
                    sink.flush().expect("the receiver answers");
                }
                elapsed
            })
        });
        keel::trace::disable();
        keel::trace::clear_sinks();
        if !ran {
            return;
        }
        let stats = sink.flush().expect("the receiver answers");
        eprintln!(
            "keel_otlp: {stats}; the receiver counted {}",
            receiver.span_count()
        );
        assert_eq!(stats.dropped, 0, "keel_otlp must time accepted spans only");
        assert!(stats.exported > 0 && stats.failed == 0, "{stats}");
    }

    /// `otlp_export`: spans per second from the first call to the receiver's count.
    pub(super) fn export<M: Measurement<Value = Duration>>(c: &mut Criterion<M>) {
        let receiver = Receiver::counting();
        let sink = sink(&receiver);
        keel::trace::clear_sinks();
        keel::trace::add_sink(sink.clone());
        keel::trace::enable();
        let mut peak_backlog = 0;
        let mut group = c.benchmark_group("otlp_export");
        group
            .throughput(Throughput::Elements(SPANS))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10);
        group.bench_function("keel_otlp_drain", |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                for _ in 0..iters {
                    let target = receiver.span_count() + SPANS as usize;
                    let start = Instant::now();
                    for i in 0..SPANS {
                        // Keep the queue from overflowing (the sink itself never waits).
                        if i % 256 == 0 {
                            loop {
                                let pending = backlog(&sink.stats());
                                peak_backlog = peak_backlog.max(pending);
                                if pending + 512 < QUEUE as u64 {
                                    break;
                                }
                                std::thread::yield_now();
                            }
                        }
                        black_box(keel_fn(black_box(7)));
                    }
                    // The last partial batch goes now rather than at the next batch interval.
                    sink.flush().expect("the receiver answers");
                    let received = receiver.wait_for(target, Duration::from_secs(30));
                    elapsed += start.elapsed();
                    assert_eq!(received, target, "the receiver got every span");
                }
                elapsed
            })
        });
        group.finish();
        let stats = sink.flush().expect("the receiver answers");
        if stats.queued == 0 {
            // Filtered out.
            keel::trace::disable();
            keel::trace::clear_sinks();
            return;
        }
        eprintln!(
            "otlp_export: queue capacity {QUEUE} spans, peak backlog {peak_backlog}; {stats}"
        );

        // The bound: a burst far larger than the queue, with nothing waiting for the exporter.
        let dropped_before = stats.dropped;
        let rss_before = resident_kib();
        let mut rss_peak = rss_before;
        let burst = 1_000_000u64;
        for i in 0..burst {
            if i % 65_536 == 0 {
                rss_peak = rss_peak.max(resident_kib());
            }
            black_box(keel_fn(black_box(7)));
        }
        rss_peak = rss_peak.max(resident_kib());
        let after = sink.stats();
        keel::trace::disable();
        keel::trace::clear_sinks();
        eprintln!(
            "otlp_export burst: {burst} calls without waiting: {} dropped (queue full), \
             backlog {} <= 2 x {QUEUE} (the queue, and one pass the exporter took out of it), resident memory {} KiB -> peak {} KiB (+{} KiB)",
            after.dropped - dropped_before,
            backlog(&after),
            rss_before,
            rss_peak,
            rss_peak.saturating_sub(rss_before)
        );
        let _ = sink.flush();
    }

    /// This process's resident set, from `/proc/self/statm` (0 where there is none).
    fn resident_kib() -> u64 {
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|statm| statm.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4)
    }
}

fn otlp_export<M: Measurement<Value = Duration>>(c: &mut Criterion<M>) {
    otlp::export(c);
}

// `otlp_export` times its drains on the wall clock whichever clock is asked for.
cpu_time::main_with_clock!(instrument, otlp_export);
