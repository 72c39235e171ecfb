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
//! ```text
//! cargo bench --bench instrument -- --warm-up-time 1 --measurement-time 3
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
        if let Some(span) = ctx.span(&id) {
            if let Some(Started(start)) = span.extensions().get::<Started>() {
                let nanos = start.elapsed().as_nanos() as u64;
                self.total_ns.fetch_add(nanos, Ordering::Relaxed);
            }
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

fn instrument(c: &mut Criterion) {
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
    group.bench_function("keel_stats", |b| b.iter(|| keel_fn(black_box(7))));
    keel::trace::disable();
    let recorded = stats
        .function("instrument::keel_fn")
        .map_or(0, |f| f.calls());
    assert!(recorded > 0, "the Stats sink saw no call");

    group.bench_function("tracing_registry_timings", |b| {
        b.iter(|| tracing_fn(black_box(7)))
    });

    group.bench_function("fastrace_trace", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let batch = left.min(1000);
                left -= batch;
                let root = fastrace::Span::root("bench", fastrace::prelude::SpanContext::random());
                let _parent = root.set_local_parent();
                let start = Instant::now();
                for _ in 0..batch {
                    black_box(fastrace_fn(black_box(7)));
                }
                elapsed += start.elapsed();
            }
            elapsed
        })
    });
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

criterion_group!(benches, instrument);
criterion_main!(benches);
