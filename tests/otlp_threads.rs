//! The OTLP sink's per-thread queues (feature `otlp`): spans of every thread reach the receiver,
//! those of threads that exited and of threads still running alike; `flush` reaches them all;
//! an async call that finishes on another thread than the one it started on keeps its
//! arguments; the direct exit path (no event built) and the event path export the same span.
//!
//! Tests here share the process's one sink list, so they take turns.

#[path = "support/otlp_receiver.rs"]
mod otlp_receiver;

use keel::trace::otlp::OtlpSink;
use keel::trace::{self, Stats};
use otlp_receiver::{Behaviour, Received, Receiver};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

static TURN: Mutex<()> = Mutex::new(());

/// This test's turn, a fresh receiver and an OTLP sink sending to it, installed alone.
///
/// The batch interval is longer than any test: spans go out because a batch filled up or a
/// flush asked, never because time passed.
fn installed_sink() -> (MutexGuard<'static, ()>, Receiver, OtlpSink) {
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let receiver = Receiver::start(Behaviour::Accept);
    let sink = OtlpSink::builder()
        .endpoint(receiver.endpoint())
        .service_name("otlp-threads")
        .batch_interval(Duration::from_secs(600))
        .export_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    trace::clear_sinks();
    trace::add_sink(sink.clone());
    trace::enable();
    (turn, receiver, sink)
}

fn named(spans: &[Received], name: &str) -> Vec<Received> {
    spans
        .iter()
        .filter(|s| s.span.name == name)
        .cloned()
        .collect()
}

#[keel::instrument(args(thread, i))]
fn work(thread: u32, i: u32) -> u32 {
    thread * 1000 + i
}

#[test]
fn flush_reaches_the_spans_of_exited_and_running_threads() {
    let (_turn, receiver, sink) = installed_sink();
    // Three threads that trace and exit: their queues outlive them until emptied.
    let exited: Vec<_> = (1..=3)
        .map(|thread| std::thread::spawn(move || (0..200).map(|i| work(thread, i)).sum::<u32>()))
        .collect();
    for (thread, handle) in (1..=3).zip(exited) {
        assert_eq!(handle.join().unwrap(), 200 * thread * 1000 + 199 * 100);
    }
    // A thread that traces, then waits (alive, idle) until the flush is done.
    let (traced, traced_rx) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel::<()>();
    let running = std::thread::spawn(move || {
        for i in 0..50 {
            work(4, i);
        }
        traced.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    traced_rx.recv().unwrap();
    let stats = sink.flush().unwrap();
    assert_eq!(stats.queued, 650, "{stats}");
    assert_eq!(stats.exported, 650, "{stats}");
    assert_eq!((stats.dropped, stats.failed), (0, 0), "{stats}");
    let spans = named(&receiver.spans(), "otlp_threads::work");
    assert_eq!(spans.len(), 650);
    for thread in 1..=4 {
        let of_thread: Vec<_> = spans
            .iter()
            .filter(|s| s.attribute("thread") == Some(thread.to_string()))
            .collect();
        assert_eq!(of_thread.len(), if thread == 4 { 50 } else { 200 });
        let mut indexes: Vec<u32> = of_thread
            .iter()
            .map(|s| s.attribute("i").unwrap().parse().unwrap())
            .collect();
        indexes.sort_unstable();
        indexes.dedup();
        assert_eq!(indexes.len(), of_thread.len(), "every call once");
    }
    release.send(()).unwrap();
    running.join().unwrap();
    // The counts survive the queues of exited threads being retired.
    let stats = sink.flush().unwrap();
    assert_eq!((stats.queued, stats.exported), (650, 650), "{stats}");
    trace::clear_sinks();
}

/// Pending on its first poll, ready on the second.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

#[keel::instrument(args(order))]
async fn moved(order: u32) -> u32 {
    YieldOnce(false).await;
    order * 2
}

#[keel::instrument]
fn registers_this_thread() {}

#[test]
fn an_async_call_finished_on_another_thread_keeps_its_arguments() {
    let (_turn, receiver, sink) = installed_sink();
    // This thread's queue is registered first, so the export thread reads the exit (queued
    // here) before the entry (queued by the other thread, whose queue comes after).
    registers_this_thread();
    let mut future = std::thread::spawn(|| {
        let mut future = Box::pin(moved(21));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(future.as_mut().poll(&mut cx).is_pending());
        future
    })
    .join()
    .unwrap();
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(future.as_mut().poll(&mut cx), Poll::Ready(42));
    let stats = sink.flush().unwrap();
    assert_eq!(stats.exported, 2, "{stats}");
    let spans = receiver.spans();
    let [span] = &named(&spans, "otlp_threads::moved")[..] else {
        panic!("{spans:#?}")
    };
    assert_eq!(span.attribute("order").as_deref(), Some("21"), "{span:?}");
    assert_eq!(span.parent_id(), "", "a root");
    trace::clear_sinks();
}

#[keel::instrument(args(x), ret)]
fn doubled(x: u32) -> Result<u32, String> {
    if x == 0 {
        Err("zero".to_string())
    } else {
        Ok(x * 2)
    }
}

#[test]
fn the_direct_and_the_event_paths_export_the_same_span() {
    let (_turn, receiver, sink) = installed_sink();
    // OTLP and Stats only: exits reach both without an event being built.
    let stats = Stats::new();
    trace::add_sink(stats.clone());
    doubled(5).unwrap();
    doubled(0).unwrap_err();
    // Unsampled: Stats counts the call, the exporter never sees it.
    trace::set_sampler(0.0);
    doubled(7).unwrap();
    trace::set_sampler(1.0);
    // A closure sink: every exit now goes through an event.
    trace::add_sink(|_: &trace::Event| {});
    doubled(6).unwrap();
    doubled(0).unwrap_err();
    let counts = sink.flush().unwrap();
    assert_eq!(counts.exported, 4, "{counts}");
    let calls = stats.function("otlp_threads::doubled").unwrap();
    assert_eq!((calls.calls(), calls.errors()), (5, 2));
    let spans = named(&receiver.spans(), "otlp_threads::doubled");
    let by_x = |x: &str| -> Vec<&Received> {
        spans
            .iter()
            .filter(|s| s.attribute("x").as_deref() == Some(x))
            .collect()
    };
    let (five, six, zeros) = (by_x("5"), by_x("6"), by_x("0"));
    assert_eq!(
        (five.len(), six.len(), zeros.len()),
        (1, 1, 2),
        "{spans:#?}"
    );
    assert_eq!(five[0].attribute("return").as_deref(), Some("Ok(10)"));
    assert_eq!(six[0].attribute("return").as_deref(), Some("Ok(12)"));
    for zero in zeros {
        let status = zero.span.status.clone().unwrap();
        assert_eq!((status.code, status.message.as_str()), (2, "zero"));
    }
    trace::clear_sinks();
}

#[keel::instrument]
fn tick() {}

#[test]
fn the_export_thread_answers_every_wake_up_while_it_sends() {
    let (_turn, receiver, sink) = installed_sink();
    // Each round fills batches (the export thread is woken and sends while this thread goes
    // on), then flushes: no wake-up may be lost to the HTTP client's own waiting, or the flush
    // would wait out the batch interval and time out.
    let start = Instant::now();
    for round in 1..=20u64 {
        for _ in 0..1500 {
            tick();
        }
        let stats = sink.flush().unwrap();
        assert_eq!(stats.exported, round * 1500, "{stats}");
    }
    assert_eq!(receiver.span_count(), 30_000);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    trace::clear_sinks();
}
